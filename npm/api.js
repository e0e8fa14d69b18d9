// The public API, re-exported from the wasm-bindgen output (pkg/, built by `make wasm`).
// Listed by name on purpose: the glue's own `default`/`initSync` are not part of the API.
// Both entry points (node.js, index.js) initialise the module before anything here is called.
export { version, rulesIsExpired } from "./pkg/tokenclock_wasm.js";
