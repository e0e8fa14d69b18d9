// Browser / default entry of "tokenclock": plain ESM that works from a <script type="module">
// without a bundler (and in Deno and in bundlers that understand `new URL(..., import.meta.url)`,
// which then ship the .wasm as an asset). Top-level await fetches and instantiates the module,
// so the API is ready as soon as the import resolves: no `await ready()` for callers.
import * as glue from "./pkg/client/tokenclock_wasm.js";
import { setup } from "./setup.js";

await glue.default({ module_or_path: new URL("./pkg/client/tokenclock_wasm_bg.wasm", import.meta.url) });
setup(glue);

export * from "./api.js";
