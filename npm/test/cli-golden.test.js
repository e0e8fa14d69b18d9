// The golden cases (tests/golden/*.json, the contract of docs/cli.md) replayed by the Node
// front-end, byte for byte:
//
// * every case with an `argv`, through the real CLI (`node npm/bin/tokenclock.js ARGV`, stdin
//   and a key file as the case says, the clock injected with TOKENCLOCK_FAKE_NOW_MS), once as
//   text and once with --json: stdout, stderr and the exit code;
// * every case (with or without `argv`), through the wasm report bindings directly;
// * every SkewProbe transcript (tests/golden/skew-probe.json) through the SkewProbe binding.
//
// Field meanings: the top of core/tests/report.rs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import * as core from "../cli/core.js";
import { BIN, GOLDEN_FILES, cleanEnv, golden, goldenStdin, jsonText, runCli } from "./cli-helpers.js";

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

// ----- the same cases through the bindings -------------------------------------------------------

function estimateOf(o) {
  return { offsetMs: o.offset_ms, lowMs: o.low_ms, highMs: o.high_ms, agreeing: o.agreeing, samples: o.samples };
}

function argumentOr(command, fn) {
  try {
    return { value: fn() };
  } catch (e) {
    assert.ok(e.reportError instanceof core.ReportError, `a ReportError is attached (${e})`);
    assert.equal(e.code, "invalid_argument");
    assert.equal(e.name, "TokenClockError");
    return { rendered: core.argumentError(command, e.reportError) };
  }
}

function renderCase(c) {
  const i = c.input;
  switch (c.command) {
    case "inspect":
      return core.inspect(i.token, i.now_ms, {
        color: i.color,
        server: i.server && { origin: i.server.origin, estimate: estimateOf(i.server) },
        key: i.key && {
          kind: i.key.kind,
          contents: i.key.contents,
          algorithms: i.key.alg,
          leewayMs: i.key.leeway_ms,
          issuer: i.key.iss,
          audience: i.key.aud,
        },
      });
    case "skew":
      return core.skew(
        i.origins.map((o) => ({
          name: o.name,
          source: o.source,
          estimate: estimateOf(o),
          rttMs: o.rtt_ms,
          discarded: o.discarded,
          error: o.error,
        })),
        i.max_offset_ms,
        i.color,
      );
    case "ages": {
      const made = argumentOr("ages", () => new core.AgesCollector(i.time_field));
      if (made.rendered) return made.rendered;
      const collector = made.value;
      for (const line of i.lines) collector.feedLine(line, i.now_ms);
      collector.finish(i.now_ms);
      return i.prometheus ? collector.renderPrometheus() : collector.render(i.color);
    }
    case "simulate": {
      let cell = null;
      for (const [flag, value] of i.args) {
        const r = argumentOr("simulate", () => core.parseCellArg(cell, flag, value));
        if (r.rendered) return r.rendered;
        cell = r.value;
      }
      return core.simulate(cell, i.timeline, i.color);
    }
    case "error":
      if (i.kind === "usage") return core.usageError(i.command, i.message);
      if (i.kind === "input") return core.inputError(i.command, i.what, i.problem);
      return core.help(i.command);
    default:
      throw new Error(`unknown golden command ${c.command}`);
  }
}

for (const { name, cases } of suites) {
  test(`bindings: every ${name} golden case renders byte for byte`, () => {
    for (const c of cases) {
      const r = renderCase(c);
      assert.equal(r.text, c.expected_text, `${c.id} text`);
      assert.equal(r.json, jsonText(c.expected_json), `${c.id} json`);
      assert.equal(r.exitCode, c.exit_code, `${c.id} exit code`);
      assert.equal(r.stream, c.stream, `${c.id} stream`);
    }
  });
}

// ----- SkewProbe transcripts ---------------------------------------------------------------------

const reading = (r) => ({ wallMs: r.wall_ms, monoMs: r.mono_ms });
const hex = (bytes) => Buffer.from(bytes).toString("hex");

test("bindings: every SkewProbe transcript (skew-probe.json) makes the same requests at the same moments", () => {
  const { cases } = golden("skew-probe");
  assert.equal(cases.length, 9);
  for (const c of cases) {
    const { name, source, samples, events } = c.input;
    const probe = new core.SkewProbe(name, source, samples);
    events.forEach((e, n) => {
      const at = `${c.id} event ${n}`;
      if (e.poll) {
        const action = probe.poll(reading(e.poll));
        const want =
          e.expect.action === "send"
            ? { action: "send", waitMs: e.expect.wait_ms, sendAt: reading(e.expect.send_at), timeoutMs: e.expect.timeout_ms }
            : { action: "done" };
        assert.deepEqual(action, want, at);
        // isDone(): every exchange made or an error; poll() may also stop on a narrow interval.
        if (probe.isDone()) assert.equal(action.action, "done", at);
      } else if (e.date_response) {
        const d = e.date_response;
        probe.onDateResponse(d.date, d.age, reading(d.sent), reading(d.received));
      } else if (e.sntp_request) {
        const packet = probe.sntpRequest(reading(e.sntp_request.now), e.sntp_request.entropy);
        assert.ok(packet instanceof Uint8Array, at);
        assert.equal(hex(packet), e.expect_packet_hex, at);
      } else if (e.sntp_reply) {
        probe.onSntpReply(new Uint8Array(Buffer.from(e.sntp_reply.hex, "hex")), reading(e.sntp_reply.received));
      } else if (e.error !== undefined) {
        probe.onError(e.error);
      } else if (e.origin_at) {
        const o = probe.origin(reading(e.origin_at));
        assert.deepEqual(
          {
            name: o.name,
            source: o.source,
            offset_ms: o.estimate.offsetMs,
            low_ms: o.estimate.lowMs,
            high_ms: o.estimate.highMs,
            agreeing: o.estimate.agreeing,
            samples: o.estimate.samples,
            rtt_ms: o.rttMs,
            discarded: o.discarded,
            error: o.error,
          },
          e.expect,
          at,
        );
      } else {
        assert.fail(`${at}: unknown event ${JSON.stringify(Object.keys(e))}`);
      }
    });
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
