// Replays fuzz regressions (tests/vectors/regressions/<target>.json: raw fuzz input as hex,
// expected "no panic") through the package's public API, using the binding call that
// fuzz/README.md lists for each target and the byte layout documented there and at the top of
// fuzz/harness/<target>.rs.
//
// * Flat layouts (peek, http_date, retry_after, sntp, token_response, monitor) are decoded
//   exactly as the Rust drivers decode them.
// * `lifetime` is decoded with the `arbitrary` encoding (fuzz/README.md) into the harness's
//   LifetimeInput and Checks; `Check::Rebase` is `Lifetime.rebase` (a re-based copy).
// * `skew`, `session`, `jwks` and `verify` drive simulated worlds or fixed key sets: their
//   cases (and seeds) are replayed call by call, with core's outcome for each, from the op
//   traces in tests/vectors/fuzz-replay/ by fuzz-replay.test.js. Here their raw bytes are in
//   addition fed through every entry point that takes text or bytes (a no-panic sweep), and
//   the caller then checks that the module still answers.
//
// A value the JS edge refuses (an i64 beyond 2^53, a negative instant) throws a RangeError or
// TypeError: that is a typed error, not a panic, and the replay goes on.

/** Little-endian fields off the front of the input; missing bytes read as zero. */
class Bytes {
  constructor(buf) {
    this.buf = buf;
    this.pos = 0;
  }

  array(n) {
    const out = Buffer.alloc(n);
    const avail = Math.max(0, Math.min(n, this.buf.length - this.pos));
    this.buf.copy(out, 0, this.pos, this.pos + avail);
    this.pos += avail;
    return out;
  }

  u8() { return this.array(1).readUInt8(0); }
  u16() { return this.array(2).readUInt16LE(0); }
  u32() { return this.array(4).readUInt32LE(0); }
  i64() { return this.array(8).readBigInt64LE(0); }
  u64() { return this.array(8).readBigUInt64LE(0); }
  i32() { return this.array(4).readInt32LE(0); }

  take(n) {
    const end = Math.min(this.buf.length, this.pos + n);
    const out = this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  rest() {
    return this.take(this.buf.length);
  }

  isEmpty() {
    return this.pos >= this.buf.length;
  }

  // `arbitrary` 1.x primitives (fuzz/README.md "The arbitrary encoding").
  bool() { return (this.u8() & 1) === 1; }
  option(read) { return this.bool() ? read() : null; }
  variant(n) { return Number((BigInt(this.u32()) * BigInt(n)) >> 32n); }
}

/** An i64 as a JS number when it is exactly representable, else as is (the edge refuses it). */
function num(v) {
  if (v === null) return null;
  return v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n ? Number(v) : v;
}

/** Runs `f`, swallowing typed errors (TokenClockError, RangeError, TypeError): never others. */
function tolerate(api, f) {
  try {
    return f();
  } catch (e) {
    if (e instanceof api.TokenClockError || e instanceof RangeError || e instanceof TypeError) return undefined;
    throw e;
  }
}

const text = (bytes) => Buffer.from(bytes).toString("utf8");

function headerLines(block) {
  return text(block)
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => {
      const i = l.indexOf(":");
      return i < 0 ? [l, ""] : [l.slice(0, i), l.slice(i + 1).replace(/^ +/, "")];
    });
}

