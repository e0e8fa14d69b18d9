// Types of "tokenclock/full": the client API from the full build, plus the resource-server side
// (Verifier, SkewMonitor), signed assertions and the simulation. Checked like index.d.ts.
import type { AuthMethod, Clock, Estimate, Grant, Reading, TokenClockError } from "./index.js";

export {
  Reading,
  Clock,
  HeadersInit,
  TokenClockError,
  version,
  build,
  rulesIsExpired,
  rulesIsNotYetValid,
  rulesIsIssuedInFuture,
  Peeked,
  peek,
  parseHttpDate,
  formatHttpDate,
  RetryAfter,
  parseRetryAfter,
  SntpRequest,
  SntpReply,
  SntpReplyFields,
  parseSntpReply,
  EstimateData,
  Estimate,
  SkewOptions,
  Explanation,
  Resolution,
  SkewEstimator,
  Policy,
  TokenState,
  Lifetime,
  AuthMethod,
  Grant,
  TokenRequest,
  TokenResponse,
  parseTokenResponse,
  refreshTokenToKeep,
  assertionTimes,
  Pkce,
  s256Challenge,
  State,
  authorizationUrl,
  parseRedirect,
  Ticket,
  Authorization,
  SkewEvidence,
  Verdict,
  Stats,
  SessionEvent,
  SessionOptions,
  Session,
  FleetAction,
  FleetOptions,
  FleetRefresh,
  storeKeys,
  fleetScripts,
  RedisStoreOptions,
  RedisStore,
  StoreError,
} from "./index.js";

/** JWS algorithms an assertion can be signed with. */
export type SigningAlg = "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256" | "ES384" | "EdDSA";

/**
 * Client authentication, including `private_key_jwt` (a signed client assertion) and
 * `client_secret_jwt` (an HS256 assertion keyed by `clientSecret`, at least 32 bytes:
 * `weak_secret` otherwise). `allowInsecureRequests`: see `clientCredentials` in index.d.ts.
 */
export type FullClientOptions =
  | { tokenUrl: string; clientId?: string; clientSecret?: string; authMethod?: AuthMethod; allowInsecureRequests?: boolean }
  | {
      tokenUrl: string;
      clientId: string;
      clientSecret: string;
      authMethod: "client_secret_jwt";
      /** The assertion's `aud` (default: the token URL). */
      audience?: string;
      allowInsecureRequests?: boolean;
    }
  | {
      tokenUrl: string;
      clientId: string;
      allowInsecureRequests?: boolean;
      authMethod: "private_key_jwt";
      privateKeyPem: string;
      alg: SigningAlg;
      kid?: string;
      /** The assertion's `aud` (default: the token URL). */
      audience?: string;
    };

export declare function clientCredentials(
  options: FullClientOptions & { clientId: string; scope?: string; extra?: ReadonlyArray<readonly [string, string]> },
): Grant;
export declare function refreshTokenGrant(
  options: FullClientOptions & { clientId: string; refreshToken: string; scope?: string },
): Grant;
export declare function authorizationCodeGrant(
  options: FullClientOptions & { clientId: string; code: string; redirectUri: string; codeVerifier: string },
): Grant;

/** The JWT bearer grant (RFC 7523 §2.1); `authMethod` defaults to `anonymous`. */
export declare function jwtBearerGrant(options: {
  tokenUrl: string;
  issuer: string;
  subject?: string;
  audience?: string;
  scope?: string;
  scopePlacement?: "form" | "claim";
  privateKeyPem: string;
  alg: SigningAlg;
  kid?: string;
  /** Assertion lifetime, 60..=3600 s (default 3600). */
  lifetimeS?: number;
  authMethod?: AuthMethod;
  clientId?: string;
  clientSecret?: string;
  allowInsecureRequests?: boolean;
}): Grant;

/** JWS algorithms a verifier can be pinned to (`none` never is). */
export type Algorithm = "HS256" | "HS384" | "HS512" | SigningAlg;

/**
 * A verification key: PEM text; a `Uint8Array` (an HMAC secret when an HS algorithm is pinned,
 * else PEM bytes: a public key or certificate); a JWK; or spelled out. A secret that is key
 * material of another kind (PEM, OpenSSH, DER, JWK/JWKS JSON) is refused (`invalid_key`).
 */
export type VerifierKey =
  | string
  | Uint8Array
  | { kty: string; [member: string]: unknown }
  | { pem: string }
  | { secret: Uint8Array | string }
  | { jwk: Record<string, unknown> | string };

