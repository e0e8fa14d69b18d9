// Every failure the loopback token endpoint can inject (tests/servers/README.md, "Injected
// failures") reaches the caller of createFetch as a typed TokenClockError with the core's
// stable code, within a bound: never a hang, never a string, never a secret in the message.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";

import { createFetch, TokenClockError } from "tokenclock";
import { startServer, within } from "./fixtures/tcserver.js";

let server;
let info;

before(async () => {
  server = await startServer();
  info = server.info;
});
after(() => server?.stop());
beforeEach(() => server.reset({ config: true }));

// [name, failure object (served on every token request), expected code, expected details]
const CASES = [
  ["HTTP 500", { kind: "status", status: 500 }, "http_error", { errorClass: "transient", status: 500 }],
  ["HTTP 502 after processing", { kind: "status", status: 502, after_processing: true }, "http_error", { status: 502 }],
  ["HTTP 503 + Retry-After", { kind: "status", status: 503, retry_after: "1" }, "http_error", { retryAfter: "1" }],
  ["HTTP 429", { kind: "status", status: 429 }, "http_error", { errorClass: "transient", status: 429 }],
  // An HTTP error without an OAuth error is not the authorization server's word: transient.
  ["HTTP 404", { kind: "status", status: 404 }, "http_error", { errorClass: "transient", status: 404 }],
  ["HTTP 301", { kind: "status", status: 301, body: "" }, "http_error", { errorClass: "transient", status: 301 }],
  ["invalid_client", { kind: "oauth_error", error: "invalid_client", status: 401 }, "invalid_client", { errorClass: "permanent" }],
  ["invalid_grant", { kind: "oauth_error", error: "invalid_grant" }, "invalid_grant", { oauthError: "invalid_grant" }],
  ["unauthorized_client", { kind: "oauth_error", error: "unauthorized_client" }, "unauthorized_client", {}],
  ["invalid_scope", { kind: "oauth_error", error: "invalid_scope" }, "invalid_scope", {}],
  ["invalid_request", { kind: "oauth_error", error: "invalid_request" }, "invalid_request", {}],
  ["temporarily_unavailable", { kind: "oauth_error", error: "temporarily_unavailable", status: 503 }, "temporarily_unavailable", { errorClass: "transient" }],
  ["server_error", { kind: "oauth_error", error: "server_error", status: 500 }, "server_error", { errorClass: "transient" }],
  ["unknown OAuth error", { kind: "oauth_error", error: "slow_down" }, "oauth_error", {}],
  ["slow (beyond tokenTimeoutMs)", { kind: "slow", delay_s: 5 }, "transport_error", { failure: "timeout" }],
  ["truncated JSON", { kind: "invalid_json" }, "invalid_json", { errorClass: "transient" }],
  ["HTML sign-in page", { kind: "html" }, "invalid_json", {}],
  ["HTML error page (403)", { kind: "html", status: 403 }, "http_error", { status: 403, errorClass: "transient" }],
  ["empty body", { kind: "empty_body" }, "invalid_json", {}],
  ["no access_token", { kind: "missing_field", field: "access_token" }, "missing_access_token", { errorClass: "transient" }],
  ["token_type DPoP", { kind: "override", set: { token_type: "DPoP" } }, "unsupported_token_type", { errorClass: "transient" }],
  ["token_type mac", { kind: "override", set: { token_type: "mac" } }, "unsupported_token_type", {}],
  ["negative expires_in", { kind: "override", set: { expires_in: -5 } }, "invalid_expires_in", {}],
  ["access_token not a string", { kind: "override", set: { access_token: 42 } }, "invalid_access_token", {}],
  ["no fields at all", { kind: "override", set: {}, remove: ["access_token", "token_type", "expires_in", "scope"] }, "missing_access_token", {}],
  ["token already expired (exp in the past)", { kind: "override", claims: { exp: 1_000_000_000 } }, "expired_on_arrival", {}],
  ["connection closed", { kind: "close" }, "transport_error", { failure: "connect" }],
  ["connection reset", { kind: "reset" }, "transport_error", { failure: "connect" }],
  ["connection reset after processing", { kind: "reset", after_processing: true }, "transport_error", { failure: "connect" }],
];

for (const [name, failure, code, details] of CASES) {
  test(`token endpoint failure: ${name} → TokenClockError ${code}`, async () => {
    await server.config({ fail_all_token_requests_with: failure });
    const tcFetch = createFetch({
      tokenUrl: info.token_url,
      clientId: "demo-client",
      clientSecret: "demo-secret",
      tokenTimeoutMs: 1_000,
    });
    const error = await within(8_000, tcFetch(`${info.api_url}/x`), name).then(
      (r) => assert.fail(`expected an error, got HTTP ${r.status}`),
      (e) => e,
    );
    assert.ok(error instanceof TokenClockError, `${error?.name}: ${error?.message}`);
    assert.equal(error.name, "TokenClockError");
    assert.equal(error.code, code, error.message);
    for (const [key, value] of Object.entries(details)) assert.equal(error[key], value, key);
    assert.equal(typeof error.message, "string");
    assert.doesNotMatch(error.message, /demo-secret|ZGVtby1jbGllbnQ6ZGVtby1zZWNyZXQ|eyJ/);
    const s = await server.stats();
    assert.ok(s.token.requests >= 1 && s.token.requests <= 2, `${s.token.requests} token requests`);
    assert.equal(s.api.requests, 0, "nothing is sent to the API without a token");

    // The failure is reported, not stuck: a second call also settles, typed, within the bound
    // (from the backoff or the permanent failure, or by performing a new request).
    const again = await within(8_000, tcFetch(`${info.api_url}/x`), `${name} again`).then(
      (r) => r,
      (e) => e,
    );
    assert.ok(again instanceof TokenClockError, `${again?.name}: ${again?.message}`);
  });
}

