// The Verifier of "tokenclock/full": core decides, the host's native crypto checks RSA, ECDSA
// and Ed25519 signatures.
//
// Core (the wasm module) does everything but those signature checks: parsing, the pinned
// algorithm, `crit`, key selection by `kid`, key/algorithm fit, then the claims and the time
// checks with their skew diagnostics. Between its `prepare` and `finish` this file checks the
// signature with exactly the algorithm core pinned (see hostAlgorithm) and a key core selected,
// each key imported once:
//
//   * `verify()` (synchronous): `node:crypto` KeyObjects in Node (the package's Node entry,
//     full-node.js, hands node:crypto over through useNodeCrypto). Where there is no
//     node:crypto (browsers), `verify()` stays synchronous and core checks the signature with
//     the RustCrypto code compiled into the module (slower for RSA/ECDSA, same answers).
//   * `verifyAsync()`: WebCrypto (`crypto.subtle`: browsers, Deno, Workers), which is
//     asynchronous; in Node it answers with node:crypto like `verify()`.
//
// HMAC (HS256/384/512) stays in core on every path: with the key absorbed once, the module
// computes it in less time than a `createHmac` call costs in Node (and WebCrypto is async).
// A failure or an exception in the host's crypto is `invalid_signature`, never a pass, and a
// key the host cannot import (rare: an EC key given as a compressed point; Ed25519 where
// WebCrypto lacks it) is checked by core instead, so every path gives core's answer.
import { Verifier as CoreVerifier } from "./pkg/full/tokenclock_wasm.js";
import { RemoteVerifier } from "./remote.js";

/** node:crypto, when the entry module provides it (Node, Bun, Deno's Node compatibility). */
let node = null;

/** Called once by full-node.js. @param {typeof import("node:crypto")} crypto */
export function useNodeCrypto(crypto) {
  node = crypto;
}

// What a JOSE algorithm means to each host (RFC 7518 §3; EdDSA: RFC 8037). Core pins the
// algorithm; these are the only parameters ever used with it.
const HASH = { 256: "SHA-256", 384: "SHA-384", 512: "SHA-512" };
function hostAlgorithm(name) {
  const bits = Number(name.slice(2)); // NaN for EdDSA
  const nodeHash = `sha${bits}`;
  switch (name.slice(0, 2)) {
    case "HS":
      return { name, kind: "hmac" }; // checked by core (INFO_CORE_CHECKS), never here
    case "RS":
      return { name, kind: "pkcs1", nodeHash, web: { name: "RSASSA-PKCS1-v1_5", hash: HASH[bits] }, webVerify: { name: "RSASSA-PKCS1-v1_5" } };
    case "PS":
      // Salt length = the hash length (RFC 7518 §3.5), checked exactly.
      return { name, kind: "pss", nodeHash, saltLength: bits / 8, web: { name: "RSA-PSS", hash: HASH[bits] }, webVerify: { name: "RSA-PSS", saltLength: bits / 8 } };
    case "ES":
      // JOSE's ECDSA signature is r || s (IEEE P1363), which is also WebCrypto's form.
      return { name, kind: "ecdsa", nodeHash, web: { name: "ECDSA", namedCurve: bits === 256 ? "P-256" : "P-384" }, webVerify: { name: "ECDSA", hash: HASH[bits] } };
    default:
      if (name !== "EdDSA") throw new Error(`tokenclock: no host mapping for ${name}`);
      return { name, kind: "ed25519", web: { name: "Ed25519" }, webVerify: { name: "Ed25519" } };
  }
}
/** By core's algorithm index (filled once the module is instantiated). */
let algByIndex = null;

/** Core's limit on a token's size (peek::MAX_TOKEN_BYTES); longer strings are refused there. */
const MAX_TOKEN_BYTES = 64 * 1024;

// preparedInfo's layout (bindings-wasm/src/verify.rs, INFO_*).
const INFO_KEY_MASK = 0xff;
const INFO_ALG_SHIFT = 8;
const INFO_MORE_KEYS = 1 << 12;
const INFO_CORE_CHECKS = 1 << 13;
const INFO_LEN_SHIFT = 14;

/**
 * An RSA signature must be exactly as long as the modulus (RFC 8017 §8.2.2 step 1; core's
 * backends check it). OpenSSL also accepts one with its leading zero bytes left out, which
 * would let the host pass a token core refuses: refuse it here first.
 */
function rsaLengthOk(signature, modulusBits) {
  return typeof modulusBits === "number" && signature.length === (modulusBits + 7) >> 3;
}

