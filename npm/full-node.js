// Node entry of "tokenclock/full" (see node.js): the full build, read from disk, compiled
// synchronously.
import * as nodeCrypto from "node:crypto";
import { readFileSync } from "node:fs";
import * as glue from "./pkg/full/tokenclock_wasm.js";
import { setup } from "./setup.js";
import { useNodeCrypto } from "./verify.js";

glue.initSync({ module: readFileSync(new URL("./pkg/full/tokenclock_wasm_bg.wasm", import.meta.url)) });
setup(glue);
// Verifier signatures through node:crypto KeyObjects (verify.js), synchronously.
useNodeCrypto(nodeCrypto);

export * from "./api-full.js";
// The shared token store (Node only: Redis clients need sockets).
export { RedisStore, StoreError } from "./store.js";