const REPLAY = {
  peek(api, data) {
    tolerate(api, () => api.peek(text(data)));
  },

  http_date(api, data) {
    const b = new Bytes(data);
    const reference = num(b.i64());
    const value = text(b.rest());
    tolerate(api, () => api.parseHttpDate(value, reference));
    tolerate(api, () => api.formatHttpDate(reference));
  },

  retry_after(api, data) {
    const b = new Bytes(data);
    const reference = num(b.i64());
    tolerate(api, () => api.parseRetryAfter(text(b.rest()), reference));
  },

  sntp(api, data) {
    const b = new Bytes(data);
    const transmit = b.i64();
    const entropy = b.u32();
    const receivedRaw = b.i64();
    const flags = b.u8();
    const reply = Uint8Array.from(b.rest());
    const request = tolerate(api, () => new api.SntpRequest(num(transmit), entropy));
    if (request === undefined) return;
    if (flags & 1 && reply.length >= 32) {
      const ts = Buffer.alloc(8);
      ts.writeBigUInt64BE(request.transmitTimestamp);
      reply.set(ts, 24);
    }
    if (flags & 2 && reply.length > 0) reply[0] = (reply[0] & 0xc0) | (4 << 3) | 4;
    const received = flags & 4 ? transmit + BigInt(Number(BigInt.asUintN(32, receivedRaw))) : receivedRaw;
    const r = tolerate(api, () => api.parseSntpReply(reply, request, num(received)));
    if (r !== undefined) {
      const est = new api.SkewEstimator();
      const at = { wallMs: num(received), monoMs: num(received) };
      tolerate(api, () => est.addSntp(r, at));
    }
  },

  token_response(api, data) {
    const b = new Bytes(data);
    const status = b.u16();
    const headers = headerLines(b.take(b.u16()));
    const body = Uint8Array.from(b.rest());
    const e = (() => {
      try {
        api.parseTokenResponse(status, headers, body);
        return null;
      } catch (err) {
        if (err instanceof api.TokenClockError) return err;
        throw err;
      }
    })();
    if (e?.retryAfter) tolerate(api, () => api.parseRetryAfter(e.retryAfter, 1_700_000_000_000));
  },

  monitor(api, data) {
    if (!api.SkewMonitor) return sweep(api, data);
    const b = new Bytes(data);
    const name = text(b.take(b.u8() % 64));
    const ages = Array.from({ length: b.u8() }, () => b.i64());
    let m = tolerate(api, () => api.SkewMonitor.fromJson(text(b.rest())));
    if (m === undefined) m = new api.SkewMonitor();
    // As the driver: every age recorded into `other`, once as an age and once as the token
    // `recordToken(now = age, iat = age · 3)` (i64 wrapping), then merged into `m`.
    const other = new api.SkewMonitor();
    for (const age of ages) {
      tolerate(api, () => other.record(num(age)));
      tolerate(api, () => other.recordToken(num(age), num(BigInt.asIntN(64, age * 3n))));
    }
    m.merge(other);
    let last = null;
    for (const q of [0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1]) {
      const v = m.quantile(q);
      if ((v === null) !== (m.count === 0)) throw new Error(`quantile(${q}) = ${v} with ${m.count} ages`);
      if (last !== null && v !== null && last > v) throw new Error(`quantiles not monotone: ${last} > ${v} at q=${q}`);
      last = v;
    }
    for (const q of [NaN, -0.1, 1.5, Infinity]) tolerate(api, () => m.quantile(q));
    m.assessment();
    tolerate(api, () => m.prometheus(name));
    const back = api.SkewMonitor.fromJson(m.toJson());
    if (JSON.stringify(back.bucketCounts) !== JSON.stringify(m.bucketCounts)) throw new Error("toJson does not parse back");
  },

  lifetime(api, data) {
    const u = new Bytes(data);
    const i64 = () => u.i64();
    const opt = () => u.option(i64);
    const r = () => ({ wall: i64(), mono: i64() });
    const est = () => ({ offset: i64(), low: opt(), high: opt() });
    const input = {
      expiresIn: opt(), exp: opt(), nbf: opt(), iat: opt(), sent: r(), rtt: r(), absurd: u.bool(),
      issuer: est(),
      margin: u.option(() => (u.variant(2) === 0 ? { tenth: i64() } : { fixed: i64() })),
      refresh: u.option(() => (u.variant(2) === 0 ? { fraction: [u.u64(), u.u64()] } : { before: i64() })),
      assumed: opt(), maxWait: opt(), nbfOnly: u.bool(), seed: u.u64(),
    };
    const f64 = (bits) => {
      const buf = Buffer.alloc(8);
      buf.writeBigUInt64LE(bits);
      return buf.readDoubleLE(0);
    };
    const policy = {};
    if (input.margin) policy.margin = "tenth" in input.margin ? { tenthOfLifetimeCapMs: num(input.margin.tenth) } : { fixedMs: num(input.margin.fixed) };
    if (input.refresh) {
      policy.refreshAt = "fraction" in input.refresh
        ? { fraction: input.refresh.fraction.map(f64) }
        : { beforeMs: num(input.refresh.before) };
    }
    if (input.assumed !== null) policy.assumedLifetimeMs = num(input.assumed);
    if (input.maxWait !== null) policy.maxWaitMs = num(input.maxWait);
    if (input.nbfOnly) policy.notBefore = "nbf";
    const rem = (v) => ((v % 600_000n) + 600_000n) % 600_000n;
    const sent = { wallMs: num(input.sent.wall), monoMs: num(input.sent.mono) };
    const received = input.absurd
      ? { wallMs: num(input.rtt.wall), monoMs: num(input.rtt.mono) }
      : { wallMs: num(input.sent.wall + rem(input.rtt.wall)), monoMs: num(input.sent.mono + rem(input.rtt.mono)) };
    const estimate = (e) => ({ offsetMs: num(e.offset), lowMs: num(e.low), highMs: num(e.high) });
    let lt = tolerate(api, () => new api.Lifetime({
      times: { expiresInMs: num(input.expiresIn), expMs: num(input.exp), nbfMs: num(input.nbf), iatMs: num(input.iat) },
      sent, received, issuer: estimate(input.issuer), policy, seed: input.seed,
    }));
    if (lt === undefined) return;
    while (!u.isEmpty()) {
      if (u.variant(2) === 0) {
        const after = i64();
        const wallExtra = i64();
        const server = estimate(est());
        const now = typeof received.wallMs === "number" && typeof received.monoMs === "number"
          ? { wallMs: num(BigInt(received.wallMs) + after + wallExtra), monoMs: num(BigInt(received.monoMs) + after) }
          : received;
        const e = tolerate(api, () => new api.Estimate(server));
        if (e !== undefined && typeof now.wallMs === "number") {
          tolerate(api, () => e.toLocalTime(now.wallMs));
          tolerate(api, () => e.toServerTime(now.wallMs));
          tolerate(api, () => e.serverTimeBounds(now.wallMs));
        }
        tolerate(api, () => lt.state(now, server));
        tolerate(api, () => lt.nextChangeMs(now, server));
        tolerate(api, () => lt.untilHardExpiryMs(now, server));
        tolerate(api, () => lt.untilValidMs(now, server));
      } else {
        // Check::Rebase { at: R, excess: i64, paused: bool }: core's `rebase` in place, here a
        // re-based copy (the edge refuses a reading or excess it cannot hold: typed).
        const at = r();
        const excess = i64();
        const explanation = u.bool() ? "monotonic_paused" : "wall_stepped";
        const resolution = { at: { wallMs: num(at.wall), monoMs: num(at.mono) }, wallExcessMs: num(excess), explanation };
        lt = tolerate(api, () => lt.rebase(resolution)) ?? lt;
      }
    }
  },
};

