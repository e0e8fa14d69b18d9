// Types of "tokenclock" (the client build). Written by hand to match the wasm module exactly;
// test/api.test.js checks that every runtime export is declared here and vice versa (in Node),
// and test/types.ts is compiled against this file by `tsc`.
//
// Node only: the SNTP classes and functions (`SntpRequest`, `SntpReply`, `parseSntpReply`,
// `SkewEstimator.addSntp`: UDP), the fleet protocol (`FleetRefresh`, `storeKeys`,
// `fleetScripts`) and `RedisStore`/`StoreError`. A browser's "tokenclock" (index.js, the small
// client module) does not export them; test/browser.test.js pins its export list.
//
// Conventions: times are `number`s of milliseconds (`Date.now()` style); instants and
// durations must be non-negative safe integers, offsets (`server − local`) may be negative.
// A bad number throws `RangeError`, a value of the wrong type `TypeError` (both with
// `.code = "invalid_argument"`); core errors throw `TokenClockError`. Every method that needs
// "now" takes an optional reading and otherwise reads the clock its object was created with
// (default `Date.now()` and `performance.timeOrigin + performance.now()`).

/** Both of the host's clocks read at once, in integer milliseconds. */
export interface Reading {
  /** Wall clock, Unix ms (`Date.now()`). */
  wallMs: number;
  /** Monotonic clock, ms from an arbitrary origin. */
  monoMs: number;
}

/** A clock: returns both readings (called whenever an object needs "now"). */
export type Clock = () => Reading;

/** `[name, value]` header pairs, a `Headers`/`Map`, or a plain record. */
export type HeadersInit =
  | ReadonlyArray<readonly [string, string]>
  | Iterable<readonly [string, string]>
  | Readonly<Record<string, string>>;

/** An error from the core with a stable `.code`; detail fields depend on the code. */
export declare class TokenClockError extends Error {
  constructor(code: string, message: string, details?: Record<string, unknown>);
  readonly name: "TokenClockError";
  /** The core's stable `ErrorCode` (`"malformed_token"`, `"invalid_grant"`, ...). */
  code: string;
  /** peek / grant errors: the segment, claim, header parameter or value at fault. */
  what?: string | null;
  /** Session errors: local wall time of the next token request, or `null`. */
  retryAtMs?: number | null;
  /** Token endpoint / session errors: `"permanent"` (needs a configuration fix: fails fast,
   * retried after `backoff.configRetryMs`), `"invalid_grant"` or `"transient"`. */
  errorClass?: "permanent" | "invalid_grant" | "transient" | null;
  /** Token endpoint errors: `"oauth"`, `"http"` or `"malformed"`. */
  kind?: string;
  /** Token endpoint errors: the HTTP status. */
  status?: number;
  /** OAuth `error` code (sanitised), for `kind: "oauth"` and `authorization_error`. */
  oauthError?: string | null;
  /** OAuth `error_description` (sanitised). */
  description?: string | null;
  /** The raw `Retry-After` header of a failed token response. */
  retryAfter?: string | null;
  /** Transport errors: `"connect"`, `"timeout"` or `"aborted"`. */
  failure?: string;
  /** SNTP kiss-o'-death: the 4-letter code, or `null`. */
  kissCode?: string | null;
  /** `keys_unavailable` (tokenclock/full key sets): the last fetch's failure code. */
  cause?: unknown;
  /** `keys_unavailable`: time until the next key fetch may be tried, ms. */
  retryInMs?: number;
  /** `unknown_kid`: whether the token named a `kid` at all. */
  kidInToken?: boolean;
  [detail: string]: unknown;
}

/** The package version. */
export declare function version(): string;
/** `"client"` or `"full"`: which build of the module is loaded. */
export declare function build(): "client" | "full";

/** `now − leeway ≥ exp` (RFC 7519 §4.1.4: invalid *at* `exp`). */
export declare function rulesIsExpired(nowMs: number, expMs: number, leewayMs: number): boolean;
/** `now + leeway < nbf`. */
export declare function rulesIsNotYetValid(nowMs: number, nbfMs: number, leewayMs: number): boolean;
/** `now + leeway < iat`. */
export declare function rulesIsIssuedInFuture(nowMs: number, iatMs: number, leewayMs: number): boolean;

// ----- peek ---------------------------------------------------------------------------------

