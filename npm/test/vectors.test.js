// Runs every conformance vector under tests/vectors/ through the package's PUBLIC API, the way
// the Rust runners in core/tests/vectors_*.rs run them through core (the input/expected shapes
// are documented at the top of each Rust runner). Client suites run on both builds ("tokenclock"
// and "tokenclock/full"); verify/ and the signing cases of oauth-request.json on the full build.
//
// One deliberate difference from the Rust runners, from the binding contract
// (docs/bindings.md): the JS edge rejects a negative instant or duration (`exp_ms: -1`,
// `max_wait_ms: -1`, `rtt_ms: -40`, ...) with a RangeError (`.code = "invalid_argument"`) before
// core sees it. A case whose input carries such a value (see NON_NEGATIVE below) must throw that
// RangeError instead of producing the core's result; every such case is listed in the report.
//
// After every case that ends in an error the module must still answer a valid call: no input
// may panic (a panicked wasm instance is dead for the process).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createDecipheriv, createHash, createHmac, createPublicKey, verify as cryptoVerify } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

import * as client from "tokenclock";
import * as full from "tokenclock/full";
import { replayRegression } from "./regressions.js";

const VECTORS = fileURLToPath(new URL("../../tests/vectors/", import.meta.url));
const BUILDS = { client, full };

/** Keys whose values the JS edge requires to be non-negative (instants, durations, counts). */
const NON_NEGATIVE = new Set([
  "wall_ms", "mono_ms", "expires_in_ms", "exp_ms", "nbf_ms", "iat_ms", "before_ms", "fixed_ms",
  "tenth_of_lifetime_cap_ms", "max_wait_ms", "assumed_lifetime_ms", "max_401_wait_ms",
  "ticket_timeout_ms", "leeway_ms", "max_age_ms", "transmit_ms", "received_ms", "unix_ms",
  "reference_ms", "rtt_ms", "target_width_ms", "base_ms", "cap_ms", "max_retry_after_ms",
  "iat_ms", "status", "lifetime_s", "drift_ppm", "max_samples", "seed", "rng_seed", "entropy",
]);
/** Offsets are signed, except inside `issuer_now` (an interval of issuer instants). */
const SIGNED_UNLESS_UNDER = { low_ms: "issuer_now", high_ms: "issuer_now" };

