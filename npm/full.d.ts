// Types of "tokenclock/full": the client API from the full build, plus the resource-server side
// (Verifier, SkewMonitor), signed assertions and the simulation. Checked like index.d.ts.
import type { AuthMethod, Clock, Grant } from "./index.js";

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

/** Client authentication, including `private_key_jwt` (a signed client assertion). */
export type FullClientOptions =
  | { tokenUrl: string; clientId?: string; clientSecret?: string; authMethod?: AuthMethod }
  | {
      tokenUrl: string;
      clientId: string;
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

