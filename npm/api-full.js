// The public API of "tokenclock/full": everything in "tokenclock" from the full build
// (pkg/full: verification crypto linked) plus the resource-server side (Verifier, SkewMonitor),
// signed assertions (jwtBearerGrant, authMethod "private_key_jwt") and the simulation.
// One module instance: import everything from "tokenclock/full" when you need any of it
// (objects of the two builds do not mix; TokenClockError is shared).
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
  jwtBearerGrant,
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
  SkewMonitor,
  KeySet,
  runCell,
  gauntletCells,
  gauntletRows,
  renderSummary,
  renderBreakdown,
} from "./pkg/full/tokenclock_wasm.js";
export { TokenClockError } from "./errors.js";
// The Verifier wraps the module's: signatures by the host's native crypto (verify.js).
export { Verifier } from "./verify.js";
// The remote key set's driver (fetch) and the bearer-token middleware (remote.js).
export { RemoteVerifier, bearerAuth } from "./remote.js";
