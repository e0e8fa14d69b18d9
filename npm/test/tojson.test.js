// Every class of the package has a `toJSON` (so `JSON.stringify` of any object a user holds
// says something useful), and none of them shows a secret, a token or a key.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as api from "tokenclock";
import * as full from "tokenclock/full";

const SECRET = "s3cret-value-never-shown";
const T0 = 1_767_225_600_000;

test("toJSON on every class, never a secret", () => {
  const grant = api.clientCredentials({ tokenUrl: "https://issuer.example/token", clientId: "app", clientSecret: SECRET });
  const session = new api.Session(grant, { seed: 1 });
  const a = session.authorize({ wallMs: T0, monoMs: 1_000 });
  const token = `eyJhbGciOiJub25lIn0.${Buffer.from(JSON.stringify({ exp: T0 / 1000 + 300, sub: SECRET })).toString("base64url")}.`;
  session.completeRefresh(a.ticket.id, 200, [], new TextEncoder().encode(JSON.stringify({ access_token: token, token_type: "Bearer", expires_in: 300 })), { wallMs: T0, monoMs: 1_000 }, { wallMs: T0 + 50, monoMs: 1_050 });
  const keys = api.storeKeys(session, "p", true);
  const objects = {
    grant,
    session,
    ticket: a.ticket,
    authorization: a,
    estimator: new api.SkewEstimator(),
    estimate: new api.Estimate({ offsetMs: 1, lowMs: 0, highMs: 2 }),
    sntp: new api.SntpRequest(T0, 1),
    fleet: new api.FleetRefresh(1, keys.record, { encryptionKey: new Uint8Array(32).fill(7) }),
    store: new api.RedisStore(`redis://user:${SECRET}@127.0.0.1:1/0`, { encryptionKey: new Uint8Array(32).fill(7) }),
    monitor: new full.SkewMonitor(),
    verifier: full.Verifier.fromJwks({ keys: [{ kty: "oct", kid: "k1", k: Buffer.alloc(32, 7).toString("base64url") }] }, { algorithms: ["HS256"] }),
  };
  for (const [name, o] of Object.entries(objects)) {
    assert.equal(typeof o.toJSON, "function", `${name}.toJSON`);
    const text = JSON.stringify(o);
    assert.ok(text !== undefined && text !== "{}", `${name}: ${text}`);
    assert.ok(!text.includes(SECRET) && !text.includes(token) && !/0707/.test(text), `${name}: ${text}`);
  }
  assert.deepEqual(JSON.parse(JSON.stringify(grant)), { grantType: "client_credentials", authMethod: "client_secret_basic", tokenUrl: "https://issuer.example/token" });
  assert.equal(JSON.parse(JSON.stringify(session)).tokenId, 1);
  assert.equal(JSON.parse(JSON.stringify(objects.fleet)).action, "read");
  assert.deepEqual(JSON.parse(JSON.stringify(objects.verifier)), { algorithms: ["HS256"], kids: ["k1"], keyCount: 1 });
});