/** Paths of negative values the edge must reject, e.g. `times.expires_in_ms`. */
function edgeRejected(input) {
  const found = [];
  const walk = (v, path, parent) => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`, parent));
    else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (typeof x === "number" && x < 0 && (NON_NEGATIVE.has(k) || SIGNED_UNLESS_UNDER[k] === parent)) {
          found.push(path ? `${path}.${k}` : k);
        }
        walk(x, path ? `${path}.${k}` : k, k);
      }
    }
  };
  walk(input, "", "");
  return found;
}

const edgeCases = [];

function load(rel) {
  const doc = JSON.parse(readFileSync(join(VECTORS, rel), "utf8"));
  assert.ok(Array.isArray(doc.cases) && doc.cases.length > 0, `${rel}: no cases`);
  return doc.cases;
}

const claimed = new Set();

/** Declares the runner of one vector file: `check(case, api)` throws on a mismatch. */
function suite(rel, builds, check, { min = 1 } = {}) {
  claimed.add(rel);
  for (const name of builds) {
    test(`${rel} (${name})`, () => {
      const api = BUILDS[name];
      const cases = load(rel);
      const failures = [];
      for (const c of cases) {
        try {
          runCase(c, api, check);
        } catch (e) {
          failures.push(`${c.id}: ${e?.message ?? e}`);
        }
        assertAlive(api, c.id);
      }
      assert.deepEqual(failures, [], `${rel}: ${failures.length} failing case(s)`);
      assert.ok(cases.length >= min, `${rel}: only ${cases.length} cases`);
    });
  }
}

function runCase(c, api, check) {
  const rejected = edgeRejected(c.input);
  if (rejected.length === 0) {
    check(c, api);
    return;
  }
  try {
    check(c, api);
  } catch (e) {
    if (e instanceof RangeError && e.code === "invalid_argument") {
      if (!edgeCases.includes(c.id)) edgeCases.push(c.id);
      return;
    }
    throw new Error(`expected a RangeError at the edge for ${rejected.join(", ")}, got ${e?.name} ${e?.code}: ${e?.message}`);
  }
  throw new Error(`expected a RangeError at the edge for ${rejected.join(", ")}, the call succeeded`);
}

/** The module still answers a valid call (a panic would leave it dead: RuntimeError). */
function assertAlive(api, id) {
  try {
    assert.equal(api.rulesIsExpired(1000, 1000, 0), true);
    assert.equal(api.formatHttpDate(784111777000), "Sun, 06 Nov 1994 08:49:37 GMT");
  } catch (e) {
    throw new Error(`module dead after ${id}: ${e}`);
  }
}

/** Runs `f`; returns `{ ok: value }` or `{ err: TokenClockError }`. Anything else fails. */
function attempt(api, f) {
  try {
    return { ok: f() };
  } catch (e) {
    if (e instanceof RangeError || e instanceof TypeError) throw e;
    assert.ok(e instanceof api.TokenClockError, `not a TokenClockError: ${e?.name}: ${e?.message}`);
    assert.equal(e.name, "TokenClockError");
    assert.equal(typeof e.code, "string");
    return { err: e };
  }
}

function expectError(expected, err) {
  if (!("error" in expected)) throw new Error(`unexpected error ${err.code}: ${err.message}`);
  assert.equal(err.code, expected.error);
}

const reading = (r) => ({ wallMs: r.wall_ms, monoMs: r.mono_ms });
const readingJson = (r) => ({ wall_ms: r.wallMs, mono_ms: r.monoMs });
const hexBytes = (hex) => Uint8Array.from(Buffer.from(hex, "hex"));
const b64url = /^[A-Za-z0-9_-]*$/;

// ----- peek.json ----------------------------------------------------------------------------

suite("peek.json", ["client", "full"], (c, api) => {
  const token = "token" in c.input
    ? c.input.token
    : (({ prefix, repeat, count, suffix }) => prefix + repeat.repeat(count) + suffix)(c.input.token_repeat);
  const r = attempt(api, () => api.peek(token));
  if (r.err) {
    expectError(c.expected, r.err);
    if ("what" in c.expected) assert.equal(r.err.what, c.expected.what);
    for (const k of Object.keys(c.expected)) assert.ok(k === "error" || k === "what", `unknown expected key ${k}`);
    return;
  }
  assert.ok(!("error" in c.expected), `peeked, expected error ${c.expected.error}`);
  const p = r.ok;
  assert.deepEqual(
    { alg: p.alg, kid: p.kid, typ: p.typ, iat_ms: p.iatMs, nbf_ms: p.nbfMs, exp_ms: p.expMs, iss: p.iss, sub: p.sub, aud: p.aud, jti: p.jti },
    c.expected,
  );
}, { min: 33 });

// ----- http-date.json, retry-after.json -------------------------------------------------------

suite("http-date.json", ["client", "full"], (c, api) => {
  const kind = c.input.kind ?? "parse";
  if (kind === "format") {
    assert.deepEqual({ formatted: api.formatHttpDate(c.input.unix_ms) }, c.expected);
    return;
  }
  assert.equal(kind, "parse");
  const r = attempt(api, () => api.parseHttpDate(c.input.value, c.input.reference_ms));
  if (r.err) {
    assert.deepEqual({ error: r.err.code }, c.expected);
    return;
  }
  assert.deepEqual({ unix_ms: r.ok, formatted: api.formatHttpDate(r.ok) }, c.expected);
}, { min: 25 });

suite("retry-after.json", ["client", "full"], (c, api) => {
  const r = attempt(api, () => api.parseRetryAfter(c.input.value, c.input.reference_ms));
  if (r.err) {
    assert.deepEqual({ error: r.err.code }, c.expected);
    return;
  }
  const got = r.ok.kind === "delay" ? { delay_ms: r.ok.delayMs } : { date_unix_ms: r.ok.dateMs };
  assert.deepEqual(got, c.expected);
}, { min: 10 });

// ----- sntp.json ------------------------------------------------------------------------------

suite("sntp.json", ["client", "full"], (c, api) => {
  const request = new api.SntpRequest(c.input.transmit_ms, c.input.entropy);
  if (c.input.kind === "build") {
    assert.deepEqual({ request_hex: Buffer.from(request.packet).toString("hex") }, c.expected);
    return;
  }
  assert.equal(c.input.kind, "parse");
  const r = attempt(api, () => api.parseSntpReply(hexBytes(c.input.reply_hex), request, c.input.received_ms));
  if (r.err) {
    const got = { error: r.err.code };
    if (r.err.code === "sntp_kiss_of_death") got.kiss_code = r.err.kissCode;
    assert.deepEqual(got, c.expected);
    return;
  }
  const x = r.ok;
  assert.deepEqual(
    {
      offset_us: x.offsetUs, delay_us: x.delayUs, stratum: x.stratum, leap: x.leapIndicator,
      version: x.version, server_transmit_ms: x.serverTransmitMs,
    },
    c.expected,
  );
}, { min: 15 });

// ----- skew.json ------------------------------------------------------------------------------

suite("skew.json", ["client", "full"], (c, api) => {
  const { input } = c;
  const est = new api.SkewEstimator({ driftPpm: input.config.drift_ppm, maxSamples: input.config.max_samples });
  const at = reading(input.at);
  let failed = null;
  for (const ev of input.events) {
    const r = attempt(api, () => {
      switch (ev.kind) {
        case "observe": return est.observe(reading(ev.at));
        case "date": return est.addDate(ev.date, reading(ev.sent), reading(ev.received));
        case "iat": return est.addIat(ev.iat_ms, reading(ev.received));
        case "manual": return est.addBounds(ev.low_ms, ev.high_ms ?? null, reading(ev.at));
        default: throw new Error(`unknown event kind ${ev.kind}`);
      }
    });
    if (r.err) {
      failed = r.err.code;
      break;
    }
  }
  const kind = input.kind ?? "estimate";
  if (kind === "estimate") {
    if (failed !== null) {
      assert.deepEqual({ error: failed }, c.expected);
      return;
    }
    const e = est.estimate(at).toJSON();
    assert.deepEqual(
      { offset_ms: e.offsetMs, low_ms: e.lowMs, high_ms: e.highMs, agreeing: e.agreeing, samples: e.samples },
      c.expected,
    );
    return;
  }
  assert.equal(kind, "probe");
  assert.equal(failed, null, "a probe case has a failing event");
  const probe = est.nextDateProbe(input.rtt_ms, input.target_width_ms, at);
  if (probe === null) {
    assert.deepEqual({ probe: null }, c.expected);
    return;
  }
  assert.deepEqual(probe.sendAt, { wallMs: at.wallMs + probe.waitMs, monoMs: at.monoMs + probe.waitMs });
  assert.deepEqual({ wait_ms: probe.waitMs }, c.expected);
}, { min: 20 });

// ----- expiry.json ----------------------------------------------------------------------------

/** A vectors policy (snake_case) as the `policy` option. */
function policyOf(p) {
  if (p === undefined || p === null) return undefined;
  const out = {};
  if (p.margin) {
    out.margin = "tenth_of_lifetime_cap_ms" in p.margin
      ? { tenthOfLifetimeCapMs: p.margin.tenth_of_lifetime_cap_ms }
      : { fixedMs: p.margin.fixed_ms };
  }
  if (p.refresh_at) {
    out.refreshAt = "fraction" in p.refresh_at ? { fraction: p.refresh_at.fraction } : { beforeMs: p.refresh_at.before_ms };
  }
  if ("assumed_lifetime_ms" in p) out.assumedLifetimeMs = p.assumed_lifetime_ms;
  if ("max_wait_ms" in p) out.maxWaitMs = p.max_wait_ms;
  if ("not_before" in p) out.notBefore = p.not_before;
  for (const k of Object.keys(p)) {
    assert.ok(["margin", "refresh_at", "assumed_lifetime_ms", "max_wait_ms", "not_before"].includes(k), `policy key ${k}`);
  }
  return out;
}

const estimateOf = (e) => ({ offsetMs: e.offset_ms, lowMs: e.low_ms ?? null, highMs: e.high_ms ?? null });

suite("expiry.json", ["client", "full"], (c, api) => {
  const { input } = c;
  const t = input.times;
  const r = attempt(api, () => new api.Lifetime({
    times: { expiresInMs: t.expires_in_ms, expMs: t.exp_ms, nbfMs: t.nbf_ms, iatMs: t.iat_ms },
    sent: reading(input.sent),
    received: reading(input.received),
    issuer: estimateOf(input.issuer),
    policy: policyOf(input.policy),
    seed: input.seed,
  }));
  if (r.err) {
    assert.deepEqual({ error: r.err.code }, c.expected);
    return;
  }
  const lt = r.ok;
  const got = {
    deadline: readingJson(lt.deadline),
    hard_expiry: readingJson(lt.hardExpiry),
    refresh_at: readingJson(lt.refreshAt),
    margin_ms: lt.marginMs,
    lifetime_ms: lt.lifetimeMs,
    basis: lt.basis,
  };
  if (!("refresh_at" in c.expected)) {
    // A random window: refresh_at = receipt + floor(span × f) for some f in it.
    const window = input.policy?.refresh_at ?? { fraction: [0.75, 0.85] };
    assert.ok("fraction" in window, "refresh_at may only be left out for a fraction window");
    const [low, high] = window.fraction;
    const recv = reading(input.received);
    const span = Math.max(0, Math.min(lt.hardExpiry.wallMs - recv.wallMs, lt.hardExpiry.monoMs - recv.monoMs));
    const lead = lt.refreshAt.monoMs - recv.monoMs;
    assert.equal(lt.refreshAt.wallMs, recv.wallMs + lead);
    assert.ok(lead >= Math.floor(span * low) && lead <= Math.floor(span * high), `refresh lead ${lead} outside the window`);
    delete got.refresh_at;
  }
  assert.deepEqual(got, c.expected);
  for (const [i, check] of input.checks.entries()) {
    const at = reading(check.at);
    const st = lt.state(at, estimateOf(check.server));
    const want = check.state === "not_yet_valid"
      ? { state: "not_yet_valid", waitMs: check.wait_ms, until: { wallMs: at.wallMs + check.wait_ms, monoMs: at.monoMs + check.wait_ms } }
      : { state: check.state };
    assert.deepEqual(st, want, `check ${i}`);
  }
}, { min: 25 });

// ----- oauth-request.json ---------------------------------------------------------------------

/** The client-authentication options from a vectors `auth`. */
function authOf(a) {
  const out = { authMethod: a.method, clientId: a.client_id };
  if ("client_secret" in a) out.clientSecret = a.client_secret;
  if (a.method === "private_key_jwt") {
    Object.assign(out, { privateKeyPem: a.private_key_pem, alg: a.alg, kid: a.kid, audience: a.audience });
  }
  if (a.method === "client_secret_jwt") out.audience = a.audience;
  return out;
}

/** A `Grant` built through the public grant constructors. */
function grantOf(api, tokenUrl, auth, g, allowInsecureRequests = undefined) {
  const base = { tokenUrl, ...authOf(auth), allowInsecureRequests };
  switch (g.type) {
    case "client_credentials":
      return api.clientCredentials({ ...base, scope: g.scope, extra: g.extra ?? [] });
    case "refresh_token":
      return api.refreshTokenGrant({ ...base, refreshToken: g.refresh_token, scope: g.scope });
    case "authorization_code":
      return api.authorizationCodeGrant({ ...base, code: g.code, redirectUri: g.redirect_uri, codeVerifier: g.code_verifier });
    case "jwt_bearer":
      return api.jwtBearerGrant({
        ...base, issuer: g.issuer, subject: g.subject, audience: g.audience, scope: g.scope,
        scopePlacement: g.scope_placement, privateKeyPem: g.private_key_pem, alg: g.alg, kid: g.kid,
        lifetimeS: g.lifetime_s,
      });
    default:
      throw new Error(`unknown grant type ${g.type}`);
  }
}

/** Checks a signed assertion: signature with the public key, header and claims exactly. */
function checkJwt(token, want, keyHolder) {
  const [h, p, s] = token.split(".");
  const data = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, "base64url");
  const ok = keyHolder.method === "client_secret_jwt"
    // HS256: the HMAC keyed by the client secret.
    ? createHmac("sha256", Buffer.from(keyHolder.client_secret, "utf8")).update(data).digest().equals(sig)
    : checkPublic(keyHolder, data, sig);
  assert.ok(ok, "assertion signature does not verify");
  assert.deepEqual(JSON.parse(Buffer.from(h, "base64url")), want.header);
  const claims = JSON.parse(Buffer.from(p, "base64url"));
  const { jti, ...rest } = claims;
  assert.equal(typeof jti, "string");
  assert.ok(b64url.test(jti) && jti.length === want.jti_b64url_len, `jti ${jti}`);
  assert.deepEqual(rest, want.claims);
}

function checkPublic(keyHolder, data, sig) {
  const key = createPublicKey(keyHolder.public_key_pem);
  return keyHolder.alg === "RS256"
    ? cryptoVerify("sha256", data, key, sig)
    : keyHolder.alg === "ES256"
      ? cryptoVerify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, sig)
      : assert.fail(`runner knows no ${keyHolder.alg}`);
}

function formDecode(s) {
  return decodeURIComponent(s.replace(/\+/g, " "));
}

function runTokenRequest(c, api) {
  const { input } = c;
  const g = attempt(api, () => grantOf(api, input.token_url, input.auth, input.grant, input.allow_insecure_http));
  if (g.err) {
    expectError(c.expected, g.err);
    return;
  }
  const r = attempt(api, () => g.ok.tokenRequest(
    { lowMs: input.issuer_now.low_ms, highMs: input.issuer_now.high_ms },
    { seed: input.rng_seed },
  ));
  if (r.err) {
    expectError(c.expected, r.err);
    return;
  }
  const req = r.ok;
  const exp = c.expected;
  assert.ok(!("error" in exp), `built a request, expected error ${exp.error}`);
  assert.equal(req.method, exp.method);
  assert.equal(req.url, exp.url);
  assert.deepEqual(req.headers, exp.headers);
  assert.equal(req.form.length, exp.form.length);
  for (const [[name, value], [wantName, want]] of req.form.map((f, i) => [f, exp.form[i]])) {
    assert.equal(name, wantName);
    if (typeof want === "string") assert.equal(value, want, name);
    else checkJwt(value, want.jwt, input.grant.type === "jwt_bearer" ? input.grant : input.auth);
  }
  // Credentials never show in toString()/toJSON().
  const shown = `${req} ${JSON.stringify(req)}`;
  for (const [name, value] of req.form) {
    if (["client_secret", "refresh_token", "code", "code_verifier", "assertion", "client_assertion"].includes(name) && value.length >= 8) {
      assert.ok(!shown.includes(value), `${name} visible`);
    }
  }
  if ("body" in exp) {
    assert.equal(req.body, exp.body);
  } else {
    const decoded = req.body.split("&").map((pair) => pair.split("=").map(formDecode));
    assert.deepEqual(decoded, req.form);
  }
}

function runRequestCase(c, api) {
  const { input, expected: exp } = c;
  switch (input.op) {
    case "token_request":
      return runTokenRequest(c, api);
    case "assertion_times": {
      const r = attempt(api, () => api.assertionTimes({ lowMs: input.issuer_now.low_ms, highMs: input.issuer_now.high_ms }, input.lifetime_s));
      if (r.err) return expectError(exp, r.err);
      return assert.deepEqual({ iat_s: r.ok.iatS, nbf_s: r.ok.nbfS, exp_s: r.ok.expS }, exp);
    }
    case "pkce_challenge": {
      const r = attempt(api, () => api.Pkce.fromVerifier(input.verifier));
      if (r.err) return expectError(exp, r.err);
      return assert.equal(r.ok.challenge, exp.challenge);
    }
    case "pkce_generate": {
      const p = api.Pkce.generate({ seed: input.rng_seed });
      const state = api.State.generate({ seed: input.rng_seed });
      assert.equal(p.verifier.length, exp.verifier_len);
      assert.equal(p.challenge.length, exp.challenge_len);
      assert.equal(state.value.length, exp.state_len);
      assert.ok(b64url.test(p.verifier) && b64url.test(p.challenge) && b64url.test(state.value));
      const want = createHash("sha256").update(p.verifier).digest("base64url");
      assert.equal(p.challenge, want);
      assert.equal(api.s256Challenge(p.verifier), want);
      assert.equal(p.method, "S256");
      // The host RNG: two draws differ.
      assert.notEqual(api.Pkce.generate().verifier, api.Pkce.generate().verifier);
      return;
    }
    case "authorization_url": {
      const r = attempt(api, () => api.authorizationUrl({
        authorizeEndpoint: input.authorize_endpoint, clientId: input.client_id, redirectUri: input.redirect_uri,
        scope: input.scope, pkce: api.Pkce.fromVerifier(input.verifier), state: api.State.fromValue(input.state),
        extra: input.extra,
      }));
      if (r.err) return expectError(exp, r.err);
      return assert.equal(r.ok, exp.url);
    }
    case "redirect": {
      const r = attempt(api, () => api.parseRedirect(input.redirect, api.State.fromValue(input.expected_state)));
      if (r.err) {
        expectError(exp, r.err);
        if (r.err.code === "authorization_error") {
          assert.equal(r.err.oauthError, exp.oauth_error ?? null);
          assert.equal(r.err.description, exp.description ?? null);
        }
        return;
      }
      return assert.equal(r.ok, exp.code);
    }
    default:
      throw new Error(`unknown op ${input.op}`);
  }
}

claimed.add("oauth-request.json");
for (const name of ["client", "full"]) {
  test(`oauth-request.json (${name})`, () => {
    const api = BUILDS[name];
    const cases = load("oauth-request.json");
    const failures = [];
    let ran = 0;
    for (const c of cases) {
      // Signing needs the full build; the client build has no private_key_jwt / jwt-bearer.
      if ((c.flags ?? []).includes("sign") && name === "client") continue;
      ran += 1;
      try {
        runCase(c, api, runRequestCase);
      } catch (e) {
        failures.push(`${c.id}: ${e?.message ?? e}`);
      }
      assertAlive(api, c.id);
    }
    assert.deepEqual(failures, []);
    assert.ok(ran >= (name === "full" ? 70 : 60), `${ran} cases`);
  });
}

test("the client build refuses signing with a pointer to tokenclock/full", () => {
  const c = load("oauth-request.json").find((x) => x.input.auth?.method === "private_key_jwt");
  assert.throws(
    () => grantOf(client, c.input.token_url, c.input.auth, c.input.grant),
    (e) => e instanceof TypeError && e.code === "invalid_argument" && /tokenclock\/full/.test(e.message),
  );
  assert.equal(typeof client.jwtBearerGrant, "undefined");
});

// ----- token-response.json --------------------------------------------------------------------

suite("token-response.json", ["client", "full"], (c, api) => {
  const { input, expected: exp } = c;
  let body = "body_hex" in input ? Buffer.from(input.body_hex, "hex") : Buffer.from(input.body, "utf8");
  if ("pad_to_len" in input) {
    assert.ok(body.length <= input.pad_to_len);
    body = Buffer.concat([body, Buffer.alloc(input.pad_to_len - body.length, 0x20)]);
  }
  const r = attempt(api, () => api.parseTokenResponse(input.status, input.headers, Uint8Array.from(body)));
  if (r.err) {
    const e = r.err;
    expectError(exp, e);
    assert.equal(e.errorClass, exp.class);
    assert.equal(e.status, exp.status);
    assert.equal(e.kind, exp.kind);
    if (e.kind === "oauth") {
      assert.equal(e.oauthError, exp.oauth_error ?? null);
      assert.equal(e.description, exp.description ?? null);
    }
    if ("retry_after" in exp) assert.equal(e.retryAfter, exp.retry_after);
    return;
  }
  assert.ok(!("error" in exp), `parsed, expected error ${exp.error}`);
  const t = r.ok;
  const { refresh_token_to_keep: keep, ...want } = exp;
  assert.deepEqual(
    {
      access_token: t.accessToken, token_type: t.tokenType, expires_in_ms: t.expiresInMs,
      refresh_token: t.refreshToken, scope: t.scope, id_token: t.idToken,
    },
    want,
  );
  if ("previous_refresh_token" in input) {
    assert.equal(api.refreshTokenToKeep(input.previous_refresh_token, t), keep);
  }
  if (t.accessToken.length >= 8) assert.ok(!`${t} ${JSON.stringify(t)}`.includes(t.accessToken), "token visible");
}, { min: 35 });

// ----- verify/verify.json (full build) ----------------------------------------------------------

function verifyCase(c, api) {
  const { input, expected: exp } = c;
  const options = {
    algorithms: input.algorithms,
    leewayMs: input.leeway_ms,
    allowLargeLeeway: input.allow_large_leeway,
    issuer: input.issuer,
    audience: input.audience,
    maxAgeMs: input.max_age_ms,
    requireExp: input.require_exp,
  };
  const key = input.key;
  const r = attempt(api, () => {
    let verifier;
    switch (key.kind) {
      case "secret": verifier = new api.Verifier({ ...options, key: { secret: hexBytes(key.hex) } }); break;
      // A bare Uint8Array: a secret when an HS algorithm is pinned, else PEM bytes (core decides).
      case "bytes": verifier = new api.Verifier({ ...options, key: hexBytes(key.hex) }); break;
      case "pem": verifier = new api.Verifier({ ...options, key: key.pem }); break;
      case "jwk": verifier = new api.Verifier({ ...options, key: { jwk: key.jwk } }); break;
      case "jwks": verifier = api.Verifier.fromJwks("text" in key ? key.text : key.jwks, options); break;
      default: throw new Error(`unknown key kind ${key.kind}`);
    }
    return verifier.verify(input.token, input.now_ms);
  });
  if (r.err) {
    const e = r.err;
    assert.ok("error" in exp, `error ${e.code} (${e.message}), expected success`);
    const got = {
      error: e.code, by_ms: e.byMs, valid_in_ms: e.validInMs, likely_clock_skew: e.likelyClockSkew,
      reason: e.reason, claim: e.claim,
    };
    for (const [k, want] of Object.entries(exp)) assert.deepEqual(got[k], want, k);
    for (const seg of input.token.split(".")) {
      if (seg.length > 8) assert.ok(!e.message.includes(seg), "message quotes the token");
    }
    return;
  }
  assert.ok(!("error" in exp), `verified, expected error ${exp.error}`);
  const v = r.ok;
  assert.equal(v.alg, exp.alg);
  assert.equal(v.kid, exp.kid);
  for (const [name, want] of Object.entries(exp.claims_subset)) assert.deepEqual(v.claims[name], want, `claim ${name}`);
  assert.deepEqual({ iat_ms: v.iatMs, nbf_ms: v.nbfMs, exp_ms: v.expMs }, exp.times);
}

suite("verify/verify.json", ["full"], verifyCase, { min: 60 });

// ----- verify/keyset.json (full build; core/tests/vectors_keyset.rs documents the format) -------

const KEYSET_FILE = JSON.parse(readFileSync(join(VECTORS, "verify/keyset.json"), "utf8"));
const KEYSET_CONFIG = {
  fetch_timeout_ms: "fetchTimeoutMs", cooldown_ms: "cooldownMs", default_cache_ms: "cacheMs",
  min_cache_ms: "minCacheMs", max_cache_ms: "maxCacheMs", grace_ms: "graceMs",
  retry_min_ms: "retryMinMs", retry_max_ms: "retryMaxMs", allow_plain_http: "allowPlainHttp",
  discovery: "discovery",
};

function keySetOf(api, source, options, config) {
  const o = { algorithms: options.algorithms };
  if ("leeway_ms" in options) o.leewayMs = options.leeway_ms;
  if ("issuer" in options) o.issuerClaim = options.issuer;
  if ("audience" in options) o.audience = options.audience;
  for (const [k, v] of Object.entries(config)) {
    assert.ok(k in KEYSET_CONFIG, `unknown config ${k}`);
    o[KEYSET_CONFIG[k]] = v;
  }
  if ("issuer" in source) o.issuer = source.issuer;
  else o.jwksUri = source.jwks_uri;
  return new api.KeySet(o);
}

/** camelCase result fields as the vectors spell them (`retryInMs` → `retry_in_ms`). */
function snake(obj) {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]));
}

function keySetTicket(t) {
  return { kind: t.kind, url: t.url, timeout_ms: t.timeoutMs, max_body_bytes: t.maxBodyBytes };
}

function keysetCase(c, api) {
  const { input } = c;
  const f = KEYSET_FILE;
  const ks = keySetOf(api, input.source, input.options, input.config);
  let last = null;
  const at = (n) => ({ wallMs: f.wall0_ms + n, monoMs: f.mono0_ms + n });
  const err = (e) => {
    assert.ok(e instanceof api.TokenClockError, `${e?.name} ${e?.code}: ${e?.message}`);
    return { error: e.code };
  };
  input.steps.forEach((step, i) => {
    let got;
    switch (step.call) {
      case "step":
      case "unknown_kid": {
        const key = step.call === "step" ? "step" : "refetch";
        const r = step.call === "step" ? ks.step(at(step.at)) : ks.onUnknownKid(at(step.at));
        got = { [key]: r[key] };
        if (r.ticket) {
          last = r.ticket.id;
          Object.assign(got, keySetTicket(r.ticket));
        }
        if ("waitMs" in r) got.wait_ms = r.waitMs;
        if ("retryInMs" in r) got.retry_in_ms = r.retryInMs;
        if (r.step === "unavailable") {
          const e = r.error;
          assert.ok(e instanceof api.TokenClockError);
          Object.assign(got, { error: e.code, cause: e.cause, retry_in_ms: e.retryInMs });
        }
        break;
      }
      case "response": {
        let body;
        if ("body_ref" in step) body = new TextEncoder().encode(JSON.stringify(f.documents[step.body_ref]));
        else if ("body" in step) body = new TextEncoder().encode(JSON.stringify(step.body));
        else if ("body_text" in step) body = new TextEncoder().encode(step.body_text);
        else body = new Uint8Array(step.body_size).fill(0x20);
        const received = at(step.at);
        const sent = "sent_at" in step ? at(step.sent_at) : received;
        try {
          const out = ks.onResponse(step.ticket ?? last, step.status, body, step.date ?? null, step.cache_control ?? null, step.age ?? null, sent, received);
          got = snake(out);
        } catch (e) {
          got = err(e);
        }
        break;
      }
      case "failure":
        try {
          ks.onFailure(step.ticket ?? last, step.error, at(step.at));
          got = { ok: true };
        } catch (e) {
          got = err(e);
        }
        break;
      case "verify": {
        const core = ks.verifier();
        assert.ok(core, "a key set");
        try {
          api.Verifier.fromCore(core).verify(f.tokens[step.token], f.wall0_ms + step.at);
          got = { ok: true };
        } catch (e) {
          got = err(e);
          assert.ok(!e.message.includes(f.tokens[step.token].split(".")[2]), "message quotes the token");
        }
        break;
      }
      case "events": {
        got = [];
        for (let e = ks.pollEvent(); e !== null; e = ks.pollEvent()) got.push(snake(e));
        break;
      }
      case "estimate": {
        const e = ks.estimate(at(step.at));
        got = { low_ms: e.lowMs, high_ms: e.highMs, offset_ms: e.offsetMs, clock_off: ks.clockOff(at(step.at)) };
        break;
      }
      case "new": {
        const pick = (name) => step[name] ?? input[name];
        const negative = Object.values(pick("config")).some((v) => typeof v === "number" && v < 0);
        try {
          keySetOf(api, pick("source"), pick("options"), pick("config"));
          got = { ok: true };
        } catch (e) {
          if (negative && e instanceof RangeError && e.code === "invalid_argument") {
            // The JS edge refuses a negative duration before core (see the top of this file).
            if (!edgeCases.includes(c.id)) edgeCases.push(c.id);
            got = { error: step.expect.error };
          } else {
            got = err(e);
          }
        }
        break;
      }
      default:
        throw new Error(`unknown call ${step.call}`);
    }
    const want = step.expect;
    if (Array.isArray(want)) assert.deepEqual(got, want, `step ${i} (${step.call})`);
    else for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k], v, `step ${i} (${step.call}) ${k}: got ${JSON.stringify(got)}`);
  });
  assert.ok(!JSON.stringify(ks.toJSON()).includes("\"k\""), "toJSON shows key material");
}

suite("verify/keyset.json", ["full"], keysetCase, { min: 19 });

// ----- session/*.json -----------------------------------------------------------------------

function checkKeys(obj, allowed, what) {
  for (const k of Object.keys(obj)) assert.ok(allowed.includes(k), `unknown key ${k} in ${what}`);
}

/** A session from a transcript's `config`, through the public constructors. */
function sessionOf(api, cfg) {
  checkKeys(
    cfg,
    ["token_url", "auth", "grant", "policy", "backoff", "skew", "ticket_timeout_ms", "max_401_wait_ms", "token_timeout_ms", "refreshes_per_call", "partition", "seed"],
    "config",
  );
  const grant = grantOf(api, cfg.token_url, cfg.auth, { extra: [], ...cfg.grant });
  const options = { policy: policyOf(cfg.policy), seed: cfg.seed };
  if (cfg.backoff) {
    checkKeys(cfg.backoff, ["base_ms", "cap_ms", "max_retry_after_ms", "config_retry_ms"], "backoff");
    options.backoff = {
      baseMs: cfg.backoff.base_ms,
      capMs: cfg.backoff.cap_ms,
      maxRetryAfterMs: cfg.backoff.max_retry_after_ms,
      configRetryMs: cfg.backoff.config_retry_ms,
    };
  }
  if (cfg.skew) {
    checkKeys(cfg.skew, ["drift_ppm", "max_samples"], "skew");
    options.skew = { driftPpm: cfg.skew.drift_ppm, maxSamples: cfg.skew.max_samples };
  }
  if ("ticket_timeout_ms" in cfg) options.ticketTimeoutMs = cfg.ticket_timeout_ms;
  if ("max_401_wait_ms" in cfg) options.max401WaitMs = cfg.max_401_wait_ms;
  if ("token_timeout_ms" in cfg) options.tokenTimeoutMs = cfg.token_timeout_ms;
  if ("refreshes_per_call" in cfg) options.refreshesPerCall = cfg.refreshes_per_call;
  if ("partition" in cfg) options.partition = cfg.partition;
  return new api.Session(grant, options);
}

/** Transcript names ↔ the session's ids (see the format in core/tests/vectors_session.rs). */
class Names {
  tickets = new Map();
  tokens = new Map();
  headers = new Map();
  /** The current fleet refresh (`fleet_begin`): { refresh, key, storeKey, lastToken }. */
  fleet = null;
  /** Adopted token ids whose header no `ready` has checked yet. */
  adoptedUnchecked = new Set();

  bind(map, kind, name, id) {
    if (map.has(name)) {
      assert.equal(map.get(name), id, `${kind} ${name}`);
      return;
    }
    for (const [other, v] of map) assert.notEqual(v, id, `${kind} ${name} is already bound to ${other}`);
    map.set(name, id);
  }

  /** A ticket/token argument: its bound id, or one this session never issued. */
  arg(map, name) {
    return map.get(name) ?? Number.MAX_SAFE_INTEGER - 7;
  }
}

const STATS = {
  token_requests: "tokenRequests", refreshes: "refreshes", failures: "failures", unauthorized: "unauthorized",
  retries: "retries", abandoned_tickets: "abandonedTickets", discontinuities: "discontinuities",
};

function checkStats(stats, want) {
  for (const [k, w] of Object.entries(want)) {
    assert.ok(k in STATS, `unknown stat ${k}`);
    assert.equal(stats[STATS[k]], w, `stats ${k}`);
  }
}

function checkSessionError(e, exp) {
  assert.equal(e.code, exp.error, `error ${e.code} (${e.message})`);
  if ("failure" in exp) assert.equal(e.failure, exp.failure, "transport failure");
  if ("retry_at_wall_ms" in exp) assert.equal(e.retryAtMs, exp.retry_at_wall_ms, "retry_at");
  if ("retry_at_wall_ms_range" in exp) {
    const [lo, hi] = exp.retry_at_wall_ms_range;
    assert.ok(e.retryAtMs !== null && e.retryAtMs >= lo && e.retryAtMs <= hi, `retry_at ${e.retryAtMs} outside [${lo}, ${hi}]`);
  }
}

function checkRequest(ticket, tokenUrl, exp) {
  assert.equal(ticket.method, "POST");
  assert.equal(ticket.url, tokenUrl);
  if (exp === undefined) return;
  checkKeys(exp, ["grant_type", "form_subset", "form_absent", "authorization"], "request");
  const req = ticket.request;
  if ("grant_type" in exp) assert.equal(req.formValue("grant_type"), exp.grant_type);
  for (const [name, want] of Object.entries(exp.form_subset ?? {})) assert.equal(req.formValue(name), want, `form ${name}`);
  for (const name of exp.form_absent ?? []) assert.equal(req.formValue(name), null, `form has ${name}`);
  if ("authorization" in exp) assert.equal(req.header("authorization"), exp.authorization, "authorization header");
}

function checkAuthorize(a, exp, names, tokenUrl) {
  checkKeys(exp, ["kind", "token", "ticket", "reason", "wait_reason", "until", "error", "failure", "retry_at_wall_ms", "request"], "authorize expectation");
  assert.equal(a.kind, exp.kind, `authorize gave ${a}`);
  if (a.kind === "ready" || a.kind === "ready_and_refresh") {
    assert.equal(a.header, names.headers.get(a.tokenId), `header of token ${a.tokenId}`);
    names.adoptedUnchecked?.delete(a.tokenId);
    assert.ok(typeof exp.token === "string", "a ready expectation must name its token");
    names.bind(names.tokens, "token", exp.token, a.tokenId);
    assert.ok(!String(a).includes(a.header.slice(7)) && !JSON.stringify(a).includes(a.header.slice(7)), "token visible");
  }
  if (a.kind === "ready_and_refresh" || a.kind === "refresh") {
    const t = a.ticket;
    assert.ok(typeof exp.ticket === "string", "a ticket expectation must name its ticket");
    names.bind(names.tickets, "ticket", exp.ticket, t.id);
    if ("reason" in exp) assert.equal(t.reason, exp.reason);
    checkRequest(t, tokenUrl, exp.request);
  }
  if (a.kind === "wait") {
    if ("wait_reason" in exp) assert.equal(a.waitReason, exp.wait_reason);
    if ("until" in exp) assert.deepEqual(a.until, reading(exp.until));
  }
  if (a.kind === "failed") {
    assert.ok(a.error instanceof Error);
    checkSessionError(a.error, exp);
  }
}

function checkVerdict(v, exp) {
  checkKeys(exp, ["verdict", "wait_ms", "diagnosis", "finding", "evidence"], "on_response expectation");
  assert.equal(v.kind, exp.verdict);
  if (v.kind === "retry" && "wait_ms" in exp) assert.equal(v.waitMs, exp.wait_ms);
  if (v.kind === "fail") {
    if ("diagnosis" in exp) assert.equal(v.diagnosis, exp.diagnosis);
    if ("finding" in exp) assert.equal(v.evidence?.finding, exp.finding);
    if ("evidence" in exp) {
      assert.ok(v.evidence, "evidence expected, diagnosis has none");
      checkKeys(exp.evidence, ["exp_ms", "nbf_ms", "iat_ms", "resource_now_low_ms", "resource_now_high_ms"], "evidence");
      const got = {
        exp_ms: v.evidence.expMs, nbf_ms: v.evidence.nbfMs, iat_ms: v.evidence.iatMs,
        resource_now_low_ms: v.evidence.resourceNowLowMs, resource_now_high_ms: v.evidence.resourceNowHighMs,
      };
      for (const [k, w] of Object.entries(exp.evidence)) assert.equal(got[k], w, `evidence ${k}`);
    }
  }
}

function runStep(api, session, names, tokenUrl, step) {
  const at = reading(step.at);
  const exp = step.expect;
  switch (step.call) {
    case "authorize":
      return checkAuthorize(session.authorize(at), exp, names, tokenUrl);
    case "complete_refresh": {
      checkKeys(exp, ["token", "error", "retry_at_wall_ms", "retry_at_wall_ms_range"], "complete expectation");
      const ticket = names.arg(names.tickets, step.ticket);
      const r = attempt(api, () => session.completeRefresh(ticket, step.status, step.headers, step.body, reading(step.sent), at));
      if (r.err) {
        assert.ok(!("token" in exp), `complete_refresh failed with ${r.err.code}, expected a token`);
        return checkSessionError(r.err, exp);
      }
      assert.ok("token" in exp, `complete_refresh gave ${r.ok}, expected ${JSON.stringify(exp)}`);
      const header = `Bearer ${JSON.parse(step.body).access_token}`;
      if (names.headers.has(r.ok)) assert.equal(names.headers.get(r.ok), header, "kept its id but the token changed");
      names.headers.set(r.ok, header);
      return names.bind(names.tokens, "token", exp.token, r.ok);
    }
    case "fail_refresh": {
      checkKeys(exp, ["error", "failure", "retry_at_wall_ms", "retry_at_wall_ms_range"], "fail expectation");
      const ticket = names.arg(names.tickets, step.ticket);
      const r = attempt(api, () => session.failRefresh(ticket, step.failure, at));
      const e = r.err ?? r.ok;
      assert.ok(e instanceof api.TokenClockError, "failRefresh returns a TokenClockError");
      if (r.err) assert.equal(r.err.code, "stale_ticket", "only a stale ticket throws");
      return checkSessionError(e, exp);
    }
    case "on_response": {
      const token = names.arg(names.tokens, step.token);
      return checkVerdict(session.onResponse(token, step.status, step.headers, reading(step.sent), at), exp);
    }
    case "next_timeout": {
      checkKeys(exp, ["at", "at_wall_ms_range"], "next_timeout expectation");
      const got = session.nextTimeout(at);
      if ("at_wall_ms_range" in exp) {
        const [lo, hi] = exp.at_wall_ms_range;
        assert.ok(got !== null && got.wallMs >= lo && got.wallMs <= hi, `next_timeout ${JSON.stringify(got)} outside [${lo}, ${hi}]`);
        assert.equal(got.wallMs - at.wallMs, got.monoMs - at.monoMs);
        return;
      }
      return assert.deepEqual(got, exp.at === null ? null : reading(exp.at));
    }
    case "stats":
      return checkStats(session.stats(), exp);
    case "add_issuer_date": {
      checkKeys(exp, ["error"], "add_issuer_date expectation");
      const r = attempt(api, () => session.addIssuerDate(step.date, reading(step.sent), at));
      if (r.err) {
        assert.ok("error" in exp, `add_issuer_date failed: ${r.err.code} (${r.err.message})`);
        return checkSessionError(r.err, exp);
      }
      return assert.ok(!("error" in exp), `add_issuer_date succeeded, expected ${exp.error}`);
    }
    case "store_keys":
      return runStoreKeys(api, session, step, exp);
    default:
      if (step.call.startsWith("fleet_")) return runFleetStep(api, session, names, tokenUrl, step, at, exp);
      throw new Error(`unknown call ${step.call}`);
  }
}

// --- the fleet calls (fleet.json; core/tests/vectors_session.rs, "the fleet calls") ---

// A port of core's record format (core/src/record.rs: `open`, `TokenRecord::decode`, version 2), used the
// way the Rust runner uses core's: to find the access token of the last readable record fed to
// `fleet_on_record` (what an `adopted` outcome must install) and to read a published value's
// fields (`value_record`). Sealed values are opened with node:crypto AES-256-GCM, the store key
// as associated data. Throws on an unreadable value.
const MAX_RECORD_BYTES = 96 * 1024;
const MAX_UNIX_MILLIS = 253_402_300_799_999;
const MAX_LIFETIME_MS = 366 * 86_400_000;

function b64urlStrict(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new Error("record: base64");
  const raw = Buffer.from(text, "base64url");
  if (raw.toString("base64url") !== text) throw new Error("record: base64 (non-canonical)");
  return raw;
}

function openRecord(value, key, storeKey) {
  if (value.length > 2 * MAX_RECORD_BYTES) throw new Error("record: too large");
  if (!value.startsWith("tce1.")) {
    if (key) throw new Error("record: not encrypted");
    return value;
  }
  if (!key) throw new Error("record: encrypted");
  const raw = b64urlStrict(value.slice(5));
  if (raw.length < 12 + 16) throw new Error("record: decrypt");
  const d = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
  d.setAAD(Buffer.from(storeKey, "utf8"));
  d.setAuthTag(raw.subarray(raw.length - 16));
  const plain = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]); // throws on a bad tag
  return new TextDecoder("utf-8", { fatal: true }).decode(plain);
}

/** Parses JSON keeping integers exact (as strings are compared against BigInt-free ranges). */
function decodeRecord(s) {
  if (Buffer.byteLength(s, "utf8") > MAX_RECORD_BYTES) throw new Error("record: too large");
  if (!s.startsWith("tcr2.")) throw new Error("record: prefix");
  const rest = s.slice(5);
  const dot = rest.indexOf(".");
  if (dot < 0) throw new Error("record: layout");
  const raw = b64urlStrict(rest.slice(0, dot));
  if (createHash("sha256").update(raw).digest("hex").slice(0, 32) !== rest.slice(dot + 1)) throw new Error("record: checksum");
  let o;
  try {
    o = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch {
    throw new Error("record: json");
  }
  if (o === null || typeof o !== "object" || Array.isArray(o)) throw new Error("record: not an object");
  const isInt = (x) => Number.isSafeInteger(x);
  if (o.v !== 2) throw new Error("record: version");
  const text = (k) => {
    if (typeof o[k] !== "string") throw new Error(`record: ${k}`);
    return o[k];
  };
  const optText = (k) => (o[k] === undefined || o[k] === null ? null : text(k));
  const time = (k) => {
    if (!isInt(o[k])) throw new Error(`record: ${k}`);
    if (o[k] < 0 || o[k] > MAX_UNIX_MILLIS) throw new Error(`record: ${k} out of range`);
    return o[k];
  };
  const optTime = (k) => (o[k] === undefined || o[k] === null ? null : time(k));
  const accessToken = text("access_token");
  // As a token response: visible ASCII only (it goes into a header).
  if (!/^[\x21-\x7e]+$/.test(accessToken)) throw new Error("record: access_token");
  const tokenId = text("token_id");
  if (tokenId !== createHash("sha256").update(accessToken, "utf8").digest("hex").slice(0, 32)) {
    throw new Error("record: token_id");
  }
  const identity = text("identity");
  if (!/^[0-9a-f]{64}$/.test(identity)) throw new Error("record: identity");
  const refreshToken = optText("refresh_token");
  if (refreshToken !== null && (refreshToken === "" || /\p{Cc}/u.test(refreshToken))) throw new Error("record: refresh_token");
  const slack = o.deadline_slack_ms;
  if (!isInt(slack)) throw new Error("record: deadline_slack_ms");
  if (slack < 0 || slack > MAX_LIFETIME_MS) throw new Error("record: deadline_slack_ms out of range");
  const rec = {
    v: 2, token_id: tokenId, access_token: accessToken, identity, refresh_token: refreshToken,
    deadline_ms: time("deadline_ms"), deadline_slack_ms: slack,
    exp_ms: optTime("exp_ms"), nbf_ms: optTime("nbf_ms"), iat_ms: optTime("iat_ms"), fencing: o.fencing,
  };
  if (!isInt(o.fencing) || o.fencing < 0) throw new Error("record: fencing");
  if (rec.exp_ms !== null && rec.deadline_ms > rec.exp_ms) throw new Error("record: deadline_ms after exp_ms");
  return rec;
}

const FLEET_OPTIONS = { lease_ms: "leaseMs", poll_ms: "pollMs", max_wait_ms: "maxWaitMs" };

function noteJson(n) {
  const i = n.indexOf(":");
  return i < 0 ? { kind: n } : { kind: n.slice(0, i), code: n.slice(i + 1) };
}

/**
 * A lease value. The binding draws its 16 bytes from the host's CSPRNG (it takes no entropy):
 * the same hex for every value of one refresh, and the attempt number exactly as expected.
 */
function checkLease(got, want, ctx) {
  assert.equal(typeof got, "string", "no lease value");
  const m = /^([0-9a-f]{32})\.([1-9][0-9]*)$/.exec(got);
  assert.ok(m, `lease ${got}`);
  const [wantHex, wantAttempt] = want.split(".");
  assert.equal(wantHex, ctx.entropy, `expected lease ${want} is not of this refresh's entropy`);
  ctx.drawn ??= m[1];
  assert.equal(m[1], ctx.drawn, `lease ${got}: another random part than this refresh's`);
  assert.equal(m[2], wantAttempt, "lease attempt");
}

