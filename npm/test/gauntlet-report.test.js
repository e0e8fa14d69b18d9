// The skew gauntlet's HTML report (`make demo` writes target/demo/gauntlet.html next to
// gauntlet.json; core's sim::render_gauntlet_html renders it) in the real headless Chromium
// the browser tests use (Debian's /usr/bin/chromium driven by playwright-core):
//
// * it renders with no console error, no page error and no request but its own file;
// * every strategy has one map per (lifetime, leeway, cached issuer) of the rows, each map one
//   painted cell per row, and the cells' colours say what the rows say (tokenclock's failure
//   maps are all white);
// * a screenshot of the maps is saved (target/demo/gauntlet.png);
// * the README's picture (docs/img/gauntlet.png) was taken of this very report when it is
//   the seed-1 run `make demo` does: docs/img/gauntlet.sha256 records the report it shows.
//
// The Makefile writes the report first (`make gauntlet`, a prerequisite of js-test).
// `make gauntlet-screenshot` (GAUNTLET_UPDATE_README=1) retakes the README's picture.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DEMO = join(ROOT, "target", "demo");
const HTML = join(DEMO, "gauntlet.html");
const ROWS = join(DEMO, "gauntlet.json");
const README_PNG = join(ROOT, "docs", "img", "gauntlet.png");
const README_SHA = join(ROOT, "docs", "img", "gauntlet.sha256");
const UPDATE_README = process.env.GAUNTLET_UPDATE_README === "1";
const SCREENSHOT = UPDATE_README ? README_PNG : join(DEMO, "gauntlet.png");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
// Headless as root, and no background traffic to a closed network (TOOLCHAIN.md).
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run",
];
// Wide enough for a strategy's two panels side by side (the page's max-width is 1180 px).
const VIEWPORT = { width: 1230, height: 1000 };

let browser;
let page;
let rows;
let html;
const problems = [];
const requests = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run \`make bootstrap\``);
  assert.ok(existsSync(HTML), `${HTML} is missing: run \`make gauntlet\` (or \`make demo\`)`);
  html = readFileSync(HTML);
  rows = JSON.parse(readFileSync(ROWS, "utf8"));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  page = await browser.newPage({ viewport: VIEWPORT, deviceScaleFactor: 1 });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("requestfailed", (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("request", (r) => requests.push(r.url()));
  await page.goto(pathToFileURL(HTML).href, { waitUntil: "load" });
});

after(async () => {
  await browser?.close();
});

const key = (r) => `${r.ttl_s}/${r.rs_leeway_s}/${r.cached_issuer}`;

/** The rows of one strategy, grouped by map. */
function rowsByMap(strategy) {
  const maps = new Map();
  for (const r of rows.filter((r) => r.strategy === strategy)) {
    if (!maps.has(key(r))) maps.set(key(r), []);
    maps.get(key(r)).push(r);
  }
  return maps;
}

test("the report renders with no error and fetches nothing", async () => {
  assert.deepEqual(problems, []);
  assert.deepEqual(requests, [pathToFileURL(HTML).href], "only the page itself is loaded");
  assert.equal(await page.locator("script, link, img, iframe, object, embed").count(), 0);
  assert.match(await page.title(), /^tokenclock skew gauntlet \(seed \d+\)$/);
});

