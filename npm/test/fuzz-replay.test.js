// Replays the fuzz drivers' op traces through the full wasm build.
//
// tests/vectors/fuzz-replay/<target>.json (written by core/tests/fuzz_replay.rs,
// op_traces_are_current; format in fuzz/README.md) holds, for every committed seed of
// fuzz/seeds/<target>/ and every regression case of `skew`, `session`, `verify` and `jwks`, the
// concrete calls the Rust driver made and core's outcome for each. Every call is made here
// through the package's public API and must give the same outcome; on top:
//
// * anything thrown is an Error with a stable snake_case `.code` (TokenClockError, or the
//   edge's RangeError/TypeError), and the module still answers a valid call after every trace
//   (a panic kills the wasm instance);
// * session: at most one outstanding ticket, stale tickets are `stale_ticket` and change
//   nothing, a token is never handed out at or after its hard expiry;
// * skew, honest worlds: every estimate's interval contains the true offset.
//
// Where the JS edge cannot express a call exactly (a negative or beyond-2^53 number, which it
// refuses with a RangeError; a core-only call), what happens is checked instead, a trace whose state left core's compares only the
// invariants from there, and every such op is listed by the last test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

import * as api from "tokenclock/full";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const TRACES = `${REPO}tests/vectors/fuzz-replay/`;
const TARGETS = ["skew", "session", "verify", "jwks"];
const notExpressed = [];

function load(target) {
  const doc = JSON.parse(readFileSync(`${TRACES}${target}.json`, "utf8"));
  assert.equal(doc.suite, "fuzz-replay");
  assert.equal(doc.target, target);
  assert.ok(doc.cases.length > 0);
  return doc;
}

/** The stable code of a typed error; fails on anything else (a panic's RuntimeError included). */
function codeOf(e) {
  assert.ok(e instanceof Error, `not an Error: ${e}`);
  assert.ok(
    e instanceof api.TokenClockError || e instanceof RangeError || e instanceof TypeError,
    `untyped error ${e?.name}: ${e?.message}`,
  );
  assert.match(String(e.code), /^[a-z0-9_]+$/, `no stable .code on ${e.name}: ${e.message}`);
  assert.notEqual(e.code, "internal_error", e.message);
  return e.code;
}

/** [value, null] or [undefined, code]. */
function call(f) {
  try {
    return [f(), null];
  } catch (e) {
    return [undefined, codeOf(e)];
  }
}

/** Core's i64 against the edge's f64 (exact where a double is). */
function sameNum(want, got) {
  if (want === null || want === undefined || got === null || got === undefined) return (want ?? null) === (got ?? null);
  if (Number.isSafeInteger(want)) return want === got;
  return Math.abs(got - want) <= Math.abs(want) * 1e-12;
}

const reading = (r) => ({ wallMs: r.wall_ms, monoMs: r.mono_ms });
const readingJson = (r) => (r === null ? null : { wall_ms: r.wallMs, mono_ms: r.monoMs });

function moduleStillAnswers() {
  assert.equal(api.parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777000);
  assert.equal(api.peek("eyJhbGciOiJub25lIn0.e30.").alg, "none");
}

function suite(target, replay) {
  if (!existsSync(`${TRACES}${target}.json`)) return;
  test(`fuzz-replay/${target}.json (full)`, () => {
    const doc = load(target);
    const failures = [];
    for (const c of doc.cases) {
      try {
        replay(c, doc);
      } catch (e) {
        failures.push(`${c.id}: ${e?.message ?? e}`);
      }
      try {
        moduleStillAnswers();
      } catch (e) {
        failures.push(`${c.id}: module no longer answers: ${e?.message ?? e}`);
        break;
      }
    }
    assert.deepEqual(failures, []);
  });
}

// ----- session -----------------------------------------------------------------------------

const TICKET_TIMEOUT_MS = 60_000; // the driver keeps SessionConfig's default

