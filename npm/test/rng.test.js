// Randomness fails closed: without crypto.getRandomValues nothing that needs secure random bytes
// (a session's jitter and assertions, PKCE verifiers, state) is made — a typed rng_unavailable
// error, never a weaker generator. Each case runs in its own Node process (it removes the
// global `crypto`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";

function run(body) {
  const src = `const tc = await import("tokenclock");
const g = tc.clientCredentials({ tokenUrl: "http://127.0.0.1:9/token", clientId: "a", clientSecret: "s" });
const out = [];
const code = (f) => { try { f(); return "ok"; } catch (e) { return e instanceof tc.TokenClockError ? e.code : "untyped:" + e; } };
${body}
console.log(JSON.stringify(out));`;
  const stdout = execFileSync(process.execPath, ["--input-type=module", "-e", src], { cwd: new URL("..", import.meta.url), encoding: "utf8" });
  return JSON.parse(stdout.trim().split("\n").pop());
}

test("without crypto.getRandomValues, sessions, PKCE and state are refused; a seed (tests) still works", () => {
  const out = run(`delete globalThis.crypto;
out.push(code(() => new tc.Session(g)));
out.push(code(() => tc.Pkce.generate()));
out.push(code(() => tc.State.generate()));
out.push(code(() => new tc.Session(g, { seed: 1 })));`);
  assert.deepEqual(out, ["rng_unavailable", "rng_unavailable", "rng_unavailable", "ok"]);
});

test("a source that fails after the session was made: its answers are dropped, not made from zeros", () => {
  const out = run(`const s = new tc.Session(g);
const now = { wallMs: 1_700_000_000_000, monoMs: 5_000_000 };
const a = s.authorize(now);
out.push(a.kind);
delete globalThis.crypto;
out.push(code(() => s.completeRefresh(a.ticket.id, 200, [], JSON.stringify({ access_token: "x", token_type: "Bearer", expires_in: 300 }), now, now)));
out.push(code(() => s.authorize(now)));`);
  assert.deepEqual(out, ["refresh", "rng_unavailable", "rng_unavailable"]);
});
