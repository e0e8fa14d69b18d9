// Browser / default entry: plain ESM that works from a <script type="module"> without a
// bundler (and in Deno and bundlers that understand `new URL(..., import.meta.url)`).
// The module is built with `wasm-bindgen --target web`, whose init() fetches the .wasm
// beside the glue; top-level await makes the API usable as soon as the import resolves.
import init from "./pkg/tokenclock_wasm.js";

await init({ module_or_path: new URL("./pkg/tokenclock_wasm_bg.wasm", import.meta.url) });

export * from "./api.js";
