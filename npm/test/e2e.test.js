// End-to-end: createFetch against the real loopback servers (tests/servers/tcserver.py), the
// same scenarios as the Python suites: a skewed resource server, a refresh storm at expiry,
// 503 + Retry-After, 401 retry and diagnosis, AbortSignal. Each scenario counts requests on
// the server side (GET /control/stats) and asserts exact numbers. Every await on the system
// under test is bounded (`within`): a hang fails the test, it never stalls the suite.
//
// Ageing tokens without sleeping: `shiftedClock()` moves the client's wall and monotonic
// clocks together, and the servers' clocks are moved by the same amount (issuer_offset_s,
// api_offset_s), which is exactly "time passed" for everyone.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";

import { createFetch, TokenClockError } from "tokenclock";
import { startServer, shiftedClock, within, naiveClient } from "./fixtures/tcserver.js";

let server;
let info;

before(async () => {
  server = await startServer();
  info = server.info;
});
after(() => server?.stop());
beforeEach(() => server.reset({ config: true }));

function credentials(extra = {}) {
  return { tokenUrl: info.token_url, clientId: "demo-client", clientSecret: "demo-secret", ...extra };
}

/** Moves the client clock and both server clocks forward by `ms` ("time passes"). */
async function advance(clock, ms) {
  clock.advance(ms);
  const s = clock.shiftMs() / 1000;
  await server.config({ issuer_offset_s: s, api_offset_s: s });
}

async function drained(response) {
  await response.arrayBuffer();
  return response;
}