export interface VerifierOptions {
  /** The algorithms a token may use (pinned; at least one). */
  algorithms: Algorithm | Algorithm[];
  /** Default 5000; at most 30000 unless `allowLargeLeeway`. */
  leewayMs?: number;
  allowLargeLeeway?: boolean;
  issuer?: string;
  audience?: string | string[];
  maxAgeMs?: number;
  /** Default `true`. */
  requireExp?: boolean;
  clock?: Clock;
}

/** A verified token. */
export interface Verified {
  alg: Algorithm;
  kid: string | null;
  claims: Record<string, unknown>;
  iatMs: number | null;
  nbfMs: number | null;
  expMs: number | null;
}

/**
 * Verifies JWTs: pinned algorithms, keys parsed once, time claims with leeway. Core decides
 * everything; RSA, ECDSA and Ed25519 signatures are checked by the host's native crypto with
 * exactly the algorithm and key core chose (HMAC stays in core, which is faster there).
 */
export declare class Verifier {
  constructor(options: VerifierOptions & { key: VerifierKey });
  /** A Verifier around a verifier of the module (`KeySet.verifier()`), keys not parsed again. */
  static fromCore(core: CoreVerifier): Verifier;
  /**
   * Keys from `issuer`'s discovery document and its `jwks_uri`, fetched and cached by core's
   * rules; tokens must carry `iss == issuer` (unless `issuerClaim` names another).
   */
  static fromIssuer(issuer: string, options: RemoteVerifierOptions): RemoteVerifier;
  /** Keys from the key set at `jwksUri` (pass `issuerClaim` to require an `iss`). */
  static fromJwksUri(jwksUri: string, options: RemoteVerifierOptions): RemoteVerifier;
  /**
   * Keys from a JWKS document (object, JSON text or its UTF-8 bytes). A token whose `kid` names
   * an entry that cannot verify signatures is `unknown_kid`.
   */
  static fromJwks(jwks: string | Uint8Array | { keys: unknown[] }, options: VerifierOptions): Verifier;
  /**
   * Verifies the bare compact token at `nowMs` (a fraction is floored); throws
   * `TokenClockError` (`expired` with `.byMs`, ...; a token that is not a string is
   * `malformed_token` with `reason: "not_a_string"`).
   * Synchronous: `node:crypto` in Node; elsewhere (browsers) core checks the signature itself.
   */
  verify(token: string, nowMs?: number): Verified;
  /**
   * `verify` with RSA/ECDSA/Ed25519 signatures checked by WebCrypto (`crypto.subtle`) where
   * there is no `node:crypto` (browsers, Deno, Workers): the fast path there. In Node, the same
   * answer as `verify`. Rejects with what `verify` throws.
   */
  verifyAsync(token: string, nowMs?: number): Promise<Verified>;
  readonly algorithms: Algorithm[];
  readonly kids: string[];
  readonly keyCount: number;
  toString(): string;
  /** What `JSON.stringify` shows; never key material. */
  toJSON(): { algorithms: Algorithm[]; kids: string[]; keyCount: number };
  free(): void;
}

/** A verifier object of the wasm module (what `KeySet.verifier()` returns); wrap it with `Verifier.fromCore`. */
export interface CoreVerifier {
  verify(token: string, nowMs?: number): Verified;
  readonly algorithms: Algorithm[];
  readonly kids: string[];
  readonly keyCount: number;
  free(): void;
}

/** A remote key set's options: the verifier's, and how keys are fetched and cached (ms). */
export interface KeySetOptions extends Omit<VerifierOptions, "issuer"> {
  /** The required `iss` (default: the `issuer` a key set is discovered from; none for a `jwksUri`). */
  issuerClaim?: string;
  /** Time a fetch may take (5000). */
  fetchTimeoutMs?: number;
  /** Time after a fetch before an unknown `kid` may trigger another (30000). */
  cooldownMs?: number;
  /** Cache lifetime without `max-age` (600000). */
  cacheMs?: number;
  /** Bounds of the cache lifetime (60000 .. 3600000). */
  minCacheMs?: number;
  maxCacheMs?: number;
  /** How long a key that left the set still verifies (300000; 0: not at all). */
  graceMs?: number;
  /** First and largest retry delay after a failed fetch (1000, doubling to 300000). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Accept plain http to hosts that are not loopback (in-cluster issuers). */
  allowPlainHttp?: boolean;
  /** Which metadata document an issuer is discovered with: OpenID Connect (default) or RFC 8414. */
  discovery?: "openid" | "oauth";
}

