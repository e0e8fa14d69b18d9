// Store hit vs in-process path vs token request, Node (BENCHMARKS.md, "Fleet"); the Python twin
// is python/bench/fleet_store.py. Starts a loopback redis-server and tests/servers/tcserver.py.
//
//   cd npm && node bench/fleet_store.mjs [--n 2000]
//
// * in-process: `session.authorizeToken()` with a fresh token (the per-request path);
// * store hit: a session without a token adopts the fleet's record: authorize (ticket) ->
//   RedisStore.get -> FleetRefresh.onRecord (decode + adopt) -> authorize;
// * token request: the same session asks the loopback token endpoint instead.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Session, clientCredentials, FleetRefresh, storeKeys, fleetScripts, RedisStore } from "tokenclock";

const args = process.argv.slice(2);
const N = args.includes("--n") ? Number(args[args.indexOf("--n") + 1]) : 2000;
const repo = fileURLToPath(new URL("../../", import.meta.url));
const now = () => ({ wallMs: Date.now(), monoMs: Math.floor(performance.timeOrigin + performance.now()) });
const ns = () => process.hrtime.bigint();

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
const srv = spawn("python3", [`${repo}tests/servers/tcserver.py`, "--exit-on-stdin-eof"], { stdio: ["pipe", "pipe", "inherit"] });
const info = JSON.parse(await new Promise((resolve) => createInterface({ input: srv.stdout }).once("line", resolve)));
await new Promise((r) => setTimeout(r, 300));

const store = new RedisStore(`redis://127.0.0.1:${port}/0`, { timeoutMs: 2000 });
store.setScripts(fleetScripts());
const grant = () => clientCredentials({ tokenUrl: info.token_url, clientId: "demo-client", clientSecret: "demo-secret", scope: "read" });

async function fetchToken(session) {
  const a = session.authorize(now());
  const t = a.ticket;
  const sent = now();
  const r = await fetch(t.url, { method: "POST", headers: t.headers, body: t.body });
  const body = new Uint8Array(await r.arrayBuffer());
  const pairs = [];
  r.headers.forEach((v, k) => pairs.push([k, v]));
  session.completeRefresh(t.id, r.status, pairs, body, sent, now());
  return r.headers.get("date");
}

// The fleet's record: one writer publishes it.
const writer = new Session(grant(), {});
const keys = storeKeys(writer, store.prefix);
const wa = writer.authorize(now());
const wf = new FleetRefresh(wa.ticket.id, keys.record, store.fleetOptions);
let act = wf.onRecord(writer, await store.get(keys.record), now());
act = wf.onLease(writer, await store.takeLease(keys, act.leaseMs), now());
act = wf.onRecord(writer, await store.get(keys.record), now());
const sent = now();
const t = wa.ticket;
const resp = await fetch(t.url, { method: "POST", headers: t.headers, body: t.body });
const pairs = [];
resp.headers.forEach((v, k) => pairs.push([k, v]));
writer.completeRefresh(t.id, resp.status, pairs, new Uint8Array(await resp.arrayBuffer()), sent, now());
const date = resp.headers.get("date");
act = wf.onFetched(writer, true, now());
if (act.kind !== "publish" || !(await store.publish(keys, act.fencing, act.value, act.ttlMs))) throw new Error("publish failed");

const hot = [];
const hit = [];
const req = [];
const s = new Session(grant(), {});
await fetchToken(s);
for (let i = 0; i < N; i++) {
  const t0 = ns();
  s.authorizeToken(now());
  hot.push(Number(ns() - t0));
}
for (let i = 0; i < N; i++) {
  const reader = new Session(grant(), {});
  const n0 = now();
  reader.addIssuerDate(date, n0, n0); // a reader that already knows the issuer's clock
  const t0 = ns();
  const a = reader.authorize(now());
  const f = new FleetRefresh(a.ticket.id, keys.record, store.fleetOptions);
  const out = f.onRecord(reader, await store.get(keys.record), now());
  if (out.outcome !== "adopted") throw new Error(`not adopted: ${out.kind}`);
  reader.authorize(now());
  hit.push(Number(ns() - t0));
  f.free();
  reader.free();
}
for (let i = 0; i < Math.max(200, N / 10); i++) {
  const reader = new Session(grant(), {});
  const t0 = ns();
  await fetchToken(reader);
  reader.authorize(now());
  req.push(Number(ns() - t0));
  reader.free();
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p99 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))];
console.log("| path | median | p99 |\n|---|---:|---:|");
for (const [name, xs] of [["in-process (authorizeToken, fresh token)", hot], ["store hit (GET + decode + adopt + authorize)", hit], ["token request (loopback POST + parse)", req]]) {
  console.log(`| ${name} | ${(med(xs) / 1000).toFixed(1)} µs | ${(p99(xs) / 1000).toFixed(1)} µs |`);
}
console.log(`\nstore hit / in-process: ${Math.round(med(hit) / med(hot))}x; token request / store hit: ${(med(req) / med(hit)).toFixed(1)}x`);
await store.close();
srv.stdin.end();
redis.kill();
