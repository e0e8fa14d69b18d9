// The same package in a real browser, without a bundler: a page imports /index.js (the
// "default" entry, which fetches the .wasm) from a static server on 127.0.0.1. Uses Debian's
// Chromium (installed by scripts/bootstrap.sh); playwright-core never downloads a browser.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/[\\/]$/, ""); // npm/
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
// Flags from the machine notes: headless as root, and no background traffic to a closed network.
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run",
];

// (The empty icon keeps Chromium from asking for /favicon.ico, a 404 in the console.)
const PAGE = `<!doctype html><link rel="icon" href="data:,"><script type="module">
  try {
    const m = await import("/index.js");
    let rangeError = null;
    try { m.rulesIsExpired(NaN, 0, 0); } catch (e) { rangeError = e instanceof RangeError && e.message; }
    window.result = { keys: Object.keys(m).sort(), version: m.version(),
      at: m.rulesIsExpired(1000, 1000, 0), before: m.rulesIsExpired(999, 1000, 0), rangeError };
  } catch (e) { window.result = { error: String(e) }; }
</script>`;

let server;
let browser;
let origin;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run \`make bootstrap\``);
  server = createServer(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
      return;
    }
    const file = normalize(join(ROOT, path));
    if (!file.startsWith(ROOT + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
});

test("index.js works in Chromium from a plain <script type=module>", async () => {
  const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8"));
  const page = await browser.newPage();
  // Surface the page's own errors in the assertion message if it goes wrong.
  const problems = [];
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("response", (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()} ${r.url()}`));
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => window.result !== undefined, null, { timeout: 30_000 });
  const result = await page.evaluate(() => window.result);
  assert.deepEqual(result, {
    keys: ["rulesIsExpired", "version"],
    version: pkg.version,
    at: true,
    before: false,
    rangeError: "nowMs is NaN: expected a non-negative integer number of milliseconds",
  }, problems.join("\n"));
  assert.deepEqual(problems, []);
});
