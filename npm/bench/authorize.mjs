// Per-call cost of "give me the Authorization header for a request, with a token that is still
// fresh": tokenclock's Session.authorize() against the hand-written approach most JS code bases
// use (decode the JWT on every request with jose's decodeJwt and compare exp with Date.now()
// minus a leeway) and the same with jsonwebtoken's decode(), in the same process and run.
//
//   cd npm && node bench/authorize.mjs [--rounds N] [--iterations N] [--json]
//
// Each row: the median over rounds of (time of `iterations` calls) / iterations, in ns/call,
// after a warm-up; min and max of the rounds for spread. Nothing here is asserted: numbers go to
// BENCHMARKS.md ("JavaScript").
import { createRequire } from "node:module";
import { decodeJwt } from "jose";
import { Session, clientCredentials, createFetch, version } from "tokenclock";

const require = createRequire(import.meta.url);
const jsonwebtoken = require("jsonwebtoken");

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ROUNDS = opt("--rounds", 11);
const ITERATIONS = opt("--iterations", 100_000);
const JSON_OUT = args.includes("--json");

// A realistic access token: RS256-sized signature (256 bytes), typical claims, ~900 chars.
const b64 = (o) => Buffer.from(typeof o === "string" ? o : JSON.stringify(o)).toString("base64url");
const nowS = Math.floor(Date.now() / 1000);
const TOKEN = [
  b64({ alg: "RS256", typ: "JWT", kid: "2024-10-key-1" }),
  b64({
    iss: "https://issuer.example.com/",
    sub: "svc-orders@clients",
    aud: ["https://api.example.com/", "https://issuer.example.com/userinfo"],
    iat: nowS,
    nbf: nowS,
    exp: nowS + 3600,
    azp: "svc-orders",
    scope: "orders:read orders:write inventory:read",
    gty: "client-credentials",
    jti: "5d7c2a4e-1f0b-4b6f-9a53-0c8e8f7d2a11",
  }),
  Buffer.alloc(256, 7).toString("base64url"),
].join(".");
const LEEWAY_MS = 30_000;

// ----- the candidates: each returns the header for one request -----------------------------

function tokenclockSession() {
  const session = new Session(
    clientCredentials({ tokenUrl: "https://issuer.example.com/oauth/token", clientId: "id", clientSecret: "secret" }),
  );
  const a = session.authorize();
  if (a.kind !== "refresh") throw new Error(`expected a refresh ticket, got ${a.kind}`);
  const t = { wallMs: Date.now(), monoMs: Math.floor(performance.timeOrigin + performance.now()) };
  session.completeRefresh(
    a.ticket.id,
    200,
    [["content-type", "application/json"], ["date", new Date().toUTCString()]],
    JSON.stringify({ access_token: TOKEN, token_type: "Bearer", expires_in: 3600 }),
    t,
    t,
  );
  return session;
}

const session = tokenclockSession();
// As documented: authorize() before the request, use `.header`. The Authorization object is a
// wasm-side object released by the FinalizationRegistry when collected...
const viaTokenclock = () => {
  const a = session.authorize();
  if (a.kind !== "ready") throw new Error(`expected ready, got ${a.kind}`);
  return a.header;
};
// ...or at once with free(), which is what createFetch does.
const viaTokenclockFree = () => {
  const a = session.authorize();
  if (a.kind !== "ready") throw new Error(`expected ready, got ${a.kind}`);
  const header = a.header;
  a.free();
  return header;
};

// The hot path createFetch uses: a token id, the header string cached per token.
let cached = { id: 0, header: null };
const viaTokenclockHeader = () => {
  const id = session.authorizeToken();
  if (id === 0) throw new Error(`expected ready, got ${session.takeAuthorization().kind}`);
  if (cached.id !== id) cached = { id, header: session.tokenHeader(id) };
  return cached.header;
};

