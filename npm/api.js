// The public API of "tokenclock" in browsers (the client build), re-exported from the
// wasm-bindgen output (pkg/client, built by `make wasm`). Listed by name on purpose: the glue's
// own exports (`default`, `initSync`, the error-class hook) are not part of the API. index.js
// instantiates the module before anything here is called. Node's entry (node.js) exports
// api-node.js instead: this list plus the fleet protocol and SNTP, which need Node's sockets.
export {
  version,
  build,
  rulesIsExpired,
  rulesIsNotYetValid,
  rulesIsIssuedInFuture,
  peek,
  parseHttpDate,
  formatHttpDate,
  parseRetryAfter,
  Estimate,
  SkewEstimator,
  Lifetime,
  Grant,
  clientCredentials,
  refreshTokenGrant,
  authorizationCodeGrant,
  TokenRequest,
  TokenResponse,
  parseTokenResponse,
  refreshTokenToKeep,
  assertionTimes,
  Pkce,
  State,
  s256Challenge,
  authorizationUrl,
  parseRedirect,
  Session,
  Authorization,
  Ticket,
} from "./pkg/client/tokenclock_wasm.js";
export { TokenClockError } from "./errors.js";
export { createFetch } from "./fetch.js";
