// `npx tokenclock`: the command line in Node. Parses the arguments (args.js, values through the
// core's parsers), does the I/O (io.js, probe.js), reads the clocks, and returns what the core
// rendered (docs/cli.md). Every report, error message and exit code comes from the core, so the
// output is byte-identical to the Python console script's.
import { COMMAND_SPECS, flag, option, options, positionals, scan } from "./args.js";
import * as core from "./core.js";
import {
  InputFailure,
  KEY_FILE_LIMIT,
  TOKEN_STDIN_LIMIT,
  decodeUtf8,
  makeClock,
  outputOf,
  readChunks,
  readFileLimited,
  readStreamLimited,
  useColor,
} from "./io.js";
import { plan } from "./probe.js";

/** `--max-offset` default (ms): docs/cli.md. */
const DEFAULT_MAX_OFFSET_MS = 1000;

/**
 * A usage problem found by a command (rendered with core's usageError / argumentError /
 * inputError by `run`).
 */
class Usage extends Error {
  constructor(message) {
    super(message);
    this.name = "Usage";
  }
}

/** Calls a core parser; its invalid_argument error becomes the rendered argument error. */
function parsed(command, fn) {
  try {
    return { value: fn() };
  } catch (error) {
    if (error?.reportError instanceof core.ReportError) return { rendered: core.argumentError(command, error.reportError) };
    throw error;
  }
}

