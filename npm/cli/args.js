// The command line's grammar: a small hand-written scanner (no library), so that the Python
// console script can reproduce every usage message byte for byte. Values are NOT parsed here:
// the commands hand each value to core's parsers (parseSecondsArg, parseCountArg,
// parseHostPort, parseCellArg, ...), so "0.1" is 100 ms in both front-ends.
//
// Grammar (both front-ends):
//
// * `tokenclock [--json] [--help|-h] COMMAND [ARGS...]`. Before COMMAND only --json, --help
//   and -h are accepted. No COMMAND: `missing command (commands: inspect, skew, ages,
//   simulate)`; an unknown one: `unknown command 'X' (commands: inspect, skew, ages,
//   simulate)`; any other option there: `unknown option '-x'` (labelled with the command
//   when one follows, like every error once the command is known).
// * After COMMAND: `--NAME VALUE` or `--NAME=VALUE` for a value option (the next argument is
//   the value whatever it looks like, so `--client-offset -30` works); `--NAME` for a flag;
//   `-` is a positional (standard input); `--` ends the options (everything after it is
//   positional); any other argument starting with `-` is an option.
// * `--help`/`-h` anywhere before `--` prints the help (exit 0), whatever else is wrong.
//   `--json` anywhere before `--` selects JSON output, for errors too.
// * The first problem in argument order is reported, as `usage` errors:
//     `unknown option '--NAME'`          (for `--NAME=VALUE` only the name is shown)
//     `option --NAME needs a value`      (a value option at the end)
//     `option --NAME takes no value`     (`--json=1`)
//     `option --NAME given more than once` (options other than --aud and --ntp)
//     `unexpected extra argument 'ARG'`  (more positionals than the command takes)
// * Then the command checks, in this order: each value, in argument order, with core's
//   parsers (`invalid_argument`); missing positionals; combinations of options.

/** Options each command accepts. `values`: take a value; `repeat`: may repeat; `flags`: none. */
export const COMMAND_SPECS = {
  inspect: {
    values: ["--server", "--key", "--jwks", "--alg", "--leeway", "--iss", "--aud"],
    repeat: ["--aud"],
    flags: [],
    maxPositionals: 1,
  },
  skew: {
    values: ["--ntp", "--samples", "--max-offset"],
    repeat: ["--ntp"],
    flags: [],
    maxPositionals: Infinity,
  },
  ages: {
    values: ["--time-field"],
    repeat: [],
    flags: ["--prometheus"],
    maxPositionals: 1,
  },
  simulate: {
    values: ["--client-offset", "--rs-offset", "--ttl", "--leeway", "--cached-age", "--step", "--hours", "--seed"],
    repeat: [],
    flags: ["--timeline"],
    maxPositionals: 0,
  },
};

export const COMMAND_LIST = "inspect, skew, ages, simulate";

const COMMON_FLAGS = ["--json", "--help", "-h"];

/**
 * Scans `argv` (the arguments after `tokenclock`). Returns `{ command, json, help, error,
 * items }`: `command` (a known command or null), `error` (the first usage message, or null),
 * and `items` in argument order: `{ kind: "positional", value }` or `{ kind: "option", name,
 * value }` (`value` is null for a flag).
 */
export function scan(argv) {
  const result = { command: null, json: false, help: false, error: null, items: [] };
  const fail = (message) => {
    if (result.error === null) result.error = message;
  };
  let i = 0;
  // Global options, then the command.
  for (; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "--json") result.json = true;
    else if (arg === "--help" || arg === "-h") result.help = true;
    else if (arg.startsWith("-") && arg !== "-") {
      if (arg.startsWith("--json=") || arg.startsWith("--help=")) fail(`option ${optionName(arg)} takes no value`);
      else fail(`unknown option '${optionName(arg)}'`);
    } else break;
  }
  if (i >= argv.length) {
    if (!result.help) fail(`missing command (commands: ${COMMAND_LIST})`);
    return result;
  }
  const name = argv[i];
  i += 1;
  const spec = Object.hasOwn(COMMAND_SPECS, name) ? COMMAND_SPECS[name] : null;
  if (spec === null) {
    fail(`unknown command '${name}' (commands: ${COMMAND_LIST})`);
    // Keep looking for --json/--help so the error is printed the way the user asked.
    for (; i < argv.length && argv[i] !== "--"; i += 1) {
      if (argv[i] === "--json") result.json = true;
      if (argv[i] === "--help" || argv[i] === "-h") result.help = true;
    }
    return result;
  }
  result.command = name;
  const seen = new Set();
  let positionals = 0;
  let optionsEnded = false;
  const positional = (value) => {
    positionals += 1;
    if (positionals > spec.maxPositionals) fail(`unexpected extra argument '${value}'`);
    else result.items.push({ kind: "positional", value });
  };
  for (; i < argv.length; i += 1) {
    const arg = argv[i];
    if (optionsEnded || arg === "-" || !arg.startsWith("-")) {
      positional(arg);
      continue;
    }
    if (arg === "--") {
      optionsEnded = true;
      continue;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const opt = eq >= 0 ? arg.slice(0, eq) : arg;
    const inline = eq >= 0 ? arg.slice(eq + 1) : null;
    if (COMMON_FLAGS.includes(opt)) {
      if (inline !== null) fail(`option ${opt} takes no value`);
      else if (opt === "--json") result.json = true;
      else result.help = true;
      continue;
    }
    if (spec.flags.includes(opt)) {
      if (inline !== null) fail(`option ${opt} takes no value`);
      else if (seen.has(opt)) fail(`option ${opt} given more than once`);
      else {
        seen.add(opt);
        result.items.push({ kind: "option", name: opt, value: null });
      }
      continue;
    }
    if (spec.values.includes(opt)) {
      let value = inline;
      if (value === null) {
        if (i + 1 >= argv.length) {
          fail(`option ${opt} needs a value`);
          continue;
        }
        i += 1;
        value = argv[i];
      }
      if (seen.has(opt) && !spec.repeat.includes(opt)) fail(`option ${opt} given more than once`);
      else {
        seen.add(opt);
        result.items.push({ kind: "option", name: opt, value });
      }
      continue;
    }
    fail(`unknown option '${opt}'`);
  }
  return result;
}

/** The option name of `--name=value` (never the value: it may be a secret). */
function optionName(arg) {
  const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
  return eq >= 0 ? arg.slice(0, eq) : arg;
}

/** The positionals of a scan, in order. */
export function positionals(scanned) {
  return scanned.items.filter((item) => item.kind === "positional").map((item) => item.value);
}

/** The value of a single-valued option, or null (undefined when absent is not needed). */
export function option(scanned, name) {
  const found = scanned.items.find((item) => item.kind === "option" && item.name === name);
  return found === undefined ? null : found.value;
}

/** Every value of a repeatable option, in order. */
export function options(scanned, name) {
  return scanned.items.filter((item) => item.kind === "option" && item.name === name).map((item) => item.value);
}

/** Whether a flag was given. */
export function flag(scanned, name) {
  return scanned.items.some((item) => item.kind === "option" && item.name === name);
}
