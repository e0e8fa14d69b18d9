// RemoteVerifier and bearerAuth against a real issuer: a node:http server on 127.0.0.1 serving
// an OpenID discovery document and a JWKS that rotates, tokens signed with node:crypto (ES256).
// What is counted is what the issuer saw (its request counters), never elapsed time; a test
// that needs time to pass moves an injected monotonic clock instead.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request as httpRequest } from "node:http";

import { KeySet, RemoteVerifier, TokenClockError, Verifier, bearerAuth } from "tokenclock/full";
import { newKey, sign, startIssuer } from "./fixtures/issuer.js";

/** A monotonic clock the test moves (`advance`), wall time real (tokens carry real times). */
function manualClock() {
  let offset = 0;
  const base = Math.floor(performance.timeOrigin + performance.now());
  const clock = () => ({ wallMs: Date.now(), monoMs: base + offset });
  clock.advance = (ms) => {
    offset += ms;
  };
  return clock;
}

function remote(iss, options = {}) {
  const events = [];
  const v = Verifier.fromIssuer(iss.issuer, {
    algorithms: ["ES256"],
    audience: "api",
    onEvent: (e) => events.push(e),
    ...options,
  });
  return { v, events };
}

// ----- RemoteVerifier ---------------------------------------------------------------------------

test("discovery, then a verified token; toJSON shows no key material", async () => {
  const iss = await startIssuer();
  try {
    const k1 = newKey("k1");
    iss.keys = [k1];
    const { v, events } = remote(iss);
    assert.ok(v instanceof RemoteVerifier);
    const out = await v.verify(sign(k1, iss.issuer));
    assert.equal(out.claims.sub, "user-1");
    assert.equal(out.kid, "k1");
    assert.deepEqual(iss.counts, { discovery: 1, jwks: 1 });
    assert.deepEqual(events.map((e) => e.event), ["discovered", "keys_updated"]);
    const shown = JSON.stringify(v) + String(v) + JSON.stringify(v.keys);
    assert.ok(shown.includes(`${iss.issuer}/jwks`), shown);
    assert.ok(!shown.includes(k1.jwk.x) && !shown.includes(k1.jwk.y), shown);
    // A token for another issuer is refused, typed.
    await assert.rejects(v.verify(sign(k1, "https://evil.example")), (e) => e instanceof TokenClockError && e.code === "invalid_issuer");
  } finally {
    await iss.close();
  }
});

test("rotation: a new kid costs exactly one JWKS refetch for 1,000 concurrent verifications", async () => {
  const iss = await startIssuer();
  try {
    const k1 = newKey("k1");
    const k2 = newKey("k2");
    iss.keys = [k1];
    const { v } = remote(iss, { cooldownMs: 0 });
    await v.verify(sign(k1, iss.issuer));
    assert.equal(iss.counts.jwks, 1);
    iss.keys = [k1, k2];
    const token = sign(k2, iss.issuer);
    const results = await Promise.all(Array.from({ length: 1000 }, () => v.verify(token)));
    assert.equal(results.length, 1000);
    assert.ok(results.every((r) => r.kid === "k2"));
    assert.equal(iss.counts.jwks, 2, "one refetch");
    assert.equal(iss.counts.discovery, 1);
    assert.equal(v.fetches, 3);
    assert.deepEqual(v.keys.kids.sort(), ["k1", "k2"]);
  } finally {
    await iss.close();
  }
});

test("rotation grace: a key that left the set verifies until its grace ends, then not", async () => {
  const iss = await startIssuer();
  try {
    const k1 = newKey("k1");
    const k2 = newKey("k2");
    iss.keys = [k1];
    const clock = manualClock();
    const { v, events } = remote(iss, { clock, cooldownMs: 0, graceMs: 120_000 });
    const old = sign(k1, iss.issuer);
    await v.verify(old);
    iss.keys = [k2];
    assert.equal((await v.verify(sign(k2, iss.issuer))).kid, "k2");
    assert.equal((await v.verify(old)).kid, "k1", "in its grace");
    clock.advance(120_001);
    await assert.rejects(v.verify(old), (e) => e instanceof TokenClockError && e.code === "unknown_kid");
    assert.deepEqual(v.keys.kids, ["k2"]);
    assert.ok(events.some((e) => e.event === "grace_ended" && e.kids.includes("k1")), JSON.stringify(events));
  } finally {
    await iss.close();
  }
});

