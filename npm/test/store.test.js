// RedisStore against a real loopback redis-server (Debian's, installed by `make test`): the first
// command right after construction, bounded failure when Redis is gone, the lease scripts'
// semantics, argument checks, and no key material in any string form; the same on a 6-node
// Redis Cluster (node URLs or a `createCluster` client), which must follow a failover (MOVED
// to the promoted replica) and recover from a killed master. The multi-process fleet tests are
// tests/fleet/test_fleet.py and tests/fleet/test_cluster_failover.py.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCluster } from "redis";
import http from "node:http";
import { RedisStore, StoreError, TokenClockError, createFetch, fleetScripts } from "tokenclock";

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

async function leaseScenario(a, b, k) {
  const fa = await a.takeLease(k, "lease-a", 5000);
  assert.ok(fa > 0);
  assert.equal(await b.takeLease(k, "lease-b", 5000), 0, "a held lease is not taken");
  assert.equal(await b.publish(k, "lease-b", "tcr1.x.y", 10000), false, "not b's lease");
  assert.equal(await a.publish(k, "lease-a", "tcr1.x.y", 10000), true);
  assert.equal(await a.get(k.record), "tcr1.x.y");
  const fb = await b.takeLease(k, "lease-b2", 5000);
  assert.ok(fb > fa, "fencing tokens increase");
  assert.equal(await a.release(k, "lease-a"), false, "a lapsed lease value releases nothing");
  assert.equal(await a.publish(k, "lease-a", "tcr1.stale", 10000), false);
  assert.equal(await b.release(k, "lease-b2"), true);
  assert.equal(await a.get(k.record), "tcr1.x.y");
}

