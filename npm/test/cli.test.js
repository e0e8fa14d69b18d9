// The command line without a network: its grammar (every usage message, exactly), bad input of
// every kind (exit 2 with one line on stderr, or a report with exit 1; never a stack trace or a
// wasm trap), `ages` over generated logs with a known skew, colour, and the JSON form of errors.
// Every test runs the real CLI: `node npm/bin/tokenclock.js ...` as a subprocess, and compares it
// with the core's CliRun driven in this process where that says more (cli-machine.js).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { CliRun } from "../cli/core.js";
import { transportCode } from "../cli/probe.js";
import { cleanEnv, runCli } from "./cli-helpers.js";
import { drive, realReading } from "./cli-machine.js";

let dir;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "tokenclock-cli-"));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const T0 = 1_700_000_000_000;
const NOW = { TOKENCLOCK_FAKE_NOW_MS: String(T0) };
const b64 = (o) => Buffer.from(typeof o === "string" ? o : JSON.stringify(o)).toString("base64url");
const fake = (claims, header = { alg: "HS256", typ: "JWT" }) => `${b64(header)}.${b64(claims)}.c2lnbmF0dXJl`;
const TOKEN = fake({ sub: "svc", iat: T0 / 1000 - 10, exp: T0 / 1000 + 290 });

/** Runs the CLI with the clock frozen at T0. */
function cli(args, options = {}) {
  return runCli(args, { env: cleanEnv(NOW), ...options });
}

/** A usage-class failure: exactly `line` on stderr (one line), nothing on stdout, exit 2. */
async function assertFails(args, line, options) {
  const r = await cli(args, options);
  assert.equal(r.stdout, "", `${args.join(" ")}: stdout`);
  assert.equal(r.stderr, `${line}\n`, `${args.join(" ")}: stderr`);
  assert.equal(r.code, 2, `${args.join(" ")}: exit code`);
  return r;
}

// ----- grammar -----------------------------------------------------------------------------------

const USAGE_CASES = [
  [[], "tokenclock: error: missing command (commands: inspect, skew, ages, simulate)"],
  [["--json=1"], "tokenclock: error: option --json takes no value"],
  [["--verbose"], "tokenclock: error: unknown option '--verbose'"],
  [["--verbose", "skew"], "tokenclock skew: error: unknown option '--verbose'"],
  [["frobnicate"], "tokenclock: error: unknown command 'frobnicate' (commands: inspect, skew, ages, simulate)"],
  [["inspect"], "tokenclock inspect: error: missing TOKEN (give the token, or - to read it from standard input)"],
  [["inspect", TOKEN, "extra"], "tokenclock inspect: error: unexpected extra argument 'extra'"],
  [["inspect", "a", TOKEN], "tokenclock inspect: error: unexpected extra argument '<token>'"],
  [["inspect", TOKEN, "--frob"], "tokenclock inspect: error: unknown option '--frob'"],
  [["inspect", TOKEN, "--frob=secret-value"], "tokenclock inspect: error: unknown option '--frob'"],
  [["inspect", TOKEN, "--key"], "tokenclock inspect: error: option --key needs a value"],
  [["inspect", TOKEN, "--iss", "a", "--iss", "b"], "tokenclock inspect: error: option --iss given more than once"],
  [["inspect", TOKEN, "--key", "k", "--jwks", "j"], "tokenclock inspect: error: give --key or --jwks, not both"],
  [["inspect", TOKEN, "--alg", "HS256"], "tokenclock inspect: error: --alg needs --key or --jwks"],
  [["inspect", TOKEN, "--aud", "x"], "tokenclock inspect: error: --aud needs --key or --jwks"],
  [["inspect", TOKEN, "--leeway", "1e3", "--key", "k"], "tokenclock inspect: error: --leeway: expected a number of seconds with at most 3 decimals"],
  [["inspect", TOKEN, "--server", "ftp://example.com"], "tokenclock inspect: error: expected an http:// or https:// URL, got 'ftp://example.com'"],
  [["skew", "example.com"], "tokenclock skew: error: expected an http:// or https:// URL, got 'example.com'"],
  [["skew", "--ntp", "a b"], "tokenclock skew: error: --ntp: expected HOST or HOST:PORT (IPv6 as [ADDR]:PORT)"],
  [["skew", "--ntp", "host:0"], "tokenclock skew: error: --ntp: expected HOST or HOST:PORT (IPv6 as [ADDR]:PORT)"],
  [["skew", "http://a.example", "--samples", "0"], "tokenclock skew: error: --samples: expected an integer from 1 to 64"],
  [["skew", "http://a.example", "--samples", "65"], "tokenclock skew: error: --samples: expected an integer from 1 to 64"],
  [["skew", "http://a.example", "--samples", "-1"], "tokenclock skew: error: --samples: expected a non-negative integer in range"],
  [["skew", "http://a.example", "--max-offset", "inf"], "tokenclock skew: error: --max-offset: expected a number of seconds with at most 3 decimals"],
  [["skew", "--samples", "3", "--samples", "4"], "tokenclock skew: error: option --samples given more than once"],
  [["ages", "a.log", "b.log"], "tokenclock ages: error: unexpected extra argument 'b.log'"],
  [["ages", "--prometheus=yes"], "tokenclock ages: error: option --prometheus takes no value"],
  [["ages", "--time-field", "has space"], "tokenclock ages: error: --time-field: expected a column number or a key without spaces"],
  [["simulate", "x"], "tokenclock simulate: error: unexpected extra argument 'x'"],
  [["simulate", "--seed", "9007199254740992"], "tokenclock simulate: error: --seed: expected a non-negative integer in range"],
  [["simulate", "--client-offset", "1_000"], "tokenclock simulate: error: --client-offset: expected a number of seconds with at most 3 decimals"],
  [["simulate", "--ttl", "60", "--cached-age", "60"], "tokenclock simulate: error: --cached-age: expected seconds from 0 to less than --ttl"],
  [["simulate", "--timeline", "--timeline"], "tokenclock simulate: error: option --timeline given more than once"],
];

