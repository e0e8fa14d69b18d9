// Types for both entry points. Re-exported from the declarations wasm-bindgen generates
// from the Rust doc comments, so they cannot drift from the module.
export { version, rulesIsExpired } from "./pkg/tokenclock_wasm.js";