function sessionFrom(s) {
  const g = s.grant;
  const a = s.auth;
  const base = { tokenUrl: s.token_url };
  if (a.method !== "none") Object.assign(base, { authMethod: a.method, clientId: a.client_id, clientSecret: a.client_secret });
  let grant;
  switch (g.type) {
    case "client_credentials": grant = api.clientCredentials({ ...base, scope: g.scope }); break;
    case "refresh_token": grant = api.refreshTokenGrant({ ...base, refreshToken: g.refresh_token }); break;
    case "authorization_code":
      grant = api.authorizationCodeGrant({ ...base, code: g.code, redirectUri: g.redirect_uri, codeVerifier: g.code_verifier });
      break;
    case "jwt_bearer":
      grant = api.jwtBearerGrant({
        ...base, issuer: g.issuer, privateKeyPem: readFileSync(`${REPO}${g.private_key_file}`, "utf8"), alg: g.alg, kid: g.kid,
      });
      break;
    default: throw new Error(`unknown grant ${g.type}`);
  }
  const policy = {};
  if (s.refresh_window !== null) policy.refreshAt = { fraction: s.refresh_window };
  if (s.margin_ms !== null) policy.margin = { fixedMs: s.margin_ms };
  return new api.Session(grant, { policy, seed: BigInt(s.seed) });
}

function replaySession(c) {
  const ops = c.input.ops;
  if (ops.length === 0) return;
  assert.equal(ops[0].op, "setup");
  const s = sessionFrom(ops[0]);
  let live = null; // [ticket id, issuing monotonic ms]
  const snapshot = () => JSON.stringify([s.stats(), s.currentToken()?.tokenId ?? null, s.refreshInFlight]);
  const close = (op, exp, f) => {
    const ticket = Number(op.ticket);
    const isLive = live !== null && live[0] === ticket && s.refreshInFlight;
    const before = snapshot();
    const [got, code] = Number.isSafeInteger(ticket) ? call(() => f(ticket)) : call(() => f(BigInt(op.ticket)));
    if (!isLive) {
      assert.ok(code !== null, `ticket ${op.ticket} not rejected`);
      if (code !== "stale_ticket") {
        // An id beyond 2^53: the edge refuses it (typed) before core, which found it stale.
        assert.ok(!Number.isSafeInteger(ticket), `ticket ${op.ticket}: ${code}`);
        notExpressed.push(`${c.id}: ticket ${op.ticket} refused by the edge (${code}); core: ${exp.error}`);
        assert.equal(exp.error, "stale_ticket");
      }
      assert.equal(snapshot(), before, "a stale ticket changed the session");
      return undefined;
    }
    if (code !== null) {
      assert.deepEqual({ error: code, in_flight: s.refreshInFlight }, exp);
      return undefined;
    }
    return got;
  };
  for (const [i, op] of ops.slice(1).entries()) {
    const exp = op.expect;
    try {
      switch (op.op) {
        case "authorize": {
          const now = reading(op.at);
          const inFlightBefore = s.refreshInFlight;
          const [a, code] = call(() => s.authorize(now));
          if (code !== null) {
            assert.equal(exp.kind, "failed", `edge refused ${JSON.stringify(op.at)} (${code}), core answered ${JSON.stringify(exp)}`);
            assert.equal(s.refreshInFlight, exp.in_flight);
            notExpressed.push(`${c.id}: authorize at ${JSON.stringify(op.at)} refused by the edge (${code})`);
            break;
          }
          const got = { kind: a.kind, in_flight: s.refreshInFlight };
          if (a.tokenId !== null) got.token = a.tokenId;
          if (a.ticket !== null) got.ticket = a.ticket.id;
          if (a.kind === "wait") got.until = readingJson(a.until);
          if (a.kind === "failed") got.error = codeOf(a.error);
          assert.deepEqual(got, exp);
          if (a.ticket !== null) {
            if (inFlightBefore) {
              assert.ok(live !== null && op.at.mono_ms - live[1] >= TICKET_TIMEOUT_MS, `second outstanding ticket while ${live} is live`);
            }
            live = [a.ticket.id, op.at.mono_ms];
          }
          if (a.tokenId !== null) {
            const cur = s.currentToken();
            if (cur !== null && cur.tokenId === a.tokenId) {
              const { issuer, resource } = s.estimates(now);
              const left = cur.lifetime.untilHardExpiryMs(now, resource.samples > 0 ? resource : issuer);
              assert.ok(left > 0, `token ${a.tokenId} handed out ${left} ms into its hard expiry`);
            }
          }
          break;
        }
        case "complete": {
          const body = Buffer.from(op.body, "utf8");
          const tid = close(op, exp, (t) => s.completeRefresh(t, op.status, op.headers, body, reading(op.sent), reading(op.received)));
          if (tid !== undefined) {
            assert.deepEqual({ token: tid, in_flight: s.refreshInFlight }, exp);
            assert.equal(s.currentToken().tokenId, tid);
          }
          break;
        }
        case "fail": {
          const e = close(op, exp, (t) => s.failRefresh(t, op.failure, reading(op.at)));
          if (e !== undefined) assert.deepEqual({ returned: codeOf(e), in_flight: s.refreshInFlight }, exp);
          break;
        }
        case "response": {
          const token = Number(op.token);
          const [v, code] = call(() => s.onResponse(Number.isSafeInteger(token) ? token : BigInt(op.token), op.status, op.headers, reading(op.sent), reading(op.received)));
          if (code !== null) {
            // A token id beyond 2^53: refused by the edge; core treats it as not current.
            assert.ok(!Number.isSafeInteger(token), `onResponse: ${code}`);
            notExpressed.push(`${c.id}: token id ${op.token} refused by the edge (${code}); core: ${JSON.stringify(exp)}`);
            break;
          }
          const got = { verdict: v.kind };
          if (v.kind === "retry") got.wait_ms = v.waitMs;
          if (v.kind === "fail") got.diagnosis = v.diagnosis;
          assert.deepEqual(got, exp);
          break;
        }
        case "next_timeout": {
          const [t, code] = call(() => s.nextTimeout(reading(op.at)));
          if (code !== null) {
            assert.equal(exp.at, null, `edge refused ${JSON.stringify(op.at)}, core answered ${JSON.stringify(exp)}`);
            notExpressed.push(`${c.id}: next_timeout at ${JSON.stringify(op.at)} refused by the edge (${code})`);
            break;
          }
          assert.deepEqual(readingJson(t), exp.at);
          break;
        }
        case "events": {
          let n = 0;
          while (s.pollEvent() !== null) n += 1;
          assert.equal(n, exp.count);
          break;
        }
        default: throw new Error(`unknown session op ${op.op}`);
      }
    } catch (e) {
      throw new Error(`op ${i + 1} (${op.op}): ${e.message}`);
    }
  }
  s.free();
}

