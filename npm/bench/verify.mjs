// JWT verification throughput: tokenclock's Verifier ("tokenclock/full" in Node: core in wasm,
// RSA/ECDSA/Ed25519 signatures through node:crypto KeyObjects, HMAC in the module) against
// jose's jwtVerify and jsonwebtoken's verify, in the same Node process and run, on the same
// tokens (HS256, RS256, ES256, and with --all also PS256, ES384 and EdDSA; jsonwebtoken 9 has
// no EdDSA).
//
//   cd npm && node bench/verify.mjs [--all] [--rounds N] [--target-ms MS] [--json]
//
// Every candidate does the same work per call: signature with a key prepared once, exp/nbf/iat
// against the current time with 5 s leeway, iss and aud, claims returned. Keys are prepared the
// way each library is fastest: tokenclock parses the PEM/secret once in its constructor (and
// imports the KeyObject once); jose gets a CryptoKey imported once (importSPKI; subtle.importKey
// for the HMAC secret); jsonwebtoken gets node:crypto KeyObjects (createPublicKey/
// createSecretKey). jose is async (WebCrypto): measured with `await` in the loop. Before timing,
// each must accept every token with the same claims and reject a token with an altered
// signature.
//
// Each round runs every case for a batch calibrated to ~target-ms, cases interleaved; the figure
// is the median round's µs/verify (best beside it). "peer / tokenclock" > 1: tokenclock faster.
// Nothing here is asserted: numbers go to BENCHMARKS.md ("Verifier throughput").
import { createRequire } from "node:module";
import { createPublicKey, createSecretKey, generateKeyPairSync, webcrypto } from "node:crypto";
import { SignJWT, importPKCS8, importSPKI, jwtVerify } from "jose";
import { Verifier, version } from "tokenclock/full";

const require = createRequire(import.meta.url);
const jsonwebtoken = require("jsonwebtoken");
const joseVersion = require("jose/package.json").version;
const jwtVersion = require("jsonwebtoken/package.json").version;

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ROUNDS = opt("--rounds", 15);
const TARGET_MS = opt("--target-ms", 60);
const JSON_OUT = args.includes("--json");
const ALGS = args.includes("--all") ? ["HS256", "RS256", "ES256", "PS256", "ES384", "EdDSA"] : ["HS256", "RS256", "ES256"];

const ISSUER = "https://issuer.example.com/";
const AUDIENCE = "https://api.example.com/";
const LEEWAY_S = 5;
const nowS = Math.floor(Date.now() / 1000);
const CLAIMS = {
  iss: ISSUER,
  sub: "svc-orders@clients",
  aud: AUDIENCE,
  iat: nowS,
  nbf: nowS,
  exp: nowS + 3600,
  azp: "svc-orders",
  scope: "orders:read orders:write inventory:read",
  jti: "5d7c2a4e-1f0b-4b6f-9a53-0c8e8f7d2a11",
};

const tamper = (token) => {
  const [h, p, s] = token.split(".");
  const mid = s.length >> 1;
  return `${h}.${p}.${s.slice(0, mid)}${s[mid] === "A" ? "B" : "A"}${s.slice(mid + 1)}`;
};
const same = (a, b) => JSON.stringify(a, Object.keys(a).sort()) === JSON.stringify(b, Object.keys(b).sort());