/** node:crypto check of one signature; any exception is a failed check. */
function nodeVerify(alg, key, data, signature) {
  try {
    if ((alg.kind === "pkcs1" || alg.kind === "pss") && !rsaLengthOk(signature, key.asymmetricKeyDetails?.modulusLength)) {
      return false;
    }
    switch (alg.kind) {
      case "pkcs1":
        return node.verify(alg.nodeHash, data, { key, padding: node.constants.RSA_PKCS1_PADDING }, signature);
      case "pss":
        return node.verify(alg.nodeHash, data, { key, padding: node.constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength }, signature);
      case "ecdsa":
        return node.verify(alg.nodeHash, data, { key, dsaEncoding: "ieee-p1363" }, signature);
      case "ed25519":
        return node.verify(null, data, key, signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** A node:crypto KeyObject for a core JWK, or null when node:crypto refuses it (core checks). */
function nodeKey(jwk) {
  if (jwk === null) return null;
  try {
    return node.createPublicKey({ key: jwk, format: "jwk" });
  } catch {
    return null;
  }
}

let encoder = null;

/**
 * A token string as UTF-8 bytes for the module (one bulk copy, where its own string transfer
 * goes character by character), or null for anything else (a non-string, or a string longer
 * than any token core accepts), which takes the module's checked path and its errors.
 */
function utf8(token) {
  if (typeof token !== "string" || token.length > MAX_TOKEN_BYTES) return null;
  if (node !== null) return Buffer.from(token, "utf8");
  encoder ??= new TextEncoder();
  return encoder.encode(token);
}

const INSPECT = Symbol.for("nodejs.util.inspect.custom");
let adopting = null;

/**
 * Verifies JWTs: pinned algorithms, keys parsed once, time claims checked with leeway on the
 * verifier's clock; signatures by the host's native crypto (see the top of this file).
 */
export class Verifier {
  /** @type {CoreVerifier} */
  #core;
  /** One JWK (or null) per key index, from core. */
  #jwks;
  /** node:crypto KeyObjects per key index (null: core checks that key); null without Node. */
  #nodeKeys = null;
  /** WebCrypto keys per `${index} ${alg}` (a CryptoKey is bound to its algorithm). */
  #webKeys = new Map();
  /** Every pinned algorithm is one core checks itself (HMAC): one call per token. */
  #coreChecksAll;

  /**
   * `new Verifier({ key, algorithms, leewayMs?, allowLargeLeeway?, issuer?, audience?,
   * maxAgeMs?, requireExp?, clock? })`.
   */
  constructor(options) {
    algByIndex ??= CoreVerifier.algorithmNames().map(hostAlgorithm);
    this.#core = adopting ?? new CoreVerifier(options);
    this.#jwks = this.#core.hostKeys();
    this.#coreChecksAll = this.#core.coreChecksAll;
    if (node !== null) this.#nodeKeys = this.#jwks.map(nodeKey);
  }

  /** Keys from a JWKS document (an object or its JSON text); tokens pick theirs by `kid`. */
  static fromJwks(jwks, options) {
    adopting = CoreVerifier.fromJwks(jwks, options);
    try {
      return new Verifier();
    } finally {
      adopting = null;
    }
  }

  /**
   * A Verifier around a verifier of the module (e.g. `KeySet.verifier()`), its keys taken as
   * they are (not parsed again).
   */
  static fromCore(core) {
    if (!(core instanceof CoreVerifier)) {
      const e = new TypeError("core must be a Verifier of the tokenclock/full module");
      e.code = "invalid_argument";
      throw e;
    }
    adopting = core;
    try {
      return new Verifier();
    } finally {
      adopting = null;
    }
  }

  /**
   * A RemoteVerifier with keys from `issuer`'s discovery document (OpenID Connect, or RFC 8414
   * with `discovery: "oauth"`) and its `jwks_uri`; tokens must carry `iss == issuer`.
   */
  static fromIssuer(issuer, options) {
    return RemoteVerifier.fromIssuer(issuer, options);
  }

  /** A RemoteVerifier with keys from the key set at `jwksUri`. */
  static fromJwksUri(jwksUri, options) {
    return RemoteVerifier.fromJwksUri(jwksUri, options);
  }

  /**
   * Verifies `token` (the bare compact JWS) at `nowMs` (default: the verifier's clock).
   * Returns `{ alg, kid, claims, iatMs, nbfMs, expMs }`; throws `TokenClockError`.
   * Synchronous: node:crypto in Node, core's own crypto elsewhere.
   */
  verify(token, nowMs) {
    const nodeKeys = this.#nodeKeys;
    const core = this.#core;
    const bytes = nodeKeys === null ? null : utf8(token);
    if (bytes === null) return core.verify(token, nowMs);
    if (this.#coreChecksAll) return JSON.parse(core.verifyUtf8(bytes, nowMs));
    const handle = core.prepareUtf8(bytes, nowMs);
    let valid = false;
    let byCore = false;
    try {
      const info = core.preparedInfo(handle);
      // Usually one candidate key; several only for a JWKS with a repeated kid.
      const first = nodeKeys[info & INFO_KEY_MASK];
      const more = info & INFO_MORE_KEYS ? Array.from(core.preparedKeys(handle), (i) => nodeKeys[i]) : null;
      if (info & INFO_CORE_CHECKS || (more === null ? !first : more.some((key) => !key))) {
        byCore = true; // HMAC, or a key node:crypto did not take
      } else {
        const alg = algByIndex[(info >>> INFO_ALG_SHIFT) & 0xf];
        const signature = core.preparedSignature(handle);
        // Core accepted a bare compact token: ASCII, so its bytes are its characters.
        const data = bytes.subarray(0, info >>> INFO_LEN_SHIFT);
        valid = more === null ? nodeVerify(alg, first, data, signature) : more.some((key) => nodeVerify(alg, key, data, signature));
      }
    } catch {
      valid = false; // never a pass
    }
    return JSON.parse(byCore ? core.finishWithCore(handle) : core.finish(handle, valid));
  }

  /**
   * `verify` with the signature checked by WebCrypto (`crypto.subtle`) where there is no
   * node:crypto; in Node the same answer as `verify`, as a promise. Rejects with what `verify`
   * throws.
   */
  async verifyAsync(token, nowMs) {
    if (this.#nodeKeys !== null) return this.verify(token, nowMs);
    const core = this.#core;
    const bytes = utf8(token);
    if (bytes === null) return core.verify(token, nowMs);
    if (this.#coreChecksAll) return JSON.parse(core.verifyUtf8(bytes, nowMs));
    const handle = core.prepareUtf8(bytes, nowMs);
    let valid = false;
    let byCore = false;
    try {
      const info = core.preparedInfo(handle);
      if (info & INFO_CORE_CHECKS) {
        byCore = true;
      } else {
        const keys = info & INFO_MORE_KEYS ? Array.from(core.preparedKeys(handle)) : [info & INFO_KEY_MASK];
        const alg = algByIndex[(info >>> INFO_ALG_SHIFT) & 0xf];
        const webKeys = await Promise.all(keys.map((i) => this.#webKey(i, alg)));
        if (webKeys.includes(null)) {
          byCore = true; // a key WebCrypto cannot take (e.g. Ed25519 in an older browser)
        } else {
          const signature = core.preparedSignature(handle);
          const data = bytes.subarray(0, info >>> INFO_LEN_SHIFT);
          for (const key of webKeys) {
            const rsa = alg.kind === "pkcs1" || alg.kind === "pss";
            if (rsa && !rsaLengthOk(signature, key.algorithm?.modulusLength)) continue;
            if (await globalThis.crypto.subtle.verify(alg.webVerify, key, signature, data)) {
              valid = true;
              break;
            }
          }
        }
      }
    } catch {
      valid = false; // never a pass
    }
    return JSON.parse(byCore ? core.finishWithCore(handle) : core.finish(handle, valid));
  }

  /** A WebCrypto key for key `index` and `alg`, imported on first use; null: core checks. */
  #webKey(index, alg) {
    const id = `${index} ${alg.name}`;
    let key = this.#webKeys.get(id);
    if (key === undefined) {
      const jwk = this.#jwks[index] ?? null;
      const subtle = globalThis.crypto?.subtle;
      key =
        jwk === null || subtle === undefined
          ? Promise.resolve(null)
          : subtle.importKey("jwk", jwk, alg.web, false, ["verify"]).catch(() => null);
      this.#webKeys.set(id, key);
    }
    return key;
  }

  /** The pinned algorithms. */
  get algorithms() {
    return this.#core.algorithms;
  }

  /** The `kid`s of the usable keys. */
  get kids() {
    return this.#core.kids;
  }

  /** Number of usable keys. */
  get keyCount() {
    return this.#core.keyCount;
  }

  /** Algorithms, key kinds and options; never key material. */
  toString() {
    return this.#core.toString();
  }

  /** `{ algorithms, kids, keyCount }`: what `JSON.stringify` shows; never key material. */
  toJSON() {
    return { algorithms: this.algorithms, kids: this.kids, keyCount: this.keyCount };
  }

  /** Releases the wasm memory now instead of at garbage collection. */
  free() {
    this.#core.free();
    this.#nodeKeys = null;
    this.#webKeys.clear();
  }

  [INSPECT]() {
    return this.toString();
  }
}
