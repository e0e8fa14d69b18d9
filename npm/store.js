// RedisStore: one token shared by a fleet of processes through Redis (Node only).
//
//   import { createFetch, RedisStore } from "tokenclock";
//   const store = new RedisStore("redis://127.0.0.1:6379/0");
//   const fetch = createFetch({ tokenUrl, clientId, clientSecret, store });
//
// Every decision is the core's `FleetRefresh` (see core/src/fleet.rs): adopt a peer's token,
// take the lease (`SET NX PX` with a value unique to the attempt, chosen by the core, and a
// fencing token, in one script), wait for a peer, take over when its lease lapses, publish
// under the lease (a script compares the lease value: only the holder's write is accepted),
// fall back to a process-local refresh when Redis fails. This file only runs the Redis
// commands it asks for.
//
// Client: the `redis` package (node-redis, v5 or later), Redis's own Node.js client, which Redis
// recommends for new projects (ioredis is in maintenance; connect-redis 9 dropped it for the
// same reason). Give a connected client, or a URL and `redis` is imported on first use.
// A client made here never queues commands while disconnected and never throws unhandled
// `error` events; every command is bounded by `timeoutMs`.
//
// Redis Cluster: give an array of node URLs (the root nodes; credentials and TLS are taken from
// the first) or a client from node-redis's `createCluster`. The `{<hash>}` hash tag keeps a
// credential's record, lease and fencing counter in one slot: every script runs on the master
// that owns it. node-redis follows `MOVED`/`ASK` (a resharding, or a replica promoted by a
// failover); a command to a master that just died fails at once (no offline queue: the
// protocol refreshes locally for that round), and a cluster made here re-reads the topology
// one second after a node starts reconnecting.

/** A store command failed (connection, timeout, server error): the refresh goes on locally. */
export class StoreError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = "StoreError";
    this.code = "store_unavailable";
  }
}

function invalid(Kind, message) {
  const e = new Kind(message);
  e.code = "invalid_argument";
  return e;
}

function positiveInt(name, v, fallback, max) {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v <= 0 || v > max) {
    throw invalid(RangeError, `RedisStore: ${name} must be an integer number of milliseconds in (0, ${max}]`);
  }
  return v;
}

function clusterNodeUrl(u) {
  if (typeof u !== "string") return false;
  try {
    const url = new URL(u);
    return (url.protocol === "redis:" || url.protocol === "rediss:") && url.hostname !== "" && (url.pathname === "" || url.pathname === "/" || url.pathname === "/0");
  } catch {
    return false;
  }
}

