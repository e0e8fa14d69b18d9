// What the command line does besides parsing: read the clocks, read files and standard input,
// decide on colour, and print what the core rendered. Nothing here decides anything about
// tokens or clocks; that is the core's job.
import { open } from "node:fs/promises";
import { parseCountArg } from "./core.js";

/** Largest Unix time in ms a reading may have (9999-12-31T23:59:59.999Z, core's limit). */
const MAX_UNIX_MILLIS = 253_402_300_799_999;

/** `inspect -` reads at most this much of standard input (64 KiB + 1: the core reports more). */
export const TOKEN_STDIN_LIMIT = 64 * 1024 + 1;

/** Largest `--key`/`--jwks` file read (larger: `too_large`). */
export const KEY_FILE_LIMIT = 1024 * 1024;

/** Size of each read of `ages` input. */
const CHUNK = 64 * 1024;

/** The name of standard input in messages. */
export const STDIN_NAME = "standard input";

/**
 * The clock: `{ wallMs, monoMs }`. Normally `Date.now()` and `performance.timeOrigin +
 * performance.now()` (whole ms). With the environment variable `TOKENCLOCK_FAKE_NOW_MS=N` (for
 * tests: the golden cases' `now_ms`) every reading is frozen at wall = monotonic = N.
 * A malformed N throws the core's `invalid_argument` error (a TokenClockError).
 */
export function makeClock(env) {
  const fake = env.TOKENCLOCK_FAKE_NOW_MS;
  if (fake !== undefined && fake !== "") {
    const ms = parseCountArg("TOKENCLOCK_FAKE_NOW_MS", fake, MAX_UNIX_MILLIS);
    return () => ({ wallMs: ms, monoMs: ms });
  }
  return () => ({ wallMs: Date.now(), monoMs: Math.floor(performance.timeOrigin + performance.now()) });
}

/** Colour exactly when standard output is a terminal and NO_COLOR is unset or empty. */
export function useColor(stdout, env) {
  return stdout.isTTY === true && !env.NO_COLOR;
}

/** The core's `InputProblem` code for an I/O error. */
export function inputProblem(error) {
  switch (error?.code) {
    case "ENOENT":
    case "ENOTDIR":
      return "not_found";
    case "EACCES":
    case "EPERM":
      return "permission_denied";
    case "EISDIR":
      return "is_a_directory";
    default:
      return "io_error";
  }
}

/** An input that could not be read: `{ what, problem }` (rendered with core's inputError). */
export class InputFailure extends Error {
  constructor(what, problem) {
    super(`cannot read ${what}: ${problem}`);
    this.name = "InputFailure";
    this.what = what;
    this.problem = problem;
  }
}

/**
 * Reads a whole file of at most `limit` bytes as a Uint8Array. Throws InputFailure
 * (`too_large` beyond the limit).
 */
export async function readFileLimited(path, limit) {
  let handle;
  try {
    handle = await open(path, "r");
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > limit) throw new InputFailure(path, "too_large");
    return new Uint8Array(buffer.buffer, buffer.byteOffset, length);
  } catch (error) {
    if (error instanceof InputFailure) throw error;
    throw new InputFailure(path, inputProblem(error));
  } finally {
    await handle?.close().catch(() => {});
  }
}

/** Reads at most `limit` bytes of `stream` (standard input). Throws InputFailure. */
export async function readStreamLimited(stream, limit) {
  const chunks = [];
  let length = 0;
  try {
    for await (const chunk of stream) {
      const take = Math.min(chunk.length, limit - length);
      chunks.push(chunk.subarray(0, take));
      length += take;
      if (length >= limit) break;
    }
  } catch (error) {
    throw new InputFailure(STDIN_NAME, inputProblem(error));
  }
  return new Uint8Array(Buffer.concat(chunks, length));
}

/** UTF-8 with U+FFFD for bad sequences; a byte-order mark is kept (like Python's "utf-8"). */
export function decodeUtf8(bytes) {
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
}

/**
 * Calls `onChunk(Uint8Array)` for each chunk of a file (or of `stream` when `path` is null),
 * as it is read. Throws InputFailure.
 */
export async function readChunks(path, stream, onChunk) {
  if (path === null) {
    try {
      for await (const chunk of stream) onChunk(chunk);
    } catch (error) {
      if (error instanceof InputFailure) throw error;
      if (typeof error?.code === "string" && error.code.startsWith("E")) throw new InputFailure(STDIN_NAME, inputProblem(error));
      throw error;
    }
    return;
  }
  let handle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw new InputFailure(path, inputProblem(error));
  }
  try {
    const buffer = Buffer.alloc(CHUNK);
    for (;;) {
      let bytesRead;
      try {
        ({ bytesRead } = await handle.read(buffer, 0, buffer.length, null));
      } catch (error) {
        throw new InputFailure(path, inputProblem(error));
      }
      if (bytesRead === 0) break;
      onChunk(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close().catch(() => {});
  }
}

/** What to print for a rendered result: `{ text, stream, exitCode }`. */
export function outputOf(rendered, json) {
  return {
    text: json ? rendered.json : rendered.text,
    stream: json ? "stdout" : rendered.stream,
    exitCode: rendered.exitCode,
  };
}

/** Writes `text` to a stream and waits until it is handed to the OS (errors ignored: EPIPE). */
export function writeOut(stream, text) {
  return new Promise((resolve) => {
    if (text === "") {
      resolve();
      return;
    }
    try {
      stream.write(text, () => resolve());
    } catch {
      resolve();
    }
  });
}