test("after a transient failure the session recovers once the token endpoint does", async () => {
  await server.config({ failures: [{ kind: "status", status: 500 }] });
  const tcFetch = createFetch({ tokenUrl: info.token_url, clientId: "demo-client", clientSecret: "demo-secret" });
  const error = await within(8_000, tcFetch(`${info.api_url}/x`)).catch((e) => e);
  assert.equal(error.code, "http_error");
  // The backoff after one failure is at most the 1 s base (full jitter); callers within it
  // wait (bounded by max_wait), then one performs the refresh.
  const response = await within(8_000, tcFetch(`${info.api_url}/x`));
  assert.equal(response.status, 200);
  // Counted on the client: the server's counters can include a token that an earlier case's
  // slow response ("slow" / "after processing") issued after that client had given up.
  const stats = tcFetch.stats();
  assert.equal(stats.tokenRequests, 2);
  assert.equal(stats.tokenRequestErrors, 1);
});

test("wrong client secret → invalid_client (configuration error): fails fast, no second token request before configRetryMs", async () => {
  const tcFetch = createFetch({ tokenUrl: info.token_url, clientId: "demo-client", clientSecret: "wrong-secret" });
  const before = Date.now();
  const first = await within(8_000, tcFetch(`${info.api_url}/x`)).catch((e) => e);
  assert.ok(first instanceof TokenClockError);
  assert.equal(first.code, "invalid_client");
  assert.equal(first.errorClass, "permanent");
  assert.doesNotMatch(first.message, /wrong-secret/);
  // Retried after configRetryMs (default 5 min), never "dead until restart".
  assert.ok(first.retryAtMs >= before + 290_000 && first.retryAtMs <= Date.now() + 300_000, String(first.retryAtMs));
  const second = await within(8_000, tcFetch(`${info.api_url}/x`)).catch((e) => e);
  assert.equal(second.code, "invalid_client");
  assert.equal((await server.stats()).token.requests, 1);
});

test("one HTML 403 from a WAF does not end the session: the next request gets a token", async () => {
  await server.config({
    failures: [{ kind: "status", status: 403, content_type: "text/html", body: "<html><body><h1>403 Forbidden</h1>Request blocked.</body></html>" }],
  });
  const tcFetch = createFetch({
    tokenUrl: info.token_url,
    clientId: "demo-client",
    clientSecret: "demo-secret",
    backoff: { baseMs: 50, capMs: 200 },
  });
  const started = Date.now();
  const error = await within(8_000, tcFetch(`${info.api_url}/x`)).catch((e) => e);
  assert.ok(error instanceof TokenClockError, String(error));
  assert.equal(error.code, "http_error");
  assert.equal(error.status, 403);
  assert.equal(error.errorClass, "transient");
  const response = await within(8_000, tcFetch(`${info.api_url}/x`));
  assert.equal(response.status, 200);
  const stats = tcFetch.stats();
  assert.equal(stats.tokenRequests, 2);
  assert.equal(stats.tokenRequestErrors, 1);
  assert.ok(Date.now() - started < 5_000);
});

test("invalid_client is retried after backoff.configRetryMs, and a fixed server is picked up", async () => {
  await server.config({ failures: [{ kind: "oauth_error", error: "invalid_client", status: 401 }] });
  const tcFetch = createFetch({
    tokenUrl: info.token_url,
    clientId: "demo-client",
    clientSecret: "demo-secret",
    backoff: { baseMs: 50, capMs: 200, configRetryMs: 1_000 },
  });
  const first = await within(8_000, tcFetch(`${info.api_url}/x`)).catch((e) => e);
  assert.equal(first.code, "invalid_client");
  // Within configRetryMs: fails at once, no token request (not waited out).
  const t0 = Date.now();
  const second = await within(8_000, tcFetch(`${info.api_url}/x`)).catch((e) => e);
  assert.equal(second.code, "invalid_client");
  assert.ok(Date.now() - t0 < 500);
  assert.equal(tcFetch.stats().tokenRequests, 1);
  await new Promise((r) => setTimeout(r, Math.max(0, second.retryAtMs - Date.now()) + 50));
  const response = await within(8_000, tcFetch(`${info.api_url}/x`));
  assert.equal(response.status, 200);
  assert.equal(tcFetch.stats().tokenRequests, 2);
});

test("client_secret_post is honoured", async () => {
  await server.config({ client_auth_methods: ["client_secret_post"] });
  const tcFetch = createFetch({
    tokenUrl: info.token_url,
    clientId: "demo-client",
    clientSecret: "demo-secret",
    authMethod: "client_secret_post",
    scope: "read",
  });
  assert.equal((await within(8_000, tcFetch(`${info.api_url}/x`))).status, 200);
  const s = await server.stats();
  assert.equal(s.token.by_client_auth.client_secret_post, 1);
});

test("the token endpoint is unreachable → transport_error", async () => {
  // A port that was just free: nothing listens there.
  const { createServer } = await import("node:net");
  const probe = createServer();
  await new Promise((r) => probe.listen(0, "127.0.0.1", r));
  const port = probe.address().port;
  await new Promise((r) => probe.close(r));
  const tcFetch = createFetch({ tokenUrl: `http://127.0.0.1:${port}/token`, clientId: "c", clientSecret: "s" });
  const error = await within(8_000, tcFetch(`${info.api_url}/x`)).catch((e) => e);
  assert.ok(error instanceof TokenClockError);
  assert.equal(error.code, "transport_error");
  assert.equal(error.failure, "connect");
});