/** What `peek` read from a token. Nothing here is verified. */
export interface Peeked {
  alg: string | null;
  kid: string | null;
  typ: string | null;
  iss: string | null;
  sub: string | null;
  /** A single string audience becomes a one-element list; absent is `[]`. */
  aud: string[];
  jti: string | null;
  /** `iat` in ms, rounded down. */
  iatMs: number | null;
  /** `nbf` in ms, rounded up. */
  nbfMs: number | null;
  /** `exp` in ms, rounded down. */
  expMs: number | null;
  /** Length of the decoded signature in bytes (0 for `alg: none`). */
  signatureLength: number;
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

/** Reads a JWT's header and claims **without verifying** it. Throws `TokenClockError`. */
export declare function peek(token: string): Peeked;

// ----- HTTP dates ----------------------------------------------------------------------------

/** Parses an HTTP date (IMF-fixdate, rfc850 or asctime) to Unix ms. */
export declare function parseHttpDate(value: string, referenceMs?: number): number;
/** Formats Unix ms as an IMF-fixdate. */
export declare function formatHttpDate(ms: number): string;

/** A parsed `Retry-After`. */
export type RetryAfter = { kind: "delay"; delayMs: number } | { kind: "date"; dateMs: number };
/** Parses a `Retry-After` value (delay-seconds or an HTTP date on the server's clock). */
export declare function parseRetryAfter(value: string, referenceMs?: number): RetryAfter;

// ----- SNTP (Node only: browsers have no UDP) -----------------------------------------------

/** One SNTP client request: send `packet` over UDP, keep the object to check the reply. */
export declare class SntpRequest {
  /** `entropy` (u32, default random) fills the timestamp's sub-millisecond bits. */
  constructor(transmitMs: number, entropy?: number);
  readonly packet: Uint8Array;
  readonly transmitMs: number;
  /** The 64-bit NTP timestamp the reply must echo. */
  readonly transmitTimestamp: bigint;
  toString(): string;
  free(): void;
  /** `{ transmitMs }`. */
  toJSON(): { transmitMs: number };
}

/** The fields of an SNTP reply (what `SntpReply.toJSON()` gives, `leap` also as 0/1/2). */
export interface SntpReplyFields {
  offsetUs: number;
  /** Not negative. */
  delayUs: number;
  /** Unix ms, server clock. */
  serverTransmitMs: number;
  /** 1..=15. */
  stratum: number;
  /** Default `"none"`. */
  leap?: "none" | "insert_second" | "delete_second" | 0 | 1 | 2;
  /** 1..=4, default 4. */
  version?: number;
}

/** A checked SNTP reply. */
export declare class SntpReply {
  /** A reply from its fields (checked elsewhere, or recorded); `parseSntpReply` checks a packet. */
  constructor(fields: SntpReplyFields);
  readonly offsetUs: number;
  readonly delayUs: number;
  readonly errorBoundUs: number;
  readonly stratum: number;
  readonly leapIndicator: number;
  readonly leap: "none" | "insert_second" | "delete_second";
  readonly version: number;
  readonly serverTransmitMs: number;
  toJSON(): {
    offsetUs: number;
    delayUs: number;
    errorBoundUs: number;
    stratum: number;
    leap: "none" | "insert_second" | "delete_second";
    leapIndicator: number;
    version: number;
    serverTransmitMs: number;
  };
  toString(): string;
  free(): void;
}

/** Checks an SNTP reply against its request. Throws `TokenClockError` (`sntp_*`). */
export declare function parseSntpReply(reply: Uint8Array, request: SntpRequest, receivedMs: number): SntpReply;

// ----- skew ---------------------------------------------------------------------------------

/** The parts of an estimate, as plain data. */
export interface EstimateData {
  offsetMs: number;
  lowMs?: number | null;
  highMs?: number | null;
  agreeing?: number;
  samples?: number;
}

/** An offset estimate: `server − local` in ms, bounded by `lowMs..=highMs`. */
export declare class Estimate {
  /** From its parts; without an argument, the unknown estimate. */
  constructor(parts?: EstimateData);
  readonly offsetMs: number;
  readonly lowMs: number | null;
  readonly highMs: number | null;
  readonly agreeing: number;
  readonly samples: number;
  readonly isBounded: boolean;
  readonly widthMs: number | null;
  toServerTime(localMs: number): number;
  toLocalTime(serverMs: number): number;
  serverTimeBounds(localMs: number): [number | null, number | null];
  toJSON(): Required<EstimateData>;
  toString(): string;
  free(): void;
}

export interface SkewOptions {
  /** Drift bound, ppm (default 200). */
  driftPpm?: number;
  /** Samples kept (default 16). */
  maxSamples?: number;
}

/** What a local clock discontinuity was. */
export type Explanation = "wall_stepped" | "monotonic_paused";

/** A discontinuity noticed at reading `at`, and its explanation. */
export interface Resolution {
  at: Reading;
  /** Wall elapsed minus monotonic elapsed, ms. */
  wallExcessMs: number;
  explanation: Explanation;
}

/** The offset estimator for one origin. */
export declare class SkewEstimator {
  constructor(options?: SkewOptions & { clock?: Clock });
  /** A sample from an HTTP `Date` header seen on a response to a request sent at `sent`. */
  addDate(dateHeader: string, sent: Reading, received?: Reading): void;
  /** A lower bound from a token's `iat`. */
  addIat(iatMs: number, received?: Reading): void;
  /** A sample from a checked SNTP reply (Node only). */
  addSntp(reply: SntpReply, received?: Reading): void;
  /** Bounds given directly (`highMs` null: lower bound only). */
  addBounds(lowMs: number, highMs: number | null, at?: Reading): void;
  /** Notes a clock reading; returns a discontinuity or `null`. */
  observe(now?: Reading): { wallExcessMs: number } | null;
  estimate(now?: Reading): Estimate;
  /** When to send the next `Date` probe, or `null` once narrow enough. */
  nextDateProbe(rttMs: number, targetWidthMs: number, now?: Reading): { waitMs: number; sendAt: Reading } | null;
  lastRttMs(source: "date" | "iat" | "sntp" | "manual"): number | null;
  readonly size: number;
  readonly discontinuities: number;
  readonly config: { driftPpm: number; maxSamples: number };
  /** The discontinuities explained since the last call (each once). */
  takeResolutions(): Resolution[];
  /** Explains the discontinuity noticed at reading `to` (learnt from another estimator). */
  applyResolution(to: Reading, explanation: Explanation): void;
  clear(): void;
  now(): Reading;
  toString(): string;
  free(): void;
  /** `{ samples, discontinuities }` (`null` while in use). */
  toJSON(): { samples: number; discontinuities: number } | null;
}

// ----- lifetime -----------------------------------------------------------------------------

/** The knobs of the expiry decision (each optional, over the defaults). */
export interface Policy {
  /** Default `{ tenthOfLifetimeCapMs: 10000 }`. */
  margin?: { tenthOfLifetimeCapMs: number } | { fixedMs: number };
  /** Default `{ fraction: [0.75, 0.85] }`. */
  refreshAt?: { fraction: [number, number] } | { beforeMs: number };
  /** Default 300000. */
  assumedLifetimeMs?: number;
  /** Default 2000. */
  maxWaitMs?: number;
  /** Default `"nbf_and_iat"`. */
  notBefore?: "nbf" | "nbf_and_iat";
}

/** A token's state at one reading. */
export type TokenState =
  | { state: "fresh" | "stale" | "expired" }
  | { state: "not_yet_valid"; waitMs: number; until: Reading };

/** The timeline of one token. */
export declare class Lifetime {
  constructor(options: {
    times: { expiresInMs?: number | null; expMs?: number | null; nbfMs?: number | null; iatMs?: number | null };
    sent: Reading;
    received: Reading;
    issuer?: Estimate | EstimateData;
    policy?: Policy;
    seed?: number | bigint;
    clock?: Clock;
  });
  state(now?: Reading, server?: Estimate | EstimateData): TokenState;
  untilHardExpiryMs(now?: Reading, server?: Estimate | EstimateData): number;
  untilValidMs(now?: Reading, server?: Estimate | EstimateData): number;
  nextChangeMs(now?: Reading, server?: Estimate | EstimateData): number | null;
  /** This lifetime re-based after an explained discontinuity (a new `Lifetime`). */
  rebase(resolution: Resolution): Lifetime;
  readonly deadline: Reading;
  readonly hardExpiry: Reading;
  readonly refreshAt: Reading;
  readonly basis: "expires_in" | "exp" | "assumed" | "record";
  readonly lifetimeMs: number;
  readonly marginMs: number;
  readonly expMs: number | null;
  readonly notBeforeMs: number | null;
  toJSON(): {
    sent: Reading;
    received: Reading;
    deadline: Reading;
    hardExpiry: Reading;
    refreshAt: Reading;
    basis: string;
    lifetimeMs: number;
    marginMs: number;
    expMs: number | null;
    notBeforeMs: number | null;
  };
  toString(): string;
  free(): void;
}

// ----- OAuth --------------------------------------------------------------------------------

/** Client authentication at the token endpoint. */
export type AuthMethod = "client_secret_basic" | "client_secret_post" | "none" | "anonymous";

interface ClientOptions {
  tokenUrl: string;
  clientId?: string;
  clientSecret?: string;
  authMethod?: AuthMethod;
  /**
   * Accept a plain `http://` token URL to a host that is not loopback (default `false`:
   * `insecure_url`). Credentials and tokens travel in clear: only for identity providers on a
   * private network (docker-compose, Kubernetes). `createFetch` warns once per origin.
   */
  allowInsecureRequests?: boolean;
}

/** A configured grant (endpoint + client authentication + grant), checked when built. */
export declare class Grant {
  private constructor();
  readonly grantType: string;
  readonly tokenUrl: string;
  readonly authMethod: string;
  readonly clientId: string | null;
  /** Whether plain `http://` to a host that is not loopback was allowed. */
  readonly allowInsecureRequests: boolean;
  /** The token request, with the issuer's clock in `issuerNow` (only assertions use it). */
  tokenRequest(issuerNow: { lowMs: number; highMs: number }, options?: { seed?: number | bigint }): TokenRequest;
  toString(): string;
  free(): void;
  /** `{ grantType, authMethod, tokenUrl }`: never a secret, code or token. */
  toJSON(): { grantType: string; authMethod: string; tokenUrl: string };
}

/** The client credentials grant (RFC 6749 §4.4); `authMethod` defaults to `client_secret_basic`. */
export declare function clientCredentials(
  options: ClientOptions & { clientId: string; scope?: string; extra?: ReadonlyArray<readonly [string, string]> },
): Grant;
/** A refresh token already held (RFC 6749 §6). */
export declare function refreshTokenGrant(
  options: ClientOptions & { clientId: string; refreshToken: string; scope?: string },
): Grant;
/** An authorization code with PKCE (used once). */
export declare function authorizationCodeGrant(
  options: ClientOptions & { clientId: string; code: string; redirectUri: string; codeVerifier: string },
): Grant;

/** A token request as data. `toString()`/`toJSON()` redact credentials. */
export declare class TokenRequest {
  private constructor();
  readonly method: "POST";
  readonly url: string;
  /** Header pairs (includes `Authorization: Basic ...` for `client_secret_basic`). */
  readonly headers: [string, string][];
  /** Form fields (credentials included). */
  readonly form: [string, string][];
  /** The form body (contains credentials). */
  readonly body: string;
  header(name: string): string | null;
  formValue(name: string): string | null;
  toJSON(): { method: string; url: string; headers: [string, string][]; form: [string, string][] };
  toString(): string;
  free(): void;
}

/** A successful token response. `toString()`/`toJSON()` redact tokens. */
export declare class TokenResponse {
  private constructor();
  readonly accessToken: string;
  readonly tokenType: "Bearer";
  readonly expiresInMs: number | null;
  readonly refreshToken: string | null;
  readonly scope: string | null;
  readonly idToken: string | null;
  readonly authorizationHeader: string;
  toJSON(): { tokenType: string; expiresInMs: number | null; scope: string | null; hasRefreshToken: boolean; hasIdToken: boolean };
  toString(): string;
  free(): void;
}

/** Reads a token endpoint response; throws `TokenClockError` with `.errorClass`, `.status`, ... */
export declare function parseTokenResponse(status: number, headers: HeadersInit, body: string | Uint8Array): TokenResponse;
/** The refresh token to keep after `response` (rotation). */
export declare function refreshTokenToKeep(previous: string | null, response: TokenResponse): string | null;
/** Assertion time claims (seconds, issuer clock) every issuer time in the interval accepts. */
export declare function assertionTimes(
  issuerNow: { lowMs: number; highMs: number },
  lifetimeS: number,
): { iatS: number; nbfS: number; expS: number };

/** A PKCE verifier and its `S256` challenge. */
export declare class Pkce {
  private constructor();
  static generate(options?: { seed?: number | bigint }): Pkce;
  static fromVerifier(verifier: string): Pkce;
  readonly verifier: string;
  readonly challenge: string;
  readonly method: "S256";
  toJSON(): { challenge: string; method: "S256" };
  toString(): string;
  free(): void;
}

/** `BASE64URL(SHA256(verifier))`. */
export declare function s256Challenge(verifier: string): string;

/** The OAuth `state` parameter. `toString()` redacts it. */
export declare class State {
  private constructor();
  static generate(options?: { seed?: number | bigint }): State;
  static fromValue(value: string): State;
  readonly value: string;
  matches(received: string): boolean;
  toJSON(): string;
  toString(): string;
  free(): void;
}

/** The authorization URL (RFC 6749 §4.1.1 with PKCE). */
export declare function authorizationUrl(options: {
  authorizeEndpoint: string;
  clientId: string;
  redirectUri: string;
  scope?: string;
  pkce: Pkce | string;
  state: State | string;
  extra?: ReadonlyArray<readonly [string, string]>;
}): string;

/** Checks the redirect (state first) and returns the authorization code. */
export declare function parseRedirect(redirect: string, expectedState: State | string): string;

// ----- Session ------------------------------------------------------------------------------

/** The single outstanding refresh: send `request`, then close it by `id`. */
export declare class Ticket {
  private constructor();
  readonly id: number;
  readonly reason: "initial" | "stale" | "expired" | "rejected" | "fallback" | "retry";
  readonly request: TokenRequest;
  readonly method: "POST";
  readonly url: string;
  readonly headers: [string, string][];
  readonly form: [string, string][];
  readonly body: string;
  toJSON(): { id: number; reason: string; request: ReturnType<TokenRequest["toJSON"]> };
  toString(): string;
  free(): void;
}

/** What the caller of an API request does now. `toString()` never shows the header. */
export declare class Authorization {
  private constructor();
  readonly kind: "ready" | "ready_and_refresh" | "refresh" | "wait" | "failed";
  /** `Bearer ...` for `ready` / `ready_and_refresh`. */
  readonly header: string | null;
  readonly tokenId: number | null;
  readonly ticket: Ticket | null;
  readonly until: Reading | null;
  /** For `wait`: milliseconds from the reading `authorize` used until `until` (from core). */
  readonly waitMs: number | null;
  readonly waitReason: "refresh_in_flight" | "not_yet_valid" | "backoff" | null;
  readonly error: TokenClockError | null;
  toJSON(): {
    kind: string;
    tokenId: number | null;
    ticketId: number | null;
    until: Reading | null;
    waitMs: number | null;
    waitReason: string | null;
    error: string | null;
  };
  toString(): string;
  free(): void;
}

/** The evidence behind a `clock_skew` diagnosis. */
export interface SkewEvidence {
  finding: "not_yet_valid" | "issued_in_future" | "expired";
  resource: Estimate;
  issuer: Estimate;
  resourceNowLowMs: number | null;
  resourceNowHighMs: number | null;
  expMs: number | null;
  nbfMs: number | null;
  iatMs: number | null;
}

/** The answer to `onResponse`. */
export interface Verdict {
  kind: "accept" | "retry" | "fail";
  /** For `retry`: wait this long, then `authorize` again. */
  waitMs: number | null;
  /** For `fail`. */
  diagnosis: "clock_skew" | "unauthorized" | null;
  evidence: SkewEvidence | null;
  /** For a `clock_skew` diagnosis: the error to throw (code `clock_skew`, message from core). */
  error: TokenClockError | null;
}

/** The answer to `afterResponse`: what an adapter does with an API response. */
export interface AfterResponse {
  /** `return` / `return_refusal`: hand the response over; `retry`: wait `waitMs`, authorize,
   * send once more with `attempt + 1`; `raise`: throw `error`. */
  kind: "return" | "return_refusal" | "retry" | "raise";
  waitMs: number | null;
  diagnosis: "clock_skew" | null;
  evidence: SkewEvidence | null;
  /** For `raise`: the `clock_skew` error to throw (message from core). */
  error: TokenClockError | null;
}

/** Session counters. */
export interface Stats {
  tokenRequests: number;
  refreshes: number;
  failures: number;
  unauthorized: number;
  retries: number;
  abandonedTickets: number;
  discontinuities: number;
}

/** Something that happened, for logs. Never contains a token or secret. */
export type SessionEvent =
  | { kind: "ticket_issued"; at: Reading; ticket: number; reason: string }
  | { kind: "token_received"; at: Reading; token: number; lifetimeMs: number; usableMs: number }
  | { kind: "refresh_failed"; at: Reading; code: string; backoffMs: number }
  | { kind: "token_reused"; at: Reading; token: number }
  | { kind: "ticket_abandoned"; at: Reading; ticket: number }
  | { kind: "rejected"; at: Reading; token: number; verdict: string }
  | { kind: "clock_discontinuity"; at: Reading; wallExcessMs: number };

export interface SessionOptions {
  policy?: Policy;
  /** Full-jitter backoff after transient token-endpoint failures (`baseMs` 1000, `capMs` 60000,
   * `maxRetryAfterMs` 600000), and `configRetryMs` (300000; 1 s to 1 day): the wait after a
   * configuration error such as `invalid_client`, during which callers without a valid token
   * fail at once. */
  backoff?: { baseMs?: number; capMs?: number; maxRetryAfterMs?: number; configRetryMs?: number };
  skew?: SkewOptions;
  ticketTimeoutMs?: number;
  max401WaitMs?: number;
  /** Bound on one token request, connect to last byte (default 10000). */
  tokenTimeoutMs?: number;
  /** Token requests one API call performs at most (1 to 5; default 1). */
  refreshesPerCall?: number;
  clock?: Clock;
  /** Replaces the host RNG with a seeded one: tests only. */
  seed?: number | bigint;
}

/** The refresh state machine for one credential and audience. */
export declare class Session {
  constructor(grant: Grant, options?: SessionOptions);
  authorize(now?: Reading): Authorization;
  /** Hot path: the token id (> 0) when the answer is `ready` — get its header once with
   * `tokenHeader(id)` and cache it; otherwise 0, and `takeAuthorization()` hands over the
   * full answer exactly once. */
  authorizeToken(now?: Reading): number;
  /** `authorizeToken` at a reading given as two numbers (whole milliseconds): the per-request
   * path of `createFetch`. A fresh token's id is answered from the session's ready window
   * (core's decision, kept for at most a second) without deciding again. */
  authorizeTokenAt(wallMs: number, monoMs: number): number;
  /** The `Authorization` header of a token `authorizeToken()` returned. */
  tokenHeader(tokenId: number): string | undefined;
  /** The answer held back by the last `authorizeToken()` that returned 0. */
  takeAuthorization(): Authorization | undefined;
  /** Closes a ticket with the token endpoint's answer; returns the token id now in use. */
  completeRefresh(
    ticketId: number,
    status: number,
    headers: HeadersInit,
    body: string | Uint8Array,
    sent: Reading,
    received?: Reading,
  ): number;
  /** Closes a ticket after a transport failure; returns (does not throw) the error callers will see. */
  failRefresh(ticketId: number, failure: "connect" | "timeout" | "aborted", now?: Reading): TokenClockError;
  /** Feeds the token endpoint's `Date` from a request that was not a token request (the
   * fleet's issuer probe); `sent`/`received` (default now) bracket it. */
  addIssuerDate(date: string, sent: Reading, received?: Reading): void;
  onResponse(tokenId: number, status: number, headers: HeadersInit, sent: Reading, received?: Reading): Verdict;
  /** `onResponse`, then what to do with the response: `attempt` 1 for the first send, 2 for the
   * retry; `replayable`: the request can be sent again. */
  afterResponse(
    tokenId: number,
    status: number,
    headers: HeadersInit,
    sent: Reading,
    received: Reading | undefined,
    attempt: number,
    replayable: boolean,
  ): AfterResponse;
  /** `afterResponse` with the response's `Date` and `Age` headers (or `null`) and the readings
   * as numbers: `0` for `return`, otherwise the `AfterResponse` object. */
  afterResponseAt(
    tokenId: number,
    status: number,
    date: string | null,
    age: string | null,
    sentWallMs: number,
    sentMonoMs: number,
    receivedWallMs: number,
    receivedMonoMs: number,
    attempt: number,
    replayable: boolean,
  ): 0 | AfterResponse;
  /** Bound on one token request, ms (default 10000). */
  readonly tokenTimeoutMs: number;
  setTokenTimeoutMs(ms: number): void;
  /** Largest token response body read, bytes after decoding (1 MiB). */
  readonly maxTokenResponseLen: number;
  /** Token requests one call performs at most (1). */
  readonly refreshesPerCall: number;
  nextTimeout(now?: Reading): Reading | null;
  stats(): Stats;
  estimates(now?: Reading): { issuer: Estimate; resource: Estimate };
  tokenState(now?: Reading): TokenState | null;
  currentToken(): { tokenId: number; lifetime: Lifetime } | null;
  readonly refreshInFlight: boolean;
  pollEvent(): SessionEvent | null;
  /** Drains every pending event (`pollEvent()` until `null`), oldest first. */
  events(): SessionEvent[];
  /** The session's clock now. */
  now(): Reading;
  toString(): string;
  free(): void;
  /** `{ tokenUrl, grantType, tokenId, refreshInFlight }`: never a token or secret (`null` while in use). */
  toJSON(): { tokenUrl: string; grantType: string; tokenId: number | null; refreshInFlight: boolean } | null;
}

// ===== the fleet (core `fleet`; npm/store.js) ================================================

/** What the host does next for a fleet refresh (plain data; absent fields are `null`). */
export interface FleetAction {
  kind: "read" | "probe_issuer" | "take_lease" | "fetch" | "publish" | "release" | "wait" | "done";
  fencing: number | null;
  leaseMs: number | null;
  /** `publish`: the encoded (sealed when a key is set) record. */
  value: string | null;
  ttlMs: number | null;
  until: Reading | null;
  waitMs: number | null;
  outcome: "adopted" | "published" | "fetched" | "fetch_failed" | "abandoned" | null;
  /** `adopted`: the id of the adopted token (as the session reports it). */
  tokenId: number | null;
  /** Notes to log, drained with this answer (`record_ignored:<code>`, `store_unavailable`, ...). */
  notes: string[];
}

/** Timing and sealing of the fleet protocol. */
export interface FleetOptions {
  leaseMs?: number;
  pollMs?: number;
  maxWaitMs?: number;
  /** 32 bytes: records are sealed with AES-256-GCM. */
  encryptionKey?: Uint8Array;
}

/** The fleet refresh protocol for one ticket (core `FleetRefresh`); the host does the store I/O. Node only. */
export declare class FleetRefresh {
  constructor(ticketId: number, storeKey: string, options?: FleetOptions);
  free(): void;
  action(): FleetAction;
  onRecord(session: Session, value: string | null, now?: Reading): FleetAction;
  /** The bound on this refresh's token request and issuer probe, ms: the session's `tokenTimeoutMs`, cut to two thirds of the lease. */
  tokenTimeoutMs(session: Session): number;
  onProbe(session: Session, now?: Reading): FleetAction;
  onLease(session: Session, fencing: number | null, now?: Reading): FleetAction;
  onWake(session: Session, now?: Reading): FleetAction;
  onFetched(session: Session, ok: boolean, now?: Reading): FleetAction;
  onPublished(written: boolean): FleetAction;
  onReleased(): FleetAction;
  onStoreError(): FleetAction;
  /** `{ ticketId, action }` (the current action's kind): never a lease value, record or key. */
  toJSON(): { ticketId: number; action: string } | null;
}

/** The Redis keys of a session's credential (a hash of token URL, client id, scope, audience). Node only. */
export declare function storeKeys(session: Session, prefix?: string): { record: string; lease: string; fence: string };

/** The fleet's Redis scripts (Lua), shared with every front-end. Node only. */
export declare function fleetScripts(): { takeLease: string; publish: string; release: string };

/** Options of `RedisStore`. */
export interface RedisStoreOptions {
  prefix?: string;
  encryptionKey?: Uint8Array;
  leaseMs?: number;
  pollMs?: number;
  maxWaitMs?: number;
  /** Bound on every Redis command, ms (default 500). */
  timeoutMs?: number;
  logger?: { warn?: (message: string) => void };
}

/**
 * A Redis-backed token store for `createFetch({ store })` (Node; node-redis >= 5). `clientOrUrl`:
 * a `redis://` URL, an array of Redis Cluster node URLs, or a node-redis client from
 * `createClient()` or `createCluster()`.
 */
export declare class RedisStore {
  constructor(clientOrUrl: string | readonly string[] | object, options?: RedisStoreOptions);
  readonly prefix: string;
  /** No key, password or URL: `{ prefix, cluster, encrypted, leaseMs }`. */
  toJSON(): { prefix: string; cluster: boolean; encrypted: boolean; leaseMs: number };
  toString(): string;
  close(): Promise<void>;
  note(note: string): void;
  setScripts(scripts: { takeLease: string; publish: string; release: string }): void;
  get(key: string): Promise<string | null>;
  /** `lease`: the core's lease value for this attempt. Resolves to the fencing token, 0 when a peer holds the lease. */
  takeLease(keys: { lease: string; fence: string }, lease: string, leaseMs: number): Promise<number>;
  publish(keys: { lease: string; record: string }, lease: string, value: string, ttlMs: number): Promise<boolean>;
  release(keys: { lease: string }, lease: string): Promise<boolean>;
}

/** A store command failed; the fleet protocol turns it into a local refresh. */
export declare class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown });
}