test("lease, publish and release follow the scripts: only the holder's write is accepted", async () => {
  const a = new RedisStore(`redis://127.0.0.1:${port}/0`);
  const b = new RedisStore(`redis://127.0.0.1:${port}/0`);
  a.setScripts(fleetScripts());
  b.setScripts(fleetScripts());
  await leaseScenario(a, b, keys("lease"));
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

test("a token request never outlives the fleet lease (two thirds of it, from the core)", async () => {
  // The session allows 10 s; a lease of 600 ms bounds the token request by 400 ms: a token
  // endpoint answering after 3 s fails the refresh (a request outliving the lease would let a
  // peer take the lease over and present the same refresh token again). Without the store the
  // same slow answer is waited for and used.
  const seen = [];
  const server = http.createServer((req, res) => {
    if (req.method === "GET") {
      res.end(req.headers.authorization ?? "");
      return;
    }
    if (req.method !== "POST") {
      res.writeHead(405).end();
      return;
    }
    seen.push(req.url);
    req.resume();
    const timer = setTimeout(() => {
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ access_token: "opaque-slow", token_type: "Bearer", expires_in: 300 }));
    }, 3_000);
    res.on("close", () => clearTimeout(timer));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const grant = { tokenUrl: `${base}/token`, clientId: "app", clientSecret: "s3cret" };
  try {
    const store = new RedisStore(`redis://127.0.0.1:${port}/0`, { leaseMs: 600, pollMs: 50 });
    const tcFetch = createFetch({ ...grant, store });
    await assert.rejects(tcFetch(`${base}/api`), (e) => e instanceof TokenClockError && e.code === "transport_error");
    assert.equal(seen.length, 1);
    await store.close();
    const plain = createFetch(grant);
    const res = await plain(`${base}/api`);
    assert.equal(await res.text(), "Bearer opaque-slow");
    assert.equal(seen.length, 2);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
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
  // A password in the URL never shows either; toJSON says what kind of store it is.
  const withPassword = new RedisStore("redis://user:hunter2-secret@127.0.0.1:1/0", { prefix: "app" });
  for (const text of [String(withPassword), JSON.stringify(withPassword), inspect(withPassword)]) {
    assert.ok(!text.includes("hunter2") && !text.includes("127.0.0.1"), text);
  }
  assert.deepEqual(JSON.parse(JSON.stringify(store)), { prefix: "tokenclock", cluster: false, encrypted: true, leaseMs: 15_000 });
});

// ----- Redis Cluster -------------------------------------------------------------------------
// 6 redis-server nodes (3 masters, 3 replicas) joined by `redis-cli --cluster create`, as
// tests/fleet/cluster.py does for the Python tests.

async function portFree(p) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(p, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

const cli = (port, ...args) => execFileSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8" }).trim();

class LocalCluster {
  async start() {
    this.ports = [];
    while (this.ports.length < 6) {
      const p = 20000 + Math.floor(Math.random() * 25000);
      if (this.ports.some((q) => Math.abs(p - q) % 10000 === 0)) continue;
      if ((await portFree(p)) && (await portFree(p + 10000))) this.ports.push(p);
    }
    this.dir = mkdtempSync(join(tmpdir(), "tc-redis-cluster-"));
    this.procs = new Map(this.ports.map((p) => [p, spawn("redis-server", [
      "--port", String(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
      "--cluster-config-file", `nodes-${p}.conf`, "--cluster-node-timeout", "1000", "--repl-diskless-sync-delay", "0",
      "--save", "", "--appendonly", "no", "--dir", this.dir], { stdio: "ignore" })]));
    for (const p of this.ports) await this.until(() => cli(p, "ping") === "PONG");
    execFileSync("redis-cli", ["--cluster", "create", ...this.ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "1", "--cluster-yes"], { stdio: "ignore" });
    await this.settle();
    this.urls = this.ports.map((p) => `redis://127.0.0.1:${p}`);
  }

  async until(f, what = "condition") {
    for (let i = 0; i < 600; i++) {
      try {
        if (f()) return;
      } catch {
        // not yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`cluster: timed out waiting for ${what}`);
  }

  alive() {
    return this.ports.filter((p) => this.procs.get(p).exitCode === null && this.procs.get(p).signalCode === null);
  }

  /** `CLUSTER NODES` seen by `port`: [{ id, port, flags, masterId, slots: [[a, b]] }]. */
  nodes(port = this.alive()[0]) {
    return cli(port, "cluster", "nodes").split("\n").filter(Boolean).map((line) => {
      const f = line.split(" ");
      return {
        id: f[0], port: Number(f[1].split("@")[0].split(":").pop()), flags: f[2].split(","), masterId: f[3],
        slots: f.slice(8).filter((s) => !s.startsWith("[")).map((s) => s.split("-").map(Number)).map(([a, b]) => [a, b ?? a]),
      };
    });
  }

  masterOf(key, port) {
    const slot = Number(cli(this.alive()[0], "cluster", "keyslot", key));
    const owners = this.nodes(port).filter((n) => n.flags.includes("master") && !n.flags.some((x) => x.startsWith("fail")) && n.slots.some(([a, b]) => a <= slot && slot <= b));
    if (owners.length !== 1) throw new Error(`slot ${slot}: ${owners.length} masters`);
    return owners[0];
  }

  async settle() {
    await this.until(() => this.alive().every((p) => cli(p, "cluster", "info").includes("cluster_state:ok")
      && (cli(p, "role").startsWith("master") || cli(p, "info", "replication").includes("master_link_status:up"))), "cluster_state:ok");
  }

  /** CLUSTER FAILOVER on a replica of the master owning `key`; resolves [old, new] ports. */
  async failover(key) {
    const m = this.masterOf(key);
    // A replica by its own ROLE (gossip may lag behind an earlier switch).
    const r = this.alive().find((p) => {
      const role = cli(p, "role").split("\n");
      return role[0] === "slave" && Number(role[2]) === m.port;
    });
    cli(r, "cluster", "failover");
    await this.until(() => this.alive().every((p) => this.masterOf(key, p).port === r), "the failover");
    await this.settle();
    return [m.port, r];
  }

  /** SIGKILL the master owning `key` (after its replica has every write); resolves once the
   * replica is master everywhere. */
  async killMaster(key) {
    const m = this.masterOf(key);
    await this.until(() => {
      const info = cli(m.port, "info", "replication");
      const offset = Number(/master_repl_offset:(\d+)/.exec(info)[1]);
      return Number(/slave0:.*offset=(\d+)/.exec(info)[1]) >= offset;
    }, "replication");
    this.procs.get(m.port).kill("SIGKILL");
    await new Promise((r) => this.procs.get(m.port).once("exit", r));
    await this.until(() => this.alive().every((p) => this.masterOf(key, p).port !== m.port), "the promotion");
    await this.settle();
    return m.port;
  }

  stop() {
    for (const pr of this.procs.values()) pr.kill("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe("Redis Cluster", () => {
  const cluster = new LocalCluster();
  before(() => cluster.start());
  after(() => cluster.stop());

  test("node URLs: the scripts run on the master that owns the keys' slot", async () => {
    const a = new RedisStore(cluster.urls);
    const b = new RedisStore(cluster.urls);
    a.setScripts(fleetScripts());
    b.setScripts(fleetScripts());
    assert.match(String(a), /cluster/);
    const k = keys("c1");
    await leaseScenario(a, b, k);
    assert.equal(cli(cluster.masterOf(k.record).port, "get", k.record), "tcr1.x.y");
    await a.close();
    await b.close();
  });

  test("a createCluster client (not connected yet) is used and stays the caller's", async () => {
    const c = createCluster({ rootNodes: [{ url: cluster.urls[0] }] });
    c.on("error", () => {});
    const s = new RedisStore(c);
    s.setScripts(fleetScripts());
    assert.match(String(s), /cluster/);
    const k = keys("c2");
    assert.ok((await s.takeLease(k, "lease-c", 5000)) > 0);
    assert.equal(await s.publish(k, "lease-c", "tcr1.c", 10000), true);
    await s.close();
    assert.equal(await c.get(k.record), "tcr1.c", "a given client stays open");
    await c.close();
  });

  test("a failover between lease and publish: MOVED is followed, the lease holds on the new master", async () => {
    const s = new RedisStore(cluster.urls);
    s.setScripts(fleetScripts());
    const k = keys("c3");
    assert.ok((await s.takeLease(k, "lease-f", 10000)) > 0);
    const [old, now] = await cluster.failover(k.record);
    assert.notEqual(old, now);
    assert.equal(await s.publish(k, "lease-f", "tcr1.f", 10000), true, "the first command after the failover");
    assert.equal(cli(now, "get", k.record), "tcr1.f");
    await s.close();
  });

  test("a killed master: commands fail fast (StoreError) until the promoted replica is found", async () => {
    const s = new RedisStore(cluster.urls, { timeoutMs: 300 });
    s.setScripts(fleetScripts());
    const k = keys("c4");
    assert.ok((await s.takeLease(k, "lease-k", 60000)) > 0);
    await cluster.killMaster(k.record);
    let failures = 0;
    let ok;
    for (let i = 0; i < 100 && ok === undefined; i++) {
      try {
        ok = await s.publish(k, "lease-k", "tcr1.k", 10000);
      } catch (e) {
        assert.ok(e instanceof StoreError, String(e));
        failures++;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.equal(ok, true, `published on the promoted replica (after ${failures} failed attempts)`);
    assert.equal(await s.get(k.record), "tcr1.k");
    await s.close();
  });

  test("cluster arguments are checked; no credentials in any string form", () => {
    for (const bad of [[], [""], ["not a url"], ["redis://127.0.0.1:7000/3"], ["redis://127.0.0.1:7000", 7001]]) {
      assert.throws(() => new RedisStore(bad), (e) => e instanceof TypeError && e.code === "invalid_argument", JSON.stringify(bad));
    }
    const store = new RedisStore(["redis://:pw-s3cret@127.0.0.1:1", "redis://127.0.0.1:2"]);
    const { inspect } = process.getBuiltinModule?.("node:util") ?? { inspect: String };
    for (const text of [String(store), JSON.stringify(store), inspect(store), Object.keys(store).join()]) {
      assert.ok(!text.includes("s3cret"), text);
    }
  });
});
