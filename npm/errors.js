// The one error class of the package. The wasm modules (client and full) construct it for every
// core error (they are handed this class at start-up by ./setup.js), so `instanceof` works
// whichever module threw. Bad arguments are plain RangeError / TypeError with
// `.code = "invalid_argument"`.

/**
 * An error from tokenclock's core: `.code` is the core's stable `ErrorCode`
 * (`"malformed_token"`, `"invalid_grant"`, `"expired"`, ...); detail fields depend on the code
 * (`.what`, `.retryAtMs`, `.errorClass`, `.status`, `.byMs`, ...). Messages never contain a
 * token, a secret or raw input.
 */
export class TokenClockError extends Error {
  /**
   * @param {string} code stable snake_case code
   * @param {string} message what was wrong
   * @param {Record<string, unknown>} [details] detail fields copied onto the error
   */
  constructor(code, message, details) {
    super(message);
    this.code = code;
    if (details !== null && typeof details === "object") {
      for (const [key, value] of Object.entries(details)) {
        if (key !== "code" && key !== "message" && key !== "name" && key !== "stack") this[key] = value;
      }
    }
  }
}

Object.defineProperty(TokenClockError.prototype, "name", {
  value: "TokenClockError",
  writable: true,
  configurable: true,
});
