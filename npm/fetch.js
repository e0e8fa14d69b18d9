// createFetch: a `fetch`-compatible function that authorizes every request through a tokenclock
// `Session` (the refresh state machine in core). This file only does I/O and scheduling; every
// decision (use the token, refresh, wait, retry, give up, diagnose) is the session's:
//
// * before each request `session.authorize(now)` says ready / ready_and_refresh / refresh /
//   wait / failed;
// * the single outstanding ticket is performed once, as one promise (a "flight") shared by
//   every caller of every createFetch wrapping the same session; waiters await it, bounded by
//   the session's `until`;
// * every response to a request that carried our header, from the origin it was sent to, goes
//   to `session.afterResponse(tokenId, status, headers, sent, received, attempt, replayable)`
//   with clock readings taken around the request, and its answer is followed; any other (the end of a cross-origin redirect, an opaque
//   response) is returned as is and charged to nothing (`answersOurRequest`). Our header
//   never follows a redirect to another origin: `fetch` drops `Authorization` there (the Fetch
//   standard; Node's undici and current browsers do; an injected `fetch` must too). The
//   session says return it, retry once (after its `waitMs`), or throw its `clock_skew` error
//   (with the evidence);
// * the token request is bounded by the session's `tokenTimeoutMs` (the option overrides it)
//   and its body read to the session's `maxTokenResponseLen`; a caller performs at most the
//   session's `refreshesPerCall` token requests before it throws the failure;
// * an `AbortSignal` ends the caller's wait at once. The token request itself is aborted only
//   when every caller waiting for it has gone, and the ticket is then closed with
//   `failRefresh(ticket, "aborted")` (no backoff), so an aborted caller never leaves the
//   session stuck "refreshing". A refresh started for a stale-but-valid token runs in the
//   background, bounded by `tokenTimeoutMs`, whatever its caller does.
//
// The token request uses the injected `fetch` (default `globalThis.fetch`), like the API
// requests. Nothing here logs, stores or formats a token or secret.

import { TokenClockError } from "./errors.js";
import * as client from "./pkg/client/tokenclock_wasm.js";

/** Poll period when another user of the session (not a createFetch) holds the ticket. */
const FOREIGN_TICKET_POLL_MS = 250;

/** `readyNow` answers: no token cached yet (ask in full), or an answer the session holds back. */
const ASK = Symbol("ask");
const HELD = Symbol("held");
const CREDENTIAL_KEYS = ["tokenUrl", "clientId", "clientSecret", "scope", "authMethod", "allowInsecureRequests"];

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);
const insecureWarned = new Set();

/**
 * `console.warn` once per process and origin when a token request goes over plain http to a
 * host that is not loopback (core builds one only with `allowInsecureRequests: true`). The
 * message names the origin only (no path, query, credential or token).
 */
export function warnInsecureRequest(url) {
  if (typeof url !== "string" || url.slice(0, 7).toLowerCase() !== "http://") return;
  let origin;
  try {
    const u = new URL(url);
    if (LOOPBACK_HOSTS.has(u.hostname)) return;
    origin = u.origin;
  } catch {
    return;
  }
  if (insecureWarned.has(origin)) return;
  insecureWarned.add(origin);
  console.warn(
    `tokenclock: allowInsecureRequests: token requests to ${origin} are sent unencrypted ` +
      "(client credentials and tokens travel in clear); use https outside a private network",
  );
}
const FETCH_KEYS = ["session", "fetch", "clock", "tokenTimeoutMs", "onRefreshError", "store"];

/** The default clock: wall time and a monotonic time, integer milliseconds. */
export function defaultClock() {
  return {
    wallMs: Date.now(),
    monoMs: Math.floor(performance.timeOrigin + performance.now()),
  };
}

// Flights are per session, not per createFetch: two wrappers of one session share its ticket.
const shared = new WeakMap();
function sharedState(session) {
  let s = shared.get(session);
  if (s === undefined) {
    s = { flight: null };
    shared.set(session, s);
  }
  return s;
}

function abortReason(signal) {
  if (signal.reason !== undefined) return signal.reason;
  return new DOMException("This operation was aborted", "AbortError");
}

function throwIfAborted(signal) {
  if (signal?.aborted) throw abortReason(signal);
}

/** Sleeps `ms` (>= 0), or rejects as soon as `signal` aborts. */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The fields of an `Authorization` this file uses, as plain data; the wasm-side object is
 * freed at once rather than left to the FinalizationRegistry (one per request adds up).
 */