// ----- skew --------------------------------------------------------------------------------

function replaySkew(c) {
  const ops = c.input.ops;
  if (ops.length === 0) return;
  const setup = ops[0];
  assert.equal(setup.op, "setup");
  const honest = setup.world === "honest";
  let diverged = null;
  const diverge = (why) => {
    assert.ok(!honest, `an honest world must replay exactly: ${why}`);
    if (diverged === null) {
      diverged = why;
      notExpressed.push(`${c.id}: ${why}; invariants only from here`);
    }
  };
  const [est, code0] = call(() => new api.SkewEstimator({ driftPpm: setup.drift_ppm, maxSamples: setup.max_samples }));
  if (code0 !== null) diverge(`SkewEstimator(${setup.drift_ppm}, ${setup.max_samples}) refused (${code0})`);
  const sample = (op, f) => {
    const [, code] = call(f);
    const want = op.expect.error ?? null;
    if (diverged !== null) return;
    if (code === null && want !== null) throw new Error(`core refused the sample (${want}), the binding took it`);
    if (code !== null && want === null) diverge(`${op.op} ${JSON.stringify(op)} refused by the edge (${code}), taken by core`);
    else if (code !== null && code !== want) notExpressed.push(`${c.id}: ${op.op} refused as ${code}, by core as ${want}`);
  };
  for (const [i, op] of ops.slice(1).entries()) {
    try {
      if ("core_only" in op) {
        diverge(`${op.op}: ${op.core_only}`);
        continue;
      }
      if (est === undefined) continue;
      switch (op.op) {
        case "date": sample(op, () => est.addDate(op.date, reading(op.sent), reading(op.received))); break;
        case "iat": sample(op, () => est.addIat(op.iat_ms, reading(op.at))); break;
        case "manual": sample(op, () => est.addBounds(op.low_ms, op.high_ms, reading(op.at))); break;
        case "sntp": {
          // The reply from the fields the driver recorded (core's SntpReply), as parseSntpReply
          // would have made it; the edge refuses a negative delay or instant, or one beyond 2^53.
          const fields = {
            offsetUs: op.offset_us, delayUs: op.delay_us, serverTransmitMs: op.server_transmit_ms,
            stratum: op.stratum, leap: op.leap, version: op.version,
          };
          sample(op, () => est.addSntp(new api.SntpReply(fields), reading(op.at)));
          break;
        }
        case "observe": {
          const [d, code] = call(() => est.observe(reading(op.at)));
          if (code !== null) diverge(`observe at ${JSON.stringify(op.at)} refused (${code})`);
          else if (diverged === null) assert.ok(sameNum(op.expect.excess_ms, d?.wallExcessMs ?? null), `observe ${JSON.stringify(d)}`);
          break;
        }
        case "probe": {
          const [p, code] = call(() => est.nextDateProbe(op.rtt_ms, op.target_ms, reading(op.at)));
          if (code !== null) {
            notExpressed.push(`${c.id}: probe at ${JSON.stringify(op.at)} rtt ${op.rtt_ms} refused (${code})`);
          } else if (p !== null) {
            assert.ok(p.waitMs >= 0 && p.waitMs < 1000);
            assert.ok(diverged !== null || p.waitMs === op.expect.wait_ms, `probe ${p.waitMs} != ${op.expect.wait_ms}`);
          } else {
            assert.ok(diverged !== null || op.expect.wait_ms === null, `no probe, core waits ${op.expect.wait_ms}`);
          }
          break;
        }
        case "estimate": {
          const [e, code] = call(() => est.estimate(reading(op.at)));
          if (code !== null) {
            assert.ok(!honest);
            notExpressed.push(`${c.id}: estimate at ${JSON.stringify(op.at)} refused (${code})`);
            break;
          }
          if (e.lowMs !== null && e.highMs !== null) assert.ok(e.lowMs <= e.offsetMs && e.offsetMs <= e.highMs);
          assert.ok(e.agreeing <= e.samples && e.samples === est.size);
          if (op.truth_ms !== null) {
            assert.ok((e.lowMs === null || e.lowMs <= op.truth_ms) && (e.highMs === null || op.truth_ms <= e.highMs), `misses the truth ${op.truth_ms}`);
          }
          if (diverged === null) {
            const x = op.expect;
            assert.ok(
              sameNum(x.offset_ms, e.offsetMs) && sameNum(x.low_ms, e.lowMs) && sameNum(x.high_ms, e.highMs)
                && e.agreeing === x.agreeing && e.samples === x.samples,
              `estimate ${JSON.stringify([e.offsetMs, e.lowMs, e.highMs, e.agreeing, e.samples])} != core's ${JSON.stringify(x)}`,
            );
          }
          break;
        }
        case "clear": est.clear(); break;
        case "resolve": {
          const [, code] = call(() => est.applyResolution(reading(op.to), op.explanation));
          if (code !== null) diverge(`resolve to ${JSON.stringify(op.to)} refused (${code})`);
          break;
        }
        case "take_resolutions": {
          const got = est.takeResolutions().map((r) => ({ at: readingJson(r.at), wall_excess_ms: r.wallExcessMs, explanation: r.explanation }));
          if (diverged === null) assert.deepEqual(got, op.expect.resolutions, "take_resolutions");
          break;
        }
        default: throw new Error(`unknown skew op ${op.op}`);
      }
    } catch (e) {
      throw new Error(`op ${i + 1} (${op.op}): ${e.message}`);
    }
  }
  est?.free();
}

