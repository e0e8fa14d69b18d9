// Node entry of "tokenclock" (the "node" condition of the exports map). Node's fetch() cannot
// read file: URLs, so the wasm bytes are read from disk and compiled synchronously: no
// top-level await (the package is usable right after `import`, and loadable through
// require(esm) on Node versions that have it).
import { readFileSync } from "node:fs";
import * as glue from "./pkg/client/tokenclock_wasm.js";
import { setup } from "./setup.js";

glue.initSync({ module: readFileSync(new URL("./pkg/client/tokenclock_wasm_bg.wasm", import.meta.url)) });
setup(glue);

export * from "./api.js";
// The shared token store (Node only: Redis clients need sockets).
export { RedisStore, StoreError } from "./store.js";