// ===== createFetch (npm/fetch.js) ==========================================================
// This section is maintained with npm/fetch.js (createFetch and its end-to-end tests); keep it
// last in the file.

/** Options of `createFetch` that do not configure the session. */
export interface CreateFetchCommonOptions {
  /** The fetch used for the token requests and the API requests (default `globalThis.fetch`). */
  fetch?: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  /**
   * The clock read around every request (default: the session's clock for a given `session`,
   * else `Date.now()` / `performance.timeOrigin + performance.now()`). With credentials it is
   * also the session's clock.
   */
  clock?: Clock;
  /** Bound on one token request, ms: sets the session's `tokenTimeoutMs` (default 10000, from
   * core); a timeout closes the ticket as `"timeout"`. With a `store`, at most two thirds of the lease. */
  tokenTimeoutMs?: number;
  /** Called with the error of a refresh nobody was waiting for (a stale token's background refresh). */
  onRefreshError?: (error: Error) => void;
  /** Share the token with every process using the same store and credential (Node). */
  store?: RedisStore;
}

/** `createFetch` for a client credentials session it creates (session options inline). */
export interface CreateFetchCredentialsOptions extends CreateFetchCommonOptions, Omit<SessionOptions, "clock"> {
  tokenUrl: string;
  clientId: string;
  clientSecret?: string;
  scope?: string;
  /** Default `"client_secret_basic"`. */
  authMethod?: AuthMethod;
  /** Plain `http://` to a host that is not loopback (see `ClientOptions`); warned once per origin. */
  allowInsecureRequests?: boolean;
  session?: undefined;
}

