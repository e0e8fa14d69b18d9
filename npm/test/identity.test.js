// A shared store never hands one principal's token to another: every pair of credentials that
// an identity provider would issue different tokens to gets a different store key (or a refused
// store); credentials that differ only in a secret share one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Session, storeKeys, clientCredentials, refreshTokenGrant, authorizationCodeGrant } from "tokenclock";
import { jwtBearerGrant } from "tokenclock/full";
import * as full from "tokenclock/full";

const URL_ = "https://idp.example/token";
const PEM = readFileSync(new URL("../../core/tests/keys/rsa-private.pem", import.meta.url), "utf8");

const keyOf = (grant, partition, sealed = true, lib = null) =>
  (lib ?? { Session, storeKeys }).storeKeys(new (lib ?? { Session }).Session(grant, partition ? { partition } : {}), "tc", sealed).record;
const cc = (extra, clientSecret = "s") => clientCredentials({ tokenUrl: URL_, clientId: "app", clientSecret, extra });
const rt = (refreshToken) => refreshTokenGrant({ tokenUrl: URL_, clientId: "app", clientSecret: "s", refreshToken });
const code = (c) =>
  authorizationCodeGrant({ tokenUrl: URL_, clientId: "app", clientSecret: "s", code: c, redirectUri: "https://app.example/cb", codeVerifier: "v".repeat(43) });
const jwt = (subject, kid = "k1") =>
  jwtBearerGrant({ tokenUrl: URL_, issuer: "sa@x", subject, privateKeyPem: PEM, alg: "RS256", kid });

test("credentials of different principals never share a key", () => {
  const pairs = [
    [() => keyOf(jwt("alice@x"), undefined, true, full), () => keyOf(jwt("bob@x"), undefined, true, full)],
    [() => keyOf(rt("rt-alice"), "alice"), () => keyOf(rt("rt-bob"), "bob")],
    [() => keyOf(code("c-alice"), "alice"), () => keyOf(code("c-bob"), "bob")],
    [() => keyOf(cc([["organization", "org_A"]])), () => keyOf(cc([["organization", "org_B"]]))],
    [() => keyOf(cc([["audience", "a"], ["resource", "r1"]])), () => keyOf(cc([["audience", "a"], ["resource", "r2"]]))],
    [() => keyOf(cc(), "tenant-1"), () => keyOf(cc(), "tenant-2")],
  ];
  for (const [a, b] of pairs) assert.notEqual(a(), b());
});

test("user-delegated grants need a partition and a sealed store", () => {
  for (const grant of [rt("rt-alice"), code("c-alice")]) {
    assert.throws(() => keyOf(grant), (e) => e.code === "partition_required");
    assert.throws(() => keyOf(grant, "alice", false), (e) => e.code === "encryption_required");
  }
  for (const bad of ["", "a\nb", "x".repeat(1025)]) {
    assert.throws(() => new Session(cc(), { partition: bad }), (e) => e.code === "invalid_partition");
  }
});

test("secrets are not part of the identity; the encoding is pinned", () => {
  assert.equal(keyOf(jwt("alice@x", "k1"), undefined, true, full), keyOf(jwt("alice@x", "k2"), undefined, true, full));
  assert.equal(keyOf(rt("rt-alice-1"), "alice"), keyOf(rt("rt-alice-2"), "alice"));
  assert.equal(keyOf(cc(undefined, "old")), keyOf(cc(undefined, "new")));
  const k = keyOf(rt("rt-alice"), "alice");
  assert.ok(!k.includes("alice") && !k.includes("rt-"), k);
  // Pinned (the same value in the Python suite): a change of the canonical encoding must come
  // with a new identity version, or stored records of every deployment would be orphaned.
  assert.equal(keyOf(cc([["organization", "org_A"]]), "tenant-1"), "tc:token:v2:{fd36bb1a77ef5f38347f68b65b161b25f587a58056389ca3155682e78b416815}");
});