test("skewed resource server (2 s ahead, zero leeway, 4 s tokens): zero failures, fewer 401s than a naive client", async () => {
  await server.config({ api_offset_s: 2, api_leeway_s: 0, token_ttl_s: 4 });
  // Count what each client sees on the wire (the server's counters mix both clients).
  const seen = { tokenRequests: 0, unauthorized: 0 };
  const countingFetch = async (input, init) => {
    const response = await fetch(input, init);
    if (String(input) === info.token_url) seen.tokenRequests += 1;
    else if (response.status === 401) seen.unauthorized += 1;
    return response;
  };
  const tcFetch = createFetch({ ...credentials(), fetch: countingFetch });
  const naive = naiveClient({ tokenUrl: info.token_url });
  const url = `${info.api_url}/steady`;
  const statuses = { tokenclock: [], naive: [] };
  const until = Date.now() + 10_000;
  async function steady(name, call) {
    while (Date.now() < until) {
      const response = await within(15_000, call(), `${name} request`);
      statuses[name].push(response.status);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await Promise.all([
    steady("tokenclock", async () => drained(await tcFetch(url))),
    steady("naive", () => naive.call(url)),
  ]);

  const failures = statuses.tokenclock.filter((s) => s !== 200);
  assert.deepEqual(failures, [], "every tokenclock request succeeds (after at most one retry)");
  assert.ok(statuses.tokenclock.length >= 50, `steady traffic (${statuses.tokenclock.length} requests)`);
  // The scenario is real: trusting expires_in with a resource server 2 s ahead gets 401s.
  assert.ok(naive.stats.unauthorized >= 3, `naive client saw ${naive.stats.unauthorized} 401s`);
  assert.ok(
    seen.unauthorized < naive.stats.unauthorized,
    `tokenclock 401s (${seen.unauthorized}) < naive 401s (${naive.stats.unauthorized})`,
  );
  const stats = tcFetch.stats();
  assert.equal(stats.unauthorized, seen.unauthorized);
  assert.equal(stats.tokenRequests, seen.tokenRequests);
  assert.equal(stats.returned401, 0);
  assert.equal(stats.clockSkewErrors, 0);
  assert.equal(stats.session.unauthorized, seen.unauthorized);
  // Server-side truth: every 401 it sent was seen by one of the two clients.
  const s = await server.stats();
  assert.equal(s.api.responses_401, seen.unauthorized + naive.stats.unauthorized);
  assert.equal(s.token.requests, seen.tokenRequests + naive.stats.tokenRequests);
  console.log(
    `# skew: tokenclock ${statuses.tokenclock.length} requests, ${seen.unauthorized} 401s, ` +
      `${seen.tokenRequests} token requests; naive ${naive.stats.calls} requests, ` +
      `${naive.stats.unauthorized} 401s, ${naive.stats.failures} failures, ${naive.stats.tokenRequests} token requests`,
  );
});

test("200 concurrent calls at expiry make exactly one token request", async () => {
  await server.config({ token_ttl_s: 60 });
  const clock = shiftedClock();
  const tcFetch = createFetch({ ...credentials(), clock });
  const url = `${info.api_url}/storm`;
  assert.equal((await within(10_000, tcFetch(url).then(drained))).status, 200);
  assert.equal((await server.stats()).token.requests, 1);

  await advance(clock, 61_000); // the token is now expired for client, issuer and API alike
  const responses = await within(
    30_000,
    Promise.all(Array.from({ length: 200 }, (_, i) => tcFetch(`${url}/${i}`).then(drained))),
    "200 concurrent calls",
  );
  assert.deepEqual(
    responses.map((r) => r.status),
    Array(200).fill(200),
  );
  const s = await server.stats();
  assert.equal(s.token.requests, 2, "one token request for the first call, exactly one for the 200");
  assert.equal(s.api.requests, 201);
  assert.equal(s.api.responses_401, 0);
  const stats = tcFetch.stats();
  assert.equal(stats.tokenRequests, 2);
  assert.equal(stats.session.tokenRequests, 2);
  assert.equal(stats.refreshInFlight, false);
});

test("200 concurrent calls with no token yet and a slow token endpoint: one token request", async () => {
  await server.config({ failures: [{ kind: "slow", delay_s: 0.5 }] });
  const tcFetch = createFetch(credentials());
  const responses = await within(
    30_000,
    Promise.all(Array.from({ length: 200 }, (_, i) => tcFetch(`${info.api_url}/cold/${i}`).then(drained))),
    "200 concurrent cold calls",
  );
  assert.deepEqual(
    responses.map((r) => r.status),
    Array(200).fill(200),
  );
  const s = await server.stats();
  assert.equal(s.token.requests, 1);
  assert.equal(s.token.failures_by_kind.slow, 1);
  assert.equal(s.api.requests, 200);
});

test("503 + Retry-After: 2 on a background refresh: the cached token serves, no token request before 2 s", async () => {
  // 30 s tokens: margin 3 s, hard expiry ~26 s after receipt, refresh due from ~20 s.
  await server.config({ token_ttl_s: 30 });
  const clock = shiftedClock();
  const backgroundErrors = [];
  const tcFetch = createFetch({ ...credentials(), clock, onRefreshError: (e) => backgroundErrors.push(e) });
  const url = `${info.api_url}/retry-after`;
  assert.equal((await within(10_000, tcFetch(url).then(drained))).status, 200);

  await advance(clock, 23_500); // stale, still valid
  await server.config({ failures: [{ kind: "status", status: 503, retry_after: "2" }] });
  // This caller is served with the cached token and performs the refresh in the background.
  const before503 = clock().wallMs;
  assert.equal((await within(10_000, tcFetch(url).then(drained))).status, 200);
  await within(10_000, waitFor(() => !tcFetch.stats().refreshInFlight), "background refresh");
  let s = await server.stats();
  assert.equal(s.token.requests, 2);
  assert.equal(s.token.failures_by_kind.status, 1);
  assert.equal(tcFetch.stats().backgroundRefreshErrors, 1);
  assert.equal(tcFetch.stats().lastRefreshError, "http_error");
  assert.equal(backgroundErrors.length, 1);
  const [error] = backgroundErrors;
  assert.ok(error instanceof TokenClockError);
  assert.equal(error.code, "http_error");
  assert.equal(error.status, 503);
  assert.equal(error.retryAfter, "2");
  assert.equal(error.errorClass, "transient");
  // Retry-After (2 s) wins over the jittered backoff (at most 1 s after one failure).
  const retryAt = error.retryAtMs;
  assert.ok(retryAt - before503 >= 2_000 && retryAt - before503 < 2_500, `retryAtMs is ${retryAt - before503} ms after the call`);

  // Within Retry-After: every call is served from the cached token, no token request. The
  // client clock is set relative to retryAt (real time also passes between steps).
  for (const ahead of [1_500, 1_000, 500, 250]) {
    await advance(clock, retryAt - ahead - clock().wallMs);
    assert.equal((await within(10_000, tcFetch(url).then(drained))).status, 200);
    s = await server.stats();
    assert.equal(s.token.requests, 2, `no token request ${ahead} ms before the end of Retry-After`);
  }
  // Past Retry-After (still before hard expiry): the next caller refreshes, successfully.
  await advance(clock, retryAt + 100 - clock().wallMs);
  assert.equal((await within(10_000, tcFetch(url).then(drained))).status, 200);
  await within(10_000, waitFor(() => !tcFetch.stats().refreshInFlight), "second background refresh");
  s = await server.stats();
  assert.equal(s.token.requests, 3);
  assert.equal(s.token.issued, 2);
  assert.equal(s.api.responses_401, 0);
  assert.equal(s.api.requests, 7);
  assert.equal(tcFetch.stats().backgroundRefreshErrors, 1);
});

test("a 401 on a token the server no longer accepts: one refresh, one retry, success (GET, POST, Request)", async () => {
  const tcFetch = createFetch(credentials());
  assert.equal((await within(10_000, tcFetch(`${info.api_url}/a`).then(drained))).status, 200);
  // A new signing key: the held token's signature no longer verifies.
  await server.config({ signing_key: "rotated-key" });
  const post = await within(10_000, tcFetch(`${info.api_url}/b`, { method: "POST", body: "payload=1" }));
  assert.equal(post.status, 200);
  assert.deepEqual(await post.json(), { ok: true, sub: "demo-client", scope: "read", method: "POST", path: "/api/b" });
  let s = await server.stats();
  assert.equal(s.token.requests, 2);
  assert.equal(s.api.responses_401, 1);
  assert.equal(s.api.responses_401_by_reason.bad_signature, 1);
  assert.equal(tcFetch.stats().retries, 1);

  await server.config({ signing_key: "rotated-again" });
  const request = new Request(`${info.api_url}/c`, { method: "POST", body: "x=2", headers: { "x-test": "1" } });
  const viaRequest = await within(10_000, tcFetch(request));
  assert.equal(viaRequest.status, 200);
  assert.equal((await viaRequest.json()).path, "/api/c");
  s = await server.stats();
  assert.equal(s.token.requests, 3);
  assert.equal(s.api.requests, 5);
});

test("a repeated 401 that nothing about time explains: the 401 Response is returned (no loop, no storm)", async () => {
  await server.config({ api_always_401: true });
  const tcFetch = createFetch(credentials());
  const response = await within(10_000, tcFetch(`${info.api_url}/revoked`));
  assert.equal(response.status, 401);
  assert.equal((await response.json()).error_description, "revoked");
  let s = await server.stats();
  assert.equal(s.api.requests, 2, "the request and one retry");
  // The session decides what the one retry uses: a new token, or (when the 401 came within the
  // second the token was minted, so "not yet valid on a 1 s Date clock" cannot be ruled out)
  // the same token after a short wait. Never more than one refresh per request.
  assert.ok(s.token.requests === 1 || s.token.requests === 2, `${s.token.requests} token requests`);
  let stats = tcFetch.stats();
  assert.equal(stats.returned401, 1);
  assert.equal(stats.retries, 1);
  assert.equal(stats.unauthorized, 2);
  assert.equal(stats.clockSkewErrors, 0);
  // More calls: each gets its 401 back after at most one retry; the token endpoint is not stormed.
  for (let i = 0; i < 5; i++) {
    assert.equal((await within(10_000, tcFetch(`${info.api_url}/revoked`).then(drained))).status, 401);
  }
  s = await server.stats();
  assert.ok(s.api.requests <= 12, `${s.api.requests} API requests for 6 calls`);
  assert.ok(s.token.requests <= 3, `${s.token.requests} token requests for 6 calls`);
  stats = tcFetch.stats();
  assert.equal(stats.returned401, 6);
  assert.equal(stats.clockSkewErrors, 0);
});

test("a repeated 401 explained by the resource server's clock throws TokenClockError clock_skew with evidence", async () => {
  // The API's clock is 30 s behind the issuer's and it has zero leeway: every fresh token is
  // "not yet valid" there. Waiting 30 s is beyond max_401_wait (10 s): diagnose, don't loop.
  await server.config({ api_offset_s: -30, api_leeway_s: 0 });
  const tcFetch = createFetch(credentials());
  const error = await within(20_000, tcFetch(`${info.api_url}/behind`)).then(
    () => assert.fail("expected a clock_skew error"),
    (e) => e,
  );
  assert.ok(error instanceof TokenClockError, String(error));
  assert.equal(error.name, "TokenClockError");
  assert.equal(error.code, "clock_skew");
  assert.equal(typeof error.evidence, "object");
  // The API checks nbf first (its reason is not_yet_valid); nbf == iat here, so the session's
  // finding may name either claim.
  assert.ok(["not_yet_valid", "issued_in_future"].includes(error.evidence.finding), error.evidence.finding);
  assert.equal(typeof error.evidence.resource, "object");
  assert.ok(error.evidence.nbfMs > 0 && error.evidence.expMs > error.evidence.nbfMs);
  assert.equal(error.response.status, 401);
  assert.doesNotMatch(error.message, /demo-secret|eyJ/);
  const s = await server.stats();
  assert.equal(s.token.requests, 2);
  assert.equal(s.api.responses_401, 2);
  assert.equal(s.api.responses_401_by_reason.not_yet_valid, 2);
  assert.equal(tcFetch.stats().clockSkewErrors, 1);
});

test("an aborted caller never wedges the session: the token request is aborted, the next call refreshes at once", async () => {
  await server.config({ failures: [{ kind: "slow", delay_s: 3 }] });
  const tcFetch = createFetch(credentials());
  const controller = new AbortController();
  const started = Date.now();
  const pending = tcFetch(`${info.api_url}/aborted`, { signal: controller.signal });
  setTimeout(() => controller.abort(), 200);
  const error = await within(2_000, pending).then(
    () => assert.fail("expected an AbortError"),
    (e) => e,
  );
  assert.equal(error.name, "AbortError");
  assert.ok(Date.now() - started < 2_000);
  assert.equal(tcFetch.stats().refreshInFlight, false);
  assert.equal(tcFetch.stats().abortedRefreshes, 1);

  // Not stuck in "refreshing" (the session's ticket timeout is 60 s), no backoff: the next
  // call sends a new token request right away and succeeds.
  const response = await within(2_500, tcFetch(`${info.api_url}/after-abort`));
  assert.equal(response.status, 200);
  const s = await server.stats();
  assert.equal(s.token.requests, 2);
  assert.equal(s.api.requests, 1);
});

test("one of two callers aborts: the shared refresh goes on for the other", async () => {
  await server.config({ failures: [{ kind: "slow", delay_s: 1 }] });
  const tcFetch = createFetch(credentials());
  const controller = new AbortController();
  const a = tcFetch(`${info.api_url}/a`, { signal: controller.signal });
  const b = tcFetch(`${info.api_url}/b`);
  setTimeout(() => controller.abort(new Error("caller gave up")), 100);
  await assert.rejects(within(5_000, a), { message: "caller gave up" });
  assert.equal((await within(5_000, b)).status, 200);
  const s = await server.stats();
  assert.equal(s.token.requests, 1);
  assert.equal(tcFetch.stats().abortedRefreshes, 0);
});

test("an already-aborted signal rejects at once and sends nothing", async () => {
  const tcFetch = createFetch(credentials());
  await assert.rejects(tcFetch(`${info.api_url}/x`, { signal: AbortSignal.abort() }), { name: "AbortError" });
  const s = await server.stats();
  assert.equal(s.token.requests, 0);
  assert.equal(s.api.requests, 0);
});

test("an abort while waiting out a not-yet-valid retry ends the wait at once", async () => {
  // API 4 s behind with zero leeway: the first 401 says "not yet valid for ~4 s", within
  // max_401_wait, so the verdict is "retry after ~4 s". The caller aborts during that wait.
  await server.config({ api_offset_s: -4, api_leeway_s: 0 });
  const tcFetch = createFetch(credentials());
  const controller = new AbortController();
  const pending = tcFetch(`${info.api_url}/wait`, { signal: controller.signal });
  await within(5_000, waitFor(() => tcFetch.stats().unauthorized === 1), "first 401");
  controller.abort();
  await assert.rejects(within(1_000, pending), { name: "AbortError" });
  const s = await server.stats();
  assert.equal(s.api.requests, 1);
  assert.equal(s.token.requests, 1);
});

test("two createFetch functions over one session share its single flight", async () => {
  const first = createFetch(credentials());
  const second = createFetch({ session: first.session });
  const responses = await within(
    10_000,
    Promise.all([first(`${info.api_url}/1`), second(`${info.api_url}/2`), first(`${info.api_url}/3`)]),
  );
  assert.deepEqual(
    responses.map((r) => r.status),
    [200, 200, 200],
  );
  assert.equal((await server.stats()).token.requests, 1);
});

test("createFetch rejects bad options with typed errors", () => {
  assert.throws(() => createFetch(null), { name: "TypeError", code: "invalid_argument" });
  assert.throws(() => createFetch({ ...credentials(), fetch: 42 }), { name: "TypeError", code: "invalid_argument" });
  assert.throws(() => createFetch({ ...credentials(), clock: "now" }), { name: "TypeError", code: "invalid_argument" });
  assert.throws(() => createFetch({ ...credentials(), tokenTimeoutMs: -1 }), {
    name: "RangeError",
    code: "invalid_argument",
  });
  const session = createFetch(credentials()).session;
  assert.throws(() => createFetch({ session, tokenUrl: info.token_url }), { name: "TypeError", code: "invalid_argument" });
});

/** Resolves once `predicate()` is true (polled every 10 ms); callers bound it with `within`. */
async function waitFor(predicate) {
  while (!predicate()) await new Promise((r) => setTimeout(r, 10));
}
