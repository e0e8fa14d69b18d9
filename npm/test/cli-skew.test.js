// `tokenclock skew` and `inspect --server` against the loopback servers
// (tests/servers/tcserver.py as a real subprocess: its Date headers are the floor of real time
// plus a configured offset, its SNTP server answers with real time plus an offset). Each test
// configures the offsets, runs the real CLI (`node npm/bin/tokenclock.js`) and checks that the
// reported interval contains the configured offset and is narrow, and that every failure is a
// clean report with the right code and exit status.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";

import { cleanEnv, runCli, startServers } from "./cli-helpers.js";

let server;
let info;

before(async () => {
  server = await startServers({ origins: 2, sntp: true, verbose: true });
  info = server.info;
});
after(() => server?.stop());
beforeEach(() => server.reset());

async function cli(args, options = {}) {
  const r = await runCli(args, { env: cleanEnv(), timeoutMs: 90_000, ...options });
  assert.equal(r.signal, null);
  return r;
}

/** `skew ARGS --json`: the parsed report (stderr must be empty). */
async function skewJson(args) {
  const r = await cli(["skew", ...args, "--json"]);
  assert.equal(r.stderr, "", "nothing on stderr");
  const json = JSON.parse(r.stdout);
  assert.equal(json.exit_code, r.code, "the JSON's exit_code is the process's");
  return { code: r.code, json };
}

/** The interval contains `offsetMs` and is narrower than `maxWidthMs`. */
function assertMeasured(origin, offsetMs, maxWidthMs) {
  const where = `${origin.name}: [${origin.low_ms}, ${origin.high_ms}] vs ${offsetMs} ms`;
  assert.equal(origin.error, null, where);
  assert.equal(typeof origin.low_ms, "number", where);
  assert.equal(typeof origin.high_ms, "number", where);
  assert.ok(origin.low_ms <= offsetMs && offsetMs <= origin.high_ms, `interval contains the offset: ${where}`);
  assert.equal(origin.width_ms, origin.high_ms - origin.low_ms);
  assert.ok(origin.width_ms < maxWidthMs, `narrower than ${maxWidthMs} ms: ${where}`);
  assert.ok(origin.low_ms <= origin.offset_ms && origin.offset_ms <= origin.high_ms, where);
}

/** How many lines of the server's request log are exactly `line`. */
function logCount(line) {
  return server.stderr.split("\n").filter((l) => l === line).length;
}

