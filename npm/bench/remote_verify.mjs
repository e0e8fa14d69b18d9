// Verification with the issuer's published keys (cache hit), in one Node process and run:
// tokenclock's `Verifier.fromIssuer` (core's key set, signatures through node:crypto) against
// the direct tokenclock `Verifier` given the key, jose's `createRemoteJWKSet` + `jwtVerify`
// (the issue's named peer), and `jwks-rsa` + jsonwebtoken's `verify` (the usual Express pair;
// jsonwebtoken with KeyObjects is the strongest Node verifier). Same RS256 (RSA-2048) and ES256
// tokens from a loopback issuer (test/fixtures/issuer.js) on 127.0.0.1.
//
//   cd npm && node bench/remote_verify.mjs [--rounds N] [--target-ms MS]
//
// The key set is fetched before timing, and the issuer counts requests: a case that fetches
// while timed fails the run. Every case must accept the token and reject one with an altered
// signature first. Rounds interleave the cases; the figure is the median round's µs/verify
// (best beside it). "÷ fromIssuer" > 1: tokenclock's remote verifier is faster.
import { createRequire } from "node:module";
import { createPublicKey, generateKeyPairSync, sign as cryptoSign } from "node:crypto";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { Verifier, version } from "tokenclock/full";
import { newKey, sign as signEs256, startIssuer } from "../test/fixtures/issuer.js";

const require = createRequire(import.meta.url);
const jsonwebtoken = require("jsonwebtoken");
const jwksRsa = require("jwks-rsa");
const versions = {
  jose: require("jose/package.json").version,
  jsonwebtoken: require("jsonwebtoken/package.json").version,
  "jwks-rsa": require("jwks-rsa/package.json").version,
};

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ROUNDS = opt("--rounds", 15);
const TARGET_MS = opt("--target-ms", 60);
const AUDIENCE = "api";

const b64url = (d) => Buffer.from(d).toString("base64url");
function signRs256(key, iss) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid: key.kid }));
  const payload = b64url(JSON.stringify({ iss, sub: "user-1", aud: AUDIENCE, iat: now, exp: now + 3600 }));
  const input = `${header}.${payload}`;
  return `${input}.${b64url(cryptoSign("sha256", Buffer.from(input), key.privateKey))}`;
}
function tamper(t) {
  const i = t.lastIndexOf(".") + 1;
  return t.slice(0, i) + (t[i] === "A" ? "B" : "A") + t.slice(i + 1);
}

const state = await startIssuer();
const es = newKey("ec-1");
const rsaPair = generateKeyPairSync("rsa", { modulusLength: 2048 });
const rs = { kid: "rsa-1", privateKey: rsaPair.privateKey, jwk: { ...rsaPair.publicKey.export({ format: "jwk" }), kid: "rsa-1", alg: "RS256", use: "sig" } };
state.keys = [rs, es];
const iss = state.issuer;

const remote = Verifier.fromIssuer(iss, { algorithms: ["RS256", "ES256"], audience: AUDIENCE });
const joseJwks = createRemoteJWKSet(new URL(`${iss}/jwks`));
const jwksClient = jwksRsa({ jwksUri: `${iss}/jwks`, cache: true, rateLimit: false });

const cases = [];
for (const [alg, key, token] of [
  ["RS256", rs, signRs256(rs, iss)],
  ["ES256", es, signEs256(es, iss, { aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 3600 })],
]) {
  const pem = createPublicKey({ key: key.jwk, format: "jwk" }).export({ type: "spki", format: "pem" });
  const direct = new Verifier({ key: pem, algorithms: [alg], audience: AUDIENCE, issuer: iss });
  const candidates = {
    "tokenclock Verifier.fromIssuer (cache hit)": async (t) => (await remote.verify(t)).claims,
    "tokenclock Verifier (key given)": async (t) => direct.verify(t).claims,
    "jose createRemoteJWKSet + jwtVerify (cache hit)": async (t) =>
      (await jwtVerify(t, joseJwks, { algorithms: [alg], issuer: iss, audience: AUDIENCE, clockTolerance: 5 })).payload,
    "jwks-rsa + jsonwebtoken verify (cache hit)": async (t) => {
      const { kid } = JSON.parse(Buffer.from(t.slice(0, t.indexOf(".")), "base64url"));
      const signing = await jwksClient.getSigningKey(kid);
      return jsonwebtoken.verify(t, signing.getPublicKey(), { algorithms: [alg], issuer: iss, audience: AUDIENCE, clockTolerance: 5 });
    },
  };
  for (const [name, fn] of Object.entries(candidates)) {
    const claims = await fn(token);
    if (claims.sub !== "user-1") throw new Error(`${name}: wrong claims`);
    let accepted = true;
    try {
      await fn(tamper(token));
    } catch {
      accepted = false;
    }
    if (accepted) throw new Error(`${name} accepted a forged signature`);
    cases.push({ alg, name, run: () => fn(token), samples: [] });
  }
}

async function batch(c, n) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await c.run();
  return ((performance.now() - t0) * 1000) / n;
}
for (const c of cases) {
  let n = 16;
  for (;;) {
    const us = await batch(c, n);
    if ((us * n) / 1000 >= TARGET_MS / 4) {
      c.n = Math.max(1, Math.round((n * TARGET_MS * 1000) / (us * n)));
      break;
    }
    n *= 4;
  }
}
const fetched = { ...state.counts };
for (let r = 0; r < ROUNDS; r++) for (const c of cases) c.samples.push(await batch(c, c.n));
if (state.counts.discovery !== fetched.discovery || state.counts.jwks !== fetched.jwks) {
  throw new Error(`a case fetched while timed: ${JSON.stringify(fetched)} -> ${JSON.stringify(state.counts)}`);
}
await state.close();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`Node ${process.version}, tokenclock ${version()}, ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(", ")}; ${ROUNDS} rounds of ~${TARGET_MS} ms`);
console.log("\n| alg | case | median µs | best µs | ÷ fromIssuer (median) | (best) |\n|---|---|---:|---:|---:|---:|");
for (const alg of ["RS256", "ES256"]) {
  const ref = cases.find((c) => c.alg === alg && c.name.includes("fromIssuer"));
  for (const c of cases.filter((x) => x.alg === alg)) {
    const [m, b] = [median(c.samples), Math.min(...c.samples)];
    console.log(`| ${alg} | ${c.name} | ${m.toFixed(2)} | ${b.toFixed(2)} | ${(m / median(ref.samples)).toFixed(2)}× | ${(b / Math.min(...ref.samples)).toFixed(2)}× |`);
  }
}