test("a cold start with 1,000 concurrent verifications fetches discovery and keys once", async () => {
  const iss = await startIssuer();
  try {
    const k1 = newKey("k1");
    iss.keys = [k1];
    const { v } = remote(iss);
    const token = sign(k1, iss.issuer);
    const results = await Promise.all(Array.from({ length: 1000 }, () => v.verify(token)));
    assert.ok(results.every((r) => r.kid === "k1"));
    assert.deepEqual(iss.counts, { discovery: 1, jwks: 1 });
  } finally {
    await iss.close();
  }
});

test("a kid that never exists: at most one fetch per cooldown", async () => {
  const iss = await startIssuer();
  try {
    const k1 = newKey("k1");
    const ghost = newKey("ghost");
    iss.keys = [k1];
    const clock = manualClock();
    const { v } = remote(iss, { clock, cooldownMs: 30_000 });
    await v.verify(sign(k1, iss.issuer));
    assert.equal(iss.counts.jwks, 1);
    const token = sign(ghost, iss.issuer);
    const wave = async () => {
      const settled = await Promise.allSettled(Array.from({ length: 200 }, () => v.verify(token)));
      for (const s of settled) {
        assert.equal(s.status, "rejected");
        assert.ok(s.reason instanceof TokenClockError, String(s.reason));
        assert.equal(s.reason.code, "unknown_kid");
        assert.ok(!s.reason.message.includes(token.split(".")[2]));
      }
    };
    await wave(); // within the cooldown of the first fetch: none
    assert.equal(iss.counts.jwks, 1);
    clock.advance(30_001);
    await wave(); // one cooldown later: one
    assert.equal(iss.counts.jwks, 2);
    clock.advance(10_000);
    await wave(); // still within that fetch's cooldown: none
    assert.equal(iss.counts.jwks, 2);
    clock.advance(25_000);
    await wave();
    await wave();
    assert.equal(iss.counts.jwks, 3);
  } finally {
    await iss.close();
  }
});

test("issuer down: known keys keep verifying, an unknown kid is a typed error, a cold start is keys_unavailable", async () => {
  const iss = await startIssuer();
  const k1 = newKey("k1");
  const k2 = newKey("k2");
  iss.keys = [k1];
  const clock = manualClock();
  const { v, events } = remote(iss, { clock, cooldownMs: 0 });
  await v.verify(sign(k1, iss.issuer));
  await iss.close();
  events.length = 0;
  // Stale (past max-age): the background refresh fails, the keys in use stay.
  clock.advance(601_000);
  for (let i = 0; i < 3; i += 1) {
    const out = await v.verify(sign(k1, iss.issuer));
    assert.equal(out.kid, "k1");
  }
  await assert.rejects(v.verify(sign(k2, iss.issuer)), (e) => e instanceof TokenClockError && e.code === "unknown_kid");
  const failed = events.filter((e) => e.event === "fetch_failed");
  assert.equal(failed.length, 1, JSON.stringify(events));
  assert.equal(failed[0].servingLastGood, true);
  assert.equal(failed[0].code, "transport_error");
  // Another verifier for the same (closed) issuer has no keys at all.
  const cold = remote(iss);
  await assert.rejects(cold.v.verify(sign(k1, iss.issuer)), (e) => {
    assert.ok(e instanceof TokenClockError, String(e));
    assert.equal(e.code, "keys_unavailable");
    assert.equal(e.cause, "transport_error");
    assert.ok(e.retryInMs > 0);
    return true;
  });
});

test("issuer clock 30 s ahead: the estimate brackets it and clock_offset fires once", async () => {
  const iss = await startIssuer();
  try {
    const k1 = newKey("k1");
    iss.keys = [k1];
    iss.dateOffsetMs = 30_000;
    const { v, events } = remote(iss, { cooldownMs: 0 });
    let rtt = 0;
    const timed = async (p) => {
      const t0 = performance.now();
      try {
        return await p();
      } finally {
        rtt = Math.max(rtt, performance.now() - t0);
      }
    };
    await timed(() => v.verify(sign(k1, iss.issuer)));
    // More responses (unknown kids refetch: cooldown 0), more Date samples.
    for (let i = 0; i < 3; i += 1) {
      await timed(() => v.verify(sign(newKey(`x${i}`), iss.issuer)).catch(() => {}));
    }
    assert.equal(iss.counts.jwks, 4);
    const e = v.estimate();
    const tolerance = rtt / 2 + 50;
    // A Date has whole seconds: the issuer's time was within [Date, Date + 1 s).
    assert.ok(e.lowMs !== null && e.highMs !== null, `${e}`);
    assert.ok(e.lowMs - tolerance <= 30_000 && 30_000 <= e.highMs + tolerance, `${e} rtt ${rtt}`);
    assert.ok(Math.abs(e.offsetMs - 30_000) <= 1000 + tolerance, `${e}`);
    assert.equal(v.clockOff(), true);
    const offsets = events.filter((x) => x.event === "clock_offset");
    assert.equal(offsets.length, 1, JSON.stringify(events));
    assert.equal(offsets[0].leewayMs, 5000);
    assert.ok(offsets[0].lowMs > 5000);
  } finally {
    await iss.close();
  }
});