/** A fetch's rebuilt request (a TokenRequest or null), as `checkRequest` a ticket's. */
function checkRebuiltRequest(req, tokenUrl, exp) {
  if (exp === null) return assert.equal(req, null, "fetch carries a rebuilt request, expected none");
  assert.ok(req, `fetch carries no rebuilt request, expected ${JSON.stringify(exp)}`);
  assert.equal(req.method, "POST");
  assert.equal(req.url, tokenUrl);
  checkKeys(exp, ["grant_type", "form_subset", "form_absent", "authorization"], "request");
  if ("grant_type" in exp) assert.equal(req.formValue("grant_type"), exp.grant_type);
  for (const [name, want] of Object.entries(exp.form_subset ?? {})) assert.equal(req.formValue(name), want, `rebuilt request form ${name}`);
  for (const name of exp.form_absent ?? []) assert.equal(req.formValue(name), null, `rebuilt request form has ${name}`);
  if ("authorization" in exp) assert.equal(req.header("authorization"), exp.authorization, "authorization header");
  assert.ok(!JSON.stringify(req).includes(req.body) || !req.body, "the rebuilt request's JSON shows its body");
}

function checkFleetAction(a, exp, names, session, at, tokenUrl) {
  checkKeys(exp, ["kind", "lease", "lease_ms", "fencing", "request", "ttl_ms", "until", "outcome", "token", "value_prefix", "value_record"], "action expectation");
  const kind = exp.kind;
  const shown = { ...a, value: a.value === null ? null : "<value>", request: a.request === null ? null : "<request>" };
  assert.equal(a.kind, kind, `action ${JSON.stringify(shown)}, expected ${kind}`);
  const ctx = names.fleet;
  assert.ok(ctx, "no fleet");
  if (kind === "take_lease" || kind === "publish" || kind === "release") {
    if ("lease" in exp) checkLease(a.lease, exp.lease, ctx);
  } else assert.equal(a.lease, null, `${kind} has a lease value`);
  if (kind === "fetch") {
    if ("request" in exp) checkRebuiltRequest(a.request, tokenUrl, exp.request);
  } else assert.equal(a.request, null, `${kind} carries a request`);
  if (kind === "take_lease" && "lease_ms" in exp) assert.equal(a.leaseMs, exp.lease_ms, "take_lease lease_ms");
  else if ((kind === "fetch" || kind === "release") && "fencing" in exp) assert.equal(a.fencing, exp.fencing, `${kind} fencing`);
  else if (kind === "publish") {
    if ("fencing" in exp) assert.equal(a.fencing, exp.fencing, "publish fencing");
    if ("ttl_ms" in exp) assert.equal(a.ttlMs, exp.ttl_ms, "publish ttl_ms");
    assert.equal(typeof a.value, "string");
    if ("value_prefix" in exp) assert.ok(a.value.startsWith(exp.value_prefix), `published value does not start with ${exp.value_prefix}`);
    if ("value_record" in exp) {
      // The binding seals with its own random nonce (the step's `nonce` cannot be passed), so,
      // as in the Rust runner, the value is opened (key + store key) and decoded, and its fields
      // compared; the sealed bytes themselves are not compared.
      let rec;
      try {
        rec = decodeRecord(openRecord(a.value, ctx.key, ctx.storeKey));
      } catch (e) {
        throw new Error(`published value does not open/decode: ${e.message}`);
      }
      for (const [k, w] of Object.entries(exp.value_record)) {
        assert.ok(k in rec, `published record has no ${k}`);
        assert.deepEqual(rec[k], w, `published record ${k}`);
      }
    }
  } else if (kind === "wait") {
    assert.ok(a.until);
    if ("until" in exp) assert.deepEqual(a.until, reading(exp.until), "wait until");
    // Beyond the Rust runner: `waitMs` is the sleep from the reading it was decided at.
    assert.equal(a.waitMs, Math.max(0, a.until.monoMs - at.monoMs), "waitMs");
  } else if (kind === "done") {
    assert.ok("outcome" in exp, "a done expectation must name its outcome");
    assert.equal(a.outcome, exp.outcome, "outcome");
    if (a.outcome === "adopted") {
      assert.ok(typeof exp.token === "string", "an adopted outcome must name its token");
      const token = ctx.lastToken;
      assert.ok(typeof token === "string", "adopted without a readable record");
      // The action names the adopted token (`tokenId`), but `tokenHeader(id)` only answers for
      // the last `authorizeToken` result. Without disturbing the session: the adopted token is now the
      // session's current token (bound to the name); its header must be the record's access
      // token, checked by the next `ready` for it (checkAuthorize), or else at the end of the
      // case (sessionCase: `authorizeToken` + `tokenHeader`, after every other expectation).
      const cur = session.currentToken();
      assert.ok(cur, "adopted, but the session has no current token");
      assert.equal(a.tokenId, cur.tokenId, "the action names the adopted token");
      const header = `Bearer ${token}`;
      names.headers.set(cur.tokenId, header);
      names.bind(names.tokens, "token", exp.token, cur.tokenId);
      names.adoptedUnchecked.add(cur.tokenId);
    }
  }
}

