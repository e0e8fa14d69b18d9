// The JS API and its error behaviour, beyond the shared vectors (vectors.test.js): the
// declarations match the modules, numbers and types are checked at the edge, errors are real
// Error objects with stable codes, nothing prints a token or secret, injected clocks are used,
// and no input — however hostile — kills the wasm instance.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { inspect } from "node:util";

import * as client from "tokenclock";
import * as full from "tokenclock/full";

const { TokenClockError } = client;

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const T0 = 1_700_000_000_000;
const M0 = 5_000;
const SECRET = "s3cr3t-client-secret-value";
const ACCESS = `${b64({ alg: "none" })}.${b64({ iat: T0 / 1000, exp: T0 / 1000 + 3600, sub: "user-42" })}.`;
const REFRESH = "refresh-token-that-must-not-leak";

/** A clock the test moves by hand. */
function manualClock(wallMs = T0, monoMs = M0) {
  const now = { wallMs, monoMs };
  const clock = () => ({ ...now });
  clock.advance = (ms) => {
    now.wallMs += ms;
    now.monoMs += ms;
  };
  return clock;
}

function grant(api = client) {
  return api.clientCredentials({ tokenUrl: "https://issuer.example/token", clientId: "client-1", clientSecret: SECRET, scope: "read" });
}

/** A session with one token in use. */
function sessionWithToken(api = client) {
  const clock = manualClock();
  const session = new api.Session(grant(api), { clock, seed: 7 });
  const a = session.authorize();
  assert.equal(a.kind, "refresh");
  const body = JSON.stringify({ access_token: ACCESS, token_type: "Bearer", expires_in: 3600, refresh_token: REFRESH });
  const tokenId = session.completeRefresh(a.ticket.id, 200, [["Date", new Date(T0).toUTCString()]], body, clock());
  return { session, clock, tokenId };
}

// ----- declarations ↔ modules --------------------------------------------------------------------

const dts = (name) => readFileSync(new URL(`../${name}`, import.meta.url), "utf8");

