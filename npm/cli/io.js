// The executor's files, standard input, clocks and output, in Node's idioms. Nothing here
// decides anything: what to read, how much, and what to print come from the core's CliRun.
import { open, writeFile } from "node:fs/promises";

/** Both clocks now: `{ wallMs, monoMs }` (whole ms). */
export function reading() {
  return { wallMs: Date.now(), monoMs: Math.floor(performance.timeOrigin + performance.now()) };
}

/** The core's input problem code for an I/O error. */
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

/** Standard input and the files the core reads, kept open between reads. */
export class Inputs {
  constructor(stdin) {
    this.stdin = stdin;
    this.stdinChunks = null;
    this.pending = null;
    this.files = new Map();
  }

  /** Up to `maxBytes` from `path` (null: standard input); an empty array at the end. */
  async read(path, maxBytes) {
    if (path === null) return this.readStdin(maxBytes);
    let handle = this.files.get(path);
    if (handle === undefined) {
      handle = await open(path, "r");
      this.files.set(path, handle);
    }
    const buffer = Buffer.alloc(maxBytes);
    const { bytesRead } = await handle.read(buffer, 0, maxBytes, null);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, bytesRead);
  }

  async readStdin(maxBytes) {
    if (this.pending === null || this.pending.length === 0) {
      this.stdinChunks ??= this.stdin[Symbol.asyncIterator]();
      const { value, done } = await this.stdinChunks.next();
      if (done) return new Uint8Array(0);
      this.pending = value;
    }
    const chunk = this.pending.subarray(0, maxBytes);
    this.pending = this.pending.subarray(chunk.length);
    return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
  }

  async close() {
    for (const handle of this.files.values()) await handle.close().catch(() => {});
    this.files.clear();
  }
}

/**
 * Creates or replaces the file `path` with `data` (bytes): `simulate --html`. A directory at
 * `path` is EISDIR, a missing one on the way ENOENT (no directory is created).
 */
export function writeBytes(path, data) {
  return writeFile(path, data);
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
