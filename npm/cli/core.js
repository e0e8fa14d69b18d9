// The core, for the command line: the full build of the wasm module (the reports need the
// verifier and the simulation). Importing the package's Node entry instantiates the module and
// registers TokenClockError; these come from the same module instance (the wasm-bindgen glue is
// one ES module, cached), so errors they throw are TokenClockErrors too. Not part of the
// package's public API (api.js / api-full.js do not export them).
import "../full-node.js";

export {
  CliRun,
  cliScan,
  cliColorWanted,
  inspect,
  skew,
  ages,
  agesPrometheus,
  simulate,
  help,
  usageError,
  argumentError,
  inputError,
  parseSecondsArg,
  parseCountArg,
  parseHostPort,
  parseCellArg,
  transportErrorMessage,
  reportConstants,
  SkewProbe,
  AgesCollector,
  TimeField,
  ReportError,
} from "../pkg/full/tokenclock_wasm.js";
