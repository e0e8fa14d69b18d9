// Node entry of "tokenclock" (the "node" condition of the exports map). Node's fetch() cannot
// read file: URLs, so the wasm bytes are read from disk and compiled synchronously: no
// top-level await (the package is usable right after `import`, and loadable through
// require(esm) on Node versions that have it). The module is the node build (pkg/node): the
// browser's client API plus the fleet protocol and SNTP (api-node.js).
import { readFileSync } from "node:fs";
import * as glue from "./pkg/node/tokenclock_wasm.js";
import { setup } from "./setup.js";

glue.initSync({ module: readFileSync(new URL("./pkg/node/tokenclock_wasm_bg.wasm", import.meta.url)) });
setup(glue);

export * from "./api-node.js";
// The shared token store (Node only: Redis clients need sockets).
export { RedisStore, StoreError } from "./store.js";
