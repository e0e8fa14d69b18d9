// Compile-time check of the published types (tsc -p npm/test/tsconfig.json, no emit): typical
// uses type-check, and misuses fail (each @ts-expect-error must be an error).
import {
  Estimate,
  Lifetime,
  Pkce,
  Session,
  SkewEstimator,
  SntpReply,
  SntpRequest,
  State,
  TokenClockError,
  authorizationUrl,
  clientCredentials,
  createFetch,
  formatHttpDate,
  parseHttpDate,
  parseRetryAfter,
  parseSntpReply,
  parseTokenResponse,
  peek,
  refreshTokenGrant,
  rulesIsExpired,
  version,
  type Authorization,
  type Reading,
  type Resolution,
  type TokenState,
  type Verdict,
} from "tokenclock";
import { KeySet, RemoteVerifier, SkewMonitor, Verifier, bearerAuth, clientCredentials as fullClientCredentials, jwtBearerGrant, runCell, type KeySetEvent, type Verified } from "tokenclock/full";

const v: string = version();
const expired: boolean = rulesIsExpired(1000, 1000, 0);
// @ts-expect-error: times are numbers of milliseconds, not strings.
rulesIsExpired("1000", 1000, 0);
// @ts-expect-error: all three arguments are required.
rulesIsExpired(1000, 1000);

const p = peek("a.b.c");
const exp: number | null = p.expMs;
const aud: string[] = p.aud;
const when: number = parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT", 0);
const text: string = formatHttpDate(when);
const ra = parseRetryAfter("120");
const raMs: number = ra.kind === "delay" ? ra.delayMs : ra.dateMs;

const clock = (): Reading => ({ wallMs: 1_700_000_000_000, monoMs: 5_000 });
const grant = clientCredentials({ tokenUrl: "https://issuer.example/token", clientId: "id", clientSecret: "s", scope: "a b" });
// @ts-expect-error: a client credentials grant needs a clientId.
clientCredentials({ tokenUrl: "https://issuer.example/token" });
const insecure: boolean = clientCredentials({ tokenUrl: "http://idp:8080/token", clientId: "id", clientSecret: "s", allowInsecureRequests: true }).allowInsecureRequests;
createFetch({ tokenUrl: "http://idp:8080/token", clientId: "id", clientSecret: "s", allowInsecureRequests: true });
fullClientCredentials({ tokenUrl: "https://issuer.example/token", clientId: "id", clientSecret: "0123456789abcdef0123456789abcdef", authMethod: "client_secret_jwt", audience: "https://issuer.example" });
// @ts-expect-error: client_secret_jwt needs the secret.
fullClientCredentials({ tokenUrl: "https://issuer.example/token", clientId: "id", authMethod: "client_secret_jwt" });
const session = new Session(grant, { clock, seed: 1, policy: { refreshAt: { fraction: [0.8, 0.8] }, notBefore: "nbf" } });
const a: Authorization = session.authorize();
if (a.kind === "refresh" && a.ticket) {
  const id: number = session.completeRefresh(a.ticket.id, 200, [["date", "x"]], "{}", clock(), clock());
  const verdict: Verdict = session.onResponse(id, 401, new Map([["date", "x"]]), clock());
  const wait: number | null = verdict.waitMs;
  void wait;
}
const failed: TokenClockError = session.failRefresh(1, "timeout");
const retryAt = failed.retryAtMs;
// @ts-expect-error: failures are "connect" | "timeout" | "aborted".
session.failRefresh(1, "dns");
const next: Reading | null = session.nextTimeout();
const st: TokenState | null = session.tokenState();
// @ts-expect-error: no such member (typos fail).
session.refreshTokenKept;