/** The raw bytes through every entry point that takes text or bytes. */
function sweep(api, data) {
  const s = text(data);
  const bytes = Uint8Array.from(data);
  tolerate(api, () => api.peek(s));
  tolerate(api, () => api.parseHttpDate(s, 1_700_000_000_000));
  tolerate(api, () => api.parseRetryAfter(s, 1_700_000_000_000));
  tolerate(api, () => api.parseTokenResponse(200, [], bytes));
  tolerate(api, () => api.parseTokenResponse(400, [["retry-after", s.slice(0, 64)]], bytes));
  tolerate(api, () => api.parseSntpReply(bytes, new api.SntpRequest(1_700_000_000_000, 1), 1_700_000_000_050));
  tolerate(api, () => api.parseRedirect(s, "state"));
  if (api.SkewMonitor) tolerate(api, () => api.SkewMonitor.fromJson(s));
  if (api.Verifier) {
    tolerate(api, () => new api.Verifier({ key: { jwk: s }, algorithms: ["HS256", "RS256", "ES256", "EdDSA"] }));
    tolerate(api, () => api.Verifier.fromJwks(s, { algorithms: ["HS256", "RS256", "ES256", "EdDSA"] }));
    const v = new api.Verifier({ key: new Uint8Array(32).fill(7), algorithms: ["HS256"] });
    tolerate(api, () => v.verify(s, 1_700_000_000_000));
  }
}

/** Replays one regression input for `target` through `api` (throws only on a non-typed error). */
export function replayRegression(api, target, data) {
  const replay = REPLAY[target] ?? sweep;
  replay(api, data);
}