/** One fetch core asks for: `GET url`, at most `timeoutMs`, reading at most `maxBodyBytes + 1`. */
export interface KeySetTicket {
  id: number;
  kind: "discovery" | "jwks";
  url: string;
  timeoutMs: number;
  maxBodyBytes: number;
}

export type KeyStep =
  | { step: "ready" }
  | { step: "ready_and_fetch"; ticket: KeySetTicket }
  | { step: "fetch"; ticket: KeySetTicket }
  | { step: "wait"; waitMs: number }
  | { step: "unavailable"; error: TokenClockError };

export type Refetch =
  | { refetch: "fetch"; ticket: KeySetTicket }
  | { refetch: "wait"; waitMs: number }
  | { refetch: "no"; retryInMs: number };

/** Something to log or count (`KeySet.pollEvent`, `onEvent`). */
export type KeySetEvent =
  | { event: "discovered"; jwksUri: string }
  | { event: "keys_updated"; keys: number; added: string[]; removed: string[]; freshForMs: number }
  | { event: "fetch_failed"; kind: "discovery" | "jwks"; code: string; retryInMs: number; servingLastGood: boolean }
  | { event: "recovered"; failures: number }
  | { event: "grace_ended"; kids: string[] }
  | { event: "clock_offset"; lowMs: number | null; highMs: number | null; leewayMs: number }
  | { event: "clock_agrees"; offsetMs: number };

/**
 * The issuer's key set (core `RemoteKeySet`), fetched by the host: the sans-I/O machine behind
 * `RemoteVerifier`. Throws `TokenClockError` (`invalid_config`, `invalid_url`, `insecure_url`,
 * `issuer_mismatch`, `invalid_metadata`, `invalid_jwks`, `http_error`, `too_large`,
 * `stale_ticket`, `keys_unavailable` with `.cause` and `.retryInMs`).
 */
export declare class KeySet {
  constructor(options: KeySetOptions & ({ jwksUri: string; issuer?: undefined } | { issuer: string; jwksUri?: undefined }));
  step(now?: Reading): KeyStep;
  onUnknownKid(now?: Reading): Refetch;
  onResponse(
    ticketId: number,
    status: number,
    body: Uint8Array | string,
    date: string | null,
    cacheControl: string | null,
    age: string | null,
    sent?: Reading,
    received?: Reading,
  ): { outcome: "discovered" } | { outcome: "keys_updated"; keys: number; freshForMs: number };
  onFailure(ticketId: number, code: "transport_error" | "timeout", now?: Reading): void;
  /** Changes whenever the keys in use change: take a new `verifier()` then. */
  generation(): number;
  verifier(): CoreVerifier | null;
  estimate(now?: Reading): Estimate;
  clockOff(now?: Reading): boolean | null;
  pollEvent(): KeySetEvent | null;
  readonly jwksUri: string | null;
  readonly kids: string[];
  readonly leewayMs: number;
  toJSON(): { jwksUri: string | null; kids: string[]; keyCount: number; leewayMs: number };
  toString(): string;
  free(): void;
}

/** `Verifier.fromIssuer` / `fromJwksUri` options. */
export interface RemoteVerifierOptions extends KeySetOptions {
  /** The fetch to use (default: `globalThis.fetch`). */
  fetch?: (url: string, init: { method: "GET"; headers: Record<string, string>; redirect: "manual"; signal: AbortSignal }) => Promise<Response>;
  /** Called with every key set event (default: `console.warn` for `fetch_failed` and `clock_offset`). */
  onEvent?: (event: KeySetEvent) => void;
}

/**
 * Verifies JWTs with the issuer's keys fetched over `fetch`: one fetch in flight however many
 * verifications wait, a background refresh when the cache is stale, an unknown `kid` refetches
 * at most once per cooldown, a failed fetch never drops the keys in use.
 */
export declare class RemoteVerifier {
  constructor(keySet: KeySet, options?: Pick<RemoteVerifierOptions, "fetch" | "onEvent" | "clock">);
  static fromIssuer(issuer: string, options: RemoteVerifierOptions): RemoteVerifier;
  static fromJwksUri(jwksUri: string, options: RemoteVerifierOptions): RemoteVerifier;
  /** Rejects with `TokenClockError` (`expired`, `unknown_kid`, ..., `keys_unavailable`). */
  verify(token: string): Promise<Verified>;
  readonly keys: KeySet;
  /** GETs sent (discovery and key sets). */
  readonly fetches: number;
  estimate(): Estimate;
  clockOff(): boolean | null;
  toJSON(): { jwksUri: string | null; kids: string[]; keyCount: number; leewayMs: number; fetches: number };
  toString(): string;
}