/** `http://` or `https://` (any case): what `skew` and `--server` accept. */
function checkUrl(url) {
  if (!/^https?:\/\//i.test(url)) throw new Usage(`expected an http:// or https:// URL, got '${url}'`);
}

// ----- inspect -----------------------------------------------------------------------------

const KEY_OPTIONS = ["--alg", "--leeway", "--iss", "--aud"];

async function inspect(args, ctx) {
  const cmd = "inspect";
  let leewayMs = null;
  for (const item of args.items) {
    if (item.kind === "option" && item.name === "--leeway") {
      const r = parsed(cmd, () => core.parseSecondsArg("--leeway", item.value));
      if (r.rendered) return r.rendered;
      leewayMs = r.value;
    } else if (item.kind === "option" && item.name === "--server") {
      checkUrl(item.value);
    }
  }
  const [tokenArg] = positionals(args);
  if (tokenArg === undefined) throw new Usage("missing TOKEN (give the token, or - to read it from standard input)");
  const keyPath = option(args, "--key");
  const jwksPath = option(args, "--jwks");
  if (keyPath !== null && jwksPath !== null) throw new Usage("give --key or --jwks, not both");
  if (keyPath === null && jwksPath === null) {
    const stray = args.items.find((item) => item.kind === "option" && KEY_OPTIONS.includes(item.name));
    if (stray) throw new Usage(`${stray.name} needs --key or --jwks`);
  }
  const server = option(args, "--server");

  const token = tokenArg === "-" ? decodeUtf8(await readStreamLimited(ctx.stdin, TOKEN_STDIN_LIMIT)) : tokenArg;
  let key = null;
  if (keyPath !== null || jwksPath !== null) {
    const alg = option(args, "--alg");
    key = {
      kind: keyPath !== null ? "key" : "jwks",
      contents: await readFileLimited(keyPath ?? jwksPath, KEY_FILE_LIMIT),
      algorithms: alg === null ? [] : alg.split(","),
      leewayMs,
      issuer: option(args, "--iss"),
      audience: options(args, "--aud"),
    };
  }
  const first = core.inspect(token, ctx.clock().wallMs, { key, color: ctx.color });
  // A token, key or option the core refuses is refused whatever the server's clock says:
  // report it before measuring anything.
  if (server === null || first.stream === "stderr") return first;

  const measure = plan({ name: server, source: "date", url: server }, null, ctx.clock);
  const origin = await measure();
  if (origin.estimate.samples === 0) return core.skew([origin], DEFAULT_MAX_OFFSET_MS, ctx.color);
  return core.inspect(token, ctx.clock().wallMs, {
    key,
    color: ctx.color,
    server: { origin: server, estimate: origin.estimate },
  });
}

// ----- skew --------------------------------------------------------------------------------

async function skew(args, ctx) {
  const cmd = "skew";
  let samples = null;
  let maxOffsetMs = DEFAULT_MAX_OFFSET_MS;
  const origins = [];
  for (const item of args.items) {
    let r = null;
    if (item.kind === "positional") {
      checkUrl(item.value);
      origins.push({ name: item.value, source: "date", url: item.value });
    } else if (item.name === "--ntp") {
      r = parsed(cmd, () => core.parseHostPort(item.value, 123));
      if (r.value) origins.push({ name: `ntp:${item.value}`, source: "sntp", host: r.value.host, port: r.value.port });
    } else if (item.name === "--samples") {
      // Digits first, then the probe's own range (1 to 64): both are the core's words.
      r = parsed(cmd, () => {
        const n = core.parseCountArg("--samples", item.value, 0xffff_ffff);
        new core.SkewProbe("-", "date", n).free();
        return n;
      });
      samples = r.value ?? null;
    } else if (item.name === "--max-offset") {
      r = parsed(cmd, () => core.parseSecondsArg("--max-offset", item.value));
      if (r.value !== undefined) maxOffsetMs = r.value;
    }
    if (r?.rendered) return r.rendered;
  }
  if (origins.length === 0) return core.skew([], maxOffsetMs, ctx.color);
  // The core checks --max-offset when it renders; ask it now, before minutes of measuring.
  const unmeasured = { name: "-", source: "date", estimate: null, rttMs: null, discarded: 0, error: null };
  const check = core.skew([unmeasured], maxOffsetMs, false);
  if (check.stream === "stderr") return check;

  const runs = [];
  for (const origin of origins) {
    const r = parsed(cmd, () => plan(origin, samples, ctx.clock));
    if (r.rendered) return r.rendered;
    runs.push(r.value);
  }
  const measured = await Promise.all(runs.map((measure) => measure()));
  return core.skew(measured, maxOffsetMs, ctx.color);
}

// ----- ages --------------------------------------------------------------------------------

async function ages(args, ctx) {
  const cmd = "ages";
  const [path = "-"] = positionals(args);
  const timeField = option(args, "--time-field");
  const r = parsed(cmd, () => new core.AgesCollector(timeField));
  if (r.rendered) return r.rendered;
  const collector = r.value;
  await readChunks(path === "-" ? null : path, ctx.stdin, (chunk) => collector.feedBytes(chunk, ctx.clock().wallMs));
  collector.finish(ctx.clock().wallMs);
  return flag(args, "--prometheus") ? collector.renderPrometheus() : collector.render(ctx.color);
}

// ----- simulate ----------------------------------------------------------------------------

async function simulate(args, ctx) {
  let cell = null;
  for (const item of args.items) {
    if (item.kind !== "option" || item.name === "--timeline") continue;
    const r = parsed("simulate", () => core.parseCellArg(cell, item.name, item.value));
    if (r.rendered) return r.rendered;
    cell = r.value;
  }
  return core.simulate(cell, flag(args, "--timeline"), ctx.color);
}

const COMMANDS = { inspect, skew, ages, simulate };

// ----- entry ---------------------------------------------------------------------------------

/** A one-line description of an unexpected error: its code or class name, never its message. */
function describe(error) {
  const code = typeof error?.code === "string" && /^[a-z][a-z0-9_]{0,40}$/.test(error.code) ? error.code : null;
  const name = typeof error?.name === "string" && /^[A-Za-z]{1,40}$/.test(error.name) ? error.name : "error";
  return code ?? name;
}

/**
 * Runs the command line. `argv`: the arguments after `tokenclock`; `ctx`: `{ env, stdin,
 * stdout }` (stdout only to decide on colour). Resolves to `{ text, stream, exitCode }`; never
 * rejects.
 */
export async function run(argv, { env, stdin, stdout }) {
  const args = scan(argv);
  const command = args.command;
  try {
    if (args.help) return outputOf(core.help(command), args.json);
    if (args.error !== null) return outputOf(core.usageError(command, args.error), args.json);
    const clock = parsed(command, () => makeClock(env));
    if (clock.rendered) return outputOf(clock.rendered, args.json);
    const ctx = { clock: clock.value, stdin, color: useColor(stdout, env) };
    if (!Object.hasOwn(COMMAND_SPECS, command)) return outputOf(core.usageError(null, "missing command"), args.json);
    return outputOf(await COMMANDS[command](args, ctx), args.json);
  } catch (error) {
    if (error instanceof Usage) return outputOf(core.usageError(command, error.message), args.json);
    if (error instanceof InputFailure) return outputOf(core.inputError(command, error.what, error.problem), args.json);
    return outputOf(core.usageError(command, `internal error (${describe(error)})`), args.json);
  }
}

