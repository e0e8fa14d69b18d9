// createFetch against hostile or unlucky peers, over real loopback sockets:
//
// * redirects: only responses to requests that carried our header, from the origin it was sent
//   to, are reported to the session (../shared/SPEC.md, "Failure classes and who decides"). A
//   302 to another origin that answers 401 with a Date an hour ahead neither invalidates our
//   token nor moves the resource-server skew estimate; the bearer token never reaches the other
//   origin (Node's fetch drops Authorization on a cross-origin redirect, as the Fetch standard
//   says; checked here on the wire);
// * token bodies are capped on their decoded size: a gzip bomb is `body_too_large` without the
//   process ballooning; a token endpoint that trickles its body ends within tokenTimeoutMs;
// * the fleet's issuer probe (HEAD to the token endpoint) is bounded by the token timeout: a
//   HEAD that never answers does not hold callers (real redis-server + RedisStore).
//
// Every await on the system under test is bounded (`within`): a hang fails, never stalls.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { spawn } from "node:child_process";
import { createGzip } from "node:zlib";

import { createFetch, RedisStore, TokenClockError } from "tokenclock";
import { startServer, within } from "./fixtures/tcserver.js";

/** A node:http server on 127.0.0.1 with an OS-chosen port; `url` is its origin. */
async function listen(handler) {
  const sockets = new Set();
  const server = http.createServer(handler);
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function drained(response) {
  await response.arrayBuffer();
  return response;
}

function estimate(tcFetch) {
  const { issuer, resource } = tcFetch.session.estimates();
  const out = { issuer: issuer.toJSON(), resource: resource.toJSON() };
  issuer.free();
  resource.free();
  return out;
}

// ----- redirects ------------------------------------------------------------------------------

describe("redirects: responses from other origins are not charged to our token", () => {
  let tc;
  let front; // the origin we send to: redirects
  let other; // another origin: answers 401 with a Date an hour ahead
  const seen = []; // [origin name, path, authorization header or null]

  before(async () => {
    tc = await startServer();
    other = await listen((req, res) => {
      seen.push(["other", req.url, req.headers.authorization ?? null]);
      req.resume();
      if (req.url === "/back") {
        // Back to the origin we sent to (the header is gone by then).
        res.writeHead(302, { location: `${front.url}/final-401` });
        res.end();
        return;
      }
      res.writeHead(401, {
        date: new Date(Date.now() + 3_600_000).toUTCString(),
        "www-authenticate": 'Bearer error="invalid_token", error_description="expired"',
        "content-type": "text/plain",
      });
      res.end("who are you?");
    });
    front = await listen((req, res) => {
      seen.push(["front", req.url, req.headers.authorization ?? null]);
      req.resume();
      const to = {
        "/moved": [302, `${other.url}/elsewhere`],
        "/moved-307": [307, `${other.url}/elsewhere`],
        "/bounce": [302, `${other.url}/back`],
        "/same": [302, "/final-401"],
      }[req.url];
      if (to !== undefined) {
        res.writeHead(to[0], { location: to[1] });
        res.end();
        return;
      }
      // /final-401: the front origin itself rejects, with a Date an hour ahead.
      res.writeHead(401, {
        date: new Date(Date.now() + 3_600_000).toUTCString(),
        "www-authenticate": 'Bearer error="invalid_token"',
      });
      res.end();
    });
  });
  after(async () => {
    await front?.close();
    await other?.close();
    await tc?.stop();
  });

  function credentials() {
    return { tokenUrl: tc.info.token_url, clientId: "demo-client", clientSecret: "demo-secret", tokenTimeoutMs: 2_000 };
  }

  test("302 to another origin answering 401 + Date an hour ahead: no invalidation, no skew change, later calls succeed", async () => {
    await tc.reset({ config: true });
    seen.length = 0;
    const tcFetch = createFetch(credentials());
    const api = `${tc.info.api_url}/x`;
    assert.equal((await within(10_000, tcFetch(api).then(drained))).status, 200);
    const before = estimate(tcFetch);
    const statsBefore = tcFetch.stats();

    const cases = [
      () => tcFetch(`${front.url}/moved`),
      () => tcFetch(`${front.url}/moved-307`, { method: "POST", body: "payload", headers: { "content-type": "text/plain" } }),
      () => tcFetch(new URL(`${front.url}/moved`)),
      () => tcFetch(new Request(`${front.url}/moved`)),
      // front → other → front: the final response is from our origin, but to a request that
      // no longer carried our header.
      () => tcFetch(`${front.url}/bounce`),
    ];
    for (const call of cases) {
      const response = await within(10_000, call().then(drained), "redirected call");
      assert.equal(response.status, 401);
      assert.equal(response.redirected, true);
    }

    // Nothing was charged to the token or the estimates.
    const stats = tcFetch.stats();
    assert.equal(stats.unauthorized, statsBefore.unauthorized, "no 401 charged");
    assert.equal(stats.retries, 0);
    assert.equal(stats.clockSkewErrors, 0);
    assert.equal(stats.tokenRequests, 1, "the token was not invalidated");
    assert.equal(stats.session.unauthorized, 0);
    assert.equal(stats.unreportedResponses, cases.length);
    const after = estimate(tcFetch);
    assert.deepEqual(after.resource, before.resource, "the resource-server skew estimate did not move");
    assert.ok(Math.abs(after.resource.offsetMs) < 5_000, JSON.stringify(after.resource));

    // Our bearer token went to the origin we sent to, never to the other one.
    const fromOther = seen.filter(([who]) => who === "other");
    assert.ok(fromOther.length >= cases.length, JSON.stringify(seen));
    assert.deepEqual(fromOther.filter(([, , auth]) => auth !== null), [], "the other origin never saw Authorization");
    for (const [who, path, auth] of seen) {
      if (who === "front" && path !== "/final-401") assert.match(auth ?? "", /^Bearer /, `${path} carried the token`);
      if (who === "front" && path === "/final-401") assert.equal(auth, null, "after leaving the origin the header is gone");
    }

    // Later calls succeed with the same token.
    for (let i = 0; i < 5; i++) {
      const r = await within(10_000, tcFetch(`${api}/${i}`).then(drained), "later call");
      assert.equal(r.status, 200);
    }
    const s = await tc.stats();
    assert.equal(s.token.requests, 1);
    assert.equal(s.api.responses_401, 0);
    assert.equal(tcFetch.stats().tokenRequests, 1);
  });

  test("redirect: 'manual': the 3xx from our origin is returned, the other origin is never contacted", async () => {
    await tc.reset({ config: true });
    seen.length = 0;
    const tcFetch = createFetch(credentials());
    const response = await within(10_000, tcFetch(`${front.url}/moved`, { redirect: "manual" }).then(drained));
    assert.equal(response.status, 302);
    assert.equal(response.redirected, false);
    assert.deepEqual(
      seen.map(([who]) => who),
      ["front"],
    );
    assert.match(seen[0][2] ?? "", /^Bearer /);
    const stats = tcFetch.stats();
    assert.equal(stats.unauthorized, 0);
    assert.equal(stats.unreportedResponses, 0, "a response to our request, from our origin, is reported");
    assert.equal((await within(10_000, tcFetch(`${tc.info.api_url}/y`).then(drained))).status, 200);
    assert.equal(tcFetch.stats().tokenRequests, 1);
  });

  test("a same-origin redirect keeps the header and its 401 is reported", async () => {
    await tc.reset({ config: true });
    seen.length = 0;
    const tcFetch = createFetch(credentials());
    const outcome = await within(15_000, tcFetch(`${front.url}/same`).then(drained), "same-origin redirect").then(
      (r) => r,
      (e) => e,
    );
    // The front origin rejects every token: returned as a 401 or diagnosed, never ignored.
    assert.ok(outcome instanceof TokenClockError || outcome.status === 401, String(outcome));
    assert.ok(tcFetch.stats().unauthorized >= 1, "the 401 was reported to the session");
    assert.equal(tcFetch.stats().unreportedResponses, 0);
    for (const [who, , auth] of seen) {
      assert.equal(who, "front");
      assert.match(auth ?? "", /^Bearer /);
    }
  });
});

// ----- token response bodies ------------------------------------------------------------------

/** gzip of `size` spaces, built in 1 MiB steps (the test never holds the decoded bytes). */
async function gzipBomb(size) {
  const gz = createGzip({ level: 9 });
  const parts = [];
  gz.on("data", (c) => parts.push(c));
  const done = new Promise((resolve, reject) => {
    gz.on("end", resolve);
    gz.on("error", reject);
  });
  const block = Buffer.alloc(1024 * 1024, 0x20);
  for (let written = 0; written < size; written += block.length) {
    if (!gz.write(block)) await new Promise((r) => gz.once("drain", r));
  }
  gz.end();
  await done;
  return Buffer.concat(parts);
}

describe("token response bodies: the cap is on the decoded size", () => {
  test("a gzip bomb (200 KB → 200 MB) is body_too_large and the process stays small", async () => {
    const bomb = await gzipBomb(200 * 1024 * 1024);
    assert.ok(bomb.length < 400 * 1024, `${bomb.length} bytes compressed`);
    let apiRequests = 0;
    const endpoint = await listen((req, res) => {
      req.resume();
      if (req.url !== "/token") {
        apiRequests += 1;
        res.writeHead(200);
        res.end();
        return;
      }
      res.writeHead(200, {
        "content-type": "application/json",
        "content-encoding": "gzip",
        "content-length": String(bomb.length),
        date: new Date().toUTCString(),
      });
      res.end(bomb);
    });
    try {
      const tcFetch = createFetch({
        tokenUrl: `${endpoint.url}/token`,
        clientId: "demo-client",
        clientSecret: "demo-secret",
        tokenTimeoutMs: 20_000,
      });
      globalThis.gc?.();
      const rssBefore = process.memoryUsage().rss;
      let peak = rssBefore;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 5);
      let error;
      try {
        error = await within(30_000, tcFetch(`${endpoint.url}/api`), "gzip bomb").then(
          (r) => assert.fail(`expected an error, got HTTP ${r.status}`),
          (e) => e,
        );
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, process.memoryUsage().rss);
      const growthMb = (peak - rssBefore) / 1024 / 1024;
      console.log(`# gzip bomb: peak RSS growth ${growthMb.toFixed(1)} MB`);
      assert.ok(growthMb < 100, `RSS grew by ${growthMb.toFixed(0)} MB`);
      assert.ok(error instanceof TokenClockError, `${error?.name}: ${error?.code}: ${error?.message}`);
      assert.equal(error.code, "body_too_large", error.message);
      assert.equal(apiRequests, 0, "nothing sent to the API without a token");
    } finally {
      await endpoint.close();
    }
  });

  test("a token endpoint that trickles its body (1 byte/s) ends within tokenTimeoutMs", async () => {
    const timers = new Set();
    const endpoint = await listen((req, res) => {
      req.resume();
      const body = Buffer.from('{"access_token":"abc","token_type":"Bearer","expires_in":3600}');
      res.writeHead(200, { "content-type": "application/json", "content-length": String(body.length) });
      let i = 0;
      const t = setInterval(() => {
        if (i >= body.length || res.destroyed) {
          clearInterval(t);
          timers.delete(t);
          res.end();
          return;
        }
        res.write(body.subarray(i, i + 1));
        i += 1;
      }, 1_000);
      timers.add(t);
      res.write(body.subarray(0, 1));
      i = 1;
    });
    try {
      const tokenTimeoutMs = 1_000;
      const tcFetch = createFetch({
        tokenUrl: `${endpoint.url}/token`,
        clientId: "demo-client",
        clientSecret: "demo-secret",
        tokenTimeoutMs,
      });
      const t0 = Date.now();
      const error = await within(tokenTimeoutMs + 5_000, tcFetch(`${endpoint.url}/api`), "trickling token endpoint").then(
        (r) => assert.fail(`expected an error, got HTTP ${r.status}`),
        (e) => e,
      );
      const elapsed = Date.now() - t0;
      assert.ok(error instanceof TokenClockError, `${error?.name}: ${error?.message}`);
      assert.equal(error.code, "transport_error", error.message);
      assert.equal(error.failure, "timeout");
      assert.ok(elapsed < tokenTimeoutMs + 4_000, `${elapsed} ms`);
      assert.equal(tcFetch.stats().timedOutRefreshes, 1);
    } finally {
      for (const t of timers) clearInterval(t);
      await endpoint.close();
    }
  });
});