for (const [args, line] of USAGE_CASES) {
  test(`usage: tokenclock ${args.join(" ").replace(TOKEN, "TOKEN")}`, async () => {
    await assertFails(args, line);
  });
}

test("the first problem in argument order wins; --help wins over every problem", async () => {
  await assertFails(["skew", "--frob", "--samples"], "tokenclock skew: error: unknown option '--frob'");
  await assertFails(["skew", "--samples", "0", "ftp://x"], "tokenclock skew: error: --samples: expected an integer from 1 to 64");
  const help = await cli(["skew", "--frob", "--help"]);
  assert.equal(help.code, 0);
  assert.equal(help.stdout, drive(["skew", "--help"]).text);
  const mainHelp = await cli(["-h"]);
  assert.equal(mainHelp.stdout, drive(["--help"]).text);
  assert.match(mainHelp.stdout, /^usage: tokenclock /);
  // A value option takes the next argument whatever it looks like.
  const negative = await cli(["simulate", "--client-offset", "-30", "--hours", "0.01", "--json"]);
  assert.equal(negative.code, 0, negative.stderr);
  assert.equal(JSON.parse(negative.stdout).cell.client_offset_ms, -30_000);
  // `--` ends the options.
  await assertFails(["inspect", "--", "--json"], "tokenclock inspect: error: cannot read the token: token has 1 '.'-separated segment(s); a compact JWS has 3");
});

