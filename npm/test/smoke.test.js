// Smoke test of the package as a Node user imports it: by its name, through the exports map
// (self-reference), which selects the "node" entries. The full list of exports is pinned here
// (and checked against index.d.ts / full.d.ts in api.test.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import * as tokenclock from "tokenclock";
import * as full from "tokenclock/full";
import { rulesIsExpired, version, build, TokenClockError } from "tokenclock";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

const CLIENT_API = [
  "Authorization", "Estimate", "Grant", "Lifetime", "Pkce", "Session", "SkewEstimator", "SntpReply",
  "SntpRequest", "State", "Ticket", "TokenClockError", "TokenRequest", "TokenResponse", "assertionTimes",
  "authorizationCodeGrant", "authorizationUrl", "build", "clientCredentials", "createFetch", "formatHttpDate",
  "parseHttpDate", "parseRedirect", "parseRetryAfter", "parseSntpReply", "parseTokenResponse", "peek",
  "refreshTokenGrant", "refreshTokenToKeep", "rulesIsExpired", "rulesIsIssuedInFuture", "rulesIsNotYetValid",
  "s256Challenge", "version", "FleetRefresh", "storeKeys", "fleetScripts", "RedisStore", "StoreError",
];
const FULL_ONLY = [
  "KeySet", "RemoteVerifier", "SkewMonitor", "Verifier", "bearerAuth", "gauntletCells",
  "gauntletRows", "jwtBearerGrant", "renderBreakdown", "renderSummary", "runCell",
];

test("tokenclock exports exactly the client API", () => {
  assert.deepEqual(Object.keys(tokenclock).sort(), [...CLIENT_API].sort());
  assert.equal(build(), "client");
});

test("tokenclock/full exports the client API (but createFetch) plus the full-only names", () => {
  const want = [...CLIENT_API.filter((n) => n !== "createFetch"), ...FULL_ONLY].sort();
  assert.deepEqual(Object.keys(full).sort(), want);
  assert.equal(full.build(), "full");
});

test("one TokenClockError class for both builds", () => {
  assert.equal(full.TokenClockError, TokenClockError);
  assert.throws(() => full.peek("x"), (e) => e instanceof TokenClockError && e.code === "malformed_token");
  assert.throws(() => tokenclock.peek("x"), (e) => e instanceof TokenClockError && e.code === "malformed_token");
});

test("version() is the package version (same as the Rust workspace)", () => {
  assert.equal(version(), pkg.version);
  assert.equal(full.version(), pkg.version);
});

test("rulesIsExpired: invalid at exp, leeway is subtracted from now", () => {
  assert.equal(rulesIsExpired(999, 1000, 0), false);
  assert.equal(rulesIsExpired(1000, 1000, 0), true); // RFC 7519: invalid *at* exp
  assert.equal(rulesIsExpired(1004, 1000, 5), false);
  assert.equal(rulesIsExpired(1005, 1000, 5), true);
  assert.equal(rulesIsExpired(Number.MAX_SAFE_INTEGER, 0, Number.MAX_SAFE_INTEGER), true);
  assert.equal(rulesIsExpired(-0, 0, 0), true);
});

for (const [args, message] of [
  [[NaN, 1000, 0], /^nowMs is NaN: /],
  [[0, Infinity, 0], /^expMs is not finite: /],
  [[0, 1000, -Infinity], /^leewayMs is not finite: /],
  [[-1, 1000, 0], /^nowMs is negative: /],
  [[0.5, 1000, 0], /^nowMs is not an integer: /],
  [[0, 2 ** 53, 0], /^expMs exceeds Number.MAX_SAFE_INTEGER: /],
]) {
  test(`rulesIsExpired(${args.map(String).join(", ")}) throws a RangeError`, () => {
    assert.throws(
      () => rulesIsExpired(...args),
      (err) => err instanceof RangeError && err.code === "invalid_argument" && message.test(err.message),
    );
  });
}

for (const bad of [undefined, null, "1000", 1000n, true, {}, [1000]]) {
  test(`rulesIsExpired(${typeof bad}) throws a TypeError (no silent coercion)`, () => {
    assert.throws(
      () => rulesIsExpired(bad, 1000, 0),
      (err) => err instanceof TypeError && err.code === "invalid_argument" && /^nowMs must be a number$/.test(err.message),
    );
  });
}

test("a bad call does not poison the instance (no panic, no abort)", () => {
  assert.throws(() => rulesIsExpired(NaN, NaN, NaN), RangeError);
  assert.equal(rulesIsExpired(1000, 1000, 0), true);
});