/** `createFetch` over an existing session (any grant); configure the session itself. */
export interface CreateFetchSessionOptions extends CreateFetchCommonOptions {
  session: Session;
}

export type CreateFetchOptions = CreateFetchCredentialsOptions | CreateFetchSessionOptions;

/** Counters of one function returned by `createFetch` (no token, no secret). */
export interface FetchStats {
  /** Calls of the function. */
  calls: number;
  /** Requests sent to the API (retries included). */
  apiRequests: number;
  /** Requests retried after a 401. */
  retries: number;
  /** 401 responses received from the API. */
  unauthorized: number;
  /** 401 responses handed back to callers. */
  returned401: number;
  /** `clock_skew` errors thrown. */
  clockSkewErrors: number;
  /** Token requests sent by this function. */
  tokenRequests: number;
  /** Token requests that failed (any reason). */
  tokenRequestErrors: number;
  /** Token requests aborted because every caller waiting for them aborted. */
  abortedRefreshes: number;
  /** Token requests that exceeded `tokenTimeoutMs`. */
  timedOutRefreshes: number;
  /** Failed refreshes nobody was waiting for (reported to `onRefreshError`). */
  backgroundRefreshErrors: number;
  /** Code of the last failed token request, or `null`. */
  lastRefreshError: string | null;
  /** API responses not reported to the session: they did not answer a request that carried
   * our credential to its origin (e.g. the end of a redirect to another origin). */
  unreportedResponses: number;
  /** A token request for this session is in progress. */
  refreshInFlight: boolean;
  /** The session's own counters. */
  session: Stats;
}

/** A `fetch`-compatible function authorizing through a tokenclock session. */
export interface TokenclockFetch {
  (input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  readonly session: Session;
  stats(): FetchStats;
}

/** Thrown by a `createFetch` function when a refreshed token is rejected again and clock skew explains it. */
export interface ClockSkewError extends TokenClockError {
  code: "clock_skew";
  diagnosis: "clock_skew";
  evidence: SkewEvidence;
  /** The second 401 response (body unread). */
  response: Response;
}

/**
 * A `fetch`-compatible function that adds `Authorization` from a tokenclock session:
 * single-flight refresh shared by concurrent calls (and by every `createFetch` over the same
 * session), one retry on 401 as the session advises, `ClockSkewError` on a repeated 401 that
 * clock skew explains (any other final 401 is returned), `AbortSignal` honoured (the caller's
 * wait ends at once; the token request is aborted only when nobody waits for it any more).
 * Failures to get a token reject with `TokenClockError` (the core's code).
 */
export declare function createFetch(options: CreateFetchOptions): TokenclockFetch;
