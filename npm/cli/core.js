// The core, for the command line: the full build of the wasm module (the reports need the
// verifier and the simulation). Importing the package's Node entry instantiates the module and
// registers TokenClockError; CliRun comes from the same module instance (the wasm-bindgen glue
// is one ES module, cached), so errors it throws are TokenClockErrors too. The whole run is
// CliRun's (tokenclock::cli); main.js only executes its actions. Not part of the package's
// public API (api.js / api-full.js do not export it).
import "../full-node.js";

export { CliRun } from "../pkg/full/tokenclock_wasm.js";