// ----- verify / jwks -----------------------------------------------------------------------

function keyOf(k) {
  const text = readFileSync(`${REPO}${k.file}`, "utf8");
  switch (k.form) {
    case "secret_hex": return Uint8Array.from(Buffer.from(text.trim(), "hex"));
    case "pem": return text;
    case "jwk": return { jwk: text };
    default: return text;
  }
}

function replayVerify(c) {
  for (const op of c.input.ops) {
    const exp = op.expect;
    const options = {
      algorithms: op.algorithms, leewayMs: op.leeway_ms, allowLargeLeeway: op.allow_large_leeway,
      requireExp: op.require_exp,
    };
    if (op.issuer !== null) options.issuer = op.issuer;
    if (op.audience !== null) options.audience = op.audience;
    if (op.max_age_ms !== null) options.maxAgeMs = op.max_age_ms;
    const [v, code] = call(() => (op.key.form === "jwks" ? api.Verifier.fromJwks(keyOf(op.key), options) : new api.Verifier({ ...options, key: keyOf(op.key) })));
    if (code !== null) {
      if (exp.config_error !== code) {
        // The edge refuses a negative or beyond-2^53 duration before core sees it.
        const edge = [op.leeway_ms, op.max_age_ms].some((x) => x !== null && (x < 0 || !Number.isSafeInteger(x)));
        assert.ok(edge, `Verifier refused (${code}), core: ${JSON.stringify(exp)}`);
        notExpressed.push(`${c.id}: options refused by the edge (${code}); core: ${JSON.stringify(exp)}`);
      }
      continue;
    }
    assert.ok(!("config_error" in exp), `core refused the options: ${JSON.stringify(exp)}`);
    const [r, vcode] = call(() => v.verify(op.token, op.now_ms));
    if (vcode !== null) {
      if (vcode !== exp.error) {
        const edge = op.now_ms < 0 || !Number.isSafeInteger(op.now_ms);
        assert.ok(edge, `verify: ${vcode}, core: ${JSON.stringify(exp)}`);
        notExpressed.push(`${c.id}: now ${op.now_ms} refused by the edge (${vcode}); core: ${JSON.stringify(exp)}`);
      }
    } else {
      assert.deepEqual({ alg: r.alg, iat_ms: r.iatMs, nbf_ms: r.nbfMs, exp_ms: r.expMs }, exp);
    }
    v.free();
  }
}

