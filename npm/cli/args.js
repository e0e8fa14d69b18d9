// The command line's grammar is the core's (tokenclock::cli::parse_args, docs/cli.md): the run
// itself scans argv inside CliRun; this is the same scan as plain data, for tests and tools.
import { cliScan } from "./core.js";

/**
 * Scans `argv` (the arguments after `tokenclock`): `{ command, json, help, error, items }`,
 * `items` in argument order (`{ kind: "positional", value }` or `{ kind: "option", name, value }`).
 */
export function scan(argv) {
  return cliScan(argv);
}
