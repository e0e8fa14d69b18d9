// RemoteVerifier: JWT verification with the issuer's keys fetched over `fetch`, and
// bearerAuth, a middleware for node:http / Express-style handlers.
//
// Every rule is core's (the module's KeySet, core `verify::remote::RemoteKeySet`): discovery
// with an exact `issuer` match, the key set's cache lifetime from `Cache-Control: max-age`
// (bounded to 1 min .. 1 h, 10 min without), one fetch in flight however many verifications
// need it, an unknown `kid` refetches at most once per cooldown (30 s), a failed or malformed
// fetch never drops the keys in use (retried with backoff), keys that leave the set still
// verify for a grace period (5 min), bodies over 256 KiB are refused. This file performs the
// GETs core asks for: `redirect: "manual"`, bounded by the ticket's timeout in total (headers
// and every byte of the body), the body read as a stream and cut at the ticket's
// `maxBodyBytes + 1` (core refuses it as too large).
//
// Single flight in one process: core hands out one ticket at a time; the caller holding it
// runs the fetch and stores its promise, every caller core tells to wait awaits that promise
// (which settles by the ticket's deadline at the latest), then asks core again.
//
// The responses' `Date` headers measure the issuer's clock: `estimate()` and `clockOff()`
// (a metric), and a `clock_offset` event once when this host's clock is off by more than the
// leeway (the leeway is never widened).
import { KeySet } from "./pkg/full/tokenclock_wasm.js";
import { TokenClockError } from "./errors.js";
import { Verifier } from "./verify.js";

const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/** Options of the driver (the rest go to the KeySet). */
const DRIVER_KEYS = ["fetch", "onEvent"];

/** The default event handler: a warning for the two events an operator must act on. */
function warnEvent(event) {
  if (event.event === "fetch_failed") {
    console.warn(
      `tokenclock: fetching the issuer's ${event.kind} failed (${event.code}); ` +
        `${event.servingLastGood ? "the keys in use stay" : "no keys yet"}, retrying in ${(event.retryInMs / 1000).toFixed(1)} s`,
    );
  } else if (event.event === "clock_offset") {
    const s = (ms) => (ms === null ? "unknown" : (ms / 1000).toFixed(3));
    console.warn(
      `tokenclock: this server's clock is off from the issuer's by more than the leeway ` +
        `(${s(event.leewayMs)} s): issuer − local is between ${s(event.lowMs)} and ${s(event.highMs)} s; ` +
        `tokens will be judged early or late (fix NTP; the leeway is not widened)`,
    );
  }
}

/** Wall time and a monotonic time, integer ms (the KeySet's default clock). */
function defaultClock() {
  return { wallMs: Date.now(), monoMs: Math.floor(performance.timeOrigin + performance.now()) };
}

/**
 * The body, at most `limit` bytes of it, read as a stream and cancelled at the limit (the cap
 * is on the decoded body: a gzip bomb is cut like any other). A response without a stream (a
 * test double) is read whole.
 */