test("every strategy has one map per lifetime, leeway and cached issuer, one cell per row", async () => {
  const strategies = [...new Set(rows.map((r) => r.strategy))];
  assert.deepEqual(strategies.sort(), ["naive", "stackit", "tokenclock", "tutorial"]);
  assert.equal(await page.locator("section.strategy").count(), strategies.length);
  for (const strategy of strategies) {
    const expected = rowsByMap(strategy);
    assert.equal(expected.size, 12, "3 lifetimes × 2 leeways × cached issuer on/off");
    for (const metric of ["failures", "latency"]) {
      const found = await page
        .locator(`section.strategy[data-strategy="${strategy}"] svg.${metric} g.map`)
        .evaluateAll((maps) =>
          maps.map((g) => {
            const cells = [...g.querySelectorAll("rect.cell")];
            const drawn = cells.filter((c) => {
              const box = c.getBoundingClientRect();
              return box.width > 0 && box.height > 0 && getComputedStyle(c).fill !== "none";
            });
            return {
              key: `${g.dataset.ttl}/${g.dataset.leeway}/${g.dataset.cached}`,
              cells: cells.length,
              drawn: drawn.length,
            };
          }),
        );
      assert.equal(found.length, expected.size, `${strategy} ${metric}: maps`);
      for (const map of found) {
        const want = expected.get(map.key)?.length;
        assert.equal(map.cells, want, `${strategy} ${metric} map ${map.key}: cells`);
        assert.equal(map.drawn, want, `${strategy} ${metric} map ${map.key}: cells painted`);
      }
    }
  }
});

test("colours say what the rows say; tokenclock's failure maps are empty", async () => {
  const white = "rgb(255, 255, 255)";
  for (const strategy of new Set(rows.map((r) => r.strategy))) {
    const mine = rows.filter((r) => r.strategy === strategy);
    for (const [metric, value] of [
      ["failures", (r) => r.user_visible_failures],
      ["latency", (r) => r.p99_added_latency_ms],
    ]) {
      const fills = await page
        .locator(`section.strategy[data-strategy="${strategy}"] svg.${metric} rect.cell`)
        .evaluateAll((cells) => cells.map((c) => getComputedStyle(c).fill));
      const coloured = fills.filter((f) => f !== white).length;
      assert.equal(coloured, mine.filter((r) => value(r) > 0).length, `${strategy} ${metric}: coloured cells`);
    }
  }
  const tokenclockFailures = rows.filter((r) => r.strategy === "tokenclock" && r.user_visible_failures > 0);
  assert.equal(tokenclockFailures.length, 0, "the gauntlet's claim: tokenclock never fails a user");
  const summary = await page.locator("#summary tbody tr").evaluateAll((trs) =>
    trs.map((tr) => [...tr.cells].map((c) => c.textContent)),
  );
  for (const [strategy, , failedCells] of summary) {
    const n = rows.filter((r) => r.strategy === strategy && r.user_visible_failures > 0).length;
    assert.equal(Number(failedCells.replaceAll(",", "")), n, `${strategy}: failed cells in the table`);
  }
});

test("a screenshot of the maps is saved", async () => {
  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await page.locator("#overview").screenshot({ path: SCREENSHOT });
  const png = readFileSync(SCREENSHOT);
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  assert.ok(width >= 1000 && height >= 800, `${width}×${height}`);
  console.log(`# screenshot: ${SCREENSHOT} (${width}×${height})`);
  if (UPDATE_README) {
    writeFileSync(README_SHA, `${createHash("sha256").update(html).digest("hex")}  target/demo/gauntlet.html\n`);
  }
});

test("the README's picture is of make demo's seed-1 report", async (t) => {
  const seed = (await page.title()).match(/seed (\d+)/)[1];
  const hours = new Set(rows.map((r) => r.hours));
  if (seed !== "1" || hours.size !== 1 || !hours.has(3)) {
    t.skip(`this report is seed ${seed}, ${[...hours].join("/")} h: the README shows seed 1, 3 h`);
    return;
  }
  assert.ok(existsSync(README_PNG), "docs/img/gauntlet.png is missing: run `make gauntlet-screenshot`");
  const recorded = readFileSync(README_SHA, "utf8").split(/\s+/)[0];
  const actual = createHash("sha256").update(html).digest("hex");
  assert.equal(
    actual,
    recorded,
    "make demo's report changed since docs/img/gauntlet.png was taken: run `make gauntlet-screenshot` and commit docs/img/",
  );
});
