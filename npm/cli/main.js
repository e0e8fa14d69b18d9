// `npx tokenclock`: the executor of the core's CliRun (tokenclock::cli, docs/cli.md). The core
// parses the arguments, decides what to read and which requests to send when, renders every
// report and message, and says what to print and the exit code; this loop performs each
// action in Node's idioms (io.js: files read and written, stdin, clocks; probe.js: HTTP and
// SNTP) and answers.
import * as core from "./core.js";
import { Inputs, inputProblem, reading, writeBytes } from "./io.js";
import { httpExchange, sntpExchange } from "./probe.js";

/** Performs the run's actions until it exits. Resolves to `{ text, stream, exitCode }`. */
async function execute(run, inputs) {
  const out = { text: "", stream: "stdout" };
  const answers = [];
  let wake = null;
  const started = (promise) =>
    promise.then((answer) => {
      answers.push(answer);
      wake?.();
    });
  for (;;) {
    while (answers.length > 0) answers.shift()(run);
    const action = run.poll(reading());
    switch (action.action) {
      case "write":
        // The core writes once per run; bin/tokenclock.js prints it.
        out.text += action.text;
        out.stream = action.stream;
        break;
      case "exit":
        return { ...out, exitCode: action.code };
      case "read": {
        let data;
        try {
          data = await inputs.read(action.path, action.maxBytes);
        } catch (error) {
          run.onReadError(inputProblem(error));
          break;
        }
        run.onRead(data);
        break;
      }
      case "writeFile": {
        try {
          await writeBytes(action.path, action.data);
        } catch (error) {
          run.onWriteError(inputProblem(error));
          break;
        }
        run.onWritten();
        break;
      }
      case "http":
        started(httpExchange(action));
        break;
      case "sntp":
        started(sntpExchange(run, action));
        break;
      case "wait":
        if (answers.length === 0) {
          await new Promise((resolve) => {
            wake = resolve;
            if (action.waitMs !== null) setTimeout(resolve, action.waitMs);
          });
          wake = null;
        }
        break;
      default:
        throw new Error(`unknown action ${action.action}`);
    }
  }
}

/**
 * Runs the command line. `argv`: the arguments after `tokenclock`; `{ env, stdin, stdout }`
 * (stdout only to know whether it is a terminal). Resolves to `{ text, stream, exitCode }`;
 * never rejects.
 */
export async function run(argv, { env, stdin, stdout }) {
  const machine = new core.CliRun(argv, env, stdout?.isTTY === true);
  const inputs = new Inputs(stdin);
  try {
    return await execute(machine, inputs);
  } catch (error) {
    machine.onInternalError(typeof error?.code === "string" ? error.code : null, String(error?.name ?? ""));
    return await execute(machine, inputs);
  } finally {
    await inputs.close();
  }
}
