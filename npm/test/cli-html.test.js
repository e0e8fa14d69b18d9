// `npx tokenclock simulate --html FILE`: one cell's timeline as a self-contained HTML chart,
// written by the real executor (`node npm/bin/tokenclock.js` subprocesses, npm/cli/main.js):
// one mark per request of every strategy, nothing that runs or fetches anything, the very bytes
// the core rendered, an existing file replaced, and an unwritable path a one-line error with
// exit 2 (nothing written). In headless Chromium: cell-report.test.js. The same checks of the
// Python executor: python/tests/test_cli_html.py.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { CliRun } from "../cli/core.js";
import { runCli } from "./cli-helpers.js";
import { realReading } from "./cli-machine.js";

// The docs' example: a +120 s wall step under 60 s tokens (stackit fails 25 requests).
const CELL = ["--ttl", "60", "--step", "120", "--hours", "0.05", "--seed", "7"];
const SVG_NS = "http://www.w3.org/2000/svg";

let dir;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "tokenclock-html-"));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Each strategy's section: `{ requests (declared), body }` by name. */
function sections(html) {
  const out = {};
  const re = /<section class="strategy" data-strategy="([^"]*)" data-requests="(\d+)">([\s\S]*?)<\/section>/g;
  for (const [, name, requests, body] of html.matchAll(re)) out[name] = { requests: Number(requests), body };
  return out;
}

/** The request marks of a section, by outcome. */
function marks(body) {
  const groups = [...body.matchAll(/<g class="req (ok|retried|failed)">([\s\S]*?)<\/g>/g)];
  assert.deepEqual(
    groups.map((g) => g[1]),
    ["ok", "retried", "failed"],
  );
  return Object.fromEntries(groups.map(([, result, inner]) => [result, inner.split("<rect ").length - 1]));
}

/** Runs `simulate CELL --html FILE --json ...extra`; resolves to the report. */
async function simulate(file, extra = []) {
  const r = await runCli(["simulate", ...CELL, "--html", file, "--json", ...extra]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  return JSON.parse(r.stdout);
}

/** The bytes the core asks to write for `tokenclock ...argv` (its machine, this process). */
function inProcess(argv) {
  const action = new CliRun(argv, {}, false).poll(realReading());
  assert.equal(action.action, "writeFile");
  assert.ok(action.data instanceof Uint8Array);
  return Buffer.from(action.data);
}

test("one mark per request of every strategy", async () => {
  const file = join(dir, "marks.html");
  const report = await simulate(file);
  assert.equal(report.html_file, file);
  const drawn = sections(readFileSync(file, "utf8"));
  const strategies = report.strategies.filter((s) => s.strategy !== "oracle");
  assert.deepEqual(Object.keys(drawn).sort(), ["naive", "stackit", "tokenclock", "tutorial"]);
  for (const s of strategies) {
    const { requests, body } = drawn[s.strategy];
    const counts = marks(body);
    assert.equal(requests, s.requests, s.strategy);
    assert.equal(counts.ok + counts.retried + counts.failed, s.requests, s.strategy);
    assert.equal(counts.failed, s.user_visible_failures, s.strategy);
  }
  assert.equal(marks(drawn.stackit.body).failed, 25);
});

test("nothing in it runs or is fetched", async () => {
  const file = join(dir, "safe.html");
  await simulate(file);
  const html = readFileSync(file, "utf8");
  assert.ok(html.startsWith("<!DOCTYPE html>") && html.endsWith("</html>\n"));
  const lower = html.toLowerCase();
  for (const banned of ["<script", "javascript:", "<link", "<img", "<iframe", "url(", "@import"]) {
    assert.ok(!lower.includes(banned), banned);
  }
  assert.doesNotMatch(lower, /\son\w+\s*=/, "no event handler attribute");
  const urls = new Set(html.match(/\w+:\/\/[^\s"'<>)]*/g) ?? []);
  assert.ok([...urls].every((u) => u === SVG_NS), [...urls].join(" "));
});

test("the file is the core's bytes, and the report says where it went", async () => {
  const file = join(dir, "bytes.html");
  const report = await simulate(file);
  assert.deepEqual(readFileSync(file), inProcess(["simulate", ...CELL, "--html", file]));
  const text = await runCli(["simulate", ...CELL, "--html", file]);
  const plain = await runCli(["simulate", ...CELL]);
  assert.equal(text.code, 0);
  const line = `chart written to ${file}\n`;
  assert.ok(text.stdout.includes(line), text.stdout);
  assert.equal(text.stdout.replace(line, ""), plain.stdout);
  delete report.html_file;
  assert.deepEqual(report, JSON.parse((await runCli(["simulate", ...CELL, "--json"])).stdout));
});

test("an existing file is replaced", async () => {
  const file = join(dir, "replaced.html");
  writeFileSync(file, Buffer.alloc(5_000_000, "x"));
  await simulate(file);
  assert.deepEqual(readFileSync(file), inProcess(["simulate", ...CELL, "--html", file]));
});

test("an unwritable path is an error, and nothing is written", async () => {
  const sub = mkdtempSync(join(dir, "unwritable-"));
  const aFile = join(sub, "a-file");
  writeFileSync(aFile, "keep");
  for (const [path, phrase, code] of [
    [join(sub, "missing", "cell.html"), "no such directory", "not_found"],
    [join(aFile, "cell.html"), "no such directory", "not_found"],
    [sub, "is a directory", "is_a_directory"],
  ]) {
    const r = await runCli(["simulate", ...CELL, "--html", path]);
    assert.equal(r.code, 2, path);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `tokenclock simulate: error: cannot write ${path}: ${phrase}\n`);
    const j = await runCli(["simulate", ...CELL, "--html", path, "--json"]);
    assert.equal(j.code, 2);
    assert.equal(JSON.parse(j.stdout).error.code, code, path);
  }
  assert.deepEqual(readdirSync(sub), ["a-file"], "nothing written");
  assert.equal(readFileSync(aFile, "utf8"), "keep");
});

test("bad values are refused before anything is written", async () => {
  const file = join(dir, "never.html");
  for (const [args, message] of [
    [["--html", "-"], "--html: expected a file path (not -)"],
    [["--html="], "--html: expected a file path (not -)"],
    [["--html", file, "--ttl", "1"], "--ttl: expected seconds from 5 to 86400"],
    [["--html", file, "--html", file], "option --html given more than once"],
  ]) {
    const r = await runCli(["simulate", ...args]);
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `tokenclock simulate: error: ${message}\n`);
  }
  assert.ok(!existsSync(file));
  const help = (await runCli(["simulate", "--help"])).stdout;
  assert.ok(help.includes("[--html FILE]") && help.includes("  --html FILE "), help);
});
