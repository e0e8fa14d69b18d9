// RedisStore against a real loopback redis-server (Debian's, installed by `make test`): the first
// command right after construction, bounded failure when Redis is gone, the lease scripts'
// semantics, argument checks, and no key material in any string form. The multi-process fleet
// tests are tests/fleet/test_fleet.py.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { RedisStore, StoreError, fleetScripts } from "tokenclock";

let port;
let server;

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

before(async () => {
  port = await freePort();
  server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const sock = createServer();
      sock.close();
      import("node:net").then(({ connect }) => {
        const c = connect(port, "127.0.0.1", () => {
          c.end();
          resolve(true);
        });
        c.on("error", () => resolve(false));
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("redis-server did not start");
});

after(() => server?.kill());

const keys = (n) => ({ record: `t:${n}:{k}`, lease: `t:${n}:{k}:lease`, fence: `t:${n}:{k}:fence` });

test("the first command right after construction succeeds (waits for the connection)", async () => {
  const store = new RedisStore(`redis://127.0.0.1:${port}/0`);
  store.setScripts(fleetScripts());
  assert.equal(await store.get("nothing-here"), null);
  assert.equal(store.down, false);
  await store.close();
  await store.close(); // idempotent
});

test("lease, publish and release follow the scripts: only the owner's write is accepted", async () => {
  const a = new RedisStore(`redis://127.0.0.1:${port}/0`);
  const b = new RedisStore(`redis://127.0.0.1:${port}/0`);
  a.setScripts(fleetScripts());
  b.setScripts(fleetScripts());
  const k = keys("lease");
  const fa = await a.takeLease(k, 5000);
  assert.ok(fa > 0);
  assert.equal(await b.takeLease(k, 5000), 0, "a held lease is not taken");
  assert.equal(await b.publish(k, fa, "tcr1.x.y", 10000), false, "not b's lease");
  assert.equal(await a.publish(k, fa, "tcr1.x.y", 10000), true);
  assert.equal(await a.get(k.record), "tcr1.x.y");
  const fb = await b.takeLease(k, 5000);
  assert.ok(fb > fa, "fencing tokens increase");
  assert.equal(await a.release(k, fa), false, "a stale fencing token releases nothing");
  assert.equal(await b.release(k, fb), true);
  await a.close();
  await b.close();
});

test("an unreachable Redis fails fast with a StoreError", async () => {
  const dead = await freePort();
  const store = new RedisStore(`redis://127.0.0.1:${dead}/0`, { timeoutMs: 300 });
  store.setScripts(fleetScripts());
  const t0 = Date.now();
  await assert.rejects(store.get("x"), (e) => e instanceof StoreError && e.code === "store_unavailable");
  assert.ok(Date.now() - t0 < 3000, "bounded");
  await store.close();
});

test("arguments are checked; no key material in any string form", () => {
  assert.throws(() => new RedisStore(42), (e) => e instanceof TypeError && e.code === "invalid_argument");
  assert.throws(() => new RedisStore("redis://x", { prefix: "a{b" }), TypeError);
  assert.throws(() => new RedisStore("redis://x", { encryptionKey: new Uint8Array(31) }), TypeError);
  assert.throws(() => new RedisStore("redis://x", { leaseMs: 0 }), RangeError);
  const key = new Uint8Array(32).fill(0xab);
  const store = new RedisStore("redis://127.0.0.1:1/0", { encryptionKey: key });
  const { inspect } = process.getBuiltinModule?.("node:util") ?? { inspect: String };
  for (const text of [String(store), JSON.stringify(store), inspect(store), Object.keys(store).join()]) {
    assert.ok(!text.includes("171") && !/abab/i.test(text), text);
  }
  assert.match(String(store), /encrypted/);
});