/** `export declare function|class Name` of a declaration file, with each class's members. */
function declared(text) {
  const values = new Map();
  for (const m of text.matchAll(/^export declare (function|class) (\w+)/gm)) values.set(m[2], { kind: m[1], members: [] });
  for (const m of text.matchAll(/^export declare class (\w+)[^{]*\{([\s\S]*?)^\}/gm)) {
    const members = [];
    for (const line of m[2].split("\n")) {
      const mm = line.match(/^ {2}(static )?(?:readonly )?(\w+)[(:?]/);
      if (mm && mm[2] !== "constructor" && mm[2] !== "private") members.push({ name: mm[2], isStatic: Boolean(mm[1]) });
    }
    values.get(m[1]).members = members;
  }
  return values;
}

function checkDeclarations(api, values) {
  const runtime = Object.keys(api).sort();
  assert.deepEqual([...values.keys()].sort(), runtime, "declared values vs runtime exports");
  for (const [name, { kind, members }] of values) {
    assert.equal(typeof api[name], "function", `${name} is a ${kind}`);
    // TokenClockError's fields are per instance (set by its constructor), not on the prototype.
    if (name === "TokenClockError") continue;
    for (const { name: member, isStatic } of members) {
      const where = isStatic ? api[name] : api[name].prototype;
      assert.ok(member in where, `${name}${isStatic ? "." : ".prototype."}${member} is declared but missing`);
    }
  }
}

test("index.d.ts declares exactly the client module's exports and their members", () => {
  checkDeclarations(client, declared(dts("index.d.ts")));
});

test("full.d.ts declares exactly the full module's exports and their members", () => {
  const base = declared(dts("index.d.ts"));
  const own = declared(dts("full.d.ts"));
  const reexported = dts("full.d.ts").match(/export \{([^}]*)\} from "\.\/index\.js"/)[1].split(",").map((s) => s.trim()).filter(Boolean);
  const values = new Map(own);
  for (const name of reexported) if (base.has(name) && !values.has(name)) values.set(name, base.get(name));
  checkDeclarations(full, values);
});

// ----- numbers and types at the edge ---------------------------------------------------------------

const isArgError = (type, pattern) => (e) => e instanceof type && e.code === "invalid_argument" && pattern.test(e.message);

test("readings are checked field by field, by type and range", () => {
  const { session } = sessionWithToken();
  assert.throws(() => session.authorize({ wallMs: -1, monoMs: 0 }), isArgError(RangeError, /^now\.wallMs is negative/));
  assert.throws(() => session.authorize({ wallMs: 1.5, monoMs: 0 }), isArgError(RangeError, /^now\.wallMs is not an integer/));
  assert.throws(() => session.authorize({ wallMs: 0, monoMs: 2 ** 53 }), isArgError(RangeError, /^now\.monoMs exceeds/));
  assert.throws(() => session.authorize({ wallMs: 253_402_300_800_000, monoMs: 0 }), isArgError(RangeError, /^now: wall time .* out of range/));
  assert.throws(() => session.authorize({ wallMs: "0", monoMs: 0 }), isArgError(TypeError, /^now\.wallMs must be a number$/));
  assert.throws(() => session.authorize({ monoMs: 0 }), isArgError(TypeError, /^now\.wallMs must be a number$/));
  assert.throws(() => session.authorize(42), isArgError(TypeError, /^now must be a reading/));
  assert.equal(session.authorize({ wallMs: T0, monoMs: M0 }).kind, "ready");
});

test("offsets may be negative, instants and durations may not", () => {
  const e = new client.Estimate({ offsetMs: -30_000, lowMs: -30_100, highMs: -29_900 });
  assert.deepEqual(e.toJSON(), { offsetMs: -30_000, lowMs: -30_100, highMs: -29_900, agreeing: 0, samples: 0 });
  assert.equal(e.toServerTime(T0), T0 - 30_000);
  assert.deepEqual(e.serverTimeBounds(T0), [T0 - 30_100, T0 - 29_900]);
  assert.throws(() => e.toServerTime(-1), isArgError(RangeError, /^localMs is negative/));
  assert.throws(() => new client.Estimate({ offsetMs: 0.5 }), isArgError(RangeError, /^parts\.offsetMs is not an integer/));
  assert.throws(() => client.formatHttpDate(Infinity), isArgError(RangeError, /^ms is not finite/));
  assert.throws(() => new client.SkewEstimator({ maxSamples: -1 }), isArgError(RangeError, /^maxSamples is negative/));
  assert.throws(() => client.parseTokenResponse(70_000, [], ""), isArgError(RangeError, /^status is too large/));
});

test("strings must be strings, bytes Uint8Arrays, options objects", () => {
  assert.throws(() => client.peek(undefined), isArgError(TypeError, /^token must be a string$/));
  assert.throws(() => client.peek(new String("a.b.c")), isArgError(TypeError, /^token must be a string$/));
  assert.throws(() => client.parseTokenResponse(200, [], 42), isArgError(TypeError, /^body must be a string or a Uint8Array$/));
  assert.throws(() => client.parseTokenResponse(200, "x", "{}"), isArgError(TypeError, /^headers must be/));
  assert.throws(() => client.parseTokenResponse(200, [["a"]], "{}"), isArgError(TypeError, /^each entry of headers/));
  assert.throws(() => client.parseSntpReply([1, 2, 3], new client.SntpRequest(T0, 1), T0), isArgError(TypeError, /^reply must be a Uint8Array$/));
  assert.throws(() => new client.SkewEstimator(5), isArgError(TypeError, /^options must be an object$/));
  assert.throws(() => new client.SkewEstimator({ clock: 5 }), isArgError(TypeError, /^clock must be a function/));
  assert.throws(() => client.clientCredentials({ tokenUrl: "https://x/t", clientId: "a", clientSecret: "b", authMethod: "magic" }), isArgError(TypeError, /^authMethod must be/));
});

test("headers may be pairs, a Headers object, a Map or a record", () => {
  const body = JSON.stringify({ error: "temporarily_unavailable" });
  for (const headers of [[["Retry-After", "120"]], new Headers({ "retry-after": "120" }), new Map([["Retry-After", "120"]]), { "Retry-After": "120" }]) {
    assert.throws(() => client.parseTokenResponse(503, headers, body), (e) => e.code === "temporarily_unavailable" && e.retryAfter === "120");
  }
});

test("sizes are capped before anything is copied into wasm memory", () => {
  const huge = "a".repeat(8 * 1024 * 1024 + 1);
  assert.throws(() => client.peek(huge), isArgError(RangeError, /^token is longer than/));
  const pairs = Array.from({ length: 5000 }, (_, i) => [`h${i}`, "v"]);
  assert.throws(() => client.parseTokenResponse(200, pairs, "{}"), isArgError(RangeError, /^headers has more than 4096/));
  // Core's own limits still apply (and are reported with core's codes).
  assert.throws(() => client.peek("a".repeat(64 * 1024 + 1)), (e) => e instanceof TokenClockError && e.code === "token_too_large");
});

// ----- errors ------------------------------------------------------------------------------------

test("TokenClockError: a real Error with name, stable code and detail fields", () => {
  const token = `${b64({ alg: "HS256" })}.${b64({ exp: "soon" })}.c2ln`;
  let caught;
  try {
    client.peek(token);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof TokenClockError && caught instanceof Error);
  assert.equal(caught.name, "TokenClockError");
  assert.equal(caught.code, "invalid_claim_type");
  assert.equal(caught.what, "exp");
  assert.equal(caught.message, 'claim "exp" must be a JSON number (NumericDate)');
  assert.match(String(caught), /^TokenClockError: claim "exp"/);
  assert.ok(caught.stack.includes("TokenClockError"));
  // The constructor is usable by other modules (createFetch raises clock_skew with it).
  const own = new TokenClockError("clock_skew", "the resource server's clock", { evidence: { finding: "expired" }, code: "ignored" });
  assert.equal(own.code, "clock_skew");
  assert.deepEqual(own.evidence, { finding: "expired" });
});

test("session errors carry retryAtMs, errorClass and the endpoint's details", () => {
  const clock = manualClock();
  const session = new client.Session(grant(), { clock, seed: 1 });
  const a = session.authorize();
  const body = JSON.stringify({ error: "temporarily_unavailable", error_description: "maintenance" });
  assert.throws(
    () => session.completeRefresh(a.ticket.id, 503, [["Retry-After", "30"]], body, clock()),
    (e) => e instanceof TokenClockError && e.code === "temporarily_unavailable" && e.errorClass === "transient" &&
      e.status === 503 && e.kind === "oauth" && e.oauthError === "temporarily_unavailable" &&
      e.description === "maintenance" && e.retryAfter === "30" && e.retryAtMs >= T0 + 30_000,
  );
  assert.throws(() => session.completeRefresh(a.ticket.id, 200, [], "{}", clock()), (e) => e.code === "stale_ticket" && e.retryAtMs === null);
  const waiting = session.authorize();
  assert.equal(waiting.kind, "failed");
  assert.equal(waiting.error.code, "temporarily_unavailable");
  assert.equal(waiting.error.errorClass, "transient");
});

test("failRefresh returns the error callers will see, and throws only for a stale ticket", () => {
  const clock = manualClock();
  const session = new client.Session(grant(), { clock, seed: 1 });
  const t = session.authorize().ticket;
  const e = session.failRefresh(t.id, "timeout");
  assert.ok(e instanceof TokenClockError);
  assert.equal(e.code, "transport_error");
  assert.equal(e.failure, "timeout");
  assert.equal(e.errorClass, "transient");
  assert.ok(e.retryAtMs >= T0 && e.retryAtMs <= T0 + 1_000);
  assert.throws(() => session.failRefresh(t.id, "timeout"), (x) => x instanceof TokenClockError && x.code === "stale_ticket");
  assert.throws(() => session.failRefresh(t.id, "dns"), isArgError(TypeError, /^failure must be/));
});

test("grants are checked where they are written, with core's codes", () => {
  assert.throws(
    () => client.clientCredentials({ tokenUrl: "http://issuer.example/token", clientId: "a", clientSecret: "b" }),
    (e) => e.code === "insecure_url" && e.what === "token_url",
  );
  assert.throws(() => client.clientCredentials({ tokenUrl: "https://x/t", clientId: "a", clientSecret: "b", scope: "a\"b" }), (e) => e.code === "invalid_parameter" && e.what === "scope");
  assert.throws(() => client.clientCredentials({ tokenUrl: "https://x/t", clientId: "a", authMethod: "none" }), (e) => e.code === "client_auth_required");
  const g = client.refreshTokenGrant({ tokenUrl: "http://127.0.0.1:8080/token", clientId: "public", refreshToken: REFRESH });
  assert.equal(g.authMethod, "none");
  assert.equal(g.grantType, "refresh_token");
  assert.equal(g.clientId, "client-1".replace("client-1", "public"));
});

// ----- nothing prints a secret -------------------------------------------------------------------

test("no token or secret in toString, toJSON, util.inspect or error messages", () => {
  const { session, tokenId } = sessionWithToken();
  const ready = session.authorize();
  assert.equal(ready.kind, "ready");
  assert.equal(ready.header, `Bearer ${ACCESS}`);
  assert.equal(String(ready), `Authorization(ready, token ${tokenId})`);
  const g = grant();
  const req = g.tokenRequest({ lowMs: T0, highMs: T0 }, { seed: 1 });
  assert.ok(req.headers.some(([n, v]) => n === "Authorization" && v.startsWith("Basic ")));
  const post = client.clientCredentials({ tokenUrl: "https://issuer.example/token", clientId: "c", clientSecret: SECRET, authMethod: "client_secret_post" })
    .tokenRequest({ lowMs: T0, highMs: T0 });
  assert.ok(post.body.includes(SECRET) && post.formValue("client_secret") === SECRET);
  const response = client.parseTokenResponse(200, [], JSON.stringify({ access_token: ACCESS, refresh_token: REFRESH, id_token: "id.token.value" }));
  const pkce = client.Pkce.generate();
  const state = client.State.generate();
  const basic = Buffer.from(`client-1:${SECRET}`).toString("base64");
  const rtSession = new client.Session(
    client.refreshTokenGrant({ tokenUrl: "https://issuer.example/token", clientId: "c", clientSecret: SECRET, refreshToken: REFRESH }),
    { seed: 1, clock: manualClock() },
  );
  const refresh = rtSession.authorize();
  const ticket = refresh.ticket;
  assert.ok(ticket.body.includes(REFRESH) && ticket.request.formValue("refresh_token") === REFRESH);
  const objects = { session, ready, g, req, post, response, pkce, state, refresh, ticket, rtSession, est: session.estimates().issuer };
  const secrets = [ACCESS, ACCESS.split(".")[1], SECRET, REFRESH, basic, pkce.verifier, state.value, "id.token.value"];
  for (const [name, o] of Object.entries(objects)) {
    for (const shown of [String(o), inspect(o, { depth: 5, showHidden: true }), JSON.stringify(o) ?? ""]) {
      for (const s of secrets) assert.ok(!shown.includes(s), `${name} shows a secret: ${shown}`);
    }
  }
  assert.equal(String(state), "State(<redacted>)");
  assert.match(String(req), /^TokenRequest\(POST https:\/\/issuer\.example\/token\)$/);
  assert.deepEqual(JSON.parse(JSON.stringify(post)).form.find(([n]) => n === "client_secret"), ["client_secret", "<redacted>"]);
  // Error messages name what was wrong, never the input.
  const bad = `${b64({ alg: "none" })}.${b64({ exp: 1 })}.${"x".repeat(20)}!`;
  assert.throws(() => client.peek(bad), (e) => !e.message.includes("x".repeat(20)) && e.code === "invalid_base64" && e.what === "signature");
  assert.throws(
    () => client.parseTokenResponse(200, [], JSON.stringify({ access_token: `${SECRET} with space` })),
    (e) => e.code === "invalid_access_token" && !e.message.includes(SECRET) && !inspect(e).includes(SECRET),
  );
});

test("the module writes nothing to the console", () => {
  const calls = [];
  const saved = {};
  for (const m of ["log", "info", "warn", "error", "debug"]) {
    saved[m] = console[m];
    console[m] = (...args) => calls.push([m, ...args]);
  }
  try {
    const { session, tokenId, clock } = sessionWithToken();
    session.authorize();
    session.onResponse(tokenId, 401, [], clock());
    try { client.peek("x"); } catch { /* expected */ }
    while (session.pollEvent() !== null);
  } finally {
    Object.assign(console, saved);
  }
  assert.deepEqual(calls, []);
});

// ----- clocks ------------------------------------------------------------------------------------

test("objects read their injected clock whenever no reading is passed", () => {
  const clock = manualClock();
  const est = new client.SkewEstimator({ clock });
  assert.deepEqual(est.now(), { wallMs: T0, monoMs: M0 });
  est.addBounds(-100, 100);
  clock.advance(3_600_000);
  const e = est.estimate();
  assert.equal(e.lowMs, -100 - 720); // 200 ppm over one hour
  assert.equal(e.highMs, 100 + 720);
  const { session } = sessionWithToken();
  const now = session.now();
  assert.deepEqual(now, { wallMs: T0, monoMs: M0 });
});

test("the default clock is Date.now() and performance.timeOrigin + performance.now()", () => {
  const session = new client.Session(grant(), { seed: 1 });
  const before = { wall: Date.now(), mono: Math.floor(performance.timeOrigin + performance.now()) };
  const now = session.now();
  const after = { wall: Date.now(), mono: Math.floor(performance.timeOrigin + performance.now()) };
  assert.ok(now.wallMs >= before.wall && now.wallMs <= after.wall);
  assert.ok(now.monoMs >= before.mono && now.monoMs <= after.mono);
  assert.ok(Number.isInteger(now.monoMs));
});

test("a throwing or lying clock is an error for that call only", () => {
  let mode = "throw";
  const clock = () => {
    if (mode === "throw") throw new Error("clock broke");
    if (mode === "lie") return { wallMs: -5, monoMs: 0 };
    return { wallMs: T0, monoMs: M0 };
  };
  const session = new client.Session(grant(), { clock, seed: 1 });
  assert.throws(() => session.authorize(), /clock broke/);
  mode = "lie";
  assert.throws(() => session.authorize(), isArgError(RangeError, /^clock\(\)\.wallMs is negative/));
  mode = "ok";
  assert.equal(session.authorize().kind, "refresh");
  assert.equal(session.refreshInFlight, true);
});

test("callbacks may re-enter the object: arguments are read before its state is borrowed", () => {
  const base = manualClock();
  let session;
  const clock = () => {
    if (session) session.stats();
    return base();
  };
  session = new client.Session(grant(), { clock, seed: 1 });
  assert.equal(session.authorize().kind, "refresh");
  const est = new client.SkewEstimator({ clock: base });
  const sneaky = { get wallMs() { est.clear(); est.addBounds(0, 10, base()); return T0; }, monoMs: M0 };
  est.addBounds(-10, 10, sneaky);
  assert.equal(est.size, 2);
  const m = new full.SkewMonitor();
  m.record(5);
  m.merge(m);
  assert.equal(m.count, 2);
});

// ----- the session flow ------------------------------------------------------------------------

test("Session: refresh, ready, stale single flight, 401 retry, events, timeouts", () => {
  const clock = manualClock();
  const session = new client.Session(grant(), { clock, seed: 3, policy: { refreshAt: { fraction: [0.5, 0.5] } } });
  const first = session.authorize();
  assert.equal(first.kind, "refresh");
  assert.equal(first.ticket.reason, "initial");
  assert.equal(first.ticket.url, "https://issuer.example/token");
  assert.equal(first.ticket.request.formValue("scope"), "read");
  assert.equal(session.authorize().kind, "wait");
  const body = JSON.stringify({ access_token: ACCESS, token_type: "Bearer", expires_in: 100 });
  const id = session.completeRefresh(first.ticket.id, 200, [], body, clock());
  assert.equal(session.authorize().tokenId, id);
  const timeout = session.nextTimeout();
  assert.ok(timeout.wallMs > T0 && timeout.wallMs - T0 === timeout.monoMs - M0);
  clock.advance(60_000);
  const stale = session.authorize();
  assert.equal(stale.kind, "ready_and_refresh");
  assert.equal(stale.ticket.reason, "stale");
  assert.equal(session.authorize().kind, "ready");
  const v = session.onResponse(id, 401, [], clock());
  assert.deepEqual(v, { kind: "retry", waitMs: 0, diagnosis: null, evidence: null });
  assert.equal(session.stats().unauthorized, 1);
  assert.equal(session.tokenState().state, "stale");
  assert.ok(session.currentToken().lifetime instanceof client.Lifetime);
  const kinds = [];
  for (let e = session.pollEvent(); e !== null; e = session.pollEvent()) kinds.push(e.kind);
  assert.deepEqual(kinds, ["ticket_issued", "token_received", "ticket_issued", "rejected"]);
});

test("Lifetime, SkewEstimator, SNTP round trip", () => {
  const lt = new client.Lifetime({
    times: { expiresInMs: 60_000 },
    sent: { wallMs: T0, monoMs: M0 },
    received: { wallMs: T0 + 100, monoMs: M0 + 100 },
    policy: { refreshAt: { fraction: [0.8, 0.8] }, margin: { fixedMs: 5_000 } },
    seed: 1,
  });
  assert.equal(lt.basis, "expires_in");
  assert.deepEqual(lt.deadline, { wallMs: T0 + 60_000, monoMs: M0 + 60_000 });
  assert.deepEqual(lt.hardExpiry, { wallMs: T0 + 55_000, monoMs: M0 + 55_000 });
  assert.deepEqual(lt.state({ wallMs: T0 + 100, monoMs: M0 + 100 }), { state: "fresh" });
  assert.deepEqual(lt.state({ wallMs: T0 + 55_000, monoMs: M0 + 55_000 }), { state: "expired" });
  assert.throws(() => new client.Lifetime({ times: {}, sent: { wallMs: T0, monoMs: 10 }, received: { wallMs: T0, monoMs: 5 } }), (e) => e.code === "reading_order");
  assert.throws(() => new client.Lifetime({ times: {}, sent: { wallMs: T0, monoMs: 5 }, received: { wallMs: T0, monoMs: 5 }, policy: { refreshAt: { fraction: [0.9, 0.1] } } }), (e) => e.code === "invalid_policy");

  // SNTP: a server 250 ms ahead, 40 ms round trip.
  const req = new client.SntpRequest(T0, 0x1234);
  assert.equal(req.packet.length, 48);
  assert.equal(req.packet[0], 0x23);
  const reply = new Uint8Array(48);
  reply[0] = (4 << 3) | 4;
  reply[1] = 2;
  const view = new DataView(reply.buffer);
  view.setBigUint64(24, req.transmitTimestamp);
  const ntp = (ms) => {
    const secs = BigInt(Math.floor(ms / 1000)) + 2_208_988_800n;
    const frac = (BigInt(ms % 1000) << 32n) / 1000n;
    return (secs << 32n) | frac;
  };
  view.setBigUint64(32, ntp(T0 + 20 + 250));
  view.setBigUint64(40, ntp(T0 + 20 + 250));
  const r = client.parseSntpReply(reply, req, T0 + 40);
  assert.equal(r.stratum, 2);
  assert.equal(r.leap, "none");
  assert.ok(Math.abs(r.offsetUs - 250_000) <= 1_000, `offset ${r.offsetUs}`);
  assert.ok(Math.abs(r.delayUs - 40_000) <= 1_000, `delay ${r.delayUs}`);
  const est = new client.SkewEstimator();
  est.addSntp(r, { wallMs: T0 + 40, monoMs: M0 + 40 });
  const e = est.estimate({ wallMs: T0 + 40, monoMs: M0 + 40 });
  assert.ok(e.lowMs <= 250 && e.highMs >= 250 && e.widthMs <= 50, String(e));
  reply[1] = 0;
  reply.set(Buffer.from("RATE"), 12);
  assert.throws(() => client.parseSntpReply(reply, req, T0 + 40), (x) => x.code === "sntp_kiss_of_death" && x.kissCode === "RATE");
});

test("PKCE, state, authorization URL and redirect", () => {
  const pkce = client.Pkce.fromVerifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  assert.equal(pkce.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  const state = client.State.fromValue("xyz");
  const url = client.authorizationUrl({ authorizeEndpoint: "https://as.example/authorize", clientId: "c", redirectUri: "https://app/cb", pkce, state });
  assert.match(url, /code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256$/);
  assert.equal(client.parseRedirect("https://app/cb?code=abc&state=xyz", state), "abc");
  assert.equal(client.parseRedirect("?code=abc&state=xyz", "xyz"), "abc");
  assert.throws(() => client.parseRedirect("?code=abc&state=evil", state), (e) => e.code === "state_mismatch");
  assert.throws(
    () => client.parseRedirect("?error=access_denied&error_description=no&state=xyz", state),
    (e) => e.code === "authorization_error" && e.oauthError === "access_denied" && e.description === "no",
  );
  assert.ok(state.matches("xyz") && !state.matches("xy"));
});

// ----- full build ------------------------------------------------------------------------------

function hs256(claims, key) {
  const head = b64({ alg: "HS256", typ: "JWT" });
  const body = b64(claims);
  const sig = createHmac("sha256", key).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

test("Verifier: signature, time claims with leeway, errors with details", () => {
  const key = Buffer.alloc(32, 9);
  const token = hs256({ iss: "https://issuer.example", sub: "u", iat: T0 / 1000, exp: T0 / 1000 + 60 }, key);
  const v = new full.Verifier({ key: new Uint8Array(key), algorithms: ["HS256"], leewayMs: 0, issuer: "https://issuer.example" });
  const ok = v.verify(token, T0 + 1_000);
  assert.deepEqual({ alg: ok.alg, kid: ok.kid, sub: ok.claims.sub, expMs: ok.expMs }, { alg: "HS256", kid: null, sub: "u", expMs: T0 + 60_000 });
  assert.throws(() => v.verify(token, T0 + 60_000), (e) => e instanceof TokenClockError && e.code === "expired" && e.byMs === 0 && e.likelyClockSkew === true);
  assert.throws(() => v.verify(token.slice(0, -2) + "AA", T0), (e) => e.code === "invalid_signature" && !e.message.includes(token.split(".")[2]));
  assert.throws(() => v.verify(`Bearer ${token}`, T0), (e) => e.code === "malformed_token" && e.reason === "not_bare_token");
  const clocked = new full.Verifier({ key: { secret: key.toString("latin1") }, algorithms: "HS256", clock: () => ({ wallMs: T0, monoMs: 0 }) });
  assert.equal(clocked.verify(token).sub, undefined);
  assert.equal(clocked.verify(token).claims.sub, "u");
  // A plain string is PEM, never an HMAC secret.
  assert.throws(() => new full.Verifier({ key: "not a pem", algorithms: ["HS256"] }), (e) => e.code === "invalid_key" || e.code === "key_algorithm_mismatch");
  assert.throws(() => new full.Verifier({ key: { keys: [] }, algorithms: ["HS256"] }), isArgError(TypeError, /fromJwks/));
  assert.throws(() => new full.Verifier({ key, algorithms: ["none"] }), (e) => e.code === "algorithm_not_allowed");
  const jwks = { keys: [{ kty: "oct", kid: "k1", k: key.toString("base64url"), alg: "HS256" }] };
  const withKid = `${b64({ alg: "HS256", kid: "k1" })}.${b64({ exp: T0 / 1000 + 60 })}`;
  const signed = `${withKid}.${createHmac("sha256", key).update(withKid).digest("base64url")}`;
  const fromJwks = full.Verifier.fromJwks(JSON.stringify(jwks), { algorithms: ["HS256"] });
  assert.deepEqual(fromJwks.kids, ["k1"]);
  assert.equal(fromJwks.verify(signed, T0).kid, "k1");
  assert.ok(!String(v).includes(key.toString("hex")));
});

test("SkewMonitor: record, merge, quantiles, JSON round trip, Prometheus", () => {
  const a = new full.SkewMonitor();
  const b = new full.SkewMonitor();
  for (let i = 0; i < 60; i++) a.record(-5_000);
  for (let i = 0; i < 60; i++) b.recordToken(T0, T0 - 100);
  a.merge(b);
  assert.equal(a.count, 120);
  assert.equal(a.sumMs, 60 * -5_000 + 60 * 100);
  assert.equal(a.assessment().verdict, "behind");
  const back = full.SkewMonitor.fromJson(a.toJson());
  assert.equal(back.count, 120);
  assert.deepEqual(back.bucketCounts, a.bucketCounts);
  assert.equal(full.SkewMonitor.edges().length, a.bucketCounts.length - 1);
  assert.match(a.prometheus("token_age"), /^# HELP token_age|token_age_count 120/m);
  assert.throws(() => a.prometheus("bad name"), (e) => e.code === "invalid_metric_name");
  for (const q of [-0.1, 1.1, NaN, "0.5"]) {
    assert.throws(() => a.quantile(q), (e) => e instanceof RangeError && e.code === "invalid_quantile");
  }
  assert.throws(() => full.SkewMonitor.fromJson("{}"), (e) => e.code === "invalid_monitor_json");
});

test("simulation: one cell, rows and the summary table", () => {
  const outcomes = full.runCell({ ttlS: 60, hours: 0.05, seed: 3 }, { timeline: true });
  assert.deepEqual(outcomes.map((o) => o.strategy), ["tokenclock", "tutorial", "stackit", "naive", "oracle"]);
  assert.ok(outcomes[0].timeline.length > 0 && outcomes[1].timeline.length === 0);
  const rows = full.gauntletRows({ ttlS: 60, hours: 0.05, seed: 3 }, outcomes);
  assert.equal(rows.length, 4);
  assert.match(full.renderSummary(rows), /^strategy +cells/);
  assert.match(full.renderBreakdown(rows), /^user-visible failures in/);
  const cells = full.gauntletCells(1, 0.5);
  assert.ok(cells.length > 100 && typeof cells[0].seed === "bigint");
  assert.throws(() => full.runCell({ hours: 1e6 }), isArgError(RangeError, /^cell\.hours must be within/));
  assert.throws(() => full.gauntletRows({}, [{ strategy: "nope" }]), isArgError(TypeError, /not a known strategy/));
});

test("signing grants (full): jwt-bearer and private_key_jwt are checked when built", () => {
  assert.throws(
    () => full.jwtBearerGrant({ tokenUrl: "https://oauth2.example/token", issuer: "sa@example", privateKeyPem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", alg: "RS256" }),
    (e) => e.code === "invalid_key",
  );
  assert.throws(() => full.jwtBearerGrant({ tokenUrl: "https://oauth2.example/token", issuer: "sa", privateKeyPem: "x", alg: "HS256" }), isArgError(TypeError, /^alg must be/));
});

// ----- hostile inputs: never a trap ---------------------------------------------------------------

function hostileValues() {
  const throwingProxy = new Proxy({}, {
    get() { throw new Error("trap get"); },
    has() { throw new Error("trap has"); },
    ownKeys() { throw new Error("trap ownKeys"); },
    getPrototypeOf() { throw new Error("trap proto"); },
  });
  const { proxy: revoked, revoke } = Proxy.revocable([], {});
  revoke();
  const badIterable = { [Symbol.iterator]() { return { next() { throw new Error("iterator broke"); } }; } };
  const endless = { [Symbol.iterator]() { return { next: () => ({ done: false, value: ["a", "b"] }) }; } };
  const bytesProxy = new Proxy(new Uint8Array(4), {});
  const getterThrows = { get wallMs() { throw new Error("getter"); }, monoMs: 1, get offsetMs() { throw new Error("getter"); } };
  const deep = JSON.parse("[".repeat(5000) + "]".repeat(5000));
  return [
    undefined, null, true, 0, -0, -1, 0.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 64, 1e308, -1e308,
    "", "x", "a.b.c", "\u0000", "\ud800", "-----BEGIN PUBLIC KEY-----", 10n, -1n, 2n ** 70n, Symbol("s"),
    () => 1, () => { throw new Error("fn"); }, {}, [], [[1, 2]], [["a", 1]], { wallMs: 1, monoMs: 1 },
    { wallMs: 1e300, monoMs: -1 }, new Uint8Array(0), new Uint8Array(64).fill(0xff), new Uint8Array(2000),
    new Map([[1, 2]]), throwingProxy, revoked, badIterable, endless, bytesProxy, getterThrows, deep,
    Object.create(null), new Date(0), /re/, new Error("e"),
  ];
}

function allowedError(e) {
  return e instanceof TokenClockError || e instanceof RangeError || e instanceof TypeError ||
    (e instanceof Error && !(e instanceof WebAssembly.RuntimeError));
}

function instances(api) {
  const { session } = sessionWithToken(api);
  const out = {
    session,
    estimator: new api.SkewEstimator(),
    estimate: new api.Estimate({ offsetMs: 1, lowMs: 0, highMs: 2 }),
    lifetime: new api.Lifetime({ times: { expiresInMs: 60_000 }, sent: { wallMs: T0, monoMs: M0 }, received: { wallMs: T0, monoMs: M0 } }),
    grant: grant(api),
    request: grant(api).tokenRequest({ lowMs: T0, highMs: T0 }),
    sntp: new api.SntpRequest(T0, 1),
    state: api.State.fromValue("xyz"),
    pkce: api.Pkce.generate(),
  };
  if (api.Verifier) {
    out.verifier = new api.Verifier({ key: new Uint8Array(32).fill(1), algorithms: ["HS256"] });
    out.monitor = new api.SkewMonitor();
  }
  return out;
}

for (const [name, api] of Object.entries({ client, full })) {
  test(`hostile arguments to every function and method never trap the instance (${name})`, async () => {
    const values = hostileValues();
    const arities = (f) => Math.max(1, Math.min(6, f.length + 1));
    const calls = [];
    for (const [key, value] of Object.entries(api)) {
      if (typeof value !== "function" || key === "TokenClockError" || key === "createFetch") continue;
      const isClass = /^[A-Z]/.test(key);
      if (isClass) {
        calls.push([`new ${key}`, (...args) => new value(...args), arities(value)]);
        for (const s of Object.getOwnPropertyNames(value)) {
          if (typeof value[s] === "function" && !["length", "name", "prototype", "__wrap"].includes(s) && !s.startsWith("__")) {
            calls.push([`${key}.${s}`, (...args) => value[s](...args), arities(value[s])]);
          }
        }
      } else {
        calls.push([key, value, arities(value)]);
      }
    }
    for (const [oname, obj] of Object.entries(instances(api))) {
      const proto = Object.getPrototypeOf(obj);
      for (const m of Object.getOwnPropertyNames(proto)) {
        const d = Object.getOwnPropertyDescriptor(proto, m);
        if (m === "constructor" || m === "free" || m.startsWith("__") || typeof d.value !== "function") continue;
        calls.push([`${oname}.${m}`, (...args) => obj[m](...args), arities(d.value)]);
      }
    }
    // Long-running simulations are not the point here.
    const skip = new Set(["runCell", "gauntletCells"]);
    let n = 0;
    const check = (label, args, e) => {
      assert.ok(allowedError(e), `${label}(${args.map((a) => typeof a).join(", ")}) threw ${e}`);
      assert.ok(!(e instanceof WebAssembly.RuntimeError), `${label} trapped: ${e}`);
    };
    for (const [label, f, arity] of calls) {
      if (skip.has(label)) continue;
      for (let i = 0; i < values.length; i++) {
        const args = Array.from({ length: arity }, (_, k) => values[(i + k * 7) % values.length]);
        n += 1;
        try {
          const out = f(...args);
          // Promise-returning methods (Verifier.verifyAsync) reject with the same errors.
          if (out instanceof Promise) await out.catch((e) => check(label, args, e));
        } catch (e) {
          check(label, args, e);
        }
      }
    }
    assert.ok(n > 1000, `${n} calls`);
    // Still alive, and still correct.
    assert.equal(api.rulesIsExpired(1000, 1000, 0), true);
    assert.equal(api.peek(ACCESS).sub, "user-42");
    const { session } = sessionWithToken(api);
    assert.equal(session.authorize().kind, "ready");
  });
}

test("random garbage through every parser never traps the instance", () => {
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed;
  };
  const req = new client.SntpRequest(T0, 1);
  const est = new client.SkewEstimator();
  const v = new full.Verifier({ key: new Uint8Array(32).fill(1), algorithms: ["HS256"] });
  const seeds = [ACCESS, "Sun, 06 Nov 1994 08:49:37 GMT", "120", JSON.stringify({ access_token: "a", expires_in: "3600.5", scope: ["a"] })];
  for (let i = 0; i < 3000; i++) {
    const base = Buffer.from(seeds[i % seeds.length]);
    const len = rand() % 8 === 0 ? rand() % 300 : base.length;
    const bytes = Buffer.alloc(len);
    for (let k = 0; k < len; k++) bytes[k] = rand() % 4 === 0 ? rand() & 0xff : base[k % Math.max(1, base.length)] ?? 0;
    const s = bytes.toString("latin1");
    for (const f of [
      () => client.peek(s),
      () => client.parseHttpDate(s, rand() * 1000),
      () => client.parseRetryAfter(s, 0),
      () => client.parseTokenResponse(rand() % 700, [["Retry-After", s.slice(0, 40)]], new Uint8Array(bytes)),
      () => client.parseSntpReply(new Uint8Array(bytes), req, T0),
      () => est.addDate(s, { wallMs: T0, monoMs: M0 }, { wallMs: T0 + 10, monoMs: M0 + 10 }),
      () => client.parseRedirect(s, "state"),
      () => v.verify(s, T0),
      () => full.Verifier.fromJwks(s, { algorithms: ["HS256"] }),
      () => full.SkewMonitor.fromJson(s),
    ]) {
      try {
        f();
      } catch (e) {
        assert.ok(allowedError(e) && !(e instanceof WebAssembly.RuntimeError), String(e));
      }
    }
  }
  assert.equal(client.formatHttpDate(784111777000), "Sun, 06 Nov 1994 08:49:37 GMT");
  assert.equal(full.formatHttpDate(784111777000), "Sun, 06 Nov 1994 08:49:37 GMT");
});

// ----- SNTP replies from fields, resolutions, Lifetime.rebase ------------------------------------

test("an SntpReply from its fields samples like the parsed one", () => {
  const fields = { offsetUs: 1_500_000, delayUs: 20_000, serverTransmitMs: T0 + 1_500, stratum: 2 };
  const r = new client.SntpReply(fields);
  assert.deepEqual(r.toJSON(), { ...fields, errorBoundUs: 10_000, leap: "none", leapIndicator: 0, version: 4 });
  assert.deepEqual(new client.SntpReply(r.toJSON()).toJSON(), r.toJSON());
  assert.equal(new client.SntpReply({ ...fields, leap: 1 }).leap, "insert_second");
  const est = new client.SkewEstimator();
  est.addSntp(r, { wallMs: T0, monoMs: M0 });
  assert.deepEqual([est.estimate({ wallMs: T0, monoMs: M0 }).lowMs, est.estimate({ wallMs: T0, monoMs: M0 }).highMs], [1_487, 1_513]);
  assert.throws(() => new client.SntpReply({ ...fields, delayUs: -1 }), isArgError(RangeError, /^fields\.delayUs is negative/));
  assert.throws(() => new client.SntpReply({ ...fields, stratum: 16 }), isArgError(RangeError, /^fields\.stratum/));
  assert.throws(() => new client.SntpReply({ ...fields, leap: "sometimes" }), isArgError(RangeError, /^fields\.leap/));
  assert.throws(() => new client.SntpReply(), isArgError(TypeError, /^fields must be an object/));
});

test("resolutions: taken from one estimator, applied to another, and to a Lifetime", () => {
  const at = (s, m = s) => ({ wallMs: T0 + s, monoMs: M0 + m });
  const est = new client.SkewEstimator();
  est.addBounds(1_000, 1_100, at(0));
  assert.deepEqual(est.observe(at(15_000, 10_000)), { wallExcessMs: 5_000 });
  est.addBounds(-3_950, -3_940, at(16_000, 11_000));
  est.addBounds(-3_948, -3_942, at(17_000, 12_000)); // two agree: only a step explains them
  const taken = est.takeResolutions();
  assert.deepEqual(taken, [{ at: at(15_000, 10_000), wallExcessMs: 5_000, explanation: "wall_stepped" }]);
  assert.deepEqual(est.takeResolutions(), []);
  const other = new client.SkewEstimator();
  other.addBounds(1_000, 1_100, at(0));
  other.observe(at(15_000, 10_000));
  const span = (e) => [e.lowMs, e.highMs];
  assert.deepEqual(span(other.estimate(at(16_000, 11_000))), [-4_004, 1_104]);
  other.applyResolution(taken[0].at, taken[0].explanation);
  assert.deepEqual(span(other.estimate(at(16_000, 11_000))), [-4_003, -3_897]);
  assert.throws(() => other.applyResolution(taken[0].at, "sideways"), isArgError(TypeError, /^explanation must be/));
  const lt = new client.Lifetime({ times: { expiresInMs: 3_600_000 }, sent: at(0), received: at(0) });
  const stepped = lt.rebase(taken[0]);
  assert.deepEqual(stepped.deadline, { wallMs: lt.deadline.wallMs + 5_000, monoMs: lt.deadline.monoMs });
  const paused = lt.rebase({ ...taken[0], explanation: "monotonic_paused" });
  assert.deepEqual(paused.deadline, { wallMs: lt.deadline.wallMs, monoMs: lt.deadline.monoMs - 5_000 });
  assert.deepEqual(lt.rebase({ ...taken[0], at: at(-1) }).deadline, lt.deadline); // received after
  assert.throws(() => lt.rebase({ ...taken[0], wallExcessMs: 0.5 }), isArgError(RangeError, /^resolution\.wallExcessMs is not an integer/));
});
