// The package in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core,
// which never downloads a browser), against the real loopback servers:
//
// * plain: a page served by tcserver (`--static`) from 127.0.0.1 imports the package files as
//   `npm pack` would ship them, with no bundler (`<script type="module">` + an import map);
// * bundled: a small app importing "tokenclock" from node_modules, bundled by esbuild for the
//   browser, the .wasm copied beside the bundle (where `new URL(..., import.meta.url)` finds it).
//
// Both run the skew scenario (resource server 2 s ahead of the issuer, zero leeway, 4 s tokens,
// steady traffic) with createFetch next to a naive client and report into the DOM; the test
// asserts the report and the server's own counters, and that the browser's "tokenclock" is the
// client build's API (no fleet protocol, no SNTP: those are Node's, api-node.js).
//
// It also prints what a browser downloads for `import "tokenclock"` through the bundler: the
// bundle's JavaScript (the app, the package's JS and the wasm-bindgen glue) and the client
// .wasm, raw and `gzip -9`, with esbuild's default output and minified (a product figure for
// BENCHMARKS.md, never asserted).
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";

import { startServer } from "./fixtures/tcserver.js";

const NPM_DIR = fileURLToPath(new URL("..", import.meta.url));
const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
// Headless as root, and no background traffic to a closed network (TOOLCHAIN.md).
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run",
];
const SCENARIO = { api_offset_s: 2, api_leeway_s: 0, token_ttl_s: 4 };
const DURATION_MS = 8_000;

const pkg = JSON.parse(readFileSync(join(NPM_DIR, "package.json"), "utf8"));
// What `import "tokenclock"` exports in a browser (index.js: api.js).
const BROWSER_API = [
  "Authorization", "Estimate", "Grant", "Lifetime", "Pkce", "Session", "SkewEstimator", "State", "Ticket",
  "TokenClockError", "TokenRequest", "TokenResponse", "assertionTimes", "authorizationCodeGrant", "authorizationUrl",
  "build", "clientCredentials", "createFetch", "formatHttpDate", "parseHttpDate", "parseRedirect", "parseRetryAfter",
  "parseTokenResponse", "peek", "refreshTokenGrant", "refreshTokenToKeep", "rulesIsExpired", "rulesIsIssuedInFuture",
  "rulesIsNotYetValid", "s256Challenge", "version",
];

/** `[raw bytes, gzip -9 bytes]` of a file. */
function sizes(path) {
  return [statSync(path).size, execFileSync("gzip", ["-9", "-c", path], { maxBuffer: 64 << 20 }).length];
}
let work;
let site;
let server;
let context;

/** The files `npm pack` would ship, copied to `dest` (what a user vendors or installs). */
function copyPackage(dest) {
  const [packed] = JSON.parse(
    execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: NPM_DIR, encoding: "utf8" }),
  );
  for (const { path } of packed.files) {
    mkdirSync(dirname(join(dest, path)), { recursive: true });
    cpSync(join(NPM_DIR, path), join(dest, path));
  }
  return packed.files.map((f) => f.path);
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run \`make bootstrap\``);
  work = mkdtempSync(join(tmpdir(), "tokenclock-browser-"));
  site = join(work, "site");

  // plain: site/tokenclock/ (the package files), site/plain/index.html, site/scenario.js
  const shipped = copyPackage(join(site, "tokenclock"));
  cpSync(join(FIXTURES, "browser", "index.html"), join(site, "plain", "index.html"));
  cpSync(join(FIXTURES, "scenario.js"), join(site, "scenario.js"));

  // bundled: an app project with the package in node_modules, bundled into site/bundled/.
  const app = join(work, "app");
  copyPackage(join(app, "node_modules", "tokenclock"));
  cpSync(join(FIXTURES, "bundler", "app.js"), join(app, "src", "app.js"));
  cpSync(join(FIXTURES, "scenario.js"), join(app, "src", "scenario.js"));
  const bundle = {
    absWorkingDir: app,
    entryPoints: [join(app, "src", "app.js")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    logLevel: "silent",
  };
  await build({ ...bundle, outfile: join(site, "bundled", "app.js") });
  // The same bundle minified, only measured (a production build's usual setting).
  await build({ ...bundle, minify: true, outfile: join(work, "app.min.js") });
  cpSync(join(FIXTURES, "bundler", "index.html"), join(site, "bundled", "index.html"));
  // The bundle keeps the package's `new URL("./pkg/....wasm", import.meta.url)`: the .wasm
  // files go beside it at the same relative paths (what esbuild users copy as assets).
  for (const path of shipped.filter((p) => p.endsWith(".wasm"))) {
    mkdirSync(dirname(join(site, "bundled", path)), { recursive: true });
    cpSync(join(NPM_DIR, path), join(site, "bundled", path));
  }

  const [wasmRaw, wasmGz] = sizes(join(NPM_DIR, "pkg", "client", "tokenclock_wasm_bg.wasm"));
  for (const [what, js] of [["esbuild bundle", join(site, "bundled", "app.js")], ["minified bundle", join(work, "app.min.js")]]) {
    const [jsRaw, jsGz] = sizes(js);
    console.log(
      `# browser download for import "tokenclock" (${what} + client .wasm): ${jsRaw + wasmRaw} bytes raw, ` +
        `${jsGz + wasmGz} gzip -9 (JS ${jsRaw} / ${jsGz}, wasm ${wasmRaw} / ${wasmGz}; the JS includes the test app)`,
    );
  }

  server = await startServer({ static: site });
  context = await chromium.launchPersistentContext(join(work, "profile"), {
    executablePath: CHROMIUM,
    args: ARGS,
    headless: true,
  });
});

