// client_secret_jwt (RFC 7523 §2.2, OIDC Core §9) and the plain-http opt-in
// (`allowInsecureRequests: true`), at the grant level and end to end against the loopback token
// server (tests/servers/tcserver.py), whose clock can be offset.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";

import { createFetch, clientCredentials } from "tokenclock";
import * as full from "tokenclock/full";
import { startServer, within } from "./fixtures/tcserver.js";

const SECRET32 = "0123456789abcdef0123456789abcdef";
const IN_CLUSTER = "http://keycloak.identity.svc:8080/realms/r/protocol/openid-connect/token";

let server;
let info;

before(async () => {
  server = await startServer();
  info = server.info;
});
after(() => server?.stop());
beforeEach(() => server.reset({ config: true }));

const seg = (s) => JSON.parse(Buffer.from(s, "base64url"));

test("client_secret_jwt: HS256 with the secret, claims on the issuer's clock (full build)", () => {
  const g = full.clientCredentials({ tokenUrl: "https://as.example.com/token", clientId: "cid", clientSecret: SECRET32, authMethod: "client_secret_jwt" });
  assert.equal(g.authMethod, "client_secret_jwt");
  const now = 1_700_000_060_000;
  const req = g.tokenRequest({ lowMs: now, highMs: now + 500 }, { seed: 3 });
  const form = Object.fromEntries(req.form);
  assert.equal(form.client_id, "cid");
  assert.equal(form.client_assertion_type, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  assert.ok(!("client_secret" in form));
  const [h, p, s] = form.client_assertion.split(".");
  assert.deepEqual(seg(h), { alg: "HS256", typ: "JWT" });
  const c = seg(p);
  assert.deepEqual([c.iss, c.sub, c.aud, c.iat, c.exp], ["cid", "cid", "https://as.example.com/token", 1_700_000_060, 1_700_000_360]);
  assert.equal(createHmac("sha256", SECRET32).update(`${h}.${p}`).digest("base64url"), s);
  const shown = `${g} ${JSON.stringify(g)} ${req} ${JSON.stringify(req)}`;
  assert.ok(!shown.includes(SECRET32));
  // A short secret is refused where the grant is written; the client build points to full.
  assert.throws(
    () => full.clientCredentials({ tokenUrl: "https://as.example.com/token", clientId: "c", clientSecret: SECRET32.slice(1), authMethod: "client_secret_jwt" }),
    (e) => e.code === "weak_secret" && !String(e.message).includes(SECRET32.slice(1)),
  );
  assert.throws(
    () => clientCredentials({ tokenUrl: "https://as.example.com/token", clientId: "c", clientSecret: SECRET32, authMethod: "client_secret_jwt" }),
    (e) => e instanceof TypeError && /tokenclock\/full/.test(e.message),
  );
});

test("allowInsecureRequests: plain http to a non-loopback host only with the opt-in", () => {
  assert.throws(() => clientCredentials({ tokenUrl: IN_CLUSTER, clientId: "c", clientSecret: "s" }), (e) => e.code === "insecure_url");
  const g = clientCredentials({ tokenUrl: IN_CLUSTER, clientId: "c", clientSecret: "s", allowInsecureRequests: true });
  assert.equal(g.allowInsecureRequests, true);
  assert.equal(g.tokenRequest({ lowMs: 0, highMs: 0 }).url, IN_CLUSTER);
  assert.throws(
    () => clientCredentials({ tokenUrl: "http://u:p@keycloak/token", clientId: "c", clientSecret: "s", allowInsecureRequests: true }),
    (e) => e.code === "invalid_url",
  );
  assert.throws(() => createFetch({ tokenUrl: IN_CLUSTER, clientId: "c", clientSecret: "s" }), (e) => e.code === "insecure_url");
});

test("allowInsecureRequests end to end: sent, warned once per origin (console.warn)", async () => {
  // No DNS name for 127.0.0.1 without root: the fetch given to createFetch carries the
  // non-loopback token URL to the loopback token server.
  const fake = "http://idp.cluster.internal:8080/token";
  const seen = [];
  const forward = (url, init) => {
    const u = String(url);
    if (u.startsWith(fake)) {
      seen.push(u);
      return fetch(info.token_url, init);
    }
    return fetch(url, init);
  };
  const warnings = [];
  const orig = console.warn;
  console.warn = (...a) => warnings.push(a.join(" "));
  try {
    const tcFetch = createFetch({ tokenUrl: fake, clientId: "demo-client", clientSecret: "demo-secret", allowInsecureRequests: true, fetch: forward });
    assert.equal((await within(8_000, tcFetch(`${info.api_url}/x`))).status, 200);
    const again = createFetch({ tokenUrl: fake, clientId: "demo-client", clientSecret: "demo-secret", allowInsecureRequests: true, fetch: forward });
    assert.equal((await within(8_000, again(`${info.api_url}/x`))).status, 200);
  } finally {
    console.warn = orig;
  }
  assert.ok(seen.length >= 2);
  const ours = warnings.filter((w) => w.includes("allowInsecureRequests"));
  assert.equal(ours.length, 1, String(warnings));
  assert.ok(ours[0].includes("http://idp.cluster.internal:8080") && !ours[0].includes("demo-secret") && !ours[0].includes("/token"));
});

test("client_secret_jwt end to end: the token server (clock 60 s ahead) accepts the assertion", async () => {
  await server.config({ client_secret: SECRET32, client_auth_methods: ["client_secret_jwt"], issuer_offset_s: 60, api_offset_s: 60 });
  const session = new full.Session(full.clientCredentials({ tokenUrl: info.token_url, clientId: "demo-client", clientSecret: SECRET32, authMethod: "client_secret_jwt", scope: "read" }));
  const tcFetch = createFetch({ session });
  assert.equal((await within(8_000, tcFetch(`${info.api_url}/x`))).status, 200);
  const s = await server.stats();
  assert.equal(s.token.by_client_auth.client_secret_jwt, 1);
});

test("the token server checks the assertion on its own clock (60 s behind)", async () => {
  await server.config({ client_secret: SECRET32, client_auth_methods: ["client_secret_jwt"], issuer_offset_s: -60 });
  const post = async (secret, lowMs) => {
    const g = full.clientCredentials({ tokenUrl: info.token_url, clientId: "demo-client", clientSecret: secret, authMethod: "client_secret_jwt" });
    const req = g.tokenRequest({ lowMs, highMs: lowMs });
    return (await fetch(req.url, { method: "POST", headers: req.headers, body: req.body })).status;
  };
  assert.equal(await post([...SECRET32].reverse().join(""), Date.now() - 60_000), 401);
  assert.equal(await post(SECRET32, Date.now()), 401);
  assert.equal(await post(SECRET32, Date.now() - 60_000), 200);
});