export class RedisStore {
  /**
   * @param clientOrUrl a `redis://` URL, an array of Redis Cluster node URLs, or a node-redis
   *   client (`createClient()` or `createCluster()`, connected or not)
   * @param options `{ prefix = "tokenclock", encryptionKey (32-byte Uint8Array), leaseMs = 15000,
   *   pollMs = 50, maxWaitMs = 20000, timeoutMs = 500, logger = console }`
   */
  constructor(clientOrUrl, options = {}) {
    if (options === null || typeof options !== "object") throw invalid(TypeError, "RedisStore: options must be an object");
    const prefix = options.prefix ?? "tokenclock";
    if (typeof prefix !== "string" || prefix === "" || /[{}\s]/.test(prefix)) {
      throw invalid(TypeError, "RedisStore: prefix must be a non-empty string without braces or spaces");
    }
    const key = options.encryptionKey;
    if (key !== undefined && !(key instanceof Uint8Array && key.length === 32)) {
      throw invalid(TypeError, "RedisStore: encryptionKey must be a 32-byte Uint8Array");
    }
    this.#prefix = prefix;
    this.#fleetOptions = {
      leaseMs: positiveInt("leaseMs", options.leaseMs, 15_000, 600_000),
      pollMs: positiveInt("pollMs", options.pollMs, 50, 60_000),
      maxWaitMs: positiveInt("maxWaitMs", options.maxWaitMs, 20_000, 3_600_000),
      encryptionKey: key === undefined ? undefined : Uint8Array.from(key),
    };
    this.timeoutMs = positiveInt("timeoutMs", options.timeoutMs, 500, 60_000);
    this.logger = options.logger ?? console;
    this.down = false;
    this.lastError = "error";
    this.#scripts = null;
    if (typeof clientOrUrl === "string") {
      this.#url = clientOrUrl;
      this.#client = null;
    } else if (Array.isArray(clientOrUrl)) {
      if (clientOrUrl.length === 0 || !clientOrUrl.every(clusterNodeUrl)) {
        throw invalid(TypeError, "RedisStore: a Redis Cluster is given as a non-empty array of node URLs redis://host:port");
      }
      this.#url = [...clientOrUrl];
      this.#client = null;
    } else if (clientOrUrl !== null && typeof clientOrUrl === "object" && typeof clientOrUrl.eval === "function" && typeof clientOrUrl.get === "function") {
      this.#url = null;
      this.#client = clientOrUrl;
    } else {
      throw invalid(TypeError, "RedisStore: clientOrUrl must be a redis URL, an array of cluster node URLs or a node-redis client");
    }
    // node-redis cluster clients (createCluster) have `nodeClient`; plain clients do not.
    this.#cluster = Array.isArray(this.#url) || typeof this.#client?.nodeClient === "function";
  }

  #cluster;

  #url;
  #client;
  #prefix;
  #fleetOptions;

  /** The protocol options for `FleetRefresh` (holds the key: not enumerable, never printed). */
  get fleetOptions() {
    return this.#fleetOptions;
  }

  /** The key prefix. */
  get prefix() {
    return this.#prefix;
  }

  #connecting = null;
  #scripts;

  toString() {
    return `RedisStore(prefix=${this.prefix}${this.#cluster ? ", cluster" : ""}${this.#fleetOptions.encryptionKey ? ", encrypted" : ""})`;
  }

  /** What `JSON.stringify` shows: the prefix and the kind of store, never the key or a URL. */
  toJSON() {
    return {
      prefix: this.prefix,
      cluster: this.#cluster,
      encrypted: this.#fleetOptions.encryptionKey !== undefined,
      leaseMs: this.#fleetOptions.leaseMs,
    };
  }

  [Symbol.for("nodejs.util.inspect.custom")]() {
    return this.toString();
  }

  /** Closes a client this store made (a given client is the caller's to close). */
  async close() {
    if (this.#url !== null && this.#client !== null) {
      const c = this.#client;
      this.#client = null;
      try {
        if (typeof c.close === "function") await c.close();
        else await c.quit();
      } catch {
        try {
          c.destroy?.();
        } catch {
          // already closed
        }
      }
    }
  }

  async #connected() {
    if (this.#client === null) {
      if (this.#connecting === null) {
        this.#connecting = (async () => {
          const { createClient, createCluster } = await import("redis");
          const socket = {
            connectTimeout: this.timeoutMs,
            // Keep trying in the background, never more than 1 s apart; commands fail
            // fast meanwhile (no offline queue) and the fleet protocol goes local.
            reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 1000),
          };
          let c;
          if (Array.isArray(this.#url)) {
            // Root nodes only discover the topology; what every node connection needs
            // (timeouts, no offline queue, credentials, TLS) goes in `defaults`.
            const first = new URL(this.#url[0]);
            const defaults = { disableOfflineQueue: true, socket: first.protocol === "rediss:" ? { ...socket, tls: true } : socket };
            if (first.username) defaults.username = decodeURIComponent(first.username);
            if (first.password) defaults.password = decodeURIComponent(first.password);
            c = createCluster({
              rootNodes: this.#url.map((url) => ({ url })),
              defaults,
              // A node that drops (a master killed): re-read the topology after 1 s of
              // reconnecting, to find the promoted replica (node-redis's default is 5 s).
              topologyRefreshOnReconnectionAttemptStrategy: 1000,
            });
          } else {
            c = createClient({ url: this.#url, disableOfflineQueue: true, socket });
          }
          c.on("error", () => {}); // reported through the failing commands, once
          this.#client = c;
          return c;
        })();
      }
      await this.#connecting;
    }
    const c = this.#client;
    // A client that is not ready (never connected, or reconnecting) would refuse commands
    // (no offline queue): wait for it, bounded. A given client that the caller never connected
    // is connected here.
    if (c.isReady === false) {
      if (this.#openPromise === null && c.isOpen === false) {
        this.#openPromise = c.connect().catch(() => {}).finally(() => {
          this.#openPromise = null;
        });
      }
      const ready = this.#openPromise ?? new Promise((resolve) => {
        const check = setInterval(() => {
          if (c.isReady) {
            clearInterval(check);
            resolve();
          }
        }, 5);
        setTimeout(() => clearInterval(check), this.timeoutMs + 50);
      });
      await this.#bounded(ready);
      if (!c.isReady) throw new StoreError("redis is not connected");
    }
    return c;
  }

  #openPromise = null;

  async #run(f) {
    let timer;
    try {
      // Loading `redis` the first time is not bounded (module loading, once per process);
      // connecting and every command are.
      const c = await this.#connected();
      const out = await this.#bounded(f(c));
      this.#up();
      return out;
    } catch (error) {
      this.lastError = error?.name ?? "error";
      if (error instanceof StoreError) throw error;
      throw new StoreError(`redis command failed (${error?.name ?? "error"})`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  #bounded(promise) {
    let timer;
    return Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new StoreError("redis command timed out")), this.timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  #eval(c, script, keys, args) {
    return c.eval(script, { keys, arguments: args.map(String) });
  }

  #up() {
    if (this.down) {
      this.down = false;
      this.logger.warn?.("tokenclock: token store (Redis) answers again: sharing tokens again");
    }
  }

  /** Logs a protocol note: the store going down (once), an ignored record (each time). */
  note(note) {
    if (note === "store_unavailable") {
      if (!this.down) {
        this.down = true;
        this.logger.warn?.(`tokenclock: token store (Redis) unreachable or failing (${this.lastError}): refreshing without it (process-local single flight) until it answers again; sessions whose refresh token the fleet shares wait for it instead`);
      }
    } else if (note.startsWith("record_ignored:")) {
      this.logger.warn?.(`tokenclock: token store: ignored the shared token record (${note.slice(15)}); not trusted`);
    } else if (note === "gave_up_waiting") {
      this.logger.warn?.("tokenclock: token store: a peer's refresh took too long; refreshing here");
    } else if (note === "lease_lost") {
      this.logger.warn?.("tokenclock: token store: the lease lapsed before the token was published");
    }
  }

  /** The scripts, from the core (`lib.fleetScripts()`), set by createFetch, which also
   * starts connecting (in the background) so the first refresh finds the client ready. */
  setScripts(scripts) {
    this.#scripts ??= scripts;
    this.#connected().catch(() => {});
  }

  get(key) {
    return this.#run((c) => c.get(key));
  }

  // `lease` is the lease value the core chose for this attempt (random): stored as-is by
  // takeLease, compared by publish and release. takeLease returns the fencing token (0 when a
  // peer holds the lease).

  async takeLease(keys, lease, leaseMs) {
    const out = await this.#run((c) => this.#eval(c, this.#scripts.takeLease, [keys.lease, keys.fence], [lease, leaseMs]));
    return Number(out);
  }

  async publish(keys, lease, value, ttlMs) {
    const out = await this.#run((c) => this.#eval(c, this.#scripts.publish, [keys.lease, keys.record], [lease, value, ttlMs]));
    return Number(out) === 1;
  }

  async release(keys, lease) {
    const out = await this.#run((c) => this.#eval(c, this.#scripts.release, [keys.lease], [lease]));
    return Number(out) === 1;
  }
}
