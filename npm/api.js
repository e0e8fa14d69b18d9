// The public API of "tokenclock" (the client build), re-exported from the wasm-bindgen output
// (pkg/client, built by `make wasm`). Listed by name on purpose: the glue's own exports
// (`default`, `initSync`, the error-class hook) are not part of the API. The entry modules
// (node.js, index.js) instantiate the module before anything here is called.
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
  SntpRequest,
  SntpReply,
  parseSntpReply,
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
  FleetRefresh,
  storeKeys,
  fleetScripts,
} from "./pkg/client/tokenclock_wasm.js";
export { TokenClockError } from "./errors.js";
export { createFetch } from "./fetch.js";
