// Node entry (the "node" condition of the exports map). Node's fetch() cannot read file:
// URLs, so the wasm bytes are read from disk and compiled synchronously: no top-level await,
// which also keeps this entry loadable through require(esm) on newer Node versions.
import { readFileSync } from "node:fs";
import { initSync } from "./pkg/tokenclock_wasm.js";

initSync({ module: readFileSync(new URL("./pkg/tokenclock_wasm_bg.wasm", import.meta.url)) });

export * from "./api.js";