test("a trickling or oversized JWKS ends at the deadline or the cap, typed, and the module lives on", async () => {
  const iss = await startIssuer();
  try {
    const k1 = newKey("k1");
    iss.keys = [k1];
    iss.mode = "trickle";
    const slow = remote(iss, { fetchTimeoutMs: 300 });
    await assert.rejects(slow.v.verify(sign(k1, iss.issuer)), (e) => e instanceof TokenClockError && e.code === "keys_unavailable" && e.cause === "timeout");
    iss.mode = "huge";
    const big = remote(iss, { fetchTimeoutMs: 10_000 });
    await assert.rejects(big.v.verify(sign(k1, iss.issuer)), (e) => e instanceof TokenClockError && e.code === "keys_unavailable" && e.cause === "too_large");
    assert.deepEqual(big.events.filter((e) => e.event === "fetch_failed").map((e) => e.code), ["too_large"]);
    // The reads were cut: the server sees its responses closed.
    for (let i = 0; i < 100 && iss.open.size > 0; i += 1) await new Promise((r) => setTimeout(r, 20));
    assert.equal(iss.open.size, 0);
    // Same issuer, sane again: a fresh verifier works (the wasm instance is alive).
    iss.mode = "ok";
    const ok = remote(iss);
    assert.equal((await ok.v.verify(sign(k1, iss.issuer))).kid, "k1");
  } finally {
    await iss.close();
  }
});

test("an injected fetch: redirect manual, a timeout signal, and a redirect is an http_error", async () => {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    return new Response(null, { status: 302, headers: { location: "https://elsewhere.example/jwks" } });
  };
  const v = Verifier.fromJwksUri("https://issuer.example/jwks", { algorithms: ["ES256"], fetch, onEvent: () => {} });
  await assert.rejects(v.verify("a.b.c"), (e) => e.code === "keys_unavailable" && e.cause === "http_error");
  assert.equal(calls.length, 1);
  assert.equal(calls[0].init.redirect, "manual");
  assert.ok(calls[0].init.signal instanceof AbortSignal);
});

test("an injected fetch answering nonsense is a failed fetch, not a hang or a crash", async () => {
  let calls = 0;
  const fetch = async () => {
    calls += 1;
    return { status: "200", headers: null, body: null };
  };
  const events = [];
  const v = Verifier.fromJwksUri("https://issuer.example/jwks", { algorithms: ["ES256"], fetch, onEvent: (e) => events.push(e), fetchTimeoutMs: 60_000 });
  await assert.rejects(v.verify("a.b.c"), (e) => e.code === "keys_unavailable" && e.cause === "transport_error");
  assert.equal(calls, 1);
  assert.deepEqual(events.map((e) => e.event), ["fetch_failed"]);
});

