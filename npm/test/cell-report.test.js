// One cell's chart (`npx tokenclock simulate --html FILE`; core's sim::render_cell_html) in the
// real headless Chromium the browser tests use (Debian's /usr/bin/chromium driven by
// playwright-core), as gauntlet-report.test.js opens the gauntlet's report:
//
// * it renders with no console error, no page error and no request but its own file;
// * every strategy's chart has one painted mark per request of the `--json` report, inside its
//   plot, coloured by how the request ended, and its token requests and 401s as markers;
// * the wall step is a line across each chart; a screenshot of the page is taken.
//
// The chart is written by the CLI itself into a temporary directory.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

import { runCli } from "./cli-helpers.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
// Headless as root, and no background traffic to a closed network (TOOLCHAIN.md).
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run",
];
// A skewed client and resource server, and a wall step: every strategy but tokenclock fails,
// tokenclock retries once.
const CELL = ["--client-offset", "-300", "--rs-offset", "-5", "--ttl", "60", "--step", "120", "--hours", "0.2"];
const COLOURS = { ok: "rgb(163, 163, 163)", retried: "rgb(253, 141, 60)", failed: "rgb(203, 24, 29)" };

let dir;
let file;
let report;
let browser;
let page;
const problems = [];
const requests = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run \`make bootstrap\``);
  dir = mkdtempSync(join(tmpdir(), "tokenclock-cell-"));
  file = join(dir, "cell.html");
  const r = await runCli(["simulate", ...CELL, "--html", file, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  report = JSON.parse(r.stdout);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  page = await browser.newPage({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1 });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("requestfailed", (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("request", (r) => requests.push(r.url()));
  await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
});

after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const drawnStrategies = () => report.strategies.filter((s) => s.strategy !== "oracle");

test("the chart renders with no error and fetches nothing", async () => {
  assert.deepEqual(problems, []);
  assert.deepEqual(requests, [pathToFileURL(file).href], "only the page itself is loaded");
  assert.equal(await page.locator("script, link, img, iframe, object, embed").count(), 0);
  assert.match(await page.title(), /^tokenclock simulate: client −300 s, RS −5 s, ttl 60 s \(seed 1\)$/);
});

test("one painted mark per request, inside its plot, coloured by how it ended", async () => {
  const strategies = drawnStrategies();
  assert.equal(await page.locator("section.strategy").count(), strategies.length);
  const seen = { ok: 0, retried: 0, failed: 0 };
  for (const s of strategies) {
    const found = await page.locator(`section.strategy[data-strategy="${s.strategy}"] svg.timeline`).evaluate((svg) => {
      const frame = svg.querySelector("rect.frame").getBoundingClientRect();
      const out = {};
      for (const g of svg.querySelectorAll("g.req")) {
        const result = [...g.classList].find((c) => c !== "req");
        const rects = [...g.querySelectorAll("rect")];
        const painted = rects.filter((r) => {
          const b = r.getBoundingClientRect();
          const inside = b.left >= frame.left - 2 && b.right <= frame.right + 2 && b.top >= frame.top - 2 && b.bottom <= frame.bottom + 2;
          return b.width > 0 && b.height > 0 && inside;
        });
        out[result] = { marks: rects.length, painted: painted.length, fills: [...new Set(rects.map((r) => getComputedStyle(r).fill))] };
      }
      return out;
    });
    const total = found.ok.marks + found.retried.marks + found.failed.marks;
    assert.equal(total, s.requests, `${s.strategy}: one mark per request`);
    assert.equal(found.failed.marks, s.user_visible_failures, `${s.strategy}: failed marks`);
    for (const [result, colour] of Object.entries(COLOURS)) {
      assert.equal(found[result].painted, found[result].marks, `${s.strategy} ${result}: painted inside the plot`);
      if (found[result].marks > 0) assert.deepEqual(found[result].fills, [colour], `${s.strategy} ${result}`);
      seen[result] += found[result].marks;
    }
  }
  assert.ok(seen.ok > 0 && seen.retried > 0 && seen.failed > 0, JSON.stringify(seen));
});

test("token requests and 401s are markers; the wall step is a line across", async () => {
  for (const s of drawnStrategies()) {
    const count = (kind) =>
      page.locator(`section.strategy[data-strategy="${s.strategy}"] g.ev.${kind} rect:not(.span)`).count();
    assert.equal(await count("r401"), s.rs_401, `${s.strategy}: 401 markers`);
    if (s.strategy !== "tokenclock") assert.equal(await count("refresh"), s.token_requests, `${s.strategy}: token requests`);
    else assert.ok((await count("token")) > 0, "tokenclock: tokens received");
  }
  assert.equal(await page.locator("svg.timeline line.step").count(), drawnStrategies().length);
  const summary = await page.locator("#summary tbody tr").evaluateAll((trs) => trs.map((tr) => tr.cells[0].textContent));
  assert.deepEqual(summary, drawnStrategies().map((s) => s.strategy));
});

test("a screenshot of the page", async () => {
  const png = join(dir, "cell.png");
  await page.screenshot({ path: png, fullPage: true });
  const bytes = readFileSync(png);
  assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
  assert.ok(bytes.readUInt32BE(16) >= 900 && bytes.readUInt32BE(20) >= 800, `${bytes.readUInt32BE(16)}×${bytes.readUInt32BE(20)}`);
});