test("--json: errors are JSON on stdout with the error code, nothing on stderr", async () => {
  const r = await cli(["skew", "--samples", "x", "--json"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "");
  assert.deepEqual(JSON.parse(r.stdout), {
    command: "skew",
    error: { code: "invalid_argument", message: "--samples: expected a non-negative integer in range" },
    exit_code: 2,
    findings: [],
    schema_version: 1,
  });
  const unknown = await cli(["--json", "frobnicate"]);
  assert.equal(JSON.parse(unknown.stdout).command, null);
  assert.equal(JSON.parse(unknown.stdout).error.code, "usage");
});

test("every subcommand has its --help (core's text, exit 0)", async () => {
  for (const command of ["inspect", "skew", "ages", "simulate"]) {
    const r = await cli([command, "--help"]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, drive([command, "--help"]).text);
    assert.match(r.stdout, new RegExp(`^usage: tokenclock ${command} `));
  }
});

test("the machine keeps origins in argument order (skew interleaves URLs and --ntp)", () => {
  const run = new CliRun(["skew", "http://a", "--ntp", "n1", "http://b", "--ntp=n2", "--json"], {}, false);
  // Every origin's first exchange at once, in argument order; each fails.
  const started = [];
  for (let action = run.poll(realReading()); action.action !== "wait"; action = run.poll(realReading())) {
    started.push([action.id, action.action, action.url ?? action.host]);
  }
  assert.deepEqual(started, [
    [0, "http", "http://a"],
    [1, "sntp", "n1"],
    [2, "http", "http://b"],
    [3, "sntp", "n2"],
  ]);
  for (const [id] of started) run.onTransportError(id, "dns_error");
  const printed = run.poll(realReading());
  assert.equal(printed.action, "write");
  const report = JSON.parse(printed.text); // --json was seen among the origins
  assert.deepEqual(
    report.origins.map((o) => o.name),
    ["http://a", "ntp:n1", "http://b", "ntp:n2"],
  );
  assert.deepEqual(run.poll(realReading()), { action: "exit", code: 2 });
});

// ----- the injected clock --------------------------------------------------------------------------

test("TOKENCLOCK_FAKE_NOW_MS freezes the clock; a malformed value is refused like an argument", async () => {
  const r = await runCli(["inspect", TOKEN, "--json"], { env: cleanEnv({ TOKENCLOCK_FAKE_NOW_MS: "1700000000123" }) });
  assert.equal(JSON.parse(r.stdout).now_ms, 1_700_000_000_123);
  const bad = await runCli(["inspect", TOKEN], { env: cleanEnv({ TOKENCLOCK_FAKE_NOW_MS: "soon" }) });
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, "tokenclock inspect: error: TOKENCLOCK_FAKE_NOW_MS: expected a non-negative integer in range\n");
  // Without it the real clock is used.
  const real = await runCli(["inspect", TOKEN, "--json"], { env: cleanEnv() });
  const nowMs = JSON.parse(real.stdout).now_ms;
  assert.ok(Math.abs(nowMs - Date.now()) < 60_000, `now_ms ${nowMs} is this machine's clock`);
});

// ----- bad inputs ----------------------------------------------------------------------------------

test("malformed tokens: one line on stderr with the parser's words, exit 2, the input never echoed", async () => {
  const secretish = "hunter2.hunter3";
  const r = await assertFails(["inspect", secretish], "tokenclock inspect: error: cannot read the token: token has 2 '.'-separated segment(s); a compact JWS has 3");
  assert.doesNotMatch(r.stderr, /hunter/);
  await assertFails(["inspect", "eyJ!!!.eyJ.sig"], "tokenclock inspect: error: cannot read the token: token's header segment is not unpadded base64url");
  const j = await cli(["inspect", "-", "--json"], { stdin: "garbage\u0000\u001b[31m\n" });
  assert.equal(j.code, 2);
  assert.equal(JSON.parse(j.stdout).error.code, "malformed_token");
});

test("standard input: at most 64 KiB + 1 bytes are read; more is token_too_large", async () => {
  const huge = "a".repeat(200_000);
  await assertFails(["inspect", "-"], "tokenclock inspect: error: cannot read the token: token is 65537 bytes, more than the limit of 65536", { stdin: huge });
  const bearer = await cli(["inspect", "-"], { stdin: `  Bearer ${TOKEN}\r\n` });
  assert.equal(bearer.code, 0, bearer.stderr);
  assert.match(bearer.stdout, /^state  fresh/m);
});

test("key files: missing, a directory, too large; wrong key; unusable JWKS", async () => {
  const secret = join(dir, "secret");
  writeFileSync(secret, "tokenclock-golden-secret-0123456789abcdef");
  await assertFails(["inspect", TOKEN, "--key", join(dir, "missing"), "--alg", "HS256"], `tokenclock inspect: error: cannot read ${join(dir, "missing")}: no such file`);
  await assertFails(["inspect", TOKEN, "--key", dir, "--alg", "HS256"], `tokenclock inspect: error: cannot read ${dir}: is a directory`);
  const big = join(dir, "big.pem");
  writeFileSync(big, Buffer.alloc(1024 * 1024 + 1, 0x41));
  await assertFails(["inspect", TOKEN, "--key", big, "--alg", "RS256"], `tokenclock inspect: error: cannot read ${big}: too large`);
  if (process.getuid?.() !== 0) {
    const locked = join(dir, "locked");
    writeFileSync(locked, "x");
    chmodSync(locked, 0o000);
    await assertFails(["inspect", TOKEN, "--key", locked, "--alg", "HS256"], `tokenclock inspect: error: cannot read ${locked}: permission denied`);
  }
  // A token signed with another secret: a finding (exit 1), reported on stdout.
  const wrong = await cli(["inspect", TOKEN, "--key", secret, "--alg", "HS256", "--json"]);
  assert.equal(wrong.code, 1);
  assert.equal(wrong.stderr, "");
  const json = JSON.parse(wrong.stdout);
  assert.equal(json.verification.valid, false);
  assert.equal(json.verification.code, "invalid_signature");
  assert.deepEqual(json.findings.map((f) => f.code), ["invalid_signature"]);
  const jwks = join(dir, "jwks.json");
  writeFileSync(jwks, "{not json");
  const bad = await cli(["inspect", TOKEN, "--jwks", jwks, "--alg", "RS256"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, "");
  assert.match(bad.stderr, /^tokenclock inspect: error: cannot use the key: [^\n]+\n$/);
});

test("ages input errors: no such file, a directory; binary garbage is read, not a crash", async () => {
  await assertFails(["ages", join(dir, "nope.log")], `tokenclock ages: error: cannot read ${join(dir, "nope.log")}: no such file`);
  await assertFails(["ages", dir], `tokenclock ages: error: cannot read ${dir}: is a directory`);
  const garbage = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 256));
  const r = await cli(["ages", "-", "--json"], { stdin: garbage });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).recorded, 0);
});

