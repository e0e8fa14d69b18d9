// The Verifier's host edges (the shared vectors cover the rest): a token that is no string is a
// typed token error with a stable code on every path, a fractional nowMs is floored (never
// reaching nbf/iat early), a JWKS is taken as an object, its text or its UTF-8 bytes, a
// Uint8Array PEM key serves asymmetric algorithms, and a kid naming an unusable JWKS entry is a
// token error (unknown_kid), not a configuration error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";

import { Verifier, TokenClockError } from "tokenclock/full";
import { Verifier as CoreVerifier } from "../pkg/full/tokenclock_wasm.js";
import { Verifier as WebVerifier } from "../verify.js?web";

const VECTORS = JSON.parse(readFileSync(new URL("../../tests/vectors/verify/verify.json", import.meta.url), "utf8"));
const vector = (id) => VECTORS.cases.find((c) => c.id === id).input;

const KEY = new Uint8Array(32).fill(0x6b);
const T = 1_700_000_000; // seconds: iat, nbf
const b64 = (data) => Buffer.from(data).toString("base64url");
function hs256(claims) {
  const input = `${b64(JSON.stringify({ alg: "HS256" }))}.${b64(JSON.stringify(claims))}`;
  return `${input}.${createHmac("sha256", KEY).update(input).digest("base64url")}`;
}
const TOKEN = hs256({ sub: "u", iat: T, nbf: T, exp: T + 60 });

/** The verify call of each path: node:crypto wrapper, WebCrypto wrapper (async), core's own. */
const PATHS = {
  node: (opts) => { const v = new Verifier(opts); return (t, now) => v.verify(t, now); },
  web: (opts) => { const v = new WebVerifier(opts); return (t, now) => v.verifyAsync(t, now); },
  core: (opts) => { const v = new CoreVerifier(opts); return (t, now) => v.verify(t, now); },
};

async function error(f) {
  try {
    await f();
  } catch (e) {
    return e;
  }
  assert.fail("accepted");
}

test("a token that is no string is malformed_token (not_a_string) on every path, never a TypeError", async () => {
  for (const [name, make] of Object.entries(PATHS)) {
    const verify = make({ key: { secret: KEY }, algorithms: ["HS256"], leewayMs: 0 });
    for (const token of [undefined, null, 42, {}, [TOKEN], new TextEncoder().encode(TOKEN), true]) {
      const e = await error(() => verify(token, T * 1000 + 1000));
      assert.ok(e instanceof TokenClockError, `${name} ${typeof token}: ${e}`);
      assert.equal(e.code, "malformed_token", name);
      assert.equal(e.reason, "not_a_string", name);
    }
    // A lone surrogate: a string, but not a token.
    for (const token of [TOKEN.slice(0, 10) + "\ud800" + TOKEN.slice(10), "\udfff"]) {
      const e = await error(() => verify(token, T * 1000 + 1000));
      assert.ok(e instanceof TokenClockError && e.code === "malformed_token", `${name}: ${e}`);
      for (const seg of TOKEN.split(".")) assert.ok(!e.message.includes(seg), "message quotes the token");
    }
  }
});

test("a fractional nowMs is floored: 0.4 ms before nbf/iat is not yet valid, 0.4 ms before exp is valid", async () => {
  const iatOnly = hs256({ sub: "u", iat: T, exp: T + 60 });
  for (const [name, make] of Object.entries(PATHS)) {
    const verify = make({ key: { secret: KEY }, algorithms: ["HS256"], leewayMs: 0 });
    const early = await error(() => verify(TOKEN, T * 1000 - 0.4));
    assert.ok(early instanceof TokenClockError, `${name}: ${early}`);
    assert.equal(early.code, "not_yet_valid", name);
    assert.equal(early.validInMs, 1, name);
    assert.equal((await error(() => verify(iatOnly, T * 1000 - 0.4))).code, "issued_in_future", name);
    assert.equal((await verify(TOKEN, T * 1000)).nbfMs, T * 1000, name);
    assert.equal((await verify(iatOnly, T * 1000 + 0.4)).iatMs, T * 1000, name);
    assert.equal((await verify(TOKEN, (T + 60) * 1000 - 0.4)).expMs, (T + 60) * 1000, name);
    assert.equal((await error(() => verify(TOKEN, (T + 60) * 1000))).code, "expired", name);
    assert.equal((await error(() => verify(TOKEN, (T + 60) * 1000 + 0.4))).code, "expired", name);
    // Still numbers only: NaN, infinities and negatives are RangeErrors, as before.
    for (const bad of [NaN, Infinity, -0.5, -1]) {
      assert.ok((await error(() => verify(TOKEN, bad))) instanceof RangeError, `${name} ${bad}`);
    }
  }
});

test("a JWKS as an object, its JSON text or its UTF-8 bytes; a kid on an unusable entry is unknown_kid", () => {
  const input = vector("verify-jwks-select-rsa-2");
  const options = { algorithms: input.algorithms, issuer: input.issuer, audience: input.audience };
  const text = JSON.stringify(input.key.jwks);
  for (const cls of [Verifier, WebVerifier, CoreVerifier]) {
    for (const jwks of [input.key.jwks, text, new TextEncoder().encode(text)]) {
      const v = cls.fromJwks(jwks, options);
      assert.deepEqual(v.kids, ["rsa-1", "rsa-2", "ec-1", "ed-1"]);
      assert.equal(v.verify(input.token, input.now_ms).kid, "rsa-2");
    }
    const enc = vector("verify-jwks-kid-on-encryption-key");
    const e = (() => {
      try {
        cls.fromJwks(enc.key.jwks, options).verify(enc.token, enc.now_ms);
      } catch (err) {
        return err;
      }
      return null;
    })();
    assert.ok(e instanceof TokenClockError, String(e));
    assert.equal(e.code, "unknown_kid");
  }
});

test("a Uint8Array PEM key with only asymmetric algorithms pinned is a public key", () => {
  const input = vector("verify-valid-rs256");
  const pem = new TextEncoder().encode(input.key.pem);
  const options = { issuer: input.issuer, audience: input.audience };
  for (const cls of [Verifier, WebVerifier, CoreVerifier]) {
    const v = new cls({ ...options, key: pem, algorithms: ["RS256"] });
    assert.equal(v.verify(input.token, input.now_ms).alg, "RS256");
    // HS256 pinned too: the bytes would be a secret, and a PEM is refused as one.
    let e = null;
    try {
      new cls({ ...options, key: pem, algorithms: ["RS256", "HS256"] });
    } catch (err) {
      e = err;
    }
    assert.ok(e instanceof TokenClockError && e.code === "invalid_key", String(e));
    assert.ok(!e.message.includes("BEGIN"));
  }
});
