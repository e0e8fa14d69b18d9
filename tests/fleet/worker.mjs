// One Node process of a fleet (tests/fleet/test_fleet.py): N concurrent callers (async loops)
// call the loopback API through `createFetch` with a shared `RedisStore` until `--until` (Unix
// seconds, real clock), then print one JSON line like tests/fleet/worker.py.
//
// `--offset S` shifts this process's wall clock (the session's clock) by S seconds.
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    "token-url": { type: "string" },
    "api-url": { type: "string" },
    redis: { type: "string" },
    callers: { type: "string", default: "50" },
    start: { type: "string" },
    until: { type: "string" },
    offset: { type: "string", default: "0" },
    lease: { type: "string", default: "3" },
    "key-hex": { type: "string" },
    prefix: { type: "string", default: "tokenclock" },
    interval: { type: "string", default: "0.05" },
    pkg: { type: "string" },
  },
});
const { createFetch, RedisStore } = await import(args.pkg);
const offsetMs = Math.round(Number(args.offset) * 1000);
const clock = () => ({
  wallMs: Date.now() + offsetMs,
  monoMs: Math.floor(performance.timeOrigin + performance.now()),
});
const out = { lang: "node", pid: process.pid, offset: Number(args.offset), requests: 0, failures: [], statuses: {}, tokens: {} };
const leaseMs = Math.round(Number(args.lease) * 1000);
const warnings = [];
// One `tc-store {...}` line on stderr per lease taken and per publish (ok: true written, false
// not our lease any more, null failed): the tests find the lease holder and count publishes.
const report = (event, fields) =>
  process.stderr.write(`tc-store ${JSON.stringify({ event, pid: process.pid, t: Date.now() / 1000, ...fields })}\n`);
class ReportingStore extends RedisStore {
  async takeLease(keys, lease, leaseMs) {
    const fencing = await super.takeLease(keys, lease, leaseMs);
    if (fencing) report("lease", { lease, fencing });
    return fencing;
  }
  async publish(keys, lease, value, ttlMs) {
    let ok = null;
    try {
      ok = await super.publish(keys, lease, value, ttlMs);
      return ok;
    } finally {
      report("publish", { lease, ok });
    }
  }
}
// Comma-separated node URLs: a Redis Cluster.
const store = new ReportingStore(args.redis.includes(",") ? args.redis.split(",") : args.redis, {
  prefix: args.prefix,
  leaseMs,
  maxWaitMs: leaseMs * 2 + 2000,
  encryptionKey: args["key-hex"] ? Uint8Array.from(Buffer.from(args["key-hex"], "hex")) : undefined,
  logger: { warn: (m) => { warnings.push(m); process.stderr.write(`worker ${process.pid}: ${m}\n`); } },
});
process.stdout.write(JSON.stringify({ pid: process.pid }) + "\n");
// Sees every request the wrapper sends: API requests record the token they carry.
function observingFetch(url, init) {
  const header = init?.headers instanceof Headers ? init.headers.get("authorization") : null;
  if (String(url) === args["api-url"] && header) {
    const t = Date.now() / 1000;
    const c = claims(header);
    const tok = (out.tokens[c.jti] ??= { exp: c.exp, first_use: t, last_use: t });
    tok.first_use = Math.min(tok.first_use, t);
    tok.last_use = Math.max(tok.last_use, t);
  }
  return globalThis.fetch(url, init);
}
const fetch = createFetch({
  fetch: observingFetch,
  tokenUrl: args["token-url"],
  clientId: "demo-client",
  clientSecret: "demo-secret",
  scope: "read",
  clock,
  store,
});

function claims(header) {
  const payload = header.split(" ")[1].split(".")[1];
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
}

const start = Number(args.start) * 1000;
const until = Number(args.until) * 1000;
const interval = Number(args.interval) * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
while (Date.now() < start) await sleep(Math.min(10, start - Date.now()));

async function caller() {
  while (Date.now() < until) {
    try {
      const r = await fetch(args["api-url"]);
      await r.arrayBuffer();
      out.requests += 1;
      out.statuses[r.status] = (out.statuses[r.status] ?? 0) + 1;
    } catch (e) {
      out.failures.push(`${e?.name}: ${e?.code ?? ""} ${e?.message ?? e}`.slice(0, 300));
    }
    await sleep(interval);
  }
}
await Promise.all(Array.from({ length: Number(args.callers) }, caller));
const s = fetch.stats();
out.stats = { token_requests: s.tokenRequests, adapter: s, warnings };
delete out.stats.adapter.session;
await store.close();
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(0);