// The usual hand-written cache: keep the raw token, decode it on every request.
const viaJose = () => {
  const { exp } = decodeJwt(TOKEN);
  if (exp * 1000 - LEEWAY_MS <= Date.now()) throw new Error("expired");
  return `Bearer ${TOKEN}`;
};
const viaJsonwebtoken = () => {
  const { exp } = jsonwebtoken.decode(TOKEN);
  if (exp * 1000 - LEEWAY_MS <= Date.now()) throw new Error("expired");
  return `Bearer ${TOKEN}`;
};

// createFetch's own per-request overhead (authorize + onResponse + bookkeeping), with a fetch
// that answers at once: what the wrapper adds to every request, next to a bare call of the same.
const TOKEN_URL = "https://issuer.example.com/oauth/token";
// The API's `Date` follows the clock, as a server's does (formatted once per second): a frozen
// `Date` would be a resource server whose clock stopped, which the session rightly keeps
// re-estimating.
let dateSecond = 0;
let dateText = "";
const apiDate = () => {
  const s = Math.floor(Date.now() / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(s * 1000).toUTCString();
  }
  return dateText;
};
const response = () => new Response(null, { status: 204, headers: { date: apiDate() } });
const fakeFetch = async (input) =>
  String(input) === TOKEN_URL
    ? new Response(JSON.stringify({ access_token: TOKEN, token_type: "Bearer", expires_in: 3600 }), {
        status: 200,
        headers: { "content-type": "application/json", date: new Date().toUTCString() },
      })
    : response();
const bareFetch = async (input, init) => {
  const headers = new Headers(init?.headers);
  headers.set("authorization", viaJose());
  return fakeFetch(input, { ...init, headers });
};
const wrapped = createFetch({ tokenUrl: TOKEN_URL, clientId: "id", clientSecret: "secret", fetch: fakeFetch });
if ((await wrapped("https://api.example.com/x")).status !== 204) throw new Error("createFetch setup failed");

// ----- measurement -------------------------------------------------------------------------

let sink = 0;
function measureSync(fn, iterations) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink ^= fn().length;
  return Number(process.hrtime.bigint() - start) / iterations;
}
async function measureAsync(fn, iterations) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink ^= (await fn("https://api.example.com/x")).status;
  return Number(process.hrtime.bigint() - start) / iterations;
}
async function bench(name, fn, isAsync = false, iterations = ITERATIONS) {
  const run = isAsync ? (n) => measureAsync(fn, n) : async (n) => measureSync(fn, n);
  await run(Math.max(1000, iterations / 10)); // warm-up (JIT, wasm tier-up)
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) samples.push(await run(iterations));
  samples.sort((a, b) => a - b);
  return { name, nsPerCall: samples[Math.floor(samples.length / 2)], min: samples[0], max: samples.at(-1) };
}

// Same answers before timing anything.
if (viaTokenclockHeader() !== viaJose() || viaTokenclock() !== viaJose() || viaTokenclockFree() !== viaJose() || viaJose() !== viaJsonwebtoken()) {
  throw new Error("the candidates disagree");
}

/** Two async candidates measured in alternating rounds (the same machine load for both). */
async function benchPair(nameA, fnA, nameB, fnB, iterations) {
  const runA = (n) => measureAsync(fnA, n);
  const runB = (n) => measureAsync(fnB, n);
  await runA(Math.max(1000, iterations / 10));
  await runB(Math.max(1000, iterations / 10));
  const a = [];
  const b = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(await runA(iterations));
    b.push(await runB(iterations));
  }
  const row = (name, samples) => {
    samples.sort((x, y) => x - y);
    return { name, nsPerCall: samples[Math.floor(samples.length / 2)], min: samples[0], max: samples.at(-1) };
  };
  return [row(nameA, a), row(nameB, b)];
}

