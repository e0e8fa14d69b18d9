// The shared adapter conformance scenarios (tests/vectors/adapters/*.json, format in the README
// beside them), run through createFetch against the real loopback servers. The Python runner
// (python/tests/test_adapter_scenarios.py) runs the same files through httpx (sync and async)
// and requests with the same expectations.
//
// A scenario marked "pending" must still fail here: it is run, and the test fails if it passes
// (then remove "pending" from the JSON).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { createFetch, TokenClockError } from "tokenclock";
import { SERVER, shiftedClock, within } from "./fixtures/tcserver.js";

const DIR = fileURLToPath(new URL("../../tests/vectors/adapters/", import.meta.url));
const SCENARIOS = readdirSync(DIR)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => {
    const s = JSON.parse(readFileSync(DIR + f, "utf8"));
    assert.equal(`${s.name}.json`, f, `${f}: name must be the file name`);
    return s;
  });
const SCENARIO_BOUND_MS = 60_000;
const PYTHON = process.env.PYTHON ?? "python3";

let server;

/** tcserver with one Date origin (the second origin of the cross-origin redirect). */
async function start() {
  const proc = spawn(PYTHON, [SERVER, "--origins", "1", "--exit-on-stdin-eof", "--max-lifetime-s", "900"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: proc.stdout });
  const first = await within(15_000, new Promise((resolve) => lines.once("line", resolve)), "tcserver start");
  lines.close();
  const info = JSON.parse(first);
  async function control(method, path, body) {
    const response = await fetch(`${info.control_url}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json();
    if (!response.ok) throw new Error(`tcserver ${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  }
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  return {
    info,
    config: (settings) => control("POST", "/config", settings),
    stats: () => control("GET", "/stats"),
    reset: () => control("POST", "/reset", { config: true }),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.stdin.end();
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

before(async () => {
  server = await start();
});
after(() => server?.stop());

/** A loopback token URL where nothing listens (a port just released). */
async function refusedUrl() {
  const s = createServer();
  await new Promise((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return `http://127.0.0.1:${port}/token`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** createFetch options from the scenario's session knobs (seconds → milliseconds). */
function sessionOptions(knobs) {
  const ms = (s) => Math.round(s * 1000);
  const out = {};
  const backoff = {};
  const policy = {};
  for (const [k, v] of Object.entries(knobs)) {
    if (k === "backoff_base_s") backoff.baseMs = ms(v);
    else if (k === "backoff_cap_s") backoff.capMs = ms(v);
    else if (k === "max_retry_after_s") backoff.maxRetryAfterMs = ms(v);
    else if (k === "max_wait_s") policy.maxWaitMs = ms(v);
    else if (k === "max_401_wait_s") out.max401WaitMs = ms(v);
    else if (k === "config_retry_s") backoff.configRetryMs = ms(v);
    else if (k === "token_timeout_s") out.tokenTimeoutMs = ms(v);
    else if (k === "seed") out.seed = v;
    else throw new Error(`unknown session knob ${k}`);
  }
  if (Object.keys(backoff).length > 0) out.backoff = backoff;
  if (Object.keys(policy).length > 0) out.policy = policy;
  return out;
}

function errorOutcome(e) {
  if (e instanceof TokenClockError && typeof e.code === "string") return { error: e.code };
  return { error: `untyped:${e?.name ?? typeof e}` };
}

/** Runs one scenario; resolves to the list of mismatches (empty: as expected). */
async function runScenario(s) {
  const info = server.info;
  const origin0 = info.origins[0].replace(/\/$/, "");
  const subst = (v) =>
    typeof v === "string"
      ? v.replaceAll("{origin0}", origin0)
      : Array.isArray(v)
        ? v.map(subst)
        : v !== null && typeof v === "object"
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, subst(x)]))
          : v;
  const clock = shiftedClock();
  const base = { issuer_offset_s: 0, api_offset_s: 0, origin_offsets_s: [0] };
  const shifted = () => {
    const sh = clock.shiftMs() / 1000;
    return {
      issuer_offset_s: base.issuer_offset_s + sh,
      api_offset_s: base.api_offset_s + sh,
      origin_offsets_s: (base.origin_offsets_s.length ? base.origin_offsets_s : [0]).map((x) => x + sh),
    };
  };
  async function configure(settings) {
    const update = subst({ ...settings });
    for (const k of ["issuer_offset_s", "api_offset_s"]) if (k in update) base[k] = Number(update[k]);
    if ("origin_offsets_s" in update) base.origin_offsets_s = update.origin_offsets_s.map(Number);
    await server.config({ ...update, ...shifted() });
  }

  await server.reset();
  await configure(s.server ?? {});
  const tokenUrl = s.token_endpoint === "refused" ? await refusedUrl() : info.token_url;
  const tcFetch = createFetch({
    tokenUrl,
    clientId: "demo-client",
    clientSecret: "demo-secret",
    clock,
    ...sessionOptions(s.session ?? {}),
  });
  const mismatches = [];

  async function one(call) {
    const init = { method: call.method ?? "GET", redirect: call.follow_redirects ? "follow" : "manual" };
    if (call.body === "bytes") init.body = "payload=1";
    else if (call.body === "stream") {
      const parts = ["part one, ", "part two"];
      init.body = new ReadableStream({
        pull(controller) {
          const next = parts.shift();
          if (next === undefined) controller.close();
          else controller.enqueue(new TextEncoder().encode(next));
        },
      });
      init.duplex = "half";
    }
    try {
      const response = await tcFetch(`${info.api_base}${call.path}`, init);
      await response.arrayBuffer();
      return { status: response.status };
    } catch (e) {
      return errorOutcome(e);
    }
  }

  async function counters() {
    const st = await server.stats();
    const f = tcFetch.stats();
    const origin = st.origins[0];
    return {
      token_requests: st.token.requests,
      token_issued: st.token.issued,
      api_requests: st.api.requests,
      api_401: st.api.responses_401,
      origin_requests: origin.requests,
      origin_with_authorization: origin.with_authorization ?? 0,
      session_token_requests: f.session.tokenRequests,
      session_refreshes: f.session.refreshes,
      session_failures: f.session.failures,
      session_unauthorized: f.session.unauthorized,
      session_retries: f.session.retries,
      retries_sent: f.retries,
      returned_401: f.returned401,
      clock_skew_errors: f.clockSkewErrors,
      resource_offset_s: tcFetch.session.estimates().resource.offsetMs / 1000,
    };
  }

  for (const [i, step] of s.steps.entries()) {
    if ("call" in step) {
      const n = step.concurrent ?? 1;
      const t0 = performance.now();
      const outcomes = await Promise.all(Array.from({ length: n }, () => one(step.call)));
      const elapsed = (performance.now() - t0) / 1000;
      const bad = outcomes.findIndex((o) => JSON.stringify(o) !== JSON.stringify(step.expect));
      if (bad >= 0) {
        mismatches.push(`step ${i} call ${bad}: expected ${JSON.stringify(step.expect)}, got ${JSON.stringify(outcomes[bad])}`);
      }
      if (step.max_elapsed_s !== undefined && elapsed > step.max_elapsed_s) {
        mismatches.push(`step ${i}: took ${elapsed.toFixed(2)} s, bound ${step.max_elapsed_s} s`);
      }
      if (step.min_elapsed_s !== undefined && elapsed < step.min_elapsed_s) {
        mismatches.push(`step ${i}: took ${elapsed.toFixed(2)} s, at least ${step.min_elapsed_s} s expected`);
      }
    } else if ("config" in step) {
      await configure(step.config);
    } else if ("advance_s" in step) {
      clock.advance(step.advance_s * 1000);
      await server.config(shifted());
    } else if ("sleep_s" in step) {
      await sleep(step.sleep_s * 1000);
    } else if ("settle" in step) {
      // A stale token's refresh runs in the background here: wait for it (bounded).
      const until = Date.now() + 10_000;
      while (tcFetch.stats().refreshInFlight && Date.now() < until) await sleep(10);
      if (tcFetch.stats().refreshInFlight) mismatches.push(`step ${i}: background refresh still in flight after 10 s`);
    } else if ("check" in step) {
      const got = await counters();
      for (const [key, want] of Object.entries(step.check)) {
        if (key === "resource_offset_abs_max_s") {
          const off = got.resource_offset_s;
          if (!(Math.abs(off) <= want)) mismatches.push(`step ${i}: resource offset ${off.toFixed(3)} s, |.| > ${want}`);
          continue;
        }
        if (!(key in got)) throw new Error(`unknown counter ${key}`);
        const actual = got[key];
        const ok =
          want !== null && typeof want === "object"
            ? (want.min ?? actual) <= actual && actual <= (want.max ?? actual)
            : actual === want;
        if (!ok) mismatches.push(`step ${i}: ${key} expected ${JSON.stringify(want)}, got ${actual}`);
      }
    } else {
      throw new Error(`step ${i}: unknown step ${JSON.stringify(step)}`);
    }
  }
  return mismatches;
}

/** `pending` applies to every adapter unless `pending_adapters` names some. */
const isPending = (s) => Boolean(s.pending) && (s.pending_adapters === undefined || s.pending_adapters.includes("createFetch"));

for (const s of SCENARIOS) {
  const pending = isPending(s);
  const title = pending ? `${s.name} [createFetch] (pending: ${s.pending})` : `${s.name} [createFetch]`;
  test(title, async () => {
    let mismatches;
    try {
      mismatches = await within(SCENARIO_BOUND_MS, runScenario(s), s.name);
    } catch (e) {
      if (pending) return; // a hang or a harness error counts as "still failing"
      throw e;
    }
    if (pending) {
      assert.ok(
        mismatches.length > 0,
        `${s.name} is marked pending ("${s.pending}") but now passes with createFetch: remove "pending" from tests/vectors/adapters/${s.name}.json`,
      );
      return;
    }
    assert.deepEqual(mismatches, [], `${s.name} [createFetch]:\n  ${mismatches.join("\n  ")}`);
  });
}