function replayJwks(c, doc) {
  for (const op of c.input.ops) {
    const exp = op.expect;
    const options = { algorithms: op.algorithms };
    const [v, code] = call(() => (op.source === "jwks" ? api.Verifier.fromJwks(op.text, options) : new api.Verifier({ ...options, key: { jwk: op.text } })));
    if (code !== null) {
      assert.equal(code, exp.error, `Verifier refused (${code}), core: ${JSON.stringify(exp)}`);
      continue;
    }
    assert.ok(!("error" in exp), `core refused the keys (${exp.error}), the binding took them`);
    assert.equal(v.keyCount, exp.keys);
    const got = doc.tokens.map((t) => {
      const [r, vcode] = call(() => v.verify(t, doc.now_ms));
      return vcode !== null ? { error: vcode } : { alg: r.alg };
    });
    assert.deepEqual(got, exp.verify);
    v.free();
  }
}

suite("session", replaySession);
suite("skew", replaySkew);
suite("verify", replayVerify);
suite("jwks", replayJwks);

test("the traces cover every seed and regression case of their targets", () => {
  for (const target of TARGETS) {
    const froms = new Set(load(target).cases.map((c) => c.input.from));
    for (const f of readdirSync(`${REPO}fuzz/seeds/${target}`)) assert.ok(froms.has(`fuzz/seeds/${target}/${f}`), `${target}/${f}`);
    const reg = `${REPO}tests/vectors/regressions/${target}.json`;
    if (existsSync(reg)) {
      for (const k of JSON.parse(readFileSync(reg, "utf8")).cases) {
        assert.ok(froms.has(`tests/vectors/regressions/${target}.json#${k.id}`), k.id);
      }
    }
  }
});

test("report: ops the JS edge could not express exactly", () => {
  console.log(`# fuzz-replay: ${notExpressed.length} ops not expressed exactly by the JS edge`);
  for (const line of notExpressed) console.log(`#   ${line}`);
});