function runStoreKeys(api, session, step, exp) {
  checkKeys(exp, ["record", "lease", "fence", "error"], "store_keys expectation");
  assert.equal(typeof step.sealed, "boolean", "sealed must be a boolean");
  const r = attempt(api, () => api.storeKeys(session, step.prefix, step.sealed));
  if (r.err) {
    assert.ok("error" in exp, `store_keys failed: ${r.err.code} (${r.err.message})`);
    return assert.equal(r.err.code, exp.error, `error ${r.err.code}`);
  }
  assert.ok(!("error" in exp), `store_keys gave ${r.ok.record}, expected error ${exp.error}`);
  assert.deepEqual({ ...r.ok }, exp, "store keys");
}

function runFleetStep(api, session, names, tokenUrl, step, at, exp) {
  if (step.call === "fleet_token_timeout") {
    checkKeys(exp, ["token_timeout_ms"], "fleet_token_timeout expectation");
    assert.ok(names.fleet, "no fleet_begin before");
    assert.equal(names.fleet.refresh.tokenTimeoutMs(session), exp.token_timeout_ms, "token timeout");
    return;
  }
  checkKeys(exp, ["action", "notes", "error"], "fleet expectation");
  let r;
  if (step.call === "fleet_begin") {
    const ticket = names.arg(names.tickets, step.ticket);
    const storeKey = step.store_key;
    assert.equal(typeof step.sealed, "boolean", "sealed must be a boolean");
    const derived = api.storeKeys(session, step.prefix, step.sealed);
    assert.equal(derived.record, storeKey, "store key");
    assert.match(step.lease_entropy, /^[0-9a-f]{32}$/, "lease_entropy must be 16 bytes in hex");
    let key = null;
    if (step.key !== undefined && step.key !== null) {
      assert.match(step.key, /^[0-9a-f]{64}$/, "key must be 32 bytes in hex");
      key = new Uint8Array(Buffer.from(step.key, "hex"));
    }
    const cfg = step.fleet ?? {};
    checkKeys(cfg, Object.keys(FLEET_OPTIONS), "fleet");
    const options = {};
    for (const [k, opt] of Object.entries(FLEET_OPTIONS)) if (k in cfg) options[opt] = cfg[k];
    if (key) options.encryptionKey = key;
    // The binding draws the lease entropy from the host's CSPRNG (checkLease).
    const made = attempt(api, () => new api.FleetRefresh(ticket, storeKey, options));
    if (made.err) r = made;
    else {
      names.fleet = { refresh: made.ok, key, storeKey, lastToken: null, entropy: step.lease_entropy, drawn: null };
      r = { ok: made.ok.action() };
    }
  } else {
    const ctx = names.fleet;
    assert.ok(ctx, "no fleet_begin before");
    const f = ctx.refresh;
    switch (step.call) {
      case "fleet_on_record": {
        const value = step.value;
        if (value !== null) {
          try {
            ctx.lastToken = decodeRecord(openRecord(value, ctx.key, ctx.storeKey)).access_token;
          } catch {
            // unreadable: the last readable record stays
          }
        }
        r = attempt(api, () => f.onRecord(session, value, at));
        break;
      }
      case "fleet_on_probe":
        r = attempt(api, () => f.onProbe(session, at));
        break;
      case "fleet_on_lease":
        assert.ok(step.fencing === null || (Number.isSafeInteger(step.fencing) && step.fencing >= 0), "fencing");
        r = attempt(api, () => f.onLease(session, step.fencing, at));
        break;
      case "fleet_on_wake":
        r = attempt(api, () => f.onWake(session, at));
        break;
      case "fleet_on_fetched":
        // The binding draws the seal's nonce itself; the step's nonce is only checked to be
        // well-formed (a sealed value is checked by opening it, never by its bytes).
        assert.match(step.nonce, /^[0-9a-f]{24}$/, "nonce must be 12 bytes in hex");
        assert.equal(typeof step.ok, "boolean", "ok must be a boolean");
        r = attempt(api, () => f.onFetched(session, step.ok, at));
        break;
      case "fleet_on_published":
        assert.equal(typeof step.written, "boolean", "written");
        r = attempt(api, () => f.onPublished(step.written));
        break;
      case "fleet_on_released":
        r = attempt(api, () => f.onReleased());
        break;
      case "fleet_on_store_error":
        r = attempt(api, () => f.onStoreError(session, at));
        break;
      default:
        throw new Error(`unknown call ${step.call}`);
    }
  }
  if (r.err) {
    assert.ok("error" in exp, `${step.call} failed: ${r.err.code} (${r.err.message})`);
    assert.equal(r.err.code, exp.error, `error ${r.err.code} (${r.err.message})`);
    // Notes come with each answer; a refused call must have left none: `action()` (which
    // changes nothing) drains what is pending.
    if (names.fleet) assert.deepEqual(names.fleet.refresh.action().notes, [], "notes after an error");
    return;
  }
  const a = r.ok;
  assert.ok(!("error" in exp), `${step.call} gave ${a.kind}, expected error ${exp.error}`);
  checkKeys(a, ["kind", "lease", "fencing", "leaseMs", "request", "value", "ttlMs", "until", "waitMs", "outcome", "tokenId", "error", "notes"], "fleet action object");
  checkFleetAction(a, exp.action, names, session, at, tokenUrl);
  assert.deepEqual(a.notes.map(noteJson), exp.notes ?? [], "notes");
}