async function setup(alg) {
  let signKey, pem, secret;
  if (alg === "HS256") {
    secret = Buffer.from("k".repeat(32) + "bench-hs256-secret");
    signKey = createSecretKey(secret);
  } else {
    const pair =
      alg === "RS256" || alg === "PS256"
        ? generateKeyPairSync("rsa", { modulusLength: 2048 })
        : alg === "EdDSA"
          ? generateKeyPairSync("ed25519")
          : generateKeyPairSync("ec", { namedCurve: alg === "ES384" ? "P-384" : "P-256" });
    signKey = pair.privateKey;
    pem = pair.publicKey.export({ type: "spki", format: "pem" });
  }
  // jsonwebtoken 9 cannot sign (or verify) EdDSA: jose signs that token.
  const token =
    alg === "EdDSA"
      ? await new SignJWT(CLAIMS)
          .setProtectedHeader({ alg, typ: "JWT" })
          .sign(await importPKCS8(signKey.export({ type: "pkcs8", format: "pem" }), alg))
      : jsonwebtoken.sign(CLAIMS, signKey, { algorithm: alg });

  const verifier = new Verifier({
    key: alg === "HS256" ? new Uint8Array(secret) : pem,
    algorithms: [alg],
    leewayMs: LEEWAY_S * 1000,
    issuer: ISSUER,
    audience: AUDIENCE,
  });
  // A CryptoKey for HMAC too: given a Uint8Array, jose imports a CryptoKey on every call.
  const joseKey =
    alg === "HS256"
      ? await webcrypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["verify"])
      : await importSPKI(pem, alg);
  const joseOpts = { algorithms: [alg], issuer: ISSUER, audience: AUDIENCE, clockTolerance: LEEWAY_S };
  const jwtKey = alg === "HS256" ? createSecretKey(secret) : createPublicKey(pem);
  const jwtOpts = { algorithms: [alg], issuer: ISSUER, audience: AUDIENCE, clockTolerance: LEEWAY_S };

  const cases = [
    { alg, name: "tokenclock", fn: (t) => verifier.verify(t).claims },
    { alg, name: `jose ${joseVersion}`, fn: async (t) => (await jwtVerify(t, joseKey, joseOpts)).payload, isAsync: true },
  ];
  if (alg !== "EdDSA") cases.push({ alg, name: `jsonwebtoken ${jwtVersion}`, fn: (t) => jsonwebtoken.verify(t, jwtKey, jwtOpts) });
  // Same work: same claims accepted, same forgery rejected.
  for (const c of cases) {
    const got = await c.fn(token);
    if (!same(got, CLAIMS)) throw new Error(`${alg} ${c.name}: unexpected claims ${JSON.stringify(got)}`);
    let rejected = false;
    try {
      await c.fn(tamper(token));
    } catch {
      rejected = true;
    }
    if (!rejected) throw new Error(`${alg} ${c.name}: accepted a tampered token`);
    c.token = token;
  }
  return cases;
}

let sink = 0;
async function batch(c, n) {
  const { fn, token } = c;
  const start = process.hrtime.bigint();
  if (c.isAsync) for (let i = 0; i < n; i++) sink ^= (await fn(token)).exp;
  else for (let i = 0; i < n; i++) sink ^= fn(token).exp;
  return Number(process.hrtime.bigint() - start) / 1e3 / n; // µs per verify
}
async function calibrate(c) {
  let n = 1;
  for (;;) {
    const us = await batch(c, n);
    if (us * n >= (TARGET_MS * 1000) / 4) return Math.max(1, Math.round((TARGET_MS * 1000) / us));
    n *= 4;
  }
}

const cases = [];
for (const alg of ALGS) cases.push(...(await setup(alg)));
for (const c of cases) {
  c.n = await calibrate(c); // also the warm-up
  c.samples = [];
}
for (let r = 0; r < ROUNDS; r++) for (const c of cases) c.samples.push(await batch(c, c.n));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const rows = cases.map((c) => {
  const tc = cases.find((x) => x.alg === c.alg && x.name === "tokenclock");
  const med = median(c.samples);
  const best = Math.min(...c.samples);
  return {
    alg: c.alg,
    case: c.name,
    medianUs: med,
    bestUs: best,
    ratioMedian: med / median(tc.samples),
    ratioBest: best / Math.min(...tc.samples),
  };
});

const env = `Node ${process.version} (${process.arch}), tokenclock ${version()} (full build), jose ${joseVersion}, jsonwebtoken ${jwtVersion}; ${ROUNDS} rounds of ~${TARGET_MS} ms per case`;
if (JSON_OUT) {
  console.log(JSON.stringify({ env, rows }, null, 2));
} else {
  console.log(env + "\n");
  console.log("| alg | case | median µs | best µs | peer / tokenclock (median) | (best) |");
  console.log("|---|---|---:|---:|---:|---:|");
  for (const r of rows)
    console.log(
      `| ${r.alg} | ${r.case} | ${r.medianUs.toFixed(2)} | ${r.bestUs.toFixed(2)} | ${r.ratioMedian.toFixed(2)}× | ${r.ratioBest.toFixed(2)}× |`,
    );
}
if (sink === 0.5) console.log(sink); // keep results live