after(async () => {
  await context?.close();
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

beforeEach(() => server.reset({ config: true }));

/** Opens `path` (under static_url), waits for the page's report, returns it with the page's problems. */
async function runPage(path, query) {
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    // Chromium logs every 4xx as a console error; the scenario's 401s are expected.
    if (m.type() === "error" && !/status of 401/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400 && r.status() !== 401) problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
  page.on("requestfailed", (r) => problems.push(`failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  const url = new URL(path, server.info.static_url);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  await page.goto(url.href);
  await page.waitForSelector("#result", { state: "attached", timeout: DURATION_MS + 30_000 });
  const result = JSON.parse(await page.textContent("#result"));
  return { page, result, problems };
}

async function skewScenario(path, how) {
  await server.config(SCENARIO);
  const { page, result, problems } = await runPage(path, {
    token: server.info.token_url,
    api: server.info.api_url,
    duration: String(DURATION_MS),
  });
  try {
    assert.equal(result.error, undefined, result.error);
    assert.equal(result.how, how);
    assert.equal(result.version, pkg.version);
    assert.deepEqual(result.exports, [...BROWSER_API].sort());
    assert.deepEqual(result.errors, []);
    const tc = result.tokenclock;
    const naive = result.naive;
    assert.equal(tc.failures, 0, JSON.stringify(tc));
    assert.deepEqual(Object.keys(tc.statuses), ["200"]);
    assert.ok(tc.requests >= 30, `${tc.requests} requests`);
    assert.ok(naive.unauthorized >= 2, `the naive client saw ${naive.unauthorized} 401s: the scenario is skewed`);
    assert.ok(tc.unauthorized < naive.unauthorized, `tokenclock ${tc.unauthorized} 401s < naive ${naive.unauthorized}`);
    assert.equal(result.fetchStats.unauthorized, tc.unauthorized);
    assert.equal(result.fetchStats.tokenRequests, tc.tokenRequests);
    assert.equal(result.fetchStats.returned401, 0);
    const s = await server.stats();
    assert.equal(s.api.responses_401, tc.unauthorized + naive.unauthorized);
    assert.equal(s.token.requests, tc.tokenRequests + naive.tokenRequests);
    assert.equal(s.static.not_found, 0);
    assert.deepEqual(problems, []);
    console.log(
      `# ${how}: tokenclock ${tc.requests} requests, ${tc.unauthorized} 401s, ${tc.tokenRequests} token requests; ` +
        `naive ${naive.requests} requests, ${naive.unauthorized} 401s, ${naive.tokenRequests} token requests`,
    );
    return page;
  } catch (e) {
    e.message += `\nreport: ${JSON.stringify(result)}\nproblems: ${problems.join("\n")}`;
    throw e;
  }
}

test("plain ESM in Chromium (no bundler, import map): the skew scenario", async () => {
  const page = await skewScenario("plain/index.html", "plain");
  // The same module, from the page: argument errors are real RangeErrors, not traps.
  const checks = await page.evaluate(async () => {
    const m = await import("tokenclock");
    let rangeError = null;
    try {
      m.rulesIsExpired(NaN, 0, 0);
    } catch (e) {
      rangeError = { isRangeError: e instanceof RangeError, code: e.code };
    }
    return { at: m.rulesIsExpired(1000, 1000, 0), before: m.rulesIsExpired(999, 1000, 0), rangeError };
  });
  assert.deepEqual(checks, { at: true, before: false, rangeError: { isRangeError: true, code: "invalid_argument" } });
  await page.close();
});

test("esbuild bundle in Chromium: the skew scenario", async () => {
  const page = await skewScenario("bundled/index.html", "bundled");
  await page.close();
});

test('"tokenclock/full" in Chromium: verifyAsync through WebCrypto answers what verify answers', async () => {
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  // Any page of the site will do (the package's own package.json); no favicon request.
  await page.route("**/favicon.ico", (r) => r.fulfill({ status: 204 }));
  await page.goto(new URL("tokenclock/package.json", server.info.static_url).href);
  const report = await page.evaluate(async () => {
    const { Verifier } = await import(new URL("full.js", location.href).href);
    const subtle = crypto.subtle;
    let webChecks = 0;
    const verify = subtle.verify.bind(subtle);
    subtle.verify = (...args) => ((webChecks += 1), verify(...args));
    const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const text = (o) => b64(new TextEncoder().encode(JSON.stringify(o)));
    const algs = {
      RS256: [{ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, { name: "RSASSA-PKCS1-v1_5" }],
      PS256: [{ name: "RSA-PSS", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, { name: "RSA-PSS", saltLength: 32 }],
      ES256: [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }],
      ES384: [{ name: "ECDSA", namedCurve: "P-384" }, { name: "ECDSA", hash: "SHA-384" }],
      EdDSA: [{ name: "Ed25519" }, { name: "Ed25519" }],
    };
    const now = 1_700_000_000_000;
    const out = {};
    for (const [alg, [gen, params]] of Object.entries(algs)) {
      let pair;
      try {
        pair = await subtle.generateKey(gen, true, ["sign", "verify"]);
      } catch {
        out[alg] = "no such algorithm in this browser";
        continue;
      }
      const jwk = await subtle.exportKey("jwk", pair.publicKey);
      delete jwk.alg;
      delete jwk.key_ops;
      delete jwk.ext;
      const input = `${text({ alg, typ: "JWT" })}.${text({ sub: "u", exp: now / 1000 + 60 })}`;
      const sig = new Uint8Array(await subtle.sign(params, pair.privateKey, new TextEncoder().encode(input)));
      const tampered = sig.slice();
      tampered[5] ^= 1;
      const v = new Verifier({ key: { jwk }, algorithms: [alg] });
      const rows = [];
      for (const token of [`${input}.${b64(sig)}`, `${input}.${b64(tampered)}`, `${input}.`]) {
        const sync = (() => {
          try {
            return v.verify(token, now).claims.sub;
          } catch (e) {
            return e.code;
          }
        })();
        const before = webChecks;
        const viaWeb = await v.verifyAsync(token, now).then((r) => r.claims.sub, (e) => e.code);
        rows.push([sync, viaWeb, webChecks - before]);
      }
      out[alg] = rows;
    }
    return out;
  });
  await page.close();
  assert.deepEqual(problems, []);
  for (const [alg, rows] of Object.entries(report)) {
    if (typeof rows === "string") {
      console.log(`# Chromium WebCrypto: ${alg}: ${rows}`);
      continue;
    }
    const [[okSync, okWeb, okChecks], [badSync, badWeb], [emptySync, emptyWeb]] = rows;
    assert.deepEqual([okSync, okWeb, badSync, badWeb, emptySync, emptyWeb], ["u", "u", "invalid_signature", "invalid_signature", "invalid_signature", "invalid_signature"], `${alg}: ${JSON.stringify(rows)}`);
    console.log(`# Chromium WebCrypto: ${alg}: verifyAsync = verify on a valid, a tampered and an empty signature (${okChecks ? "WebCrypto checked it" : "the module checked it: WebCrypto refused the key"})`);
  }
  assert.ok(["RS256", "PS256", "ES256", "ES384"].every((alg) => Array.isArray(report[alg]) && report[alg][0][2] > 0), JSON.stringify(report));
});