test("nothing ever prints a stack trace: a sweep of hostile arguments", async () => {
  const hostile = [
    ["inspect", "\u001b[2J\u202e"],
    ["inspect", `${b64("{")}.${b64("{")}.`],
    ["inspect", fake({ exp: "soon" })],
    ["inspect", fake({ exp: 1e300, iat: -1e300 })],
    ["inspect", fake({ exp: 1 }, { alg: "none" })],
    ["skew", "http://[::1"],
    ["skew", "--ntp", "[::1]:99999"],
    ["ages", "-", "--time-field", "a".repeat(300)],
    ["simulate", "--hours", "24.0001"],
    ["simulate", "--step", "-86401"],
  ];
  for (const args of hostile) {
    const r = await cli(args, { timeoutMs: 30_000 });
    const where = JSON.stringify(args);
    assert.ok(r.code === 0 || r.code === 1 || r.code === 2, `${where}: exit ${r.code}`);
    assert.doesNotMatch(r.stderr, /\n\s+at |RuntimeError|unreachable|panicked|internal error/, `${where}: ${r.stderr}`);
    assert.ok(r.stderr.split("\n").length <= 2, `${where}: at most one line on stderr: ${r.stderr}`);
    assert.doesNotMatch(r.stdout + r.stderr, /\u001b\[2J|\u202e/, `${where}: control characters are escaped`);
  }
});

// ----- ages over generated logs ----------------------------------------------------------------------

/** Deterministic "true" token ages between 0.2 s and 20 s (ms). */
const trueAges = Array.from({ length: 400 }, (_, i) => 200 + ((i * 7_919) % 19_800));

function nearest(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

test("ages: a verifier clock 7 s behind the issuer is found from ages alone (exit 1, clock_behind_issuer)", async () => {
  const issuerAheadMs = 7_000;
  const lines = trueAges.map((age, i) => {
    const iatS = (T0 + issuerAheadMs - age) / 1000; // the issuer stamps iat on its (fast) clock
    return `2023-11-14 level=info req=${i} auth="Bearer ${fake({ sub: "u", iat: iatS, exp: iatS + 300, n: i })}"`;
  });
  // Noise the collector must count but not record: no token, an unreadable one, one without iat.
  lines.splice(10, 0, "no token here", `x ${b64({ alg: "x" })}.${b64("not json")}.sig y`, `bare ${fake({ sub: "no-iat" })}`);
  const log = join(dir, "behind.log");
  writeFileSync(log, `${lines.join("\r\n")}\r\n`);
  const r = await cli(["ages", log, "--json"]);
  assert.equal(r.stderr, "");
  assert.equal(r.code, 1);
  const json = JSON.parse(r.stdout);
  assert.equal(json.lines, 403);
  assert.equal(json.tokens, 402);
  assert.equal(json.recorded, 400);
  assert.deepEqual(json.skipped, { no_iat: 1, no_timestamp: 0, unreadable: 1 });
  assert.equal(json.age_basis, "now");
  assert.equal(json.assessment.verdict, "behind");
  assert.deepEqual(json.findings.map((f) => f.code), ["clock_behind_issuer"]);
  const recorded = trueAges.map((a) => a - issuerAheadMs);
  for (const [key, q] of [["p05", 0.05], ["p50", 0.5], ["p95", 0.95]]) {
    const exact = nearest(recorded, q);
    const estimate = json.quantiles_ms[key];
    assert.ok(Math.abs(estimate - exact) <= Math.abs(exact) / 4 + 8, `${key}: ${estimate} vs exact ${exact}`);
  }
  assert.ok(json.quantiles_ms.p05 < -2_000);
  // The text report says the same, and the Prometheus form counts every age.
  const text = await cli(["ages", log]);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /^assessment  behind/m);
  assert.match(text.stdout, /^result  clock_behind_issuer$/m);
  const prom = await cli(["ages", log, "--prometheus"]);
  assert.equal(prom.code, 1);
  assert.match(prom.stdout, /^tokenclock_token_age_seconds_count 400$/m);
});

test("ages --time-field: line time − iat with an issuer 7 s ahead, from a big log on stdin read in chunks", async () => {
  // 6000 logfmt lines (> 64 KiB, so several chunks) whose own timestamps are the verifier's
  // receive times; the fake "now" is irrelevant with --time-field.
  const lines = [];
  const recorded = [];
  for (let i = 0; i < 6_000; i += 1) {
    const received = T0 - 3_600_000 + i * 500;
    const age = trueAges[i % trueAges.length];
    const iatS = Math.floor((received + 7_000 - age) / 1000);
    recorded.push(received - iatS * 1000);
    lines.push(`ts=${new Date(received).toISOString()} msg="call" token=${fake({ iat: iatS, i })}`);
  }
  const stdin = `${lines.join("\n")}\n`;
  const r = await cli(["ages", "--time-field", "ts", "--json"], { stdin });
  assert.equal(r.code, 1, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.equal(json.age_basis, "line_time");
  assert.equal(json.time_field, "ts");
  assert.equal(json.recorded, 6_000);
  assert.equal(json.assessment.verdict, "behind");
  const exact = nearest(recorded, 0.5);
  assert.ok(Math.abs(json.quantiles_ms.p50 - exact) <= Math.abs(exact) / 4 + 8, `p50 ${json.quantiles_ms.p50} vs ${exact}`);
  // Chunked input gives exactly what line-by-line reads give (the core splits the lines).
  const byLine = drive(["ages", "--time-field", "ts", "--json"], { stdin: lines.map((line) => `${line}\n`), env: NOW });
  assert.equal(r.stdout, byLine.text);
});

test("ages: a consistent clock (ages 0.2–20 s) is exit 0", async () => {
  const lines = trueAges.map((age) => `token ${fake({ iat: (T0 - age) / 1000 })}`);
  const r = await cli(["ages"], { stdin: lines.join("\n") });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^tokens  400 found in 400 line\(s\); 400 recorded/m);
  assert.match(r.stdout, /^assessment  consistent/m);
});

// ----- colour ------------------------------------------------------------------------------------------

test("colour only on a terminal with NO_COLOR unset or empty", () => {
  const coloured = (terminal, env) => /\u001b\[/.test(drive(["inspect", TOKEN], { terminal, env: { ...NOW, ...env } }).text);
  assert.equal(coloured(true, {}), true);
  assert.equal(coloured(true, { NO_COLOR: "" }), true);
  assert.equal(coloured(true, { NO_COLOR: "1" }), false);
  assert.equal(coloured(false, {}), false);
  assert.equal(coloured(false, { NO_COLOR: "" }), false);
});

test("transport errors map to the core's codes", () => {
  const fetchFailed = (cause) => Object.assign(new TypeError("fetch failed"), { cause });
  assert.equal(transportCode(new DOMException("t", "TimeoutError")), "timeout");
  assert.equal(transportCode(fetchFailed(Object.assign(new Error("x"), { code: "ENOTFOUND" }))), "dns_error");
  assert.equal(transportCode(fetchFailed(Object.assign(new Error("x"), { code: "ECONNREFUSED" }))), "connect_error");
  assert.equal(transportCode(fetchFailed(Object.assign(new Error("x"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }))), "tls_error");
  assert.equal(transportCode(fetchFailed(Object.assign(new Error("x"), { code: "UND_ERR_SOCKET" }))), "http_error");
  assert.equal(transportCode(fetchFailed(new Error("bad port"))), "io_error");
  assert.equal(transportCode(undefined), "io_error");
});

test("`ages` without FILE reads standard input; empty input is an empty report, exit 0", async () => {
  const r = await cli(["ages", "--json"], { stdin: "" });
  assert.equal(r.code, 0);
  assert.equal(JSON.parse(r.stdout).lines, 0);
});