function sessionCase(c, api) {
  const cfg = c.input.config;
  const r = attempt(api, () => sessionOf(api, cfg));
  if ("error" in c.expected) {
    assert.ok(r.err, `Session built, expected ${c.expected.error}`);
    assert.equal(r.err.code, c.expected.error);
    return;
  }
  if (r.err) throw new Error(`Session: ${r.err.code}: ${r.err.message}`);
  const session = r.ok;
  const names = new Names();
  for (const [i, step] of c.input.steps.entries()) {
    try {
      runStep(api, session, names, cfg.token_url, step);
    } catch (e) {
      throw new Error(`step ${i} (${step.call}): ${e.message}`);
    }
  }
  if (c.expected.stats) checkStats(session.stats(), c.expected.stats);
  // An adopted token no later `ready` showed: ask for its header now (after every
  // expectation, since authorizing may change the session), as of the last step's reading.
  for (const id of names.adoptedUnchecked) {
    const last = c.input.steps[c.input.steps.length - 1];
    assert.equal(session.authorizeToken(reading(last.at)), id, `adopted token ${id} is no longer current at the end`);
    assert.equal(session.tokenHeader(id), names.headers.get(id), "the adopted token is not the record's");
  }
  // Nothing the session prints shows a token or the client secret.
  const printed = String(session);
  for (const h of names.headers.values()) assert.ok(!printed.includes(h.slice(7)));
  if (cfg.auth.client_secret) assert.ok(!printed.includes(cfg.auth.client_secret));
}

