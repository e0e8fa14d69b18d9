// Browser / default entry of "tokenclock/full" (see index.js): fetches the full build's .wasm
// with top-level await.
import * as glue from "./pkg/full/tokenclock_wasm.js";
import { setup } from "./setup.js";

await glue.default({ module_or_path: new URL("./pkg/full/tokenclock_wasm_bg.wasm", import.meta.url) });
setup(glue);

export * from "./api-full.js";
