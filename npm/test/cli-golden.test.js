// The golden cases (tests/golden/*.json, the contract of docs/cli.md) replayed by the Node
// front-end, byte for byte:
//
// * every case with an `argv`, through the real CLI (`node npm/bin/tokenclock.js ARGV`, stdin
//   and a key file as the case says, the clock injected with TOKENCLOCK_FAKE_NOW_MS), once as
//   text and once with --json: stdout, stderr and the exit code;
// * every case the CLI can make (those with an `argv`, the colour cases on a terminal), through
//   the core's CliRun in this process (cli-machine.js), text and --json;
// * every SkewProbe transcript (tests/golden/skew-probe.json) through CliRun's measurement:
//   `skew URL|--ntp HOST --json` with each exchange answered as the transcript says.
//
// Field meanings: the top of core/tests/report.rs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { CliRun } from "../cli/core.js";
import { BIN, GOLDEN_FILES, cleanEnv, golden, goldenStdin, jsonText, runCli } from "./cli-helpers.js";
import { drive } from "./cli-machine.js";

let dir;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "tokenclock-cli-golden-"));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const suites = GOLDEN_FILES.map((name) => ({ name, cases: golden(name).cases }));
const cliCases = suites.flatMap(({ cases }) => cases.filter((c) => Array.isArray(c.argv)));

test("the golden files have CLI-replayable cases in every suite", () => {
  const counts = Object.fromEntries(suites.map(({ name, cases }) => [name, cases.filter((c) => c.argv).length]));
  assert.deepEqual(counts, { inspect: 17, skew: 1, ages: 9, simulate: 4, errors: 4 });
});

function argvFor(c) {
  const key = c.input?.key;
  return c.argv.map((arg) => {
    if (arg !== "{key_file}") return arg;
    const path = join(dir, `${c.id}.key`);
    writeFileSync(path, key.contents);
    return path;
  });
}

function envFor(c) {
  return cleanEnv(c.input?.now_ms === undefined ? {} : { TOKENCLOCK_FAKE_NOW_MS: String(c.input.now_ms) });
}

for (const c of cliCases) {
  test(`CLI ${c.id}: text, stream and exit code`, async () => {
    const r = await runCli(argvFor(c), { stdin: goldenStdin(c), env: envFor(c) });
    assert.equal(r.code, c.exit_code, `exit code (stderr: ${r.stderr})`);
    if (c.stream === "stdout") {
      assert.equal(r.stdout, c.expected_text);
      assert.equal(r.stderr, "");
    } else {
      assert.equal(r.stderr, c.expected_text);
      assert.equal(r.stdout, "");
    }
  });

  test(`CLI ${c.id} --json: the JSON on stdout, byte for byte`, async () => {
    const r = await runCli([...argvFor(c), "--json"], { stdin: goldenStdin(c), env: envFor(c) });
    assert.equal(r.code, c.exit_code, `exit code (stderr: ${r.stderr})`);
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, jsonText(c.expected_json));
    assert.deepEqual(JSON.parse(r.stdout), c.expected_json);
  });
}

// ----- the same cases through the machine, in this process -------------------------------------