async function readCapped(response, limit) {
  const body = response.body;
  if (body === null || body === undefined) {
    return typeof response.arrayBuffer === "function" ? new Uint8Array(await response.arrayBuffer()).subarray(0, limit) : new Uint8Array(0);
  }
  const chunks = [];
  let length = 0;
  const take = (value) => {
    const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value instanceof Uint8Array ? value : new Uint8Array(value);
    const part = bytes.byteLength > limit - length ? bytes.subarray(0, limit - length) : bytes;
    chunks.push(part);
    length += part.byteLength;
  };
  if (typeof body.getReader === "function") {
    const reader = body.getReader();
    try {
      while (length < limit) {
        const { done, value } = await reader.read();
        if (done) break;
        take(value);
      }
    } finally {
      if (length >= limit) reader.cancel().catch(() => {});
      reader.releaseLock?.();
    }
  } else if (typeof body[Symbol.asyncIterator] === "function") {
    // An injected fetch with Node stream bodies (node-fetch): leaving the loop destroys it.
    for await (const value of body) {
      take(value);
      if (length >= limit) break;
    }
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** A promise rejected with `reason` when `signal` aborts (never settles otherwise). */
function abortion(signal) {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/**
 * Verifies JWTs with a remote key set (see the top of this file). Build it with
 * `Verifier.fromIssuer(issuer, options)` or `Verifier.fromJwksUri(uri, options)`.
 */
export class RemoteVerifier {
  /** @type {KeySet} */
  #keys;
  #fetch;
  #onEvent;
  #clock;
  /** The fetch in flight (its promise), or null. */
  #flight = null;
  /** The npm Verifier around the keys in use, and the key set generation it was made at. */
  #verifier = null;
  #generation = -1;
  #fetches = 0;

  /**
   * `new RemoteVerifier(keySet, { fetch?, onEvent? })` around a KeySet you configured;
   * `Verifier.fromIssuer` / `fromJwksUri` build both.
   */
  constructor(keySet, options = {}) {
    if (!(keySet instanceof KeySet)) throw typeError("keySet must be a KeySet of tokenclock/full");
    if (options === null || typeof options !== "object") throw typeError("options must be an object");
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== "function") throw typeError("options.fetch must be a function (no global fetch)");
    const onEvent = options.onEvent ?? warnEvent;
    if (typeof onEvent !== "function") throw typeError("options.onEvent must be a function");
    if (options.clock !== undefined && typeof options.clock !== "function") throw typeError("options.clock must be a function");
    this.#keys = keySet;
    this.#fetch = fetchImpl;
    this.#onEvent = onEvent;
    this.#clock = options.clock ?? defaultClock;
  }

  /** Keys from `issuer`'s discovery document and its `jwks_uri`; tokens must carry `iss == issuer`. */
  static fromIssuer(issuer, options) {
    return build({ issuer }, options);
  }

  /** Keys from the key set at `jwksUri` (pass `issuerClaim` to require an `iss`). */
  static fromJwksUri(jwksUri, options) {
    return build({ jwksUri }, options);
  }

  /** GETs sent (discovery and key sets), for tests and metrics. */
  get fetches() {
    return this.#fetches;
  }

  /** The core key set (its `kids`, `jwksUri`, events). */
  get keys() {
    return this.#keys;
  }

  /**
   * Verifies `token` now, fetching keys when core says so (this call performs the fetch, or
   * awaits the one in flight). Resolves to `{ alg, kid, claims, iatMs, nbfMs, expMs }`; rejects
   * with `TokenClockError` (`expired`, `invalid_signature`, `unknown_kid`, ..., or
   * `keys_unavailable` with `.cause` and `.retryInMs` when no key set could be fetched yet).
   */
  async verify(token) {
    await this.#ensureKeys();
    try {
      return await this.#current().verifyAsync(token);
    } catch (error) {
      if (!(error instanceof TokenClockError) || error.code !== "unknown_kid" || error.kidInToken !== true) throw error;
    }
    // At most one fetch of its own per verification (with a zero cooldown core would allow
    // one after every fetch): waiting for another caller's fetch may be followed by one.
    for (let round = 0; round < 2; round += 1) {
      const r = this.#keys.onUnknownKid();
      if (r.refetch === "no") break;
      if (r.refetch === "wait") await this.#wait();
      else await this.#run(r.ticket);
      try {
        return await this.#current().verifyAsync(token);
      } catch (error) {
        if (!(error instanceof TokenClockError) || error.code !== "unknown_kid") throw error;
        if (r.refetch === "fetch") throw error;
      }
    }
    // The error stands (or a fetch by another caller brought the key meanwhile).
    return this.#current().verifyAsync(token);
  }

  async #ensureKeys() {
    for (;;) {
      const s = this.#keys.step();
      switch (s.step) {
        case "ready":
          return;
        case "ready_and_fetch":
          // A background refresh: this verification goes on with the keys in use.
          this.#run(s.ticket).catch(() => {});
          return;
        case "fetch":
          await this.#run(s.ticket);
          break;
        case "wait":
          await this.#wait();
          break;
        default:
          throw s.error;
      }
    }
  }

  /** Waits for the fetch in flight (it settles by its ticket's deadline). */
  async #wait() {
    if (this.#flight !== null) {
      await this.#flight.catch(() => {});
    } else {
      // Not reachable while this object is the key set's only driver; never spin.
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** The npm Verifier around the keys in use, re-made when the key set's generation moved. */
  #current() {
    const generation = this.#keys.generation();
    if (generation !== this.#generation || this.#verifier === null) {
      const core = this.#keys.verifier();
      if (core !== undefined && core !== null) {
        this.#verifier = Verifier.fromCore(core);
        this.#generation = generation;
      }
    }
    return this.#verifier;
  }

  /** Performs `ticket` and reports it to core; the promise every waiter awaits. */
  #run(ticket) {
    const flight = this.#perform(ticket).finally(() => {
      if (this.#flight === flight) this.#flight = null;
    });
    this.#flight = flight;
    return flight;
  }

  async #perform(ticket) {
    const sent = this.#clock();
    this.#fetches += 1;
    let result = null;
    let failure = "transport_error";
    try {
      result = await this.#get(ticket);
    } catch (error) {
      if (error?.name === "TimeoutError" || error?.name === "AbortError") failure = "timeout";
    }
    const received = this.#clock();
    try {
      if (result !== null) {
        this.#keys.onResponse(ticket.id, result.status, result.body, result.date, result.cacheControl, result.age, sent, received);
      } else {
        this.#keys.onFailure(ticket.id, failure, received);
      }
    } catch (error) {
      // A refused response (core keeps the keys in use and backs off; the event says so) or a
      // ticket that already ended at its deadline. Anything else is a response the module
      // cannot take (an injected fetch's odd object: a status that is no number, a body that
      // is no bytes): a failed fetch, so the ticket does not hang until its deadline.
      if (!(error instanceof TokenClockError)) {
        try {
          this.#keys.onFailure(ticket.id, "transport_error", received);
        } catch {
          // already ended
        }
      }
    } finally {
      this.#drainEvents();
    }
  }

  /** One GET, bounded in total by the ticket's timeout; the body capped at maxBodyBytes + 1. */
  async #get(ticket) {
    const controller = new AbortController();
    const timer = setTimeout(() => {
      controller.abort(new DOMException("the key fetch timed out", "TimeoutError"));
    }, ticket.timeoutMs);
    const aborted = abortion(controller.signal);
    aborted.catch(() => {});
    try {
      const response = await Promise.race([
        this.#fetch(ticket.url, {
          method: "GET",
          headers: { accept: "application/json", "accept-encoding": "identity" },
          redirect: "manual",
          signal: controller.signal,
        }),
        aborted,
      ]);
      const body = await Promise.race([readCapped(response, ticket.maxBodyBytes + 1), aborted]);
      const header = (name) => response.headers?.get?.(name) ?? null;
      return {
        status: response.status,
        body,
        date: header("date"),
        cacheControl: header("cache-control"),
        age: header("age"),
      };
    } finally {
      clearTimeout(timer);
      // Ends a body still streaming (a trickle cut at its deadline or its cap).
      controller.abort(new DOMException("done", "AbortError"));
    }
  }

  #drainEvents() {
    for (let event = this.#keys.pollEvent(); event !== null && event !== undefined; event = this.#keys.pollEvent()) {
      try {
        this.#onEvent(event);
      } catch {
        // A throwing handler must not break the fetch that reported.
      }
    }
  }

  /** The issuer's clock relative to this host's (`issuer − local`), from the responses' `Date`. */
  estimate() {
    return this.#keys.estimate();
  }

  /** Whether this host's clock is off from the issuer's by more than the leeway (null until known). */
  clockOff() {
    return this.#keys.clockOff();
  }

  /** `{ jwksUri, kids, keyCount, leewayMs, fetches }`; never key material or tokens. */
  toJSON() {
    return { ...this.#keys.toJSON(), fetches: this.fetches };
  }

  toString() {
    return `RemoteVerifier(${this.#keys.toString()})`;
  }

  [INSPECT]() {
    return this.toString();
  }
}