/** A TCP port on 127.0.0.1 with nothing listening. */
async function closedPort() {
  const s = createServer();
  await new Promise((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

test("a Date origin 600 s behind: the interval contains -600 s, under 0.3 s wide after 10 samples, beyond the limit", async () => {
  await server.config({ origin_offsets_s: [-600] });
  const { code, json } = await skewJson([info.origins[0], "--samples", "10"]);
  assert.equal(code, 1);
  const [o] = json.origins;
  assertMeasured(o, -600_000, 300);
  assert.equal(o.source, "date");
  assert.equal(o.status, "beyond_limit");
  assert.ok(o.samples >= 1 && o.samples <= 10, `${o.samples} samples`);
  assert.deepEqual(json.findings.map((f) => f.code), ["skew_beyond_limit"]);
  // One HEAD per sample: the probe decided how many (at most --samples; fewer once ≤ 20 ms).
  const stats = await server.stats();
  assert.equal(stats.origins[0].requests, o.samples);
});

test("an API server 2.3 s ahead: the interval contains +2.3 s and is under 0.3 s wide; --max-offset 2.5 accepts it", async () => {
  await server.config({ api_offset_s: 2.3 });
  const strict = await skewJson([info.health_url, "--samples", "10"]);
  assert.equal(strict.code, 1);
  assertMeasured(strict.json.origins[0], 2_300, 300);
  assert.equal(strict.json.origins[0].status, "beyond_limit");
  assert.equal(strict.json.max_offset_ms, 1000);

  const lenient = await skewJson([info.health_url, "--max-offset", "2.5"]);
  assert.equal(lenient.code, 0);
  assertMeasured(lenient.json.origins[0], 2_300, 300);
  assert.equal(lenient.json.origins[0].status, "ok");
  assert.equal(lenient.json.max_offset_ms, 2500);
  assert.deepEqual(lenient.json.findings, []);
});

test("the text report: one row per origin, the verdict, exit 1, nothing on stderr", async () => {
  await server.config({ api_offset_s: 2.3 });
  const r = await cli(["skew", info.health_url]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "");
  const lines = r.stdout.split("\n");
  assert.match(lines[0], /^origin\s+source\s+offset\s+interval \(server − local\)\s+rtt\s+samples\s+status$/);
  assert.match(lines[1], new RegExp(`^${info.health_url.replace(/[.]/g, "\\.")}\\s+date\\s+\\+2\\.(29\\d|30\\d) s\\s+\\+2\\.\\d{3} s \\.\\. \\+2\\.\\d{3} s\\s+\\d+ ms\\s+\\d+/\\d+\\s+beyond limit$`));
  assert.equal(lines.at(-2), "result  skew_beyond_limit (limit ±1.000 s)");
  assert.doesNotMatch(r.stdout, /\u001b\[/, "no colour when stdout is not a terminal");
});

test("two origins that disagree (0 s and +3.5 s): both measured, the pair called out with its gap", async () => {
  await server.config({ origin_offsets_s: [0, 3.5] });
  const { code, json } = await skewJson([info.origins[0], info.origins[1]]);
  assert.equal(code, 1);
  const [a, b] = json.origins;
  assert.deepEqual([a.name, b.name], [info.origins[0], info.origins[1]], "in the order given");
  assertMeasured(a, 0, 300);
  assertMeasured(b, 3_500, 300);
  assert.equal(a.status, "ok");
  assert.equal(b.status, "beyond_limit");
  assert.deepEqual(json.disagreements, [{ a: a.name, b: b.name, gap_ms: b.low_ms - a.high_ms }]);
  assert.ok(json.disagreements[0].gap_ms > 3_000);
  assert.deepEqual(json.findings.map((f) => f.code), ["skew_beyond_limit"]);
});

test("SNTP (loopback server 1.5 s ahead) and a Date origin at the same offset agree", async () => {
  await server.config({ sntp_offset_s: 1.5, api_offset_s: 1.5 });
  const ntp = `${info.sntp_host}:${info.sntp_port}`;
  const { code, json } = await skewJson(["--ntp", ntp, info.health_url]);
  assert.equal(code, 1);
  const [s, d] = json.origins;
  assert.equal(s.name, `ntp:${ntp}`);
  assert.equal(s.source, "sntp");
  assert.equal(s.samples, 1, "one SNTP request by default (RFC 4330: never poll faster than 15 s)");
  assertMeasured(s, 1_500, 50);
  assertMeasured(d, 1_500, 300);
  assert.deepEqual(json.disagreements, []);
  const stats = await server.stats();
  assert.equal(stats.sntp.requests, 1);
  assert.equal(stats.sntp.replies, 1);
});

test("a garbage SNTP reply: the origin is unmeasured with the parser's code, exit 2, a clean report", async () => {
  await server.config({ sntp_mode: "garbage" });
  const ntp = `${info.sntp_host}:${info.sntp_port}`;
  const { code, json } = await skewJson(["--ntp", ntp]);
  assert.equal(code, 2);
  const [o] = json.origins;
  assert.equal(o.status, "unmeasured");
  assert.equal(o.samples, 0);
  assert.match(o.error.code, /^(?:sntp_[a-z_]+|invalid_[a-z_]+)$/, `a parser code: ${o.error.code}`);
  assert.deepEqual(json.findings.map((f) => f.code), ["origin_unmeasured"]);
  const text = await cli(["skew", "--ntp", ntp]);
  assert.equal(text.code, 2);
  assert.equal(text.stderr, "");
  // A second garbage reply (fresh random bytes) may fail a different check than the first.
  assert.match(text.stdout, /error: (?:sntp_[a-z_]+|invalid_[a-z_]+)/);
});

test("an SNTP kiss-o'-death ends the measurement with sntp_kiss_of_death", async () => {
  await server.config({ sntp_mode: "kiss_rate" });
  const { code, json } = await skewJson(["--ntp", `${info.sntp_host}:${info.sntp_port}`]);
  assert.equal(code, 2);
  assert.equal(json.origins[0].error.code, "sntp_kiss_of_death");
});

test("a silent SNTP server times out after the core's 5 s", async () => {
  await server.config({ sntp_mode: "silent" });
  const started = Date.now();
  const { code, json } = await skewJson(["--ntp", `${info.sntp_host}:${info.sntp_port}`]);
  const elapsed = Date.now() - started;
  assert.equal(code, 2);
  assert.equal(json.origins[0].error.code, "timeout");
  assert.ok(elapsed >= 5_000 && elapsed < 15_000, `gave up after ${elapsed} ms`);
});

test("unreachable origins: connection refused (TCP and UDP) and an unresolvable name, each reported with its code, exit 2", async () => {
  const port = await closedPort();
  const { code, json } = await skewJson([`http://127.0.0.1:${port}/`, "--ntp", `127.0.0.1:${port}`, "http://tokenclock-test.invalid/"]);
  assert.equal(code, 2);
  assert.deepEqual(
    json.origins.map((o) => [o.name, o.status, o.error.code]),
    [
      [`http://127.0.0.1:${port}/`, "unmeasured", "connect_error"],
      [`ntp:127.0.0.1:${port}`, "unmeasured", "connect_error"],
      ["http://tokenclock-test.invalid/", "unmeasured", "dns_error"],
    ],
  );
  assert.deepEqual(json.findings.map((f) => f.code), ["origin_unmeasured", "origin_unmeasured", "origin_unmeasured"]);
});

test("HEAD answered 405: the probe falls back to GET (once) and still reads the Date header", async () => {
  await server.config({ issuer_offset_s: -1.7 });
  const heads = logCount("tcserver: token HEAD /token 405");
  const gets = logCount("tcserver: token GET /token 405");
  const { code, json } = await skewJson([info.token_url, "--samples", "4"]);
  assert.equal(code, 1);
  const [o] = json.origins;
  assertMeasured(o, -1_700, 1_000);
  assert.equal(o.samples, 4);
  // tcserver's --verbose log shows a 405 twice (a quirk of its logging), so compare ratios:
  // one HEAD, then a GET for each of the 4 samples.
  const headLines = logCount("tcserver: token HEAD /token 405") - heads;
  const getLines = logCount("tcserver: token GET /token 405") - gets;
  assert.ok(headLines > 0, "a HEAD was tried");
  assert.equal(getLines, 4 * headLines, `one HEAD, then GET for every sample (${headLines} HEAD, ${getLines} GET lines)`);
});

// ----- inspect --server --------------------------------------------------------------------------

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");

test("inspect --server: the token's times on a server 2.3 s ahead, from the measured interval", async () => {
  await server.config({ api_offset_s: 2.3 });
  const now = Math.floor(Date.now() / 1000);
  const token = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub: "svc", iat: now - 10, exp: now + 600 })}.c2lnbmF0dXJl`;
  const r = await cli(["inspect", token, "--server", info.health_url, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  const json = JSON.parse(r.stdout);
  const s = json.server;
  assert.equal(s.origin, info.health_url);
  assert.ok(s.low_ms <= 2_300 && 2_300 <= s.high_ms, `[${s.low_ms}, ${s.high_ms}]`);
  assert.ok(s.high_ms - s.low_ms < 300);
  // exp − server now = exp − (local now + offset).
  assert.equal(json.times.exp.server_delta_ms, json.times.exp.delta_ms - s.offset_ms);
  assert.equal(json.state.name, "fresh");
  const text = await cli(["inspect", token, "--server", info.health_url]);
  assert.equal(text.code, 0);
  assert.match(text.stdout, new RegExp(`^server  ${info.health_url.replace(/[.]/g, "\\.")}: offset \\+2\\.\\d{3} s \\(server − local\\)`, "m"));
});

test("inspect --server with an unreachable server prints that server's skew report, exit 2", async () => {
  const port = await closedPort();
  const token = `${b64({ alg: "HS256" })}.${b64({ iat: 1_700_000_000, exp: 1_700_000_300 })}.c2ln`;
  const r = await cli(["inspect", token, "--server", `http://127.0.0.1:${port}/`]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "");
  assert.match(r.stdout, /error: connect_error/);
  assert.match(r.stdout, /^result  origin_unmeasured/m);
});

test("inspect --server with a malformed token fails at once, without measuring", async () => {
  const probes = logCount("tcserver: api HEAD /health 200");
  const r = await cli(["inspect", "not-a-token", "--server", info.health_url]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr, "tokenclock inspect: error: cannot read the token: token has 1 '.'-separated segment(s); a compact JWS has 3\n");
  assert.equal(logCount("tcserver: api HEAD /health 200"), probes, "no request was sent");
});
