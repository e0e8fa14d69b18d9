// One Node process of a fleet that shares a *user's* token (tests/fleet/test_rotation.py,
// tests/fleet/test_deadlines.py); the Node twin of rotation_worker.py (same options, same
// output). `--grant refresh_token` (default): `new Session(refreshTokenGrant(...), { partition })`
// with the refresh token from the environment variable TC_REFRESH_TOKEN; `--grant
// client_credentials`: clientCredentials (scope "read"). `--redis none`: no store. Tokens are
// recorded by fingerprint (opaque tokens work); failures are counted by
// `<name>:<code>:<errorClass>`.
// `--check`: build, send one request, print {"phase", "error"} and exit.
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    "token-url": { type: "string" },
    "api-url": { type: "string" },
    redis: { type: "string" },
    grant: { type: "string", default: "refresh_token" },
    partition: { type: "string" },
    callers: { type: "string", default: "20" },
    start: { type: "string", default: "0" },
    until: { type: "string", default: "0" },
    offset: { type: "string", default: "0" },
    lease: { type: "string", default: "3" },
    // Redis command bound: 2 s, not the library's 0.5 s (a CPU-starved CI machine is not a
    // store outage); the outage tests lower it.
    "store-timeout": { type: "string", default: "2" },
    "backoff-cap": { type: "string" },
    "key-hex": { type: "string" },
    prefix: { type: "string", default: "tokenclock" },
    interval: { type: "string", default: "0.1" },
    check: { type: "boolean", default: false },
    pkg: { type: "string" },
  },
});
const tc = await import(args.pkg);
const { createFetch, RedisStore, Session, refreshTokenGrant, clientCredentials } = tc;
const offsetMs = Math.round(Number(args.offset) * 1000);
const clock = () => ({
  wallMs: Date.now() + offsetMs,
  monoMs: Math.floor(performance.timeOrigin + performance.now()),
});
const out = {
  lang: "node",
  pid: process.pid,
  offset: Number(args.offset),
  requests: 0,
  calls: 0,
  failures: [],
  error_codes: {},
  first_error_at: null,
  statuses: {},
  tokens: {},
  max_call_s: 0,
  token_log: [], // [time, status] of every token request (POST) this process sent
};
const describe = (e) => ({ type: e?.name ?? typeof e, code: e?.code ?? null, message: String(e?.message ?? e).slice(0, 300) });
const fingerprint = (token) => createHash("sha256").update(token).digest("hex").slice(0, 16);
function jwtExp(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const exp = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")).exp;
    return typeof exp === "number" ? exp : null;
  } catch {
    return null;
  }
}

// Sees every request the wrapper sends: API requests record the token they carry.
function observingFetch(url, init) {
  const header = init?.headers instanceof Headers ? init.headers.get("authorization") : null;
  if (String(url) === args["api-url"] && header) {
    const t = Date.now() / 1000;
    const token = header.split(" ")[1] ?? "";
    const tok = (out.tokens[fingerprint(token)] ??= { exp: jwtExp(token), first_use: t, last_use: t, uses: 0 });
    tok.first_use = Math.min(tok.first_use, t);
    tok.last_use = Math.max(tok.last_use, t);
    tok.uses += 1;
  }
  if (String(url) === args["token-url"] && (init?.method ?? "GET") === "POST") {
    return globalThis.fetch(url, init).then(
      (r) => { out.token_log.push([Date.now() / 1000, r.status]); return r; },
      (e) => { out.token_log.push([Date.now() / 1000, `error ${e?.name}`]); throw e; },
    );
  }
  return globalThis.fetch(url, init);
}

let store = null;
let fetch;
const warnings = [];
try {
  if (args.redis !== "none") {
    const leaseMs = Math.round(Number(args.lease) * 1000);
    store = new RedisStore(args.redis, {
      prefix: args.prefix,
      leaseMs,
      maxWaitMs: leaseMs * 2 + 2000,
      timeoutMs: Math.round(Number(args["store-timeout"]) * 1000),
      encryptionKey: args["key-hex"] ? Uint8Array.from(Buffer.from(args["key-hex"], "hex")) : undefined,
      logger: { warn: (m) => { warnings.push(m); process.stderr.write(`rworker ${process.pid}: ${m}\n`); } },
    });
  }
  const grant = args.grant === "refresh_token"
    ? refreshTokenGrant({
        tokenUrl: args["token-url"],
        clientId: "demo-client",
        clientSecret: "demo-secret",
        authMethod: "client_secret_basic",
        refreshToken: process.env.TC_REFRESH_TOKEN,
      })
    : clientCredentials({ tokenUrl: args["token-url"], clientId: "demo-client", clientSecret: "demo-secret", scope: "read" });
  const options = { clock };
  if (args.partition !== undefined) options.partition = args.partition;
  if (args["backoff-cap"] !== undefined) options.backoff = { capMs: Math.round(Number(args["backoff-cap"]) * 1000) };
  const session = new Session(grant, options);
  fetch = createFetch({ session, store: store ?? undefined, fetch: observingFetch, clock });
} catch (e) {
  if (!args.check) throw e;
  process.stdout.write(JSON.stringify({ owner: null, pid: process.pid }) + "\n");
  process.stdout.write(JSON.stringify({ phase: "construct", error: describe(e) }) + "\n");
  process.exit(0);
}
process.stdout.write(JSON.stringify({ owner: store?.owner ?? null, pid: process.pid }) + "\n");

if (args.check) {
  let result = { phase: "ok", error: null };
  try {
    const r = await fetch(args["api-url"]);
    await r.arrayBuffer();
    result.status = r.status;
  } catch (e) {
    result = { phase: "request", error: describe(e) };
  }
  if (store) await store.close();
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}

const start = Number(args.start) * 1000;
const until = Number(args.until) * 1000;
const interval = Number(args.interval) * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
while (Date.now() < start) await sleep(Math.min(10, start - Date.now()));

async function caller() {
  while (Date.now() < until) {
    const t0 = Date.now();
    try {
      const r = await fetch(args["api-url"]);
      await r.arrayBuffer();
      out.requests += 1;
      out.statuses[r.status] = (out.statuses[r.status] ?? 0) + 1;
    } catch (e) {
      if (out.failures.length < 50) {
        out.failures.push(e instanceof Error
          ? `${e.name}: ${e.code ?? ""} ${e.message} ${e.stack?.split("\n").slice(1, 4).join(" | ") ?? ""}`.slice(0, 600)
          : `not an Error (${typeof e}): ${String(e)}`.slice(0, 300));
      }
      const k = `${e?.name}:${e?.code ?? null}:${e?.errorClass ?? null}`;
      out.error_codes[k] = (out.error_codes[k] ?? 0) + 1;
      out.first_error_at ??= Date.now() / 1000;
    }
    out.calls += 1;
    out.max_call_s = Math.max(out.max_call_s, (Date.now() - t0) / 1000);
    await sleep(interval);
  }
}
await Promise.all(Array.from({ length: Number(args.callers) }, caller));
const s = fetch.stats();
out.stats = { token_requests: s.tokenRequests, adapter: s, warnings };
delete out.stats.adapter.session;
if (store) await store.close();
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(0);
