// The core's CliRun (what `npx tokenclock` executes, npm/cli/main.js) driven in this process
// with scripted I/O: standard input and files from memory, a fixed or real clock, and no
// network. The command-line tests use it to compare the real CLI with the machine, and to
// replay what needs a terminal or exact readings (colour, SkewProbe transcripts).
import { CliRun } from "../cli/core.js";

/** Both clocks now, as the executor reads them (npm/cli/io.js). */
export function realReading() {
  return { wallMs: Date.now(), monoMs: Math.floor(performance.timeOrigin + performance.now()) };
}

const bytes = (data) => new Uint8Array(typeof data === "string" ? Buffer.from(data, "utf8") : data);

/**
 * Runs `tokenclock ARGV` through CliRun until it exits. Options: `stdin` (a string or bytes, or
 * an array of them: one per read, each cut to the read's size), `files` (`{ path: contents }`;
 * any other path is `not_found`), `env` (`{ NO_COLOR, TOKENCLOCK_FAKE_NOW_MS }`), `terminal`
 * (stdout is a TTY), `now` (a reading for every poll; default the real clock). An `http`,
 * `sntp` or `wait` action throws: use CliRun directly for exchanges. Returns
 * `{ text, stream, exitCode }`.
 */
export function drive(argv, { stdin = "", files = {}, env = {}, terminal = false, now } = {}) {
  const run = new CliRun(argv, env, terminal);
  const pending = (Array.isArray(stdin) ? stdin : [stdin]).map(bytes).filter((c) => c.length > 0);
  const offsets = new Map();
  let out = { text: "", stream: "stdout" };
  for (let step = 0; step < 1_000_000; step += 1) {
    const action = run.poll(now ?? realReading());
    switch (action.action) {
      case "read": {
        if (action.path === null) {
          const chunk = pending[0] ?? new Uint8Array(0);
          const taken = chunk.subarray(0, action.maxBytes);
          if (taken.length === chunk.length) pending.shift();
          else pending[0] = chunk.subarray(taken.length);
          run.onRead(taken);
        } else if (Object.hasOwn(files, action.path)) {
          const all = bytes(files[action.path]);
          const at = offsets.get(action.path) ?? 0;
          const taken = all.subarray(at, at + action.maxBytes);
          offsets.set(action.path, at + taken.length);
          run.onRead(taken);
        } else {
          run.onReadError("not_found");
        }
        break;
      }
      case "write":
        out = { text: out.text + action.text, stream: action.stream };
        break;
      case "exit":
        return { ...out, exitCode: action.code };
      default:
        throw new Error(`tokenclock ${argv.join(" ")}: unexpected ${action.action} action`);
    }
  }
  throw new Error(`tokenclock ${argv.join(" ")}: no exit`);
}