// Golden cases without an `argv` that the machine replays all the same: the colour cases on a
// terminal, and a usage message that would echo a token. The others need measured clocks (the
// `skew` reports, `inspect --server`): core/tests/report.rs renders them, and the SkewProbe
// transcripts below drive the machine's measurements through this binding.
const MACHINE_RUNS = {
  "cli-inspect-color": (i) => ({ argv: ["inspect", i.token] }),
  "cli-ages-color": (i) => ({ argv: ["ages"], stdin: i.lines.map((line) => `${line}\n`).join("") }),
  "cli-simulate-cached-issuer": (i) => ({ argv: ["simulate", ...i.args.flat(), ...(i.timeline ? ["--timeline"] : [])] }),
  "cli-error-usage-redacts-token": (i) => ({ argv: [i.command, "x", /'([^']*)'$/.exec(i.message)[1]] }),
};

const KEY_PATH = "golden.key";

/** How the machine replays a golden case (`null`: it needs measured clocks). */
function machineRun(c) {
  const i = c.input;
  const env = i.now_ms === undefined ? {} : { TOKENCLOCK_FAKE_NOW_MS: String(i.now_ms) };
  if (Array.isArray(c.argv)) {
    const argv = c.argv.map((a) => (a === "{key_file}" ? KEY_PATH : a));
    const files = i.key ? { [KEY_PATH]: i.key.contents } : {};
    return { argv, stdin: goldenStdin(c), files, env, terminal: false };
  }
  const made = MACHINE_RUNS[c.id]?.(i);
  return made ? { stdin: "", files: {}, env, terminal: i.color === true, ...made } : null;
}

for (const { name, cases } of suites) {
  test(`machine: every ${name} golden case the CLI can make renders byte for byte (text and --json)`, () => {
    for (const c of cases) {
      const m = machineRun(c);
      if (m === null) {
        assert.ok(c.command === "skew" || c.input.server, `${c.id} needs a measured clock`);
        continue;
      }
      const { argv, ...options } = m;
      const r = drive(argv, options);
      assert.equal(r.text, c.expected_text, `${c.id} text`);
      assert.equal(r.stream, c.stream, `${c.id} stream`);
      assert.equal(r.exitCode, c.exit_code, `${c.id} exit code`);
      const j = drive([...argv, "--json"], options);
      assert.equal(j.text, jsonText(c.expected_json), `${c.id} json`);
      assert.equal(j.stream, "stdout", `${c.id} json stream`);
      assert.equal(j.exitCode, c.exit_code, `${c.id} json exit code`);
    }
  });
}

test("machine: the golden cases it cannot replay are exactly those with measured clocks", () => {
  const left = suites.flatMap(({ cases }) => cases.filter((c) => machineRun(c) === null).map((c) => c.id));
  assert.deepEqual(left, [
    "cli-inspect-server",
    "cli-inspect-worst-case-expired",
    "cli-skew-ok",
    "cli-skew-may-exceed",
    "cli-skew-beyond",
    "cli-skew-custom-limit",
    "cli-skew-unbounded",
    "cli-skew-unmeasured",
    "cli-skew-color",
  ]);
});

// ----- SkewProbe transcripts through the machine --------------------------------------------------

const reading = (r) => ({ wallMs: r.wall_ms, monoMs: r.mono_ms });
const hex = (bytes) => Buffer.from(bytes).toString("hex");

test("machine: every SkewProbe transcript (skew-probe.json) makes the same requests at the same moments", () => {
  const { cases } = golden("skew-probe");
  assert.equal(cases.length, 9);
  for (const c of cases) {
    const { name, source, samples, events } = c.input;
    const ntp = source === "sntp" ? /^ntp:(.*):(\d+)$/.exec(name) : null;
    const argv = ["skew", ...(ntp ? ["--ntp", `${ntp[1]}:${ntp[2]}`] : [name])];
    if (samples !== null) argv.push("--samples", String(samples));
    const run = new CliRun([...argv, "--json"], {}, false);
    let report = null;
    events.forEach((e, n) => {
      const at = `${c.id} event ${n}`;
      if (e.poll) {
        let action = run.poll(reading(e.poll));
        if (e.expect.action === "done") {
          // The measurement is over: the machine prints the skew report at once.
          assert.equal(action.action, "write", at);
          assert.equal(action.stream, "stdout", at);
          report = JSON.parse(action.text);
          assert.deepEqual(run.poll(reading(e.poll)), { action: "exit", code: report.exit_code }, at);
          return;
        }
        if (e.expect.wait_ms > 0) {
          // The executor sleeps until the instant the probe chose, then polls again.
          assert.deepEqual(action, { action: "wait", waitMs: e.expect.wait_ms }, at);
          action = run.poll(reading(e.expect.send_at));
        }
        assert.equal(action.id, 0, at);
        assert.equal(action.timeoutMs, e.expect.timeout_ms, at);
        if (ntp) {
          assert.deepEqual([action.action, action.host, action.port], ["sntp", ntp[1], Number(ntp[2])], at);
        } else {
          assert.deepEqual([action.action, action.url, action.method], ["http", name, "HEAD"], at);
          assert.ok(action.headers.some(([k, v]) => k === "Cache-Control" && v === "no-cache"), at);
        }
      } else if (e.date_response) {
        const d = e.date_response;
        run.onHttpResponse(0, 200, d.date, d.age, reading(d.sent), reading(d.received));
      } else if (e.sntp_request) {
        const packet = run.sntpPacket(0, reading(e.sntp_request.now), e.sntp_request.entropy);
        assert.ok(packet instanceof Uint8Array, at);
        assert.equal(hex(packet), e.expect_packet_hex, at);
      } else if (e.sntp_reply) {
        run.onSntpReply(0, new Uint8Array(Buffer.from(e.sntp_reply.hex, "hex")), reading(e.sntp_reply.received));
      } else if (e.error !== undefined) {
        run.onTransportError(0, e.error);
      } else if (e.origin_at) {
        assert.ok(report, `${at}: the report was printed`);
        const [origin] = report.origins;
        const got = Object.fromEntries(Object.keys(e.expect).map((k) => [k, origin[k]]));
        // The report shows no offset for an origin without a sample (the probe's is 0).
        if (origin.samples === 0) {
          assert.equal(origin.offset_ms, null, at);
          got.offset_ms = 0;
        }
        assert.deepEqual(got, e.expect, at);
      } else {
        assert.fail(`${at}: unknown event ${JSON.stringify(Object.keys(e))}`);
      }
    });
    assert.ok(report, `${c.id}: the run ended`);
  }
});

// ----- colour: the golden colour cases on a real terminal ------------------------------------------

const shellQuote = (s) => `'${s.replace(/'/g, "'\\''")}'`;
const hasScript = (() => {
  try {
    return statSync("/usr/bin/script").isFile();
  } catch {
    return false;
  }
})();

/** Runs the CLI on a pseudo-terminal (util-linux `script`), so stdout is a TTY. */
async function onTerminal(args, env) {
  const line = [process.execPath, BIN, ...args].map(shellQuote).join(" ");
  const r = await runCli(["-qec", line, "/dev/null"], { command: "/usr/bin/script", prefix: [], env });
  return { ...r, stdout: r.stdout.replace(/\r\n/g, "\n") };
}

test("colour on a terminal: the golden colour cases (inspect, ages, simulate) byte for byte; NO_COLOR turns it off", { skip: !hasScript && "no util-linux script(1) for a pseudo-terminal" }, async () => {
  const byId = (file, id) => golden(file).cases.find((c) => c.id === id);
  const inspectCase = byId("inspect", "cli-inspect-color");
  const agesCase = byId("ages", "cli-ages-color");
  const simulateCase = byId("simulate", "cli-simulate-cached-issuer");
  const log = join(dir, "ages-color.log");
  writeFileSync(log, agesCase.input.lines.map((l) => `${l}\n`).join(""));
  const runs = [
    [inspectCase, ["inspect", inspectCase.input.token]],
    [agesCase, ["ages", log]],
    [simulateCase, ["simulate", ...simulateCase.input.args.flat()]],
  ];
  for (const [c, args] of runs) {
    const env = envFor(c);
    const r = await onTerminal(args, env);
    assert.equal(r.stdout, c.expected_text, `${c.id} on a terminal`);
    assert.equal(r.code, c.exit_code, c.id);
    assert.match(r.stdout, /\u001b\[1m/, `${c.id} is coloured`);
    const plain = await onTerminal(args, { ...env, NO_COLOR: "1" });
    assert.doesNotMatch(plain.stdout, /\u001b\[/, `${c.id} with NO_COLOR`);
    const json = await onTerminal([...args, "--json"], env);
    assert.equal(json.stdout, jsonText(c.expected_json), `${c.id} --json is never coloured`);
  }
});
