// Packaging test: what `npm publish` would ship (`npm pack`), installed with `npm install` into
// an empty temporary folder and used from there with `node -e`, the way a user's code does
// (import by name; require() too where Node supports require(esm)). Catches a file missing from
// "files", a broken exports map, or a test/dev file that would be published.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const NPM_DIR = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(join(NPM_DIR, "package.json"), "utf8"));

let dir;
let packed;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "tokenclock-pack-"));
  [packed] = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], {
      cwd: NPM_DIR,
      encoding: "utf8",
    }),
  );
  const app = join(dir, "app");
  execFileSync("mkdir", ["-p", app]);
  // An empty folder; npm creates package.json and node_modules/. No registry is needed: the
  // package has no runtime dependencies.
  execFileSync(
    "npm",
    ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error", join(dir, packed.filename)],
    { cwd: app, encoding: "utf8" },
  );
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function node(args) {
  return execFileSync(process.execPath, args, { cwd: join(dir, "app"), encoding: "utf8" });
}

test("the tarball ships the runtime files and nothing else", () => {
  const shipped = packed.files.map((f) => f.path).sort();
  for (const required of ["package.json", "index.js", "node.js", "index.d.ts", "fetch.js"]) {
    assert.ok(shipped.includes(required), `${required} is shipped (${shipped.join(", ")})`);
  }
  assert.ok(shipped.some((p) => p.endsWith(".wasm")), "a .wasm module is shipped");
  for (const path of shipped) {
    assert.match(path, /^(?:[\w.-]+\.(?:js|d\.ts|json|md)|LICENSE[\w.-]*|(?:bin|cli)\/[\w.-]+\.js|pkg\/[\w./-]+\.(?:js|d\.ts|wasm))$/, `${path} belongs in the package`);
    assert.doesNotMatch(path, /^(?:test|bench|node_modules)\//, `${path} must not be published`);
  }
  // Every file the exports map points at is in the tarball.
  for (const target of Object.values(pkg.exports["."])) {
    assert.ok(shipped.includes(target.replace(/^\.\//, "")), `${target} (exports) is shipped`);
  }
  console.log(`# npm pack: ${packed.filename} ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${shipped.length} files`);
  assert.equal(statSync(join(dir, packed.filename)).size, packed.size);
});

// The script a user would try first: peek at a token, make one Session decision with an
// injected clock, and let createFetch do a request through an injected fetch.
const ESM_SCRIPT = `
import { peek, Session, clientCredentials, createFetch, TokenClockError, version } from "tokenclock";
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const token = b64({ alg: "HS256", typ: "JWT" }) + "." + b64({ iat: 1700000000, nbf: 1700000000, exp: 1700000060, sub: "u" }) + ".c2ln";
const p = peek(token);
const clock = () => ({ wallMs: 1700000000000, monoMs: 5000 });
const session = new Session(clientCredentials({ tokenUrl: "https://issuer.example/token", clientId: "id", clientSecret: "secret" }), { clock, seed: 1 });
const first = session.authorize();
const body = JSON.stringify({ access_token: token, token_type: "Bearer", expires_in: 60 });
const id = session.completeRefresh(first.ticket.id, 200, [["content-type", "application/json"]], body, clock(), clock());
const second = session.authorize();
let bad = null;
try { peek("not a token"); } catch (e) { bad = { isTokenClockError: e instanceof TokenClockError, code: e.code }; }
const seen = [];
const fakeFetch = async (input, init) => {
  const url = String(input instanceof Request ? input.url : input);
  seen.push(url);
  if (url.endsWith("/token")) return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
  return new Response("ok", { status: 200, headers: { date: new Date(1700000000000).toUTCString() } });
};
const f = createFetch({ tokenUrl: "https://issuer.example/token", clientId: "id", clientSecret: "secret", fetch: fakeFetch, clock });
const r = await f("https://api.example/x");
console.log(JSON.stringify({
  version: version(), expMs: p.expMs, iatMs: p.iatMs, first: first.kind, ticketMethod: first.ticket.method,
  second: second.kind, sameToken: second.tokenId === id, header: second.header === "Bearer " + token, bad,
  fetched: r.status, seen,
}));
`;

test("installed in an empty folder, it imports and works (node -e, ESM)", () => {
  const out = JSON.parse(node(["--input-type=module", "-e", ESM_SCRIPT]));
  assert.deepEqual(out, {
    version: pkg.version,
    expMs: 1_700_000_060_000,
    iatMs: 1_700_000_000_000,
    first: "refresh",
    ticketMethod: "POST",
    second: "ready",
    sameToken: true,
    header: true,
    bad: { isTokenClockError: true, code: out.bad?.code },
    fetched: 200,
    seen: ["https://issuer.example/token", "https://api.example/x"],
  });
  assert.equal(typeof out.bad.code, "string");
});

test("require() works where Node supports require(esm) (the node entry has no top-level await)", (t) => {
  if (!process.features.require_module) {
    t.skip(`Node ${process.version} has no require(esm); the package is ESM-only`);
    return;
  }
  const out = node([
    "-e",
    `const t = require("tokenclock");
     const s = new t.Session(t.clientCredentials({ tokenUrl: "https://issuer.example/token", clientId: "id", clientSecret: "secret" }),
       { clock: () => ({ wallMs: 1700000000000, monoMs: 1 }), seed: 7 });
     console.log(JSON.stringify({ version: t.version(), kind: s.authorize().kind, createFetch: typeof t.createFetch }));`,
  ]);
  assert.deepEqual(JSON.parse(out), { version: pkg.version, kind: "refresh", createFetch: "function" });
});

test("the TypeScript declarations are shipped and type-check a user's createFetch code (tsc, strict)", () => {
  const types = readFileSync(join(dir, "app", "node_modules", "tokenclock", pkg.exports["."].types), "utf8");
  assert.match(types, /export declare function createFetch/);
  // The user's file is an ES module (.mts) in the installed project, resolved through the
  // package's exports map exactly as a TypeScript user's would be.
  const app = join(dir, "app");
  copyFileSync(join(NPM_DIR, "test", "fixtures", "fetch-types.ts"), join(app, "fetch-types.mts"));
  writeFileSync(
    join(app, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "es2022", strict: true, noEmit: true, types: [] },
      files: ["fetch-types.mts"],
    }),
  );
  const tsc = join(NPM_DIR, "node_modules", "typescript", "bin", "tsc");
  try {
    execFileSync(process.execPath, [tsc, "-p", join(app, "tsconfig.json")], { cwd: app, encoding: "utf8" });
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`);
  }
});

test('"tokenclock/full" from the tarball verifies with the host\'s crypto (verify.js is shipped)', () => {
  const out = node([
    "--input-type=module",
    "-e",
    `import { generateKeyPairSync, sign } from "node:crypto";
     import { Verifier } from "tokenclock/full";
     const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
     const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
     const input = b64({ alg: "ES256" }) + "." + b64({ sub: "u", exp: 1700000600 });
     const sig = sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" });
     const v = new Verifier({ key: publicKey.export({ type: "spki", format: "pem" }), algorithms: ["ES256"] });
     const ok = v.verify(input + "." + sig.toString("base64url"), 1700000000000);
     const later = await v.verifyAsync(input + "." + sig.toString("base64url"), 1700000000000);
     console.log(JSON.stringify({ sub: ok.claims.sub, same: JSON.stringify(ok) === JSON.stringify(later) }));`,
  ]);
  assert.deepEqual(JSON.parse(out), { sub: "u", same: true });
});