test("KeySet: bad input is a typed error, never a crash", () => {
  const bad = [
    () => new KeySet({ jwksUri: "http://keys.example/jwks", algorithms: ["ES256"] }),
    () => new KeySet({ jwksUri: "https://keys.example/jwks", algorithms: ["none"] }),
    () => new KeySet({ jwksUri: "https://keys.example/jwks", issuer: "https://i.example", algorithms: ["ES256"] }),
    () => new KeySet({ jwksUri: "https://keys.example/jwks", algorithms: ["ES256"], cooldownMs: NaN }),
    () => new KeySet({ jwksUri: "https://keys.example/jwks", algorithms: ["ES256"], cooldownMs: 1e300 }),
    () => new KeySet({ jwksUri: "https://keys.example/jwks", algorithms: ["ES256"], graceMs: 86_400_001 }),
    () => new KeySet({ jwksUri: new Uint8Array([1, 2]), algorithms: ["ES256"] }),
    () => new KeySet(null),
  ];
  for (const f of bad) {
    assert.throws(f, (e) => e instanceof Error && typeof e.code === "string");
  }
  const ks = new KeySet({ jwksUri: "https://keys.example/jwks", algorithms: ["ES256"] });
  const s = ks.step();
  assert.equal(s.step, "fetch");
  const id = s.ticket.id;
  assert.throws(() => ks.onResponse(id, 200, "not bytes or text", null, null, null), (e) => e.code === "invalid_jwks");
  assert.throws(() => ks.onResponse(id, 200, new Uint8Array([0xff, 0xfe]), null, null, null), (e) => e.code === "stale_ticket");
  const t = ks.step();
  assert.equal(t.step, "unavailable");
  assert.equal(t.error.code, "keys_unavailable");
  assert.throws(() => ks.onResponse(NaN, 200, new Uint8Array(), null, null, null), (e) => e.code === "invalid_argument");
  assert.throws(() => ks.onResponse(1, 70_000, new Uint8Array(), null, null, null), (e) => e.code === "invalid_argument");
  assert.throws(() => ks.onResponse(1, 200, 42, null, null, null), (e) => e.code === "invalid_argument");
  assert.throws(() => ks.onResponse(1, 200, new Uint8Array(), new Uint8Array([1]), null, null), (e) => e.code === "invalid_argument");
  assert.throws(() => ks.onFailure(1, "boom"), (e) => e.code === "invalid_argument");
  assert.throws(() => ks.step({ wallMs: Infinity, monoMs: 1 }), (e) => e.code === "invalid_argument");
  assert.throws(() => ks.estimate({ wallMs: 1, monoMs: -1 }), (e) => e.code === "invalid_argument");
  // Not UTF-8 where JSON text is expected: refused by core, typed.
  const ks2 = new KeySet({ jwksUri: "https://keys.example/jwks", algorithms: ["ES256"] });
  const t2 = ks2.step().ticket;
  assert.throws(() => ks2.onResponse(t2.id, 200, new Uint8Array([0xff, 0xfe, 0x00]), "garbage date", "max-age=abc", "-5"), (e) => e.code === "invalid_jwks");
  assert.equal(ks2.verifier(), null);
  assert.equal(ks2.clockOff(), null);
  // Still alive.
  assert.equal(new KeySet({ jwksUri: "https://keys.example/jwks", algorithms: ["ES256"] }).step().step, "fetch");
});

// ----- bearerAuth through node:http ----------------------------------------------------------

function get(port, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path: "/", headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function apiServer(verifier) {
  const auth = bearerAuth(verifier);
  const server = createServer((req, res) =>
    auth(req, res, () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ sub: req.auth.claims.sub, kid: req.auth.kid }));
    }),
  );
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: server.address().port, close: () => new Promise((r) => server.close(() => r())) };
}

test("bearerAuth: 401 with the right WWW-Authenticate, 200 with claims, 503 while keys are unavailable", async () => {
  const iss = await startIssuer();
  const k1 = newKey("k1");
  iss.keys = [k1];
  const { v } = remote(iss);
  const api = await apiServer(v);
  try {
    // No credentials: a challenge without an error attribute (RFC 6750 §3.1).
    let r = await get(api.port);
    assert.equal(r.status, 401);
    assert.equal(r.headers["www-authenticate"], "Bearer");
    r = await get(api.port, { authorization: "Basic dTpw" });
    assert.equal(r.status, 401);
    assert.equal(r.headers["www-authenticate"], "Bearer");
    // A malformed bearer header.
    r = await get(api.port, { authorization: "Bearer a b" });
    assert.equal(r.status, 401);
    assert.match(r.headers["www-authenticate"], /^Bearer error="invalid_token", error_description="[^"]+"$/);
    // A valid token.
    const token = sign(k1, iss.issuer);
    r = await get(api.port, { authorization: `Bearer ${token}` });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { sub: "user-1", kid: "k1" });
    // Expired, wrong audience, forged: 401 invalid_token; the token is nowhere in the answer.
    const now = Math.floor(Date.now() / 1000);
    for (const bad of [
      sign(k1, iss.issuer, { exp: now - 3600, iat: now - 7200 }),
      sign(k1, iss.issuer, { aud: "other" }),
      token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA"),
    ]) {
      r = await get(api.port, { authorization: `Bearer ${bad}` });
      assert.equal(r.status, 401);
      const challenge = r.headers["www-authenticate"];
      assert.match(challenge, /^Bearer error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]+"$/);
      for (const seg of bad.split(".")) {
        assert.ok(!challenge.includes(seg) && !r.body.includes(seg), "the answer quotes the token");
      }
    }
  } finally {
    await api.close();
    await iss.close();
  }
  // The issuer is gone and this verifier never had keys: 503.
  const cold = remote(iss);
  const api2 = await apiServer(cold.v);
  try {
    const r = await get(api2.port, { authorization: `Bearer ${sign(k1, iss.issuer)}` });
    assert.equal(r.status, 503);
    assert.ok(Number(r.headers["retry-after"]) >= 1);
    assert.equal(r.headers["www-authenticate"], undefined);
  } finally {
    await api2.close();
  }
});