function plain(a) {
  const kind = a.kind;
  const out = { kind, header: null, tokenId: null, ticket: null, until: null, waitMs: null, waitReason: null, error: null };
  switch (kind) {
    case "ready":
      out.header = a.header;
      out.tokenId = a.tokenId;
      break;
    case "ready_and_refresh":
      out.header = a.header;
      out.tokenId = a.tokenId;
      out.ticket = plainTicket(a.ticket);
      break;
    case "refresh":
      out.ticket = plainTicket(a.ticket);
      break;
    case "wait":
      out.until = a.until;
      out.waitMs = a.waitMs;
      out.waitReason = a.waitReason;
      break;
    default:
      out.error = a.error;
  }
  a.free?.();
  return out;
}

/** A ticket's id and token request as plain data (the request carries the client secret). */
function plainTicket(t) {
  const out = { id: t.id, method: t.method, url: t.url, headers: t.headers, body: t.body };
  t.free?.();
  return out;
}

function isRequest(input) {
  return typeof input === "object" && input !== null && typeof Request !== "undefined" && input instanceof Request;
}

/** The origin a request is sent to (`null` when its URL has none we can tell). */
function requestOrigin(input) {
  try {
    const href = isRequest(input) ? input.url : input instanceof URL ? input.href : String(input);
    const origin = new URL(href, globalThis.location?.href).origin;
    return origin === "null" ? null : origin;
  } catch {
    return null;
  }
}

/**
 * Whether `response` answers a request that carried our header, from the origin it was sent
 * to: only such responses are reported to the session (a 401 from elsewhere says nothing
 * about our token, and another server's `Date` is not the resource server's clock).
 *
 * With `redirect: "follow"` (the default) `fetch` returns the last response of the chain.
 * The Fetch standard (and Node's undici, browsers since 2023) drops `Authorization` on a
 * redirect to another origin and never puts it back, so a redirected response carried our
 * header only if every hop stayed in the request's origin; the standard then leaves the
 * response untainted (`type: "basic"`). So: not redirected, from the request's origin; or
 * redirected, ending in that origin, and `basic` (a chain that left the origin and came back
 * is `cors`, and so is every response to a cross-origin request in a browser: those are not
 * reported, the conservative side). `redirect: "manual"`: Node returns the 3xx itself (ours,
 * reported); a browser returns an `opaqueredirect` with nothing readable (not reported), as
 * are `opaque` (no-cors) responses. A hand-made Response (empty `url`, a test double) is
 * taken as the answer to what was sent.
 */
function answersOurRequest(response, origin) {
  const type = response.type;
  if (type === "opaque" || type === "opaqueredirect" || type === "error") return false;
  const redirected = response.redirected === true;
  const url = typeof response.url === "string" ? response.url : "";
  if (url === "" || origin === null) return !redirected;
  let from;
  try {
    from = new URL(url).origin;
  } catch {
    return false;
  }
  if (from !== origin) return false;
  return !redirected || type === "basic";
}

/** Every header of a token response, as `[name, value]` pairs. */
function allHeaders(response) {
  const out = [];
  response.headers.forEach((value, name) => out.push([name, value]));
  return out;
}

/** A ticket's token request as `fetch` arguments. */
function tokenRequestInit(ticket, signal) {
  warnInsecureRequest(ticket.url);
  const headers = new Headers();
  const given = ticket.headers ?? [];
  for (const [name, value] of Array.isArray(given) ? given : Object.entries(given)) {
    headers.append(name, value);
  }
  return [
    ticket.url,
    {
      method: ticket.method ?? "POST",
      headers,
      body: ticket.body,
      signal,
      // Never replay client credentials to wherever a redirect points.
      redirect: "manual",
    },
  ];
}

/** A browser page or worker (not Node, Deno or Bun, whose fetch bodies are read incrementally). */
const IN_BROWSER =
  typeof globalThis.document === "object" ||
  (typeof globalThis.WorkerGlobalScope === "function" && globalThis instanceof globalThis.WorkerGlobalScope);

