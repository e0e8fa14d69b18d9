// The per-request fast path (`Session.authorizeTokenAt`, answering from core's ready window
// without entering the session) answers exactly what the full decision answers: over random
// token lifetimes, clock readings (small steps, long gaps, wall-clock steps) and API responses
// (accepted, refused, with `Date` headers of a skewed resource server), a session asked through
// the fast path and a twin asked through `authorize` give the same answers; every other call
// drops the window, so a refusal is never answered from it. The same property as core's
// tests/ready_window.rs and python/tests/test_ready_window.py.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Session, clientCredentials } from "tokenclock";

const T0 = 1_767_225_600_000;
const M0 = 50_000_000;

function jwt(iatS, expS) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${enc({ alg: "HS256" })}.${enc({ iat: iatS, nbf: iatS, exp: expS, sub: "c" })}.c2ln`;
}

function body(wallMs, lifetimeS) {
  const iat = Math.floor(wallMs / 1000);
  return new TextEncoder().encode(JSON.stringify({ access_token: jwt(iat, iat + lifetimeS), token_type: "Bearer", expires_in: lifetimeS }));
}

/** A small seeded generator (xorshift): the same worlds on every run. */
function rng(seed) {
  let x = seed * 2654435761 + 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) % 1_000_000) / 1_000_000;
  };
}

function twins(seed, lifetimeS) {
  const out = [];
  let token = 0;
  for (let i = 0; i < 2; i++) {
    const s = new Session(clientCredentials({ tokenUrl: "https://issuer.example/token", clientId: "c", clientSecret: "s" }), { seed });
    const sent = { wallMs: T0, monoMs: M0 };
    const a = s.authorize(sent);
    assert.equal(a.kind, "refresh");
    token = s.completeRefresh(a.ticket.id, 200, [["content-type", "application/json"]], body(T0, lifetimeS), sent, { wallMs: T0 + 100, monoMs: M0 + 100 });
    a.free();
    out.push(s);
  }
  return [out[0], out[1], token];
}

test("authorizeTokenAt answers what authorize answers (random clocks, responses, refreshes)", () => {
  let ready = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const r = rng(seed);
    const pick = (xs) => xs[Math.floor(r() * xs.length)];
    const lifetime = pick([30, 300, 3600]);
    const [a, b] = twins(seed, lifetime);
    let wall = T0 + 200;
    let mono = M0 + 200;
    const rsOffset = pick([0, 0, 40_000, -40_000, 2_500]);
    for (let i = 0; i < 400; i++) {
      const step = pick([1, 10, 200, 900, 3_000, Math.floor((lifetime * 1000) / 7)]);
      wall += step;
      mono += step;
      if (r() < 0.03) wall += pick([-5_000, 5_000, -500, 500]); // a wall-clock step
      else if (r() < 0.1) {
        // Under the discontinuity threshold, zigzagging: each step continuous with the one
        // before, not all with the window's start.
        wall += Math.floor(550 + r() * 400) * (i % 2 ? 1 : -1);
      }
      const fast = a.authorizeTokenAt(wall, mono);
      const full = b.authorize({ wallMs: wall, monoMs: mono });
      const held = fast > 0 ? null : a.takeAuthorization();
      if (fast > 0) {
        assert.equal(full.kind, "ready", `seed ${seed} step ${i}`);
        assert.equal(full.tokenId, fast, `seed ${seed} step ${i}`);
        ready += 1;
        if (r() < 0.05) {
          const status = pick([200, 200, 401]);
          const date = new Date(wall + rsOffset).toUTCString();
          const sent = { wallMs: wall, monoMs: mono };
          const received = { wallMs: wall + 10, monoMs: mono + 10 };
          const va = a.onResponse(fast, status, [["date", date]], sent, received);
          const vb = b.onResponse(fast, status, [["date", date]], sent, received);
          assert.equal(va.kind, vb.kind);
          wall += 10;
          mono += 10;
        }
      } else {
        assert.equal(held.kind, full.kind, `seed ${seed} step ${i}`);
        assert.notEqual(full.kind, "ready");
        if (held.kind === "refresh" || held.kind === "ready_and_refresh") {
          const sent = { wallMs: wall, monoMs: mono };
          const received = { wallMs: wall + 50, monoMs: mono + 50 };
          const outcomes = [
            [a, held.ticket.id],
            [b, full.ticket.id],
          ].map(([s, id]) => {
            try {
              return s.completeRefresh(id, 200, [], body(wall, lifetime), sent, received);
            } catch (e) {
              return e.code; // expired on arrival: the same for both
            }
          });
          assert.equal(outcomes[0], outcomes[1]);
          wall += 50;
          mono += 50;
        }
        held.free();
      }
      full.free();
    }
    // The sessions end in the same state.
    const end = { wallMs: wall + 1, monoMs: mono + 1 };
    assert.deepEqual(a.stats(), b.stats(), `seed ${seed}`);
    assert.deepEqual(a.nextTimeout(end), b.nextTimeout(end), `seed ${seed}`);
    a.free();
    b.free();
  }
  assert.ok(ready > 10_000, `ready ${ready}`);
});

test("a refusal is never answered from the ready window", () => {
  const [a, , token] = twins(7, 3600);
  assert.equal(a.authorizeTokenAt(T0 + 1_000, M0 + 1_000), token); // sets the window
  assert.equal(a.authorizeTokenAt(T0 + 1_001, M0 + 1_001), token); // answered from it
  const v = a.onResponse(token, 401, [], { wallMs: T0 + 1_001, monoMs: M0 + 1_001 });
  assert.equal(v.kind, "retry");
  assert.equal(a.authorizeTokenAt(T0 + 1_002, M0 + 1_002), 0);
  const held = a.takeAuthorization();
  assert.equal(held.kind, "refresh");
  held.free();
  a.free();
});

test("authorizeTokenAt refuses readings that are not whole milliseconds in range", () => {
  const [a] = twins(3, 300);
  for (const [w, m] of [[-1, 0], [0.5, 0], [Number.NaN, 1], [T0, -1]]) {
    assert.throws(() => a.authorizeTokenAt(w, m), (e) => e instanceof RangeError, `${w} ${m}`);
  }
  a.free();
});
