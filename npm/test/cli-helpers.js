// Shared by the command-line tests (cli*.test.js): run `node npm/bin/tokenclock.js` as a real
// subprocess, print JSON the way core's `Rendered::json_text` does, read the golden files, and
// start the loopback servers (tests/servers/tcserver.py) with Date origins and SNTP.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const BIN = fileURLToPath(new URL("../bin/tokenclock.js", import.meta.url));
const SERVER = fileURLToPath(new URL("../../tests/servers/tcserver.py", import.meta.url));
const PYTHON = process.env.PYTHON ?? "python3";

/** An environment without colour or clock overrides from the caller's shell. */
export function cleanEnv(extra = {}) {
  const env = { ...process.env };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  delete env.TOKENCLOCK_FAKE_NOW_MS;
  return { ...env, ...extra };
}

/**
 * Runs a command (default: the CLI under node) with `args`, feeding `stdin` (string or
 * Buffer; closed at once when absent). Resolves to `{ code, signal, stdout, stderr }` (text);
 * rejects if it has not exited within `timeoutMs`.
 */
export function runCli(args, { stdin = "", env = cleanEnv(), timeoutMs = 60_000, command = process.execPath, prefix = [BIN], cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...prefix, ...args], { env, cwd, stdio: ["pipe", "pipe", "pipe"] });
    const out = [];
    const err = [];
    child.stdout.on("data", (c) => out.push(c));
    child.stderr.on("data", (c) => err.push(c));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`tokenclock ${args.join(" ")} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
    child.stdin.on("error", () => {}); // the CLI may exit before reading everything
    child.stdin.end(stdin);
  });
}

// ----- json_text -----------------------------------------------------------------------------

/** Characters core escapes in JSON besides serde_json's: DEL, C1 and bidirectional controls. */
const UNSAFE = /[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function jsonString(s) {
  return JSON.stringify(s).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * A number as serde_json prints it: integers as integers; any other f64 the way ryu lays out
 * its shortest round-trip digits (decimal notation while the point falls within 16 digits,
 * else `d.ddde±x` without a `+`), e.g. a claim `"exp": 1700000030.5`.
 */
function jsonNumber(x) {
  if (Number.isSafeInteger(x)) return String(x);
  const [mantissa, exponent] = x.toExponential().split("e");
  const negative = mantissa.startsWith("-");
  const digits = mantissa.replace("-", "").replace(".", "");
  const length = digits.length;
  const point = Number(exponent) + 1; // digits before the decimal point
  let out;
  if (length <= point && point <= 16) out = `${digits}${"0".repeat(point - length)}.0`;
  else if (point > 0 && point <= 16) out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  else if (point > -5 && point <= 0) out = `0.${"0".repeat(-point)}${digits}`;
  else if (length === 1) out = `${digits}e${point - 1}`;
  else out = `${digits[0]}.${digits.slice(1)}e${point - 1}`;
  return negative ? `-${out}` : out;
}

/** Keys in the order Rust sorts `String`s: by UTF-8 bytes. */
function sortedKeys(object) {
  return Object.keys(object).sort((a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
}

function write(value, indent) {
  const pad = " ".repeat(indent);
  const inner = " ".repeat(indent + 2);
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return jsonNumber(value);
  if (typeof value === "string") return jsonString(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => inner + write(v, indent + 2)).join(",\n")}\n${pad}]`;
  }
  const keys = sortedKeys(value);
  if (keys.length === 0) return "{}";
  return `{\n${keys.map((k) => `${inner}${jsonString(k)}: ${write(value[k], indent + 2)}`).join(",\n")}\n${pad}}`;
}

/** What core's `Rendered::json_text` prints for `value`: sorted keys, two-space indent, "\n". */
export function jsonText(value) {
  return `${write(value, 0)}\n`;
}

// ----- golden files --------------------------------------------------------------------------

export const GOLDEN_FILES = ["inspect", "skew", "ages", "simulate", "errors"];

/** `tests/golden/NAME.json` parsed. */
export function golden(name) {
  return JSON.parse(readFileSync(new URL(`../../tests/golden/${name}.json`, import.meta.url), "utf8"));
}

/** The stdin a golden case feeds the CLI: the token (`inspect -`) or the lines (`ages`). */
export function goldenStdin(c) {
  if (!c.argv?.includes("-")) return "";
  if (c.command === "inspect") return c.input.token;
  if (c.command === "ages") return c.input.lines.map((line) => `${line}\n`).join("");
  return "";
}

// ----- loopback servers ----------------------------------------------------------------------

/**
 * Starts tcserver.py with `--sntp` and `origins` Date origins (`verbose`: one stderr line per
 * request). Resolves to `{ info, config(), reset(), stats(), stderr, stop() }`.
 */
export async function startServers({ origins = 0, sntp = true, verbose = false } = {}) {
  const args = [SERVER, "--exit-on-stdin-eof", "--max-lifetime-s", "900", "--origins", String(origins)];
  if (sntp) args.push("--sntp");
  if (verbose) args.push("--verbose");
  const proc = spawn(PYTHON, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (c) => {
    stderr = (stderr + c).slice(-1_000_000);
  });
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  const lines = createInterface({ input: proc.stdout });
  const first = await Promise.race([
    new Promise((resolve) => lines.once("line", resolve)),
    exited.then((code) => {
      throw new Error(`tcserver exited (${code}) before printing its addresses:\n${stderr}`);
    }),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`tcserver did not start:\n${stderr}`)), 15_000).unref()),
  ]);
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
  return {
    info,
    config: (settings) => control("POST", "/config", settings),
    reset: () => control("POST", "/reset", { config: true }),
    stats: () => control("GET", "/stats"),
    /** The server's diagnostics so far (one line per request with `verbose`). */
    get stderr() {
      return stderr;
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.stdin.end();
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
