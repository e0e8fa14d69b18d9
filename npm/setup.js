// Run once per wasm module, right after it is instantiated (by the entry modules): hands the
// module the TokenClockError class it throws, and makes Node's console/util.inspect print every
// class through its redacting toString() instead of its internal pointer.
import { TokenClockError } from "./errors.js";

const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/** @param {Record<string, unknown>} glue the wasm-bindgen module namespace */
export function setup(glue) {
  glue.__tokenclockSetErrorClass(TokenClockError);
  for (const value of Object.values(glue)) {
    const proto = typeof value === "function" ? value.prototype : undefined;
    if (proto && typeof proto.free === "function" && typeof proto.toString === "function" && !Object.hasOwn(proto, INSPECT)) {
      Object.defineProperty(proto, INSPECT, {
        value() {
          return this.toString();
        },
        configurable: true,
      });
    }
  }
}