function typeError(message) {
  const e = new TypeError(message);
  e.code = "invalid_argument";
  return e;
}

function build(source, options) {
  if (options === null || typeof options !== "object") throw typeError("options must be an object");
  const keyOptions = { ...source };
  const driver = {};
  for (const [key, value] of Object.entries(options)) {
    if (DRIVER_KEYS.includes(key)) driver[key] = value;
    else if (key !== "issuer" && key !== "jwksUri") keyOptions[key] = value;
  }
  if (options.clock !== undefined) driver.clock = options.clock;
  return new RemoteVerifier(new KeySet(keyOptions), driver);
}

// ----- middleware ------------------------------------------------------------------------------

/** RFC 6750 §3: an error_description is %x20-21 / %x23-5B / %x5D-7E. */
function description(text) {
  return String(text).replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, "?").slice(0, 200);
}

/** The token of an `Authorization: Bearer` header (RFC 6750 §2.1), "" when malformed, null when not Bearer. */
function bearerToken(header) {
  if (typeof header !== "string") return null;
  const m = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?: +(.*))?$/.exec(header.trim());
  if (m === null || m[1].toLowerCase() !== "bearer") return null;
  const token = (m[2] ?? "").trim();
  return /^[A-Za-z0-9\-._~+/]+=*$/.test(token) ? token : "";
}