const rows = [];
// The two whole-request rows first, in alternating rounds: the "no free" row below leaves the
// FinalizationRegistry and the heap under pressure that would slow anything measured after it.
const [viaCreateFetch, handWritten] = await benchPair(
  "createFetch per-request overhead", wrapped, "hand-written wrapper (jose)", bareFetch, Math.ceil(ITERATIONS / 10),
);
// Peers, then tokenclock with free() (steady state), then without (FinalizationRegistry
// pressure builds up over the run, so it goes last).
rows.push(await bench("jose decodeJwt + exp check", viaJose));
rows.push(await bench("jsonwebtoken decode + exp check", viaJsonwebtoken));
rows.push(await bench("tokenclock authorizeToken() + cached header", viaTokenclockHeader));
rows.push(await bench("tokenclock authorize().header + free()", viaTokenclockFree));
rows.push(await bench("tokenclock authorize().header (no free)", viaTokenclock));
rows.push(viaCreateFetch, handWritten);

const [jose, jwt, tcHeader, tcFree, tcNoFree] = rows;
const result = {
  command: `node bench/authorize.mjs --rounds ${ROUNDS} --iterations ${ITERATIONS}`,
  node: process.version,
  tokenclock: version(),
  tokenLength: TOKEN.length,
  rows,
  // Ratios of medians, and of best rounds (less sensitive to other load on the machine).
  ratios: {
    joseOverTokenclockHeader: jose.nsPerCall / tcHeader.nsPerCall,
    jsonwebtokenOverTokenclockHeader: jwt.nsPerCall / tcHeader.nsPerCall,
    joseOverTokenclockFree: jose.nsPerCall / tcFree.nsPerCall,
    jsonwebtokenOverTokenclockFree: jwt.nsPerCall / tcFree.nsPerCall,
    joseOverTokenclockNoFree: jose.nsPerCall / tcNoFree.nsPerCall,
    handWrittenOverCreateFetch: handWritten.nsPerCall / viaCreateFetch.nsPerCall,
  },
  bestRatios: {
    joseOverTokenclockHeader: jose.min / tcHeader.min,
    jsonwebtokenOverTokenclockHeader: jwt.min / tcHeader.min,
    joseOverTokenclockFree: jose.min / tcFree.min,
    jsonwebtokenOverTokenclockFree: jwt.min / tcFree.min,
    joseOverTokenclockNoFree: jose.min / tcNoFree.min,
    handWrittenOverCreateFetch: handWritten.min / viaCreateFetch.min,
  },
  sink,
};
if (JSON_OUT) {
  console.log(JSON.stringify(result, null, 2));
} else {
  console.log(`${result.command}\nnode ${result.node}, tokenclock ${result.tokenclock}, token ${TOKEN.length} chars\n`);
  console.log("candidate                                          ns/call      min      max");
  for (const r of rows) {
    console.log(`${r.name.padEnd(48)} ${r.nsPerCall.toFixed(0).padStart(9)} ${r.min.toFixed(0).padStart(8)} ${r.max.toFixed(0).padStart(8)}`);
  }
  const r = result.ratios;
  const b = result.bestRatios;
  const line = (label, key) => `\n  ${label.padEnd(44)} ${r[key].toFixed(2).padStart(6)}x ${b[key].toFixed(2).padStart(8)}x`;
  console.log(
    `\nratio (peer ns / tokenclock ns; > 1 means tokenclock is faster)     median     best` +
      line("jose decodeJwt / authorizeToken (hot path)", "joseOverTokenclockHeader") +
      line("jsonwebtoken decode / authorizeToken", "jsonwebtokenOverTokenclockHeader") +
      line("jose decodeJwt / authorize + free", "joseOverTokenclockFree") +
      line("jsonwebtoken decode / authorize + free", "jsonwebtokenOverTokenclockFree") +
      line("jose decodeJwt / authorize, no free", "joseOverTokenclockNoFree") +
      line("hand-written wrapper / createFetch", "handWrittenOverCreateFetch"),
  );
}