const est = new Estimate({ offsetMs: 5, lowMs: -5, highMs: 15 });
const server: number = est.toServerTime(1000);
const skew = new SkewEstimator({ driftPpm: 100, clock });
skew.addDate("Sun, 06 Nov 1994 08:49:37 GMT", clock());
const probe = skew.nextDateProbe(40, 100);
const lt = new Lifetime({ times: { expiresInMs: 60_000 }, sent: clock(), received: clock(), issuer: est, seed: 1 });
const state = lt.state(undefined, { offsetMs: 0 });
const req = new SntpRequest(1_700_000_000_000, 7);
const ts: bigint = req.transmitTimestamp;
// @ts-expect-error: the reply must be bytes.
parseSntpReply("reply", req, 0);
skew.addSntp(new SntpReply({ offsetUs: 1_500, delayUs: 20_000, serverTransmitMs: 1_700_000_000_000, stratum: 2, leap: "none" }));
// @ts-expect-error: a reply needs its fields.
new SntpReply({ offsetUs: 1 });
const taken: Resolution[] = skew.takeResolutions();
for (const r of taken) skew.applyResolution(r.at, r.explanation);
const rebased: Lifetime = lt.rebase({ at: clock(), wallExcessMs: 5_000, explanation: "wall_stepped" });
// @ts-expect-error: not an explanation.
skew.applyResolution(clock(), "sideways");
const pkce = Pkce.generate();
const url: string = authorizationUrl({
  authorizeEndpoint: "https://issuer.example/authorize",
  clientId: "id",
  redirectUri: "https://app.example/cb",
  pkce,
  state: State.generate(),
});
const refresh = refreshTokenGrant({ tokenUrl: "https://issuer.example/token", clientId: "id", refreshToken: "r" });
const response = parseTokenResponse(200, { "content-type": "application/json" }, new Uint8Array());
const f = createFetch({ tokenUrl: "https://issuer.example/token", clientId: "id", clientSecret: "s" });
const r: Promise<Response> = f("https://api.example/");

const verifier = new Verifier({ key: "-----BEGIN PUBLIC KEY-----", algorithms: ["RS256"], leewayMs: 0 });
const verified: Verified = verifier.verify("a.b.c", 0);
const later: Promise<Verified> = verifier.verifyAsync("a.b.c");
// @ts-expect-error: "none" is never an algorithm.
new Verifier({ key: new Uint8Array(32), algorithms: ["none"] });
const monitor = new SkewMonitor();
monitor.record(-50);
const q: number | null = monitor.quantile(0.5);
const jb = jwtBearerGrant({ tokenUrl: "https://oauth2.example/token", issuer: "sa", privateKeyPem: "pem", alg: "RS256" });
const outcomes = runCell({ ttlS: 60, seed: 1n });

export {
  v, expired, exp, aud, text, raMs, next, st, retryAt, server, probe, state, ts, url, refresh, response, r,
  verified, later, q, jb, outcomes,
};

// Remote key sets and the bearer middleware (tokenclock/full).
const remote: RemoteVerifier = Verifier.fromIssuer("https://issuer.example", {
  algorithms: ["ES256"],
  audience: "api",
  cooldownMs: 30_000,
  onEvent: (e: KeySetEvent) => void e.event,
});
const remoteClaims: Promise<Verified> = remote.verify("a.b.c");
void remoteClaims;
// @ts-expect-error: durations are ms numbers.
Verifier.fromJwksUri("https://issuer.example/jwks", { algorithms: ["ES256"], cooldownMs: "30s" });
const keySet = new KeySet({ jwksUri: "https://issuer.example/jwks", algorithms: ["RS256"] });
// @ts-expect-error: a key set has one source, not two.
new KeySet({ jwksUri: "https://issuer.example/jwks", issuer: "https://issuer.example", algorithms: ["RS256"] });
const ks = keySet.step();
if (ks.step === "fetch") keySet.onFailure(ks.ticket.id, "timeout");
const core = keySet.verifier();
if (core !== null) Verifier.fromCore(core).verify("a.b.c");
const ksOff: boolean | null = keySet.clockOff();
void ksOff;
const middleware = bearerAuth(remote, { onSuccess: (req) => void req.auth?.claims });
void middleware;