/**
 * The body, but no more than `limit` bytes of it (a hostile endpoint cannot exhaust memory).
 *
 * The cap is on the decoded body: `fetch` undoes any Content-Encoding as the body is read,
 * so a declared Content-Length (the encoded size) bounds nothing and `arrayBuffer()` would
 * inflate a gzip bomb in full in this process. Outside browsers the stream is read chunk by
 * chunk and cancelled as soon as `limit` bytes have arrived; the caller passes the core's
 * cap + 1, so an oversized body reaches the core as cap + 1 bytes and is answered
 * `body_too_large`. An abort of the request's signal (the token timeout) errors the body,
 * so a trickling body ends too.
 */
async function readLimited(response, limit) {
  const body = response.body;
  if (body === null) return new Uint8Array(0);
  if (IN_BROWSER && typeof response.blob === "function") {
    // A browser keeps a response's blob in its blob storage, outside the page's heap
    // (Chromium drains the network pipe into it), so only `limit` bytes enter the page.
    // (Chromium reports a body read through a reader as net::ERR_ABORTED in its network log
    // even when it was read to the end; blob() and arrayBuffer() do not.)
    const blob = await response.blob();
    return new Uint8Array(await blob.slice(0, limit).arrayBuffer());
  }
  const chunks = [];
  let length = 0;
  const take = (value) => {
    const bytes = value instanceof Uint8Array ? value : new Uint8Array(value);
    const part = bytes.byteLength > limit - length ? bytes.subarray(0, limit - length) : bytes;
    chunks.push(part);
    length += part.byteLength;
  };
  if (typeof body?.getReader === "function") {
    const reader = body.getReader();
    try {
      while (length < limit) {
        const { done, value } = await reader.read();
        if (done) break;
        take(value);
      }
    } catch (error) {
      reader.cancel().catch(() => {});
      throw error;
    }
    if (length >= limit) reader.cancel().catch(() => {});
  } else if (typeof body?.[Symbol.asyncIterator] === "function") {
    // An injected fetch with Node stream bodies (node-fetch): leaving the loop destroys it.
    for await (const value of body) {
      take(typeof value === "string" ? new TextEncoder().encode(value) : value);
      if (length >= limit) break;
    }
  } else {
    // A hand-made response object without a stream (a test double): nothing to bound.
    take(new Uint8Array(await response.arrayBuffer()));
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Throws away a response body we will not hand out (frees the connection). */
function discard(response) {
  try {
    const p = response.body?.cancel();
    p?.catch(() => {});
  } catch {
    // already used or locked: nothing to free
  }
}

/**
 * The request, re-sendable once with a different Authorization header.
 * `canRetry` is false when the body is a one-shot stream.
 */
function replayable(input, init) {
  const request = isRequest(input) ? input : null;
  const baseHeaders = init.headers ?? request?.headers;
  const body = init.body;
  const oneShot =
    body != null &&
    (typeof body.getReader === "function" || typeof body[Symbol.asyncIterator] === "function");
  let sends = 0;
  return {
    canRetry: !oneShot,
    next(header) {
      sends += 1;
      const headers = new Headers(baseHeaders);
      headers.set("authorization", header);
      // A Request body can be read once: send clones while a retry may still follow.
      const target = request !== null && sends === 1 && request.body !== null ? request.clone() : input;
      return [target, { ...init, headers }];
    },
  };
}

/** Rejects a bad option value with a RangeError/TypeError carrying `.code = "invalid_argument"`. */
function invalid(Kind, message) {
  const e = new Kind(message);
  e.code = "invalid_argument";
  return e;
}

function checkOptions(options) {
  if (options === null || typeof options !== "object") {
    throw invalid(TypeError, "createFetch: options must be an object");
  }
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== "function") {
    throw invalid(TypeError, "createFetch: fetch is not a function and there is no globalThis.fetch");
  }
  if (options.clock !== undefined && typeof options.clock !== "function") {
    throw invalid(TypeError, "createFetch: clock must be a function returning { wallMs, monoMs }");
  }
  const timeout = options.tokenTimeoutMs;
  if (timeout !== undefined && (!Number.isSafeInteger(timeout) || timeout <= 0)) {
    throw invalid(RangeError, "createFetch: tokenTimeoutMs must be a positive integer number of milliseconds");
  }
  if (options.onRefreshError !== undefined && typeof options.onRefreshError !== "function") {
    throw invalid(TypeError, "createFetch: onRefreshError must be a function");
  }
  const store = options.store;
  if (store !== undefined && (store === null || typeof store.takeLease !== "function" || typeof store.get !== "function")) {
    throw invalid(TypeError, "createFetch: store must be a RedisStore");
  }
  return { fetchImpl, timeout };
}

function buildSession(lib, options) {
  if (options.session !== undefined) {
    // Credentials and session options belong to the session already made: refuse them
    // rather than ignore them.
    const stray = Object.keys(options).filter((k) => !FETCH_KEYS.includes(k) && options[k] !== undefined);
    if (stray.length > 0) {
      throw invalid(TypeError, `createFetch: with a session, ${stray.join(", ")} cannot be given (configure the session)`);
    }
    if (options.session === null || typeof options.session.authorize !== "function") {
      throw invalid(TypeError, "createFetch: session must be a tokenclock Session");
    }
    return options.session;
  }
  const grant = lib.clientCredentials({
    tokenUrl: options.tokenUrl,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    scope: options.scope,
    authMethod: options.authMethod,
    allowInsecureRequests: options.allowInsecureRequests,
  });
  const sessionOptions = {};
  for (const [key, value] of Object.entries(options)) {
    if (!CREDENTIAL_KEYS.includes(key) && !FETCH_KEYS.includes(key) && value !== undefined) {
      sessionOptions[key] = value;
    }
  }
  if (options.clock !== undefined) sessionOptions.clock = options.clock;
  return new lib.Session(grant, sessionOptions);
}

/**
 * `createFetch` for one build of the wasm module (`{ Session, clientCredentials }` of the
 * client or the full build: objects of the two builds do not mix). Not part of the public API;
 * the entry modules export the bound `createFetch`.
 */
export function createFetchFor(lib) {
  return function createFetch(options) {
    return create(lib, options);
  };
}

/**
 * A `fetch`-compatible function that adds `Authorization` from a tokenclock session (client
 * build). See index.d.ts ("createFetch") for the options and behaviour.
 */
export const createFetch = createFetchFor(client);

function create(lib, options) {
  const checked = checkOptions(options);
  const { fetchImpl } = checked;
  const session = buildSession(lib, options);
  // `tokenTimeoutMs` overrides the session's own bound (default 10 s, from core).
  if (checked.timeout !== undefined) session.setTokenTimeoutMs(checked.timeout);
  let tokenTimeoutMs = session.tokenTimeoutMs;
  const maxTokenResponseLen = session.maxTokenResponseLen;
  const refreshesPerCall = session.refreshesPerCall;
  // Readings taken here must come from the session's clock. A session built here uses
  // `clock` or the host's clocks, read in JS (cheaper than a call into the module); a given
  // session may have its own clock, so ask it unless `clock` is given too.
  const now =
    options.clock ?? (options.session !== undefined && typeof session.now === "function" ? () => session.now() : defaultClock);
  const onRefreshError = options.onRefreshError;
  const state = sharedState(session);
  const store = options.store;
  let storeKeys = null;
  if (store !== undefined) {
    store.setScripts(lib.fleetScripts());
    storeKeys = lib.storeKeys(session, store.prefix, store.fleetOptions.encryptionKey !== undefined);
    // With a store, the fleet's bound (core: the session's, within the lease).
    const probe = new lib.FleetRefresh(0, storeKeys.record, store.fleetOptions);
    try {
      tokenTimeoutMs = probe.tokenTimeoutMs(session);
    } finally {
      probe.free();
    }
  }
  const counters = {
    calls: 0,
    apiRequests: 0,
    retries: 0,
    unauthorized: 0,
    returned401: 0,
    unreportedResponses: 0,
    clockSkewErrors: 0,
    tokenRequests: 0,
    tokenRequestErrors: 0,
    abortedRefreshes: 0,
    timedOutRefreshes: 0,
    backgroundRefreshErrors: 0,
    lastRefreshError: null,
    fleetAdopted: 0,
    fleetPublished: 0,
    fleetLocal: 0,
  };

  // ----- the flight: the one token request for the outstanding ticket -------------------

  function startFlight(ticket, background) {
    const controller = new AbortController();
    const flight = { ticket: ticket.id, waiters: 0, pinned: background, settled: false, controller, promise: null };
    const perform = store !== undefined ? performFleet : performRefresh;
    flight.promise = perform(ticket, controller).then((outcome) => {
      flight.settled = true;
      if (state.flight === flight) state.flight = null;
      if (!outcome.ok) {
        counters.tokenRequestErrors += 1;
        counters.lastRefreshError = outcome.error?.code ?? "unknown";
        if (background) {
          counters.backgroundRefreshErrors += 1;
          if (onRefreshError) {
            try {
              onRefreshError(outcome.error);
            } catch {
              // a throwing callback must not break the flight
            }
          }
        }
      }
      return outcome;
    });
    state.flight = flight;
    return flight;
  }

  /** Never rejects: resolves `{ ok: true }` or `{ ok: false, error }`. */
  async function performRefresh(ticket, controller, rebuilt = null) {
    // The request's own signal: aborted by the flight (every caller left) or by the timeout.
    // The timeout must not abort the flight itself: a fleet refresh goes on after a failed
    // fetch (release the lease), and must not take the timeout for its callers leaving.
    const request = new AbortController();
    const abort = () => request.abort(controller.signal.reason);
    if (controller.signal.aborted) abort();
    else controller.signal.addEventListener("abort", abort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      request.abort(new DOMException("token request timed out", "TimeoutError"));
    }, tokenTimeoutMs);
    counters.tokenRequests += 1;
    let response;
    let body;
    let sent;
    let received;
    try {
      // `rebuilt`: the fleet's request with its latest refresh token, for the same ticket.
      const [url, init] = tokenRequestInit(rebuilt ?? ticket, request.signal);
      sent = now();
      response = await fetchImpl(url, init);
      received = now();
      body = await readLimited(response, maxTokenResponseLen + 1);
    } catch {
      // The transport error itself may quote the URL or the request: it is not passed on.
      const failure = timedOut ? "timeout" : request.signal.aborted ? "aborted" : "connect";
      if (failure === "aborted") counters.abortedRefreshes += 1;
      if (failure === "timeout") counters.timedOutRefreshes += 1;
      try {
        const error = session.failRefresh(ticket.id, failure, now());
        return { ok: false, error };
      } catch (error) {
        return { ok: false, error }; // stale ticket (timed out in the session meanwhile)
      }
    } finally {
      clearTimeout(timer);
      controller.signal.removeEventListener("abort", abort);
    }
    try {
      const tokenId = session.completeRefresh(ticket.id, response.status, allHeaders(response), body, sent, received);
      return { ok: true, tokenId };
    } catch (error) {
      if (!(error instanceof TokenClockError)) {
        // The binding refused an argument before the session saw it (a bug here, or a
        // clock that returned garbage): close the ticket so nobody waits for it.
        try {
          session.failRefresh(ticket.id, "connect", now());
        } catch {
          // already closed
        }
      }
      return { ok: false, error };
    }
  }

  // ----- the fleet: a shared store (core `FleetRefresh` decides every step) --------------

  /** A HEAD to the token endpoint: its `Date` gives this process the issuer's clock. */
  async function probeIssuer(url, signal) {
    const sent = now();
    let response;
    // Bounded like a token request: a silent endpoint must not hold the refresh.
    const probe = new AbortController();
    const abort = () => probe.abort();
    signal.addEventListener("abort", abort, { once: true });
    const timer = setTimeout(abort, tokenTimeoutMs);
    try {
      response = await fetchImpl(url, { method: "HEAD", signal: probe.signal, redirect: "manual" });
    } catch {
      return; // the adoption then fails and this process takes the lease
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
    }
    const received = now();
    discard(response);
    const date = response.headers.get("date");
    if (date === null) return;
    try {
      session.addIssuerDate(date, sent, received);
    } catch {
      // an unparseable Date: no estimate, the adoption falls back to the lease
    }
  }

  /** Never rejects: like performRefresh, through the fleet protocol. */
  async function performFleet(ticket, controller) {
    let fleet;
    try {
      fleet = new lib.FleetRefresh(ticket.id, storeKeys.record, store.fleetOptions);
    } catch (error) {
      return performRefresh(ticket, controller);
    }
    let fetched = null;
    let a = fleet.action();
    try {
      for (;;) {
        for (const n of a.notes) store.note(n);
        if (a.kind === "done") break;
        // Every caller left before the fetch: fail the ticket now. After the fetch closed it,
        // the protocol still runs to its end (publish or release the lease).
        if (controller.signal.aborted && a.kind !== "fetch" && fetched === null) {
          counters.abortedRefreshes += 1;
          try {
            return { ok: false, error: session.failRefresh(ticket.id, "aborted", now()) };
          } catch (error) {
            return { ok: false, error };
          }
        }
        try {
          switch (a.kind) {
            case "read":
              a = fleet.onRecord(session, await store.get(storeKeys.record), now());
              break;
            case "take_lease":
              a = fleet.onLease(session, await store.takeLease(storeKeys, a.lease, a.leaseMs), now());
              break;
            case "publish":
              a = fleet.onPublished(await store.publish(storeKeys, a.lease, a.value, a.ttlMs));
              break;
            case "release":
              await store.release(storeKeys, a.lease);
              a = fleet.onReleased();
              break;
            case "probe_issuer":
              await probeIssuer(ticket.url, controller.signal);
              a = fleet.onProbe(session, now());
              break;
            case "wait":
              await sleep(a.waitMs ?? 0).catch(() => {});
              a = fleet.onWake(session, now());
              break;
            case "fetch":
              fetched = await performRefresh(ticket, controller, a.request);
              a = fleet.onFetched(session, fetched.ok, now());
              break;
            default:
              throw new TypeError(`unknown fleet action ${String(a.kind)}`);
          }
        } catch (error) {
          if (error?.name !== "StoreError") throw error;
          a = fleet.onStoreError(session, now());
        }
      }
    } catch (error) {
      // A bug or a refused argument: close the ticket so nobody waits for it.
      try {
        session.failRefresh(ticket.id, "aborted", now());
      } catch {
        // already closed
      }
      return { ok: false, error };
    } finally {
      fleet.free?.();
    }
    if (a.outcome === "adopted") counters.fleetAdopted += 1;
    else if (a.outcome === "published") counters.fleetPublished += 1;
    else if (a.outcome === "fetched") counters.fleetLocal += 1;
    if (fetched !== null) return fetched;
    if (a.outcome === "adopted") return { ok: true };
    // Nothing fetched: core failed the refresh itself (the store failed and the fleet shares
    // this session's refresh token: `store_unavailable`), or the ticket was abandoned.
    return { ok: false, error: a.error ?? undefined };
  }

  /**
   * Waits for `flight` as one of its callers: resolves with its outcome, with `null` after
   * `limitMs`, rejects when `signal` aborts. The last caller to leave aborts the token
   * request (unless it is a background refresh).
   */
  function join(flight, signal, limitMs) {
    flight.waiters += 1;
    return new Promise((resolve, reject) => {
      let done = false;
      let timer;
      const leave = () => {
        flight.waiters -= 1;
        if (flight.waiters === 0 && !flight.pinned && !flight.settled) {
          flight.controller.abort(new DOMException("every caller aborted", "AbortError"));
        }
      };
      const finish = (fn, value, left) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (left) leave();
        else flight.waiters -= 1;
        fn(value);
      };
      const onAbort = () => finish(reject, abortReason(signal), true);
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      if (Number.isFinite(limitMs)) timer = setTimeout(() => finish(resolve, null, true), Math.max(0, limitMs));
      flight.promise.then((outcome) => finish(resolve, outcome, false));
    });
  }

  // ----- authorize: get a header, performing or awaiting the refresh as told ------------

  let headerCache = { id: 0, header: null, ready: null };

  /** The hot path, synchronous: the credential when the session answers `ready` (the header
   * cached per token); `ASK` before the first token; `HELD` when the session answered otherwise
   * and holds that answer back (`acquire` must take it first, before anything can throw). */
  function readyNow() {
    if (headerCache.ready === null) return ASK;
    const at = now();
    const tokenId = session.authorizeTokenAt(at.wallMs, at.monoMs);
    readyAt = at;
    if (tokenId === headerCache.id) return headerCache.ready;
    if (tokenId > 0) return cacheHeader(tokenId);
    return HELD;
  }
  /** The reading of the last `readyNow`: the request's `sent` (taken just before it leaves). */
  let readyAt = null;

  /** The request's origin; a string URL's is kept for the next call with the same string. */
  let originCache = { input: null, origin: null };
  function originOf(input) {
    if (typeof input !== "string") return requestOrigin(input);
    if (originCache.input !== input) originCache = { input, origin: requestOrigin(input) };
    return originCache.origin;
  }

  function cacheHeader(tokenId) {
    headerCache = { id: tokenId, header: session.tokenHeader(tokenId), ready: null };
    headerCache.ready = { kind: "ready", header: headerCache.header, tokenId, ticket: null };
    return headerCache.ready;
  }

  async function acquire(signal, held) {
    let performed = 0;
    let lastError = null;
    for (;;) {
      let tokenId = 0;
      if (held) {
        held = false; // readyNow's answer, held back by the session: taken before any throw
      } else {
        throwIfAborted(signal);
        const at = now();
        // A ready answer is just the token id (no wasm-side object; the session answers it
        // from its ready window without deciding again); the header string crosses into JS
        // once per token.
        tokenId = session.authorizeTokenAt(at.wallMs, at.monoMs);
      }
      let a;
      if (tokenId > 0) {
        a = headerCache.id === tokenId ? headerCache.ready : cacheHeader(tokenId);
      } else {
        a = plain(session.takeAuthorization());
      }
      switch (a.kind) {
        case "ready":
          return a;
        case "ready_and_refresh":
          startFlight(a.ticket, true);
          return a;
        case "refresh": {
          if (performed >= refreshesPerCall && lastError !== null) {
            // Close the ticket without a backoff and report what this caller saw.
            try {
              session.failRefresh(a.ticket.id, "aborted", now());
            } catch {
              // already closed
            }
            throw lastError;
          }
          performed += 1;
          const outcome = await join(startFlight(a.ticket, false), signal, Infinity);
          if (!outcome.ok) lastError = outcome.error ?? null;
          // The session's per-call budget spent: report the failure rather than go on.
          if (lastError !== null && performed >= refreshesPerCall) throw lastError;
          break;
        }
        case "wait": {
          const ms = a.waitMs;
          if (a.waitReason === "backoff" && lastError !== null) {
            // This caller performed the refresh that failed: report it rather than sit out
            // the backoff (others wait it out, bounded by max_wait).
            throw lastError;
          }
          const flight = state.flight;
          if (a.waitReason === "refresh_in_flight" && flight !== null && !flight.settled) {
            const outcome = await join(flight, signal, ms);
            if (outcome === null) break; // until reached: ask again
          } else if (a.waitReason === "refresh_in_flight") {
            await sleep(Math.min(ms, FOREIGN_TICKET_POLL_MS), signal);
          } else {
            await sleep(ms, signal);
          }
          break;
        }
        case "failed":
          throw a.error;
        default:
          throw new TypeError(`createFetch: unknown authorization kind ${String(a.kind)}`);
      }
    }
  }

  // ----- the fetch-compatible function --------------------------------------------------

  async function tokenclockFetch(input, init) {
    counters.calls += 1;
    const options = init ?? {};
    const signal = options.signal ?? (isRequest(input) ? input.signal : undefined);
    throwIfAborted(signal);
    const request = replayable(input, options);
    const origin = originOf(input);
    for (let attempt = 1; ; attempt += 1) {
      let a = readyNow();
      let sent = readyAt;
      if (a === ASK || a === HELD) {
        a = await acquire(signal, a === HELD);
        sent = null;
      }
      const [target, requestInit] = request.next(a.header);
      counters.apiRequests += 1;
      if (sent === null) sent = now();
      const response = await fetchImpl(target, requestInit);
      const received = now();
      if (!answersOurRequest(response, origin)) {
        // From another origin (a cross-origin redirect) or unreadable: handed back as is,
        // charged to nothing.
        counters.unreportedResponses += 1;
        return response;
      }
      // The session decides: return it, retry once, or throw (core `after_response`). Only
      // `Date` and `Age` cross (the session reads no other); `0` is "return".
      const headers = response.headers;
      const next = session.afterResponseAt(
        a.tokenId, response.status, headers.get("date"), headers.get("age"),
        sent.wallMs, sent.monoMs, received.wallMs, received.monoMs, attempt, request.canRetry,
      );
      if (next === 0) return response;
      counters.unauthorized += 1; // every other answer is about a refusal
      if (next.kind === "retry") {
        counters.retries += 1;
        discard(response);
        if (next.waitMs > 0) await sleep(next.waitMs, signal);
        continue;
      }
      if (next.kind === "raise") {
        counters.clockSkewErrors += 1;
        // The session's error (code `clock_skew`, message and evidence from core).
        next.error.response = response;
        throw next.error;
      }
      counters.returned401 += 1; // return_refusal
      return response;
    }
  }

  Object.defineProperties(tokenclockFetch, {
    session: { value: session, enumerable: true },
    stats: {
      value: () => ({
        ...counters,
        refreshInFlight: state.flight !== null && !state.flight.settled,
        session: session.stats(),
      }),
      enumerable: true,
    },
  });
  return tokenclockFetch;
}