/** What `bearerAuth` sets as `req.auth`. */
export interface BearerAuth {
  claims: Record<string, unknown>;
  alg: Algorithm;
  kid: string | null;
  iatMs: number | null;
  nbfMs: number | null;
  expMs: number | null;
}

/** The parts of a node:http request and response `bearerAuth` uses. */
export interface BearerRequest {
  headers: Record<string, string | string[] | undefined>;
  auth?: BearerAuth;
}
export interface BearerResponse {
  statusCode: number;
  headersSent?: boolean;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}

/**
 * Middleware for node:http and Express-style handlers: 401 with `WWW-Authenticate: Bearer`
 * (RFC 6750) for a missing or invalid token, 503 while keys are unavailable; on success
 * `req.auth`, then `next()`.
 */
export declare function bearerAuth<Req extends BearerRequest, Res extends BearerResponse>(
  verifier: { verify(token: string): Promise<Verified> | Verified },
  options?: { onSuccess?: (req: Req, auth: BearerAuth) => void | Promise<void> },
): (req: Req, res: Res, next?: (error?: unknown) => void) => void;

/** The verdict of a `SkewMonitor`. */
export interface Assessment {
  verdict: "insufficient" | "behind" | "ahead" | "consistent";
  count: number;
  p01Ms: number | null;
  p05Ms: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

/** A mergeable histogram of token ages `now − iat`. */
export declare class SkewMonitor {
  constructor();
  record(ageMs: number): void;
  recordToken(nowMs: number, iatMs: number): void;
  merge(other: SkewMonitor): void;
  readonly count: number;
  readonly sumMs: number;
  readonly bucketCounts: number[];
  static edges(): number[];
  /** `q` in [0, 1], else a RangeError with `.code = "invalid_quantile"`. */
  quantile(q: number): number | null;
  assessment(rules?: { minSamples?: number; behindThresholdMs?: number; expectedMaxAgeMs?: number }): Assessment;
  toJson(): string;
  static fromJson(text: string): SkewMonitor;
  prometheus(name: string): string;
  toString(): string;
  free(): void;
  /** The histogram as an object (`JSON.parse(toJsonText())`). */
  toJSON(): unknown;
}

/** One gauntlet cell (every field optional on input, over the defaults). */
export interface Cell {
  clientOffsetS: number;
  rsOffsetS: number;
  ttlS: number;
  rsLeewayS: number;
  cachedAgeS: number;
  stepS: number;
  hours: number;
  requestIntervalS: number;
  seed: bigint;
}

/** What one strategy did in one cell. */
export interface Outcome {
  strategy: "tokenclock" | "tutorial" | "stackit" | "naive" | "oracle";
  requests: number;
  userVisibleFailures: number;
  rs401: number;
  tokenRequests: number;
  p99AddedLatencyMs: number;
  maxAddedLatencyMs: number;
  timeline: string[];
}

/** A strategy's outcome in a cell, with the oracle's minimum. */
export interface Row {
  strategy: "tokenclock" | "tutorial" | "stackit" | "naive";
  clientOffsetS: number;
  rsOffsetS: number;
  ttlS: number;
  rsLeewayS: number;
  cachedIssuer: boolean;
  cachedAgeS: number;
  stepS: number;
  hours: number;
  requests: number;
  userVisibleFailures: number;
  rs401: number;
  tokenRequests: number;
  minTokenRequests: number;
  p99AddedLatencyMs: number;
}

export type CellInput = Partial<Omit<Cell, "seed">> & { seed?: number | bigint };

/** Runs every strategy on one cell (oracle last). */
export declare function runCell(cell: CellInput, options?: { timeline?: boolean }): Outcome[];
/** The gauntlet's grid of cells. */
export declare function gauntletCells(seed: number | bigint, hours: number): Cell[];
/** One row per strategy of a cell's outcomes. */
export declare function gauntletRows(cell: CellInput, outcomes: Outcome[]): Row[];
/** The per-strategy summary table. */
export declare function renderSummary(rows: Row[]): string;
/** User-visible failures by condition. */
export declare function renderBreakdown(rows: Row[]): string;