for (const rel of readdirSync(join(VECTORS, "session")).filter((f) => f.endsWith(".json")).sort()) {
  suite(`session/${rel}`, ["client", "full"], (c, api) => {
    assert.ok(!(c.flags ?? []).includes("known-bug"), "known-bug cases are not expected in the shipped vectors");
    // Signed assertions (the JWT bearer grant) are in the full build only.
    if ((c.flags ?? []).includes("sign") && api === client) return;
    sessionCase(c, api);
  });
}

// ----- regressions/*.json (fuzz crashes, replayed through the binding) ------------------------

for (const rel of readdirSync(join(VECTORS, "regressions")).filter((f) => f.endsWith(".json")).sort()) {
  suite(`regressions/${rel}`, ["client", "full"], (c, api) => {
    assert.deepEqual(c.expected, { outcome: "no_panic" });
    replayRegression(api, c.input.target, Buffer.from(c.input.hex, "hex"));
  });
}

// ----- fuzz-replay/*.json (op traces of the fuzz drivers): replayed by fuzz-replay.test.js -------

for (const rel of readdirSync(join(VECTORS, "fuzz-replay")).filter((f) => f.endsWith(".json"))) {
  claimed.add(`fuzz-replay/${rel}`);
}

// ----- adapters/*.json (adapter conformance scenarios): run by adapter-scenarios.test.js --------

for (const rel of readdirSync(join(VECTORS, "adapters")).filter((f) => f.endsWith(".json"))) {
  claimed.add(`adapters/${rel}`);
}

// ----- every file is claimed ------------------------------------------------------------------

function jsonFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== "gen") out.push(...jsonFiles(path));
    } else if (name.endsWith(".json")) {
      out.push(relative(VECTORS, path).split("\\").join("/"));
    }
  }
  return out;
}

test("every vectors file under tests/vectors/ is claimed by a runner here", () => {
  const files = jsonFiles(VECTORS).sort();
  assert.ok(files.length >= 12, files.join(", "));
  assert.deepEqual(files.filter((f) => !claimed.has(f)), []);
});

test("report: cases the JS edge rejects before core (negative instants or durations)", { concurrency: false }, () => {
  // Runs last (node:test runs top-level tests in order): by now every suite has run.
  console.log(`# edge-rejected cases (RangeError invalid_argument): ${edgeCases.sort().join(", ")}`);
  assert.ok(edgeCases.length > 0);
});