function refuse(res, status, challenge, body, extra = {}) {
  res.statusCode = status;
  if (challenge !== null) res.setHeader("WWW-Authenticate", challenge);
  for (const [name, value] of Object.entries(extra)) res.setHeader(name, value);
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Content-Type", "application/json");
  res.end(JSON.stringify(body));
}

/**
 * `bearerAuth(verifier, { onSuccess? })` → `(req, res, next)` for node:http and Express-style
 * servers. A request without `Authorization: Bearer` gets 401 with `WWW-Authenticate: Bearer`
 * (no error attribute, RFC 6750 §3.1); a malformed or invalid token 401 with
 * `error="invalid_token"` and a description (never the token); `keys_unavailable` 503 with
 * `Retry-After`. On success `req.auth = { claims, alg, kid, iatMs, nbfMs, expMs }`,
 * `onSuccess(req, auth)` runs, then `next()`. An unexpected error goes to `next(error)` (500
 * without `next`).
 */
export function bearerAuth(verifier, options = {}) {
  if (verifier === null || typeof verifier?.verify !== "function") throw typeError("verifier must have a verify(token) method");
  const onSuccess = options?.onSuccess;
  if (onSuccess !== undefined && typeof onSuccess !== "function") throw typeError("options.onSuccess must be a function");
  return function tokenclockBearerAuth(req, res, next) {
    const token = bearerToken(req.headers?.authorization);
    if (token === null) {
      refuse(res, 401, "Bearer", { error: "unauthorized" });
      return;
    }
    if (token === "") {
      const text = "the Authorization header is not a bearer token";
      refuse(res, 401, `Bearer error="invalid_token", error_description="${text}"`, { error: "invalid_token", error_description: text });
      return;
    }
    const refused = Symbol("refused");
    Promise.resolve()
      .then(() => verifier.verify(token))
      .then(
        (verified) => {
          const auth = { claims: verified.claims, alg: verified.alg, kid: verified.kid, iatMs: verified.iatMs, nbfMs: verified.nbfMs, expMs: verified.expMs };
          req.auth = auth;
          return onSuccess === undefined ? undefined : onSuccess(req, auth);
        },
        (error) => {
          if (error instanceof TokenClockError && error.code === "keys_unavailable") {
            const retry = Math.max(1, Math.ceil((Number(error.retryInMs) || 0) / 1000));
            refuse(res, 503, null, { error: "temporarily_unavailable", error_description: "the issuer's keys are not available yet" }, { "Retry-After": String(retry) });
            return refused;
          }
          if (error instanceof TokenClockError) {
            const text = description(error.message);
            refuse(res, 401, `Bearer error="invalid_token", error_description="${text}"`, { error: "invalid_token", error_description: text, code: error.code });
            return refused;
          }
          throw error;
        },
      )
      .then(
        (outcome) => {
          if (outcome !== refused && typeof next === "function") next();
        },
        (error) => {
          if (typeof next === "function") next(error);
          else if (!res.headersSent) refuse(res, 500, null, { error: "server_error" });
        },
      );
  };
}
