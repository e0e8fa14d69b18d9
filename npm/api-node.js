// The public API of "tokenclock" in Node (the node build, pkg/node): the client API of api.js
// plus what needs Node's sockets — the fleet protocol behind RedisStore (FleetRefresh,
// storeKeys, fleetScripts; records sealed with AES-256-GCM) and SNTP (SntpRequest, SntpReply,
// parseSntpReply, SkewEstimator.addSntp). The browser's module (pkg/client) leaves those out:
// a browser has neither Redis nor UDP, and every byte of the module is downloaded.
// node.js instantiates the module before anything here is called.
import * as node from "./pkg/node/tokenclock_wasm.js";
import { createFetchFor } from "./fetch.js";

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
} from "./pkg/node/tokenclock_wasm.js";
export { TokenClockError } from "./errors.js";

/** `createFetch` over this module's `Session` (see index.d.ts). */
export const createFetch = createFetchFor(node);