// ----- the fleet's issuer probe ---------------------------------------------------------------

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function startRedis() {
  const port = await freePort();
  const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, "127.0.0.1", () => {
        c.end();
        resolve(true);
      });
      c.on("error", () => resolve(false));
    });
    if (ok) return { url: `redis://127.0.0.1:${port}/0`, proc };
    await new Promise((r) => setTimeout(r, 25));
  }
  proc.kill();
  throw new Error("redis-server did not start");
}

describe("fleet: the issuer probe is bounded by the token timeout", () => {
  let tc;
  let redis;
  let endpoint;
  const heads = [];

  before(async () => {
    tc = await startServer();
    redis = await startRedis();
    // The token endpoint: POST goes to tcserver's; HEAD is accepted and never answered.
    endpoint = await listen(async (req, res) => {
      if (req.method === "HEAD") {
        heads.push(req.url);
        return; // silent
      }
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const headers = {};
      for (const name of ["authorization", "content-type", "accept"]) {
        if (req.headers[name] !== undefined) headers[name] = req.headers[name];
      }
      const upstream = await fetch(tc.info.token_url, { method: "POST", headers, body: Buffer.concat(chunks) });
      const body = Buffer.from(await upstream.arrayBuffer());
      const out = { "content-type": upstream.headers.get("content-type") ?? "application/json" };
      const date = upstream.headers.get("date");
      if (date !== null) out.date = date;
      res.writeHead(upstream.status, out);
      res.end(body);
    });
  });
  after(async () => {
    await endpoint?.close();
    redis?.proc.kill();
    await tc?.stop();
  });

  test("a token endpoint whose HEAD never answers: a fresh process gets its result within ~tokenTimeoutMs", async () => {
    const prefix = `hostile${Date.now()}`;
    const tokenTimeoutMs = 1_000;
    const options = {
      tokenUrl: `${endpoint.url}/token`,
      clientId: "demo-client",
      clientSecret: "demo-secret",
      tokenTimeoutMs,
    };
    // Process A: refreshes and publishes the record.
    const storeA = new RedisStore(redis.url, { prefix });
    const storeB = new RedisStore(redis.url, { prefix });
    try {
      const a = createFetch({ ...options, store: storeA });
      assert.equal((await within(10_000, a(`${tc.info.api_url}/a`).then(drained), "publisher")).status, 200);
      assert.equal(a.stats().fleetPublished, 1);
      assert.equal(heads.length, 0);

      // Process B: a fresh session finds the record but cannot read the issuer's clock without
      // the probe, whose HEAD is never answered.
      const b = createFetch({ ...options, store: storeB });
      const t0 = Date.now();
      const callers = Array.from({ length: 3 }, (_, i) => b(`${tc.info.api_url}/b/${i}`).then(drained));
      const responses = await within(tokenTimeoutMs * 3 + 3_000, Promise.all(callers), "callers behind a silent probe");
      const elapsed = Date.now() - t0;
      assert.deepEqual(
        responses.map((r) => r.status),
        [200, 200, 200],
      );
      assert.ok(heads.length >= 1, "the issuer probe was sent");
      assert.ok(elapsed < tokenTimeoutMs * 3 + 1_000, `${elapsed} ms`);
      const stats = b.stats();
      assert.equal(stats.refreshInFlight, false);
    } finally {
      await storeA.close();
      await storeB.close();
    }
  });
});
