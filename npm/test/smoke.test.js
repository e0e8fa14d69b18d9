// Smoke test of the package as a Node user imports it: by its name, through the exports
// map (self-reference), which selects the "node" entry.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import * as tokenclock from "tokenclock";
import { rulesIsExpired, version } from "tokenclock";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

test("exports exactly the public API", () => {
  assert.deepEqual(Object.keys(tokenclock).sort(), ["rulesIsExpired", "version"]);
});

test("version() is the package version (same as the Rust workspace)", () => {
  assert.equal(version(), pkg.version);
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
  [[undefined, 1000, 0], /^nowMs is NaN: /],
]) {
  test(`rulesIsExpired(${args.map(String).join(", ")}) throws a RangeError`, () => {
    assert.throws(
      () => rulesIsExpired(...args),
      (err) => err instanceof RangeError && message.test(err.message),
    );
  });
}

test("a bad call does not poison the instance (no panic, no abort)", () => {
  assert.throws(() => rulesIsExpired(NaN, NaN, NaN), RangeError);
  assert.equal(rulesIsExpired(1000, 1000, 0), true);
});
