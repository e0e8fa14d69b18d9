#!/usr/bin/env node
// `npx tokenclock`: see docs/cli.md. Prints what the core rendered and exits with its code.
// Nothing escapes as a stack trace: run() never rejects, and anything else (the module failing
// to load, an error thrown from a callback) becomes one line on stderr and exit 2.

const FALLBACK_EXIT = 2;

function fatal(what) {
  try {
    process.stderr.write(`tokenclock: error: ${what}\n`);
  } finally {
    process.exit(FALLBACK_EXIT);
  }
}

function nameOf(error) {
  const name = typeof error?.name === "string" && /^[A-Za-z]{1,40}$/.test(error.name) ? error.name : "error";
  const code = typeof error?.code === "string" && /^[A-Za-z0-9_]{1,40}$/.test(error.code) ? error.code : null;
  return code ? `${name}, ${code}` : name;
}

process.on("uncaughtException", (error) => fatal(`internal error (${nameOf(error)})`));
process.on("unhandledRejection", (error) => fatal(`internal error (${nameOf(error)})`));
// A closed pipe (`tokenclock ages log | head`) is not an error worth a trace.
process.stdout.on("error", () => {});
process.stderr.on("error", () => {});

let run;
let writeOut;
try {
  ({ run } = await import("../cli/main.js"));
  ({ writeOut } = await import("../cli/io.js"));
} catch (error) {
  fatal(`cannot load the tokenclock WebAssembly module (${nameOf(error)})`);
}

const result = await run(process.argv.slice(2), { env: process.env, stdin: process.stdin, stdout: process.stdout });
await writeOut(result.stream === "stderr" ? process.stderr : process.stdout, result.text);
// Exit now: idle keep-alive sockets and timers must not hold the process open.
process.exit(result.exitCode);
