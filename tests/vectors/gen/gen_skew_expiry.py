#!/usr/bin/env python3
"""Generates tests/vectors/skew.json and tests/vectors/expiry.json.

An independent re-implementation (Python stdlib only) of the documented rules of
core/src/skew.rs and core/src/lifetime.rs (module and item docs, SPEC "Time", "Skew estimation",
"Token lifetime and the expiry decision"). Nothing here is computed by the Rust code under test.
Run from anywhere:

    python3 tests/vectors/gen/gen_skew_expiry.py

Rules encoded here
------------------
Readings are pairs (wall_ms, mono_ms). A *discontinuity* between two readings is
`excess = (wall_b - wall_a) - (mono_b - mono_a)` when `|excess| > 1000`.

Samples (offset = server - local):
* Date header D (1 s resolution), exchange sent..received: `rtt = recv.mono - sent.mono`
  (< 0: error `reading_order`); a discontinuity between sent and received: error
  `clock_discontinuity`. The exchange is placed on the wall timeline at `recv.wall`, its duration
  taken from the monotonic clock: `low = D - recv.wall`, `high = D + 1000 - (recv.wall - rtt)`.
* iat: `low = iat - recv.wall`, no upper bound.
* manual: the bounds given (`low > high`: `invalid_sample`).
* any bound beyond +-100*366 days: `invalid_sample`.

Estimator (drift_ppm, max_samples):
* observe(now): ignored when `now.mono < last.mono`; else a discontinuity x since the last
  reading is recorded as a *jump* (from, to, x, unresolved). At most 8 jumps: recording a 9th
  forgets the oldest and every sample taken before it. (Recorded even while no sample is held:
  a sample completed before the jump may be added after it; see observe() below.)
* a sample is *after* a jump when its reading's mono is >= to.mono, or strictly between
  from.mono and to.mono and discontinuous with `from`.
* a sample is carried across every jump it is not after, in order: resolved "wall stepped"
  shifts its bounds by -x, resolved "monotonic paused" keeps them, unresolved takes the union
  `low = min(low, low-x)`, `high = max(high, high-x)` — except for a backward jump (x <= 0),
  which no suspend explains: it is carried as a step.
* add(sample): observe its reading; when full, drop the sample with the oldest reading
  (monotonic); store it; then resolve: for the latest unresolved jump, with samples both after
  and before it, intersect (Marzullo, below) the after-samples (carried, drift-widened at the
  last reading) and, for each explanation, the before-samples carried with that jump under
  that explanation; exactly one explanation whose intersection overlaps the after one wins
  ("monotonic paused" only for x > 0: a suspend only ever makes the wall clock gain).
* estimate(now): a discontinuity between the last reading and `now` counts as one more,
  unresolved jump (not recorded); each carried sample is then widened by
  `ceil(|now.mono - at.mono| * ppm / 1e6)` on both sides.
* Marzullo: `best` = the largest number of intervals sharing one point (closed intervals, so
  touching ones share). With a strict majority (2*best > n) the result is the hull of all points
  covered `best` times; otherwise the hull of all intervals. offset = low + floor((high-low)/2)
  when bounded, max(low, 0) when unbounded above; agreeing = best.
* next_date_probe(now, rtt, target): none when the width is <= target; otherwise with
  `mid` the middle of the interval (or the best offset when unbounded) and `rtt` clamped to
  0..60000, the smallest wait >= 0 with `(now.wall + wait + floor(rtt/2) + mid) % 1000 == 0`.

Lifetime (TokenTimes, sent, received, issuer estimate, policy):
* errors in order: invalid policy (`invalid_policy`), `recv.mono < sent.mono` (`reading_order`),
  expires_in outside 0..=1 year, exp/nbf/iat outside 0..=9999-12-31 (`time_out_of_range`).
* terms: expires_in -> (sent.wall + ei, sent.mono + ei); exp -> wall `exp - high` (issuer upper
  bound; with no upper bound `exp - offset`, and only when there is no expires_in), mono
  `recv.mono + (wall - recv.wall)`. deadline = per-clock minimum; basis `exp` when the exp term
  is earlier on either clock, `expires_in` otherwise; neither: sent + assumed lifetime.
* lifetime = max(0, min over clocks of deadline - sent); margin = min(cap, floor(lifetime/10))
  or min(fixed, lifetime); hard_expiry = deadline - margin on both clocks.
* refresh_at = recv + lead on both clocks, `span = max(0, min over clocks of hard - recv)`,
  lead = floor(span * f) (f the IEEE double given, computed exactly) or max(0, span - before_ms).
  `RefreshAt::Before` is measured back from *hard expiry*, not from the deadline or exp.
* state(now, server): expired when min(hard.wall - now.wall, hard.mono - now.mono) <= 0, or
  (server upper bound known, exp known) `exp - margin - (now.wall + high) <= 0`; then with
  not_before = nbf (policy "nbf") or max(nbf, iat) (default "nbf_and_iat"),
  `wait = not_before - (now.wall + low)` (low missing: the best offset): 0 < wait <= max_wait
  -> not_yet_valid(wait); then stale when refresh_at has passed on either clock, else fresh.
"""
import json
from datetime import datetime, timezone
from fractions import Fraction
from math import floor
from pathlib import Path

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
M0 = 7_000_000  # an arbitrary monotonic origin
MAX_UNIX_MS = 253_402_300_799_999
MAX_ABS_OFFSET = 100 * 366 * 86_400_000
MAX_LIFETIME = 366 * 86_400_000
THRESHOLD = 1_000


def R(wall, mono):
    return {"wall_ms": wall, "mono_ms": mono}


def L(t, mono_shift=0):
    """A reading of a well-behaved local clock at local wall time t (mono = t - T0 + M0)."""
    return R(t, t - T0 + M0 + mono_shift)


def adv(r, ms):
    return R(r["wall_ms"] + ms, r["mono_ms"] + ms)


WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def imf_fixdate(ms):
    d = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return (f"{WEEKDAYS[d.weekday()]}, {d.day:02d} {MONTHS[d.month - 1]} {d.year:04d} "
            f"{d.hour:02d}:{d.minute:02d}:{d.second:02d} GMT")


def parse_fixdate(s):
    d = datetime.strptime(s, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=timezone.utc)
    return int(d.timestamp()) * 1000


assert imf_fixdate(784111777000) == "Sun, 06 Nov 1994 08:49:37 GMT"  # RFC 9110 §5.6.7 example
assert parse_fixdate("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777000


# ---------------------------------------------------------------------------------------------
# Skew estimation (independent model)
# ---------------------------------------------------------------------------------------------

class SampleError(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


def discontinuity(later, earlier):
    excess = (later["wall_ms"] - earlier["wall_ms"]) - (later["mono_ms"] - earlier["mono_ms"])
    return excess if abs(excess) > THRESHOLD else None


def checked(low, high):
    for v in (low, high):
        if v is not None and abs(v) > MAX_ABS_OFFSET:
            raise SampleError("invalid_sample")
    if high is not None and high < low:
        raise SampleError("invalid_sample")
    return low, high


def sample_from_event(ev):
    kind = ev["kind"]
    if kind == "date":
        d = parse_fixdate(ev["date"])
        sent, recv = ev["sent"], ev["received"]
        rtt = recv["mono_ms"] - sent["mono_ms"]
        if rtt < 0:
            raise SampleError("reading_order")
        if discontinuity(recv, sent) is not None:
            raise SampleError("clock_discontinuity")
        low, high = checked(d - recv["wall_ms"], d + 1000 - (recv["wall_ms"] - rtt))
        return {"low": low, "high": high, "at": recv, "rtt": rtt}
    if kind == "iat":
        if not 0 <= ev["iat_ms"] <= MAX_UNIX_MS:
            raise SampleError("invalid_sample")
        low, high = checked(ev["iat_ms"] - ev["received"]["wall_ms"], None)
        return {"low": low, "high": high, "at": ev["received"]}
    if kind == "manual":
        low, high = checked(ev["low_ms"], ev["high_ms"])
        return {"low": low, "high": high, "at": ev["at"]}
    raise ValueError(kind)


STEPPED, PAUSED = "wall_stepped", "monotonic_paused"
MAX_JUMPS = 8


def is_after(jump, at):
    """A sample completed at `at` was taken after the jump: within [from, to] on the monotonic
    clock, the side whose wall-monotonic relation the reading shares."""
    if at["mono_ms"] < jump["from"]["mono_ms"]:
        return False
    if at["mono_ms"] > jump["to"]["mono_ms"]:
        return True
    rel = lambda r: r["wall_ms"] - r["mono_ms"]
    return abs(rel(at) - rel(jump["to"])) < abs(rel(at) - rel(jump["from"]))


def drift_ms(ms, ppm):
    return -(-abs(ms) * ppm // 1_000_000)


def carry(jump, b, how, ppm):
    # While the monotonic clock may have paused, the paused time (x > 0) drifts too.
    lo, hi = b
    x = jump["x"]
    pd = drift_ms(x, ppm) if x > 0 else 0
    if how == PAUSED:
        return lo - pd, None if hi is None else hi + pd
    if how == STEPPED or (how is None and x <= 0):
        return lo - x, None if hi is None else hi - x
    return min(lo, lo - x) - pd, None if hi is None else max(hi, hi - x) + pd


def overlaps(a, b):
    def below(lo, hi):
        return lo is not None and hi is not None and lo > hi
    return not below(a["low_ms"], b["high_ms"]) and not below(b["low_ms"], a["high_ms"])


class Model:
    def __init__(self, drift_ppm=200, max_samples=16):
        self.ppm = drift_ppm
        self.max = max(1, max_samples)
        self.samples = []
        self.jumps = []
        self.last = None
        self.next_seq = 0

    def observe(self, now):
        if self.last is None:
            self.last = now
            return
        if now["mono_ms"] < self.last["mono_ms"]:
            return
        x = discontinuity(now, self.last)
        prev, self.last = self.last, now
        if x is None:
            return
        # Recorded even while no sample is held (skew.rs records it only when samples are
        # held): a sample completed before the jump may still be added after it (out-of-order
        # hosts), and SPEC says it must then cover both explanations.
        if len(self.jumps) >= MAX_JUMPS:
            # The oldest jump is forgotten after baking its effect into older samples.
            oldest = self.jumps.pop(0)
            for smp in self.samples:
                if not oldest["seq"] < smp["epoch"]:
                    smp["low"], smp["high"] = carry(oldest, (smp["low"], smp["high"]),
                                                    oldest["resolved"], self.ppm)
        self.jumps.append({"from": prev, "to": now, "x": x, "resolved": None, "seq": self.next_seq})
        self.next_seq += 1

    def drifted(self, b, at, now, rtt=0):
        # The server may have read its clock up to one round trip before `at`.
        age = abs(now["mono_ms"] - at["mono_ms"]) + max(rtt or 0, 0)
        w = drift_ms(age, self.ppm)
        return b[0] - w, None if b[1] is None else b[1] + w

    def carried(self, s, pending=None, hypothesis=None):
        b = (s["low"], s["high"])
        for i, j in enumerate(self.jumps):
            if not j["seq"] < s["epoch"]:
                how = hypothesis[1] if hypothesis and hypothesis[0] == i else j["resolved"]
                b = carry(j, b, how, self.ppm)
        if pending is not None:  # a jump not yet recorded comes after every sample held
            b = carry(pending, b, None, self.ppm)
        return b

    def try_resolve(self):
        unresolved = [i for i, j in enumerate(self.jumps) if j["resolved"] is None]
        if not unresolved:
            return
        k = unresolved[-1]
        jump = self.jumps[k]
        after = [s for s in self.samples if jump["seq"] < s["epoch"]]
        before = [s for s in self.samples if not jump["seq"] < s["epoch"]]
        # It takes two agreeing post-jump samples to explain a jump (one could be false).
        if len(after) < 2 or not before:
            return
        now = self.last
        a = marzullo([self.drifted(self.carried(s), s["at"], now, s.get("rtt")) for s in after])
        if a["agreeing"] != len(after):
            return
        fits = [e for e in (STEPPED, PAUSED)
                if (e == STEPPED or jump["x"] > 0) and overlaps(a, marzullo([self.drifted(self.carried(s, hypothesis=(k, e)), s["at"], now, s.get("rtt"))
                                         for s in before]))]
        if len(fits) == 1:
            jump["resolved"] = fits[0]

    def add(self, s):
        # In order, a sample comes after every jump noticed so far; a late one (older than the
        # latest reading) is placed among the recorded jumps by its clocks.
        late = self.last is not None and s["at"]["mono_ms"] < self.last["mono_ms"]
        self.observe(s["at"])
        if late:
            after = [j["seq"] + 1 for j in self.jumps if is_after(j, s["at"])]
            s = dict(s, epoch=max(after) if after else (self.jumps[0]["seq"] if self.jumps else self.next_seq))
        else:
            s = dict(s, epoch=self.next_seq)
        if len(self.samples) >= self.max:
            oldest = min(range(len(self.samples)), key=lambda i: self.samples[i]["at"]["mono_ms"])
            del self.samples[oldest]
        self.samples.append(dict(s))
        self.try_resolve()

    def apply(self, ev):
        if ev["kind"] == "observe":
            self.observe(ev["at"])
        else:
            self.add(sample_from_event(ev))

    def estimate(self, now):
        pending = None
        if self.last is not None and now["mono_ms"] >= self.last["mono_ms"]:
            x = discontinuity(now, self.last)
            if x is not None:
                pending = {"from": self.last, "to": now, "x": x, "resolved": None}
        return marzullo([self.drifted(self.carried(s, pending), s["at"], now, s.get("rtt"))
                         for s in self.samples])

    def probe(self, now, rtt, target):
        est = self.estimate(now)
        if est["low_ms"] is not None and est["high_ms"] is not None \
                and est["high_ms"] - est["low_ms"] <= target:
            return None
        rtt = min(max(rtt, 0), 60_000)
        if est["low_ms"] is not None and est["high_ms"] is not None:
            mid = est["low_ms"] + (est["high_ms"] - est["low_ms"]) // 2
        else:
            mid = est["offset_ms"]
        wait = 0
        while (now["wall_ms"] + wait + rtt // 2 + mid) % 1000 != 0:
            wait += 1
        return wait


def marzullo(iv):
    """Point-coverage formulation (different from the sweep in skew.rs on purpose)."""
    n = len(iv)
    if n == 0:
        return {"offset_ms": 0, "low_ms": None, "high_ms": None, "agreeing": 0, "samples": 0}

    def cover(x):
        return sum(1 for lo, hi in iv if lo <= x and (hi is None or x <= hi))

    # The coverage maximum is reached at some interval's low end.
    best = max(cover(lo) for lo, _ in iv)
    if 2 * best > n:
        low = min(lo for lo, _ in iv if cover(lo) == best)
        unbounded = sum(1 for _, hi in iv if hi is None)  # coverage "at +infinity"
        if unbounded == best:
            high = None
        else:
            high = max(hi for _, hi in iv if hi is not None and cover(hi) == best)
    else:
        low = min(lo for lo, _ in iv)
        high = None if any(hi is None for _, hi in iv) else max(hi for _, hi in iv)
    offset = low + (high - low) // 2 if high is not None else max(low, 0)
    return {"offset_ms": offset, "low_ms": low, "high_ms": high, "agreeing": best, "samples": n}


def date_exchange(theta, sent, rtt, read_after):
    """A Date-header exchange with a server whose clock reads local wall + theta."""
    server = sent["wall_ms"] + read_after + theta
    return {"kind": "date", "date": imf_fixdate(server - server % 1000),
            "sent": sent, "received": adv(sent, rtt)}


skew_cases = []


def skew_case(cid, comment, events, at, config=None, flags=None, check=None):
    config = config or {"drift_ppm": 200, "max_samples": 16}
    m = Model(config["drift_ppm"], config["max_samples"])
    try:
        for ev in events:
            m.apply(ev)
        expected = m.estimate(at)
    except SampleError as e:
        expected = {"error": e.code}
    if check:
        assert check(expected), (cid, expected)
    skew_cases.append({"id": "skew-" + cid, "comment": comment, "flags": flags or [],
                       "input": {"kind": "estimate", "config": config, "events": events, "at": at},
                       "expected": expected})
    return expected


def probe_case(cid, comment, events, at, rtt, target, config=None, flags=None, check=None):
    config = config or {"drift_ppm": 200, "max_samples": 16}
    m = Model(config["drift_ppm"], config["max_samples"])
    for ev in events:
        m.apply(ev)
    wait = m.probe(at, rtt, target)
    expected = {"probe": None} if wait is None else {"wait_ms": wait}
    if check:
        assert check(expected), (cid, expected)
    skew_cases.append({"id": "skew-probe-" + cid, "comment": comment, "flags": flags or [],
                       "input": {"kind": "probe", "config": config, "events": events, "at": at,
                                 "rtt_ms": rtt, "target_width_ms": target},
                       "expected": expected})


def bounds(e):
    return (e["low_ms"], e["high_ms"])


def contains(e, theta):
    return e["low_ms"] <= theta and (e["high_ms"] is None or theta <= e["high_ms"])


# --- single samples ---------------------------------------------------------------------------
t = T0 + 123
skew_case("date-single", "one Date header, 80 ms round trip: offset in [D - received, D + 1 s - sent]",
          [date_exchange(2_345, L(t), 80, 40)], L(t + 80),
          check=lambda e: bounds(e) == (1_796, 2_878) and e["offset_ms"] == 2_337)
skew_case("date-single-behind", "one Date header from a server 42.5 s behind",
          [date_exchange(-42_500, L(t), 250, 30)], L(t + 250),
          check=lambda e: contains(e, -42_500))
skew_case("date-slewed-wall", "the wall clock moved 300 ms less than the monotonic one during the "
          "exchange (below the 1 s threshold): the exchange is placed at received.wall with the "
          "monotonic duration (module doc of skew.rs), not at sent.wall",
          [{"kind": "date", "date": imf_fixdate(T0 + 5_000), "sent": R(T0 + 300, 1_000_000),
            "received": R(T0 + 400, 1_000_400)}], R(T0 + 400, 1_000_400),
          check=lambda e: bounds(e) == (4_599, 6_001))
skew_case("iat-only-past", "only an iat 20 s old (possibly a cached token): a lower bound only, and "
          "the best offset stays 0 (no evidence the clocks differ)",
          [{"kind": "iat", "iat_ms": T0 - 20_000, "received": L(T0)}], L(T0),
          check=lambda e: bounds(e) == (-20_000, None) and e["offset_ms"] == 0)
skew_case("iat-only-future", "an iat 5 s in our future: the issuer is at least 5 s ahead, best offset "
          "is that bound", [{"kind": "iat", "iat_ms": T0 + 5_000, "received": L(T0)}], L(T0),
          check=lambda e: bounds(e) == (5_000, None) and e["offset_ms"] == 5_000)
skew_case("empty", "no samples: offset 0, unbounded", [], L(T0),
          check=lambda e: e == {"offset_ms": 0, "low_ms": None, "high_ms": None, "agreeing": 0,
                                "samples": 0})
skew_case("manual-one-sided", "a manual lower bound and a Date header: the Date header bounds it above",
          [{"kind": "manual", "low_ms": 500, "high_ms": None, "at": L(T0)},
           date_exchange(900, L(T0 + 10), 40, 20)], L(T0 + 50))

# --- converging Date headers ------------------------------------------------------------------
theta = 1_337
evs = []
for k in range(20):
    sent = L(T0 + 2_000 * k + 50 * k + 7)  # a new sub-second phase every time
    evs.append(date_exchange(theta, sent, 30 + (k % 3) * 10, 15))
skew_case("date-converge-phases", "20 Date headers about 2 s apart at sub-second phases 50 ms "
          "apart, RTT 30-50 ms, true offset 1337 ms: the 1 s resolution narrows to ~100 ms (16 "
          "kept, drift-widened)", evs, adv(evs[-1]["received"], 0),
          check=lambda e: contains(e, theta) and e["high_ms"] - e["low_ms"] < 150
          and e["agreeing"] == 16 and e["samples"] == 16)

theta = -73_421
m = Model()
now = L(T0 + 777)
evs = []
for k in range(10):
    wait = m.probe(now, 60, 10)
    sent = adv(now, wait)
    ev = date_exchange(theta, sent, 60, 25 + 3 * k)
    evs.append(ev)
    m.apply(ev)
    now = adv(ev["received"], 200)
skew_case("date-converge-probed", "10 Date headers sent when next_date_probe says (RTT 60 ms), "
          "true offset -73.421 s: the interval ends ~RTT wide", evs, evs[-1]["received"],
          check=lambda e: contains(e, theta) and e["high_ms"] - e["low_ms"] <= 110)

theta = 40
evs = [{"kind": "iat", "iat_ms": T0 - 3_600_000 + 40, "received": L(T0 - 20)}]
for k in range(4):
    evs.append(date_exchange(theta, L(T0 + 250 * k + 10_000), 70, 35))
skew_case("iat-cached-hour-old", "a cached token's iat is 1 h old while Date headers put the offset "
          "near 0: the iat is only a lower bound, the estimate must not move toward -1 h",
          evs, L(T0 + 12_000),
          check=lambda e: contains(e, 40) and e["low_ms"] > -1_000 and e["agreeing"] == 5
          and abs(e["offset_ms"]) < 1_000)

theta = 2_000
evs = []
for k in range(4):
    evs.append(date_exchange(theta, L(T0 + 1_000 * k + 230 * k), 90, 45))
evs.append(date_exchange(theta - 600_000, L(T0 + 6_100), 90, 45))  # a proxy's cached Date header
skew_case("false-sample-outvoted", "four Date headers agree on +2 s; a fifth (a cache's stale Date, "
          "10 min old) is out-voted, agreeing 4 of 5", evs, L(T0 + 7_000),
          check=lambda e: contains(e, theta) and e["agreeing"] == 4 and e["samples"] == 5
          and e["high_ms"] - e["low_ms"] < 1_100)

skew_case("no-majority-hull", "two disjoint samples: no majority, the hull of all",
          [{"kind": "manual", "low_ms": 0, "high_ms": 10, "at": L(T0)},
           {"kind": "manual", "low_ms": 100, "high_ms": 110, "at": L(T0)}], L(T0),
          config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: (bounds(e), e["agreeing"], e["offset_ms"]) == ((0, 110), 1, 55))
skew_case("even-split-hull", "2 against 2: no strict majority, the hull of all four",
          [{"kind": "manual", "low_ms": -500, "high_ms": -400, "at": L(T0)},
           {"kind": "manual", "low_ms": -450, "high_ms": -350, "at": L(T0)},
           {"kind": "manual", "low_ms": 700, "high_ms": 900, "at": L(T0)},
           {"kind": "manual", "low_ms": 800, "high_ms": 1_000, "at": L(T0)}], L(T0),
          config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: (bounds(e), e["agreeing"]) == ((-500, 1_000), 2))
skew_case("majority-two-regions", "[0,10], [0,1], [9,10]: two regions reach 2 of 3; the hull of both "
          "keeps the truth whichever sample is false",
          [{"kind": "manual", "low_ms": 0, "high_ms": 10, "at": L(T0)},
           {"kind": "manual", "low_ms": 0, "high_ms": 1, "at": L(T0)},
           {"kind": "manual", "low_ms": 9, "high_ms": 10, "at": L(T0)}], L(T0),
          config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: (bounds(e), e["agreeing"]) == ((0, 10), 2))
skew_case("touching-intervals", "closed intervals [0,10] and [10,20] share the point 10",
          [{"kind": "manual", "low_ms": 0, "high_ms": 10, "at": L(T0)},
           {"kind": "manual", "low_ms": 10, "high_ms": 20, "at": L(T0)}], L(T0),
          config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: (bounds(e), e["agreeing"], e["offset_ms"]) == ((10, 10), 2, 10))
skew_case("majority-unbounded-region", "two lower bounds and one two-sided sample above them: the "
          "majority region is unbounded above",
          [{"kind": "manual", "low_ms": 100, "high_ms": None, "at": L(T0)},
           {"kind": "manual", "low_ms": 200, "high_ms": None, "at": L(T0)},
           {"kind": "manual", "low_ms": -50, "high_ms": 50, "at": L(T0)}], L(T0),
          config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: (bounds(e), e["agreeing"], e["offset_ms"]) == ((200, None), 2, 200))
skew_case("offset-floor-midpoint", "odd width: the best offset is low + floor(width/2)",
          [{"kind": "manual", "low_ms": -7, "high_ms": 0, "at": L(T0)}], L(T0),
          config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: e["offset_ms"] == -4)

# --- drift ------------------------------------------------------------------------------------
skew_case("drift-hour", "a sample an hour old is widened by ceil(3 600 000 * 200 / 1e6) = 720 ms "
          "each side", [{"kind": "manual", "low_ms": 100, "high_ms": 300, "at": L(T0)}],
          L(T0 + 3_600_000), check=lambda e: bounds(e) == (-620, 1_020))
skew_case("drift-ceil", "ages 1 ms and 5001 ms at 200 ppm widen by 1 and 2 ms (ceil)",
          [{"kind": "manual", "low_ms": 0, "high_ms": 10_000, "at": L(T0)},
           {"kind": "manual", "low_ms": 3_000, "high_ms": 3_000, "at": L(T0 + 5_000)}],
          L(T0 + 5_001), check=lambda e: bounds(e) == (2_999, 3_001) and e["agreeing"] == 2)
skew_case("drift-mono-age", "age is measured on the monotonic clock: a wall clock 900 ms ahead of the "
          "monotonic one (below the threshold) does not add drift",
          [{"kind": "manual", "low_ms": 0, "high_ms": 0, "at": R(T0, M0)}],
          R(T0 + 100_900, M0 + 100_000), check=lambda e: bounds(e) == (-20, 20))
skew_case("drift-custom-ppm", "drift bound 50 ppm over 10 minutes: 30 ms each side",
          [{"kind": "manual", "low_ms": 0, "high_ms": 0, "at": L(T0)}], L(T0 + 600_000),
          config={"drift_ppm": 50, "max_samples": 16}, check=lambda e: bounds(e) == (-30, 30))

# --- discontinuities --------------------------------------------------------------------------
base = [date_exchange(300, L(T0 + 150), 100, 50), date_exchange(300, L(T0 + 5_650), 100, 50)]
skew_case("wall-step-forward", "wall clock stepped 120 s forward while 1 s passed on the monotonic "
          "clock: the interval covers both a stepped wall (offset - 120 s) and a paused monotonic "
          "clock (offset unchanged)",
          base + [{"kind": "observe", "at": R(T0 + 5_750 + 121_000, T0 + 5_750 - T0 + M0 + 1_000)}],
          R(T0 + 5_750 + 121_000, 5_750 + M0 + 1_000),
          config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: contains(e, 300) and contains(e, 300 - 120_000))
skew_case("wall-step-back", "wall clock stepped 90 s back: no suspend explains a wall clock that "
          "gained less than the monotonic one, so the old samples move by the step: the "
          "estimate covers offset + 90 s, not the old offset",
          base + [{"kind": "observe", "at": R(T0 + 5_750 - 89_000, 5_750 + M0 + 1_000)}],
          R(T0 + 5_750 - 89_000, 5_750 + M0 + 1_000),
          config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: contains(e, 300 + 90_000) and not contains(e, 300))
skew_case("wall-step-back-never-a-suspend", "wall clock 61 s back against the monotonic clock, then "
          "three samples agreeing with the old offset (as a pause would have them): a pause "
          "cannot explain a backward jump, so the jump stays unresolved (no resolution moves "
          "deadlines later) and the three new samples out-vote the two carried old ones",
          base + [{"kind": "observe", "at": R(T0 + 5_750 - 60_000, 5_750 + M0 + 1_000)},
                  date_exchange(300, R(T0 + 5_750 - 59_500, 5_750 + M0 + 1_500), 100, 50),
                  date_exchange(300, R(T0 + 5_750 - 58_900, 5_750 + M0 + 2_100), 100, 50),
                  date_exchange(300, R(T0 + 5_750 - 58_300, 5_750 + M0 + 2_700), 100, 50)],
          R(T0 + 5_750 - 58_300, 5_750 + M0 + 2_700),
          config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: contains(e, 300) and not contains(e, 300 + 61_000))
skew_case("suspend", "machine slept 8 h: the wall clock moved 8 h, the monotonic clock 2 s; both "
          "explanations are covered (drift 0 here: drift across a suspend is pinned by "
          "core/tests/properties.rs suspend_keeps_drift_covered)",
          base + [{"kind": "observe", "at": R(T0 + 5_750 + 28_800_000, 5_750 + M0 + 2_000)}],
          R(T0 + 5_750 + 28_800_000, 5_750 + M0 + 2_000), config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: contains(e, 300) and contains(e, 300 - 28_798_000))
skew_case("step-pending", "a step first seen by estimate() itself widens as observe() would",
          base, R(T0 + 5_750 + 121_000, 5_750 + M0 + 1_000),
          config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: contains(e, 300) and contains(e, 300 - 120_000))
after = R(T0 + 5_750 + 121_000, 5_750 + M0 + 1_000)
skew_case("step-then-new-sample", "after the 120 s forward step a new Date header in the new frame "
          "narrows the estimate back to one explanation",
          base + [{"kind": "observe", "at": after},
                  date_exchange(300 - 120_000, adv(after, 500), 100, 50)],
          adv(after, 600), config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: contains(e, 300 - 120_000) and not contains(e, 300)
          and e["agreeing"] == 3)
def date_at_phase(theta, around, rtt, read_after, phase):
    """A Date exchange sent at or after `around` such that the server reads `phase` ms past a
    second."""
    wait = (phase - (around["wall_ms"] + read_after + theta)) % 1000
    return date_exchange(theta, adv(around, wait), rtt, read_after)


olds = [date_exchange(300, L(T0 + 150), 100, 50), date_exchange(300, L(T0 + 5_650), 100, 50)]
step = R(T0 + 5_750 + 121_000, 5_750 + M0 + 1_000)
new = date_at_phase(-119_700, adv(step, 500), 100, 50, 300)
new2 = date_at_phase(-119_700, adv(new["received"], 200), 100, 50, 800)
skew_case("step-one-sample-unresolved", "after a 120 s forward step ONE new Date header is not enough "
          "to explain the jump (it could be false): the old samples still cover both explanations",
          olds + [{"kind": "observe", "at": step}, new], new["received"],
          config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: contains(e, -119_700) and e["agreeing"] == 3 and bounds(e) == (-119_750, -118_950))
skew_case("step-resolved-stepped", "after a 120 s forward step, two new Date headers agree with the "
          "old samples only if the wall clock stepped: resolved, the old samples shift by -120 s and "
          "narrow the new ones (upper bound -119150 from the old samples)",
          olds + [{"kind": "observe", "at": step}, new, new2], new2["received"],
          config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: contains(e, -119_700) and bounds(e) == (-119_750, -119_450) and e["agreeing"] == 4)
sleep = R(T0 + 5_750 + 3_600_000, 5_750 + M0 + 1_000)
new = date_at_phase(300, adv(sleep, 500), 100, 50, 450)
new2 = date_at_phase(300, adv(new["received"], 200), 100, 50, 700)
skew_case("suspend-resolved-paused", "after an hour asleep (wall +1 h, monotonic +1 s) two new Date "
          "headers show the offset unchanged: resolved as a monotonic pause, the old samples keep "
          "their bounds (low 250, not the union's -119 700)",
          olds + [{"kind": "observe", "at": sleep}, new, new2], new2["received"],
          config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: contains(e, 300) and e["low_ms"] == 250 and e["agreeing"] == 4)
skew_case("step-unresolved-wide", "samples too wide to tell the explanations apart: the jump stays "
          "unresolved and the old sample keeps covering both (shifted it would cut the new one at "
          "80 000)",
          [{"kind": "manual", "low_ms": -200_000, "high_ms": 200_000, "at": L(T0 + 5_750)},
           {"kind": "observe", "at": step},
           {"kind": "manual", "low_ms": -150_000, "high_ms": 150_000, "at": adv(step, 500)}],
          adv(step, 500), config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: bounds(e) == (-150_000, 150_000) and e["agreeing"] == 2)
evs = [{"kind": "manual", "low_ms": 0, "high_ms": 10, "at": R(T0, M0)}]
for k in range(1, 10):
    evs.append({"kind": "observe", "at": R(T0 + k * 1_000_000, M0 + k * 2_000)})
skew_case("max-jumps-bakes", "a 9th unresolved jump forgets the oldest jump, baking its widening "
          "into the sample taken before it: the sample survives, carried across all nine",
          evs, R(T0 + 9_000_000, M0 + 18_000),
          config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: e["samples"] == 1 and e["high_ms"] == 10 and e["low_ms"] < -8_000_000)
evs = evs[:9]
skew_case("eight-jumps-kept", "eight jumps are kept: the sample survives, carried across all of them",
          evs, R(T0 + 8_000_000, M0 + 16_000), config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: e["samples"] == 1 and bounds(e) == (-8 * 998_000, 10))


skew_case("threshold-exclusive", "wall and monotonic disagree by exactly 1000 ms: not a "
          "discontinuity; 1001 ms would be",
          [{"kind": "manual", "low_ms": 0, "high_ms": 0, "at": R(T0, M0)},
           {"kind": "observe", "at": R(T0 + 11_000, M0 + 10_000)}],
          R(T0 + 11_000, M0 + 10_000), config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: bounds(e) == (0, 0))
skew_case("threshold-crossed", "wall and monotonic disagree by 1001 ms: widened by 1001",
          [{"kind": "manual", "low_ms": 0, "high_ms": 0, "at": R(T0, M0)},
           {"kind": "observe", "at": R(T0 + 11_001, M0 + 10_000)}],
          R(T0 + 11_001, M0 + 10_000), config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: bounds(e) == (-1_001, 0))
skew_case("late-sample-widened", "a sample completed before a step, added only after the step was "
          "observed (the estimator held no samples then; out-of-order hosts): it must still cover "
          "both explanations of the step (SPEC: Time)",
          [{"kind": "observe", "at": R(T0, M0)},
           {"kind": "observe", "at": R(T0 + 60_000, M0 + 2_000)},
           {"kind": "manual", "low_ms": 10, "high_ms": 20, "at": R(T0 + 1_000, M0 + 1_000)}],
          R(T0 + 60_000, M0 + 2_000), config={"drift_ppm": 0, "max_samples": 16},
          flags=["regression"], check=lambda e: bounds(e) == (10 - 58_000, 20))
skew_case("observe-older-ignored", "a reading older (monotonic) than the last one is ignored: the step "
          "it seems to show is not applied",
          [{"kind": "manual", "low_ms": 0, "high_ms": 0, "at": R(T0, M0 + 10_000)},
           {"kind": "observe", "at": R(T0 + 50_000, M0 + 5_000)}],
          R(T0, M0 + 10_000), config={"drift_ppm": 0, "max_samples": 16},
          check=lambda e: bounds(e) == (0, 0))
skew_case("max-samples-evicts-oldest", "max_samples 3: the fourth sample evicts the oldest (by "
          "monotonic time), which was the only one excluding 0",
          [{"kind": "manual", "low_ms": 500, "high_ms": 600, "at": L(T0)},
           {"kind": "manual", "low_ms": -10, "high_ms": 10, "at": L(T0 + 1)},
           {"kind": "manual", "low_ms": -20, "high_ms": 5, "at": L(T0 + 2)},
           {"kind": "manual", "low_ms": -5, "high_ms": 20, "at": L(T0 + 3)}], L(T0 + 3),
          config={"drift_ppm": 0, "max_samples": 3},
          check=lambda e: (bounds(e), e["agreeing"], e["samples"]) == ((-5, 5), 3, 3))

# --- errors -----------------------------------------------------------------------------------
skew_case("err-received-before-sent", "received earlier than sent on the monotonic clock",
          [{"kind": "date", "date": imf_fixdate(T0), "sent": R(T0, M0 + 100), "received": R(T0, M0)}],
          L(T0), flags=["malformed"], check=lambda e: e == {"error": "reading_order"})
skew_case("err-discontinuity-in-exchange", "the wall clock jumped 5 s during the exchange (monotonic "
          "100 ms): the sample cannot be placed",
          [{"kind": "date", "date": imf_fixdate(T0), "sent": R(T0, M0),
            "received": R(T0 + 5_100, M0 + 100)}], L(T0 + 5_100),
          check=lambda e: e == {"error": "clock_discontinuity"})
skew_case("err-manual-inverted", "manual bounds with low above high",
          [{"kind": "manual", "low_ms": 10, "high_ms": 5, "at": L(T0)}], L(T0),
          flags=["malformed"], check=lambda e: e == {"error": "invalid_sample"})
skew_case("err-date-absurd-offset", "a Date header in 2200 against a 2023 local clock: more than 100 "
          "years of offset is rejected",
          [{"kind": "date", "date": "Wed, 01 Jan 2200 00:00:00 GMT", "sent": L(T0),
            "received": L(T0 + 50)}], L(T0 + 50), flags=["malformed"],
          check=lambda e: e == {"error": "invalid_sample"})

# --- probes -----------------------------------------------------------------------------------
probe_case("empty", "no samples: aim the server's second boundary at offset 0, RTT/2 after sending",
           [], R(T0 + 123, M0), 100, 50, check=lambda e: e == {"wait_ms": 827})
probe_case("bounded", "aim at the middle of the interval",
           [date_exchange(1_337, L(T0 + 400), 80, 40)], L(T0 + 480), 80, 50)
probe_case("aligned", "the boundary already falls mid-interval if sent now: wait 0",
           [{"kind": "manual", "low_ms": -300, "high_ms": 300, "at": L(T0)}], L(T0 + 1_950), 100,
           50, config={"drift_ppm": 0, "max_samples": 16}, check=lambda e: e == {"wait_ms": 0})
probe_case("narrow-enough", "width already at or below the target: no probe",
           [{"kind": "manual", "low_ms": 100, "high_ms": 150, "at": L(T0)}], L(T0), 80, 50,
           config={"drift_ppm": 0, "max_samples": 16}, check=lambda e: e == {"probe": None})
probe_case("just-too-wide", "width 51 > target 50",
           [{"kind": "manual", "low_ms": 100, "high_ms": 151, "at": L(T0)}], R(T0 + 900, M0), 0, 50,
           config={"drift_ppm": 0, "max_samples": 16}, check=lambda e: e == {"wait_ms": 975})
probe_case("rtt-clamped", "RTT above 60 s is clamped to 60 s; negative to 0",
           [{"kind": "manual", "low_ms": -300, "high_ms": 300, "at": L(T0)}], R(T0 + 10, M0),
           100_000, 50, config={"drift_ppm": 0, "max_samples": 16},
           check=lambda e: e == {"wait_ms": 990})
probe_case("rtt-negative", "a negative RTT counts as 0",
           [{"kind": "manual", "low_ms": -300, "high_ms": 300, "at": L(T0)}], R(T0 + 10, M0),
           -40, 50, config={"drift_ppm": 0, "max_samples": 16},
           check=lambda e: e == {"wait_ms": 990})
probe_case("one-sided", "only a lower bound: aim at the best offset", [
    {"kind": "iat", "iat_ms": T0 + 2_250, "received": L(T0)}], R(T0 + 100, M0), 200, 50,
    check=lambda e: e == {"wait_ms": 550})


# ---------------------------------------------------------------------------------------------
# Expiry decision (independent model)
# ---------------------------------------------------------------------------------------------

DEFAULT_POLICY = {"margin": {"tenth_of_lifetime_cap_ms": 10_000},
                  "refresh_at": {"fraction": [0.75, 0.85]},
                  "assumed_lifetime_ms": 300_000, "max_wait_ms": 2_000, "not_before": "nbf_and_iat"}


class LifetimeError(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


def validate(p):
    margin = p["margin"]
    mv = margin.get("tenth_of_lifetime_cap_ms", margin.get("fixed_ms"))
    if not 0 <= mv <= MAX_LIFETIME:
        raise LifetimeError("invalid_policy")
    ra = p["refresh_at"]
    if "fraction" in ra:
        lo, hi = ra["fraction"]
        if not (lo > 0 and lo <= hi and hi <= 1):
            raise LifetimeError("invalid_policy")
    elif not 0 <= ra["before_ms"] <= MAX_LIFETIME:
        raise LifetimeError("invalid_policy")
    if not 1 <= p["assumed_lifetime_ms"] <= MAX_LIFETIME:
        raise LifetimeError("invalid_policy")
    if not 0 <= p["max_wait_ms"] <= MAX_LIFETIME:
        raise LifetimeError("invalid_policy")


def lifetime(times, sent, recv, issuer, policy):
    p = dict(DEFAULT_POLICY)
    p.update(policy)
    validate(p)
    if recv["mono_ms"] < sent["mono_ms"]:
        raise LifetimeError("reading_order")
    ei, exp, nbf, iat = (times.get(k) for k in ("expires_in_ms", "exp_ms", "nbf_ms", "iat_ms"))
    if ei is not None and not 0 <= ei <= MAX_LIFETIME:
        raise LifetimeError("time_out_of_range")
    for v in (exp, nbf, iat):
        if v is not None and not 0 <= v <= MAX_UNIX_MS:
            raise LifetimeError("time_out_of_range")
    terms = []  # (name, wall, mono)
    if ei is not None:
        terms.append(("expires_in", sent["wall_ms"] + ei, sent["mono_ms"] + ei))
    if exp is not None:
        if issuer["high_ms"] is not None:
            w = exp - issuer["high_ms"]
        elif ei is None:
            w = exp - issuer["offset_ms"]
        else:
            w = None
        if w is not None:
            terms.append(("exp", w, recv["mono_ms"] + (w - recv["wall_ms"])))
    if not terms:
        a = p["assumed_lifetime_ms"]
        terms.append(("assumed", sent["wall_ms"] + a, sent["mono_ms"] + a))
    dw = min(t[1] for t in terms)
    dm = min(t[2] for t in terms)
    if len(terms) == 2:
        e = terms[1]
        basis = "exp" if (e[1] < terms[0][1] or e[2] < terms[0][2]) else "expires_in"
    else:
        basis = terms[0][0]
    life = max(0, min(dw - sent["wall_ms"], dm - sent["mono_ms"]))
    if "tenth_of_lifetime_cap_ms" in p["margin"]:
        margin = min(p["margin"]["tenth_of_lifetime_cap_ms"], life // 10)
    else:
        margin = min(p["margin"]["fixed_ms"], life)
    margin = max(margin, 0)
    hw, hm = dw - margin, dm - margin
    span = max(0, min(hw - recv["wall_ms"], hm - recv["mono_ms"]))
    ra = p["refresh_at"]
    if "fraction" in ra:
        lo, hi = ra["fraction"]
        lead = floor(span * Fraction(lo)) if lo == hi else None
    else:
        lead = max(0, span - ra["before_ms"])
    nb = nbf if p["not_before"] == "nbf" else (None if nbf is None and iat is None
                                                 else max(v for v in (nbf, iat) if v is not None))
    out = {"deadline": R(dw, dm), "hard_expiry": R(hw, hm), "margin_ms": margin,
           "lifetime_ms": life, "basis": basis}
    if lead is not None:
        out["refresh_at"] = adv(recv, lead)
    return out, {"exp": exp, "nb": nb, "policy": p}


def state(lt, ctx, now, server):
    hw, hm = lt["hard_expiry"]["wall_ms"], lt["hard_expiry"]["mono_ms"]
    remaining = min(hw - now["wall_ms"], hm - now["mono_ms"])
    if ctx["exp"] is not None and server["high_ms"] is not None:
        remaining = min(remaining, ctx["exp"] - lt["margin_ms"] - (now["wall_ms"] + server["high_ms"]))
    if remaining <= 0:
        return {"state": "expired"}
    if ctx["nb"] is not None:
        low = server["low_ms"] if server["low_ms"] is not None else server["offset_ms"]
        wait = ctx["nb"] - (now["wall_ms"] + low)
        if 0 < wait <= ctx["policy"]["max_wait_ms"]:
            return {"state": "not_yet_valid", "wait_ms": wait}
    ra = lt.get("refresh_at")
    if ra is None:
        raise ValueError("random refresh window: check only where the state is certain")
    if now["wall_ms"] >= ra["wall_ms"] or now["mono_ms"] >= ra["mono_ms"]:
        return {"state": "stale"}
    return {"state": "fresh"}


def state_random_window(lt, ctx, now, server, recv):
    """State when f is random in [lo, hi]: fresh/stale only where every f gives the same answer."""
    lo, hi = ctx["policy"]["refresh_at"]["fraction"]
    results = set()
    for f in (lo, hi):
        hw, hm = lt["hard_expiry"]["wall_ms"], lt["hard_expiry"]["mono_ms"]
        span = max(0, min(hw - recv["wall_ms"], hm - recv["mono_ms"]))
        lt2 = dict(lt, refresh_at=adv(recv, floor(span * Fraction(f))))
        results.add(json.dumps(state(lt2, ctx, now, server), sort_keys=True))
    assert len(results) == 1, "check lands inside the random refresh window"
    return json.loads(results.pop())


def est(offset, low=None, high=None, exact=False):
    if exact:
        low = high = offset
    return {"offset_ms": offset, "low_ms": low, "high_ms": high}


UNKNOWN = est(0)
expiry_cases = []


def expiry_case(cid, comment, times, sent, recv, issuer, checks=(), policy=None, seed=1,
                flags=None, check=None):
    policy = policy or {}
    full_times = {k: times.get(k) for k in ("expires_in_ms", "exp_ms", "nbf_ms", "iat_ms")}
    try:
        expected, ctx = lifetime(full_times, sent, recv, issuer, policy)
        out_checks = []
        for at, server, *want in checks:
            if "refresh_at" in expected:
                st = state(expected, ctx, at, server)
            else:
                st = state_random_window(expected, ctx, at, server, recv)
            if want:
                assert st["state"] == want[0], (cid, at, st, want)
            out_checks.append(dict({"at": at, "server": server}, **st))
    except LifetimeError as e:
        expected, out_checks = {"error": e.code}, []
        assert not checks
    if check:
        assert check(expected), (cid, expected)
    inp = {"times": full_times, "sent": sent, "received": recv, "issuer": issuer}
    if policy:
        inp["policy"] = policy
    inp["seed"] = seed
    inp["checks"] = out_checks
    expiry_cases.append({"id": "expiry-" + cid, "comment": comment, "flags": flags or [],
                         "input": inp, "expected": expected})
    return expected


H = 3_600_000
MIN = 60_000

# The SDK-bug timeline: exp = T, one-hour token, refresh 5 min before hard expiry.
T = T0 + H
sent = L(T - H - 60)
recv = L(T - H + 60)
iss = est(0, -100, 100)
expiry_case("sdk-bug-timeline",
            "exp = T, 1 h token, refresh_at {before_ms: 300000} = 5 min before HARD EXPIRY (not before "
            "exp): deadline T - 100 ms (exp under the worst-case offset +100), hard expiry 10 s "
            "earlier. Fresh at T - 6 min, stale at T - 4 min, never handed out at T or T + 3 min "
            "(an SDK that adds its window as leeway would send it for minutes)",
            {"expires_in_ms": H, "exp_ms": T, "iat_ms": T - H}, sent, recv, iss,
            [(L(T - 6 * MIN), iss, "fresh"), (L(T - 4 * MIN), iss, "stale"),
             (L(T), iss, "expired"), (L(T + 3 * MIN), iss, "expired")],
            policy={"refresh_at": {"before_ms": 300_000}}, flags=["regression"],
            check=lambda e: e["deadline"] == L(T - 100) and e["hard_expiry"] == L(T - 10_100)
            and e["refresh_at"] == L(T - 310_100) and e["basis"] == "exp")
expiry_case("sdk-bug-boundaries", "the same token one millisecond either side of refresh_at and "
            "hard expiry",
            {"expires_in_ms": H, "exp_ms": T, "iat_ms": T - H}, sent, recv, iss,
            [(L(T - 310_101), iss, "fresh"), (L(T - 310_100), iss, "stale"),
             (L(T - 10_101), iss, "stale"), (L(T - 10_100), iss, "expired")],
            policy={"refresh_at": {"before_ms": 300_000}}, flags=["boundary"])

s0, r0 = L(T0), L(T0 + 200)
expiry_case("expires-in-only", "expires_in only: anchored at sent on both clocks; refresh at 0.8 of "
            "receipt..hard expiry", {"expires_in_ms": H}, s0, r0, UNKNOWN,
            [(L(T0 + 2_871_000), UNKNOWN, "fresh"), (L(T0 + 200 + 2_871_840), UNKNOWN, "stale"),
             (L(T0 + H - 10_000), UNKNOWN, "expired")],
            policy={"refresh_at": {"fraction": [0.8, 0.8]}},
            check=lambda e: e["deadline"] == L(T0 + H) and e["margin_ms"] == 10_000
            and e["refresh_at"] == L(T0 + 200 + 2_871_840) and e["basis"] == "expires_in")
expiry_case("server-ahead-shortens", "exp (issuer clock) = T0 + 60.1 s, and that clock runs "
            "29.9-30.1 s ahead of ours: exp is reached locally at T0 + 30 s, 30 s before "
            "sent + expires_in; lifetime 30 s, margin 3 s",
            {"expires_in_ms": 60_000, "exp_ms": T0 + 100 + 60_000}, s0, r0,
            est(30_000, 29_900, 30_100),
            [(L(T0 + 23_000), est(30_000, 29_900, 30_100), "stale"),
             (L(T0 + 26_999), est(30_000, 29_900, 30_100), "stale"),
             (L(T0 + 27_000), est(30_000, 29_900, 30_100), "expired")],
            policy={"refresh_at": {"fraction": [0.5, 0.5]}},
            check=lambda e: e["basis"] == "exp" and e["deadline"]["wall_ms"] == T0 + 30_000)
expiry_case("server-behind-never-extends", "issuer 30 s behind: exp would allow 30 s more, but "
            "expires_in caps it", {"expires_in_ms": 60_000, "exp_ms": T0 + 100 + 60_000}, s0, r0,
            est(-30_000, -30_100, -29_900),
            [(L(T0 + 54_000), est(-30_000, -30_100, -29_900), "expired")],
            check=lambda e: e["basis"] == "expires_in" and e["deadline"] == L(T0 + 60_000))
expiry_case("server-ahead-learned-later", "issued with no skew known; the resource server's estimate "
            "later says it runs up to 60 s ahead: state() re-checks exp and expires the token early",
            {"expires_in_ms": 300_000, "exp_ms": T0 + 300_000}, s0, r0, est(0, -50, 50),
            [(L(T0 + 200_000), est(0, -50, 50), "fresh"),
             (L(T0 + 200_000), est(55_000, 50_000, 60_000), "fresh"),
             (L(T0 + 230_000), est(55_000, 50_000, 60_000), "expired"),
             (L(T0 + 230_000), est(0, -50, 50), "stale")],
            policy={"refresh_at": {"fraction": [0.75, 0.75]}})
expiry_case("assumed-lifetime", "neither expires_in nor exp: assumed 300 s, margin 10 s", {},
            s0, r0, UNKNOWN,
            [(L(T0 + 289_999), UNKNOWN, "stale"), (L(T0 + 290_000), UNKNOWN, "expired")],
            policy={"refresh_at": {"fraction": [0.5, 0.5]}},
            check=lambda e: e["basis"] == "assumed" and e["lifetime_ms"] == 300_000)
expiry_case("assumed-lifetime-custom", "assumed lifetime 60 s: margin 6 s",
            {"nbf_ms": T0 - 1_000}, s0, r0, UNKNOWN,
            [(L(T0 + 53_999), UNKNOWN, "fresh"), (L(T0 + 54_000), UNKNOWN, "expired")],
            policy={"assumed_lifetime_ms": 60_000, "refresh_at": {"before_ms": 0}},
            check=lambda e: e["margin_ms"] == 6_000 and e["refresh_at"] == L(T0 + 54_000))
expiry_case("exp-only-unbounded", "exp only and an estimate with no upper bound: exp is placed by the "
            "best offset (2 s)", {"exp_ms": T0 + 120_000}, s0, r0, est(2_000, 2_000, None),
            [(L(T0 + 105_799), est(2_000, 2_000, None), "stale"),
             (L(T0 + 107_999), est(2_000, 2_000, None), "stale"),
             (L(T0 + 108_000), est(2_000, 2_000, None), "expired")],
            policy={"refresh_at": {"fraction": [0.5, 0.5]}},
            check=lambda e: e["basis"] == "exp" and e["deadline"] == L(T0 + 118_000)
            and e["margin_ms"] == 10_000)
expiry_case("exp-only-bounded", "exp only, bounded estimate: exp - high",
            {"exp_ms": T0 + 120_000}, s0, r0, est(-1_000, -1_500, -500),
            [(L(T0 + 110_499), est(-1_000, -1_500, -500), "stale")],
            policy={"refresh_at": {"fraction": [0.5, 0.5]}},
            check=lambda e: e["deadline"] == L(T0 + 120_500))
expiry_case("exp-ignored-unbounded-with-expires-in", "an estimate with no upper bound cannot place "
            "exp worst-case; with expires_in present exp does not move the deadline",
            {"expires_in_ms": 100_000, "exp_ms": T0 + 50_000}, s0, r0, est(0, -20_000, None),
            [(L(T0 + 80_000), est(0, -20_000, None), "stale")],
            policy={"refresh_at": {"fraction": [0.5, 0.5]}},
            check=lambda e: e["basis"] == "expires_in" and e["deadline"] == L(T0 + 100_000))
expiry_case("exp-in-past", "exp already passed at receipt under the worst case: lifetime 0, expired",
            {"expires_in_ms": 60_000, "exp_ms": T0 - 5_000}, s0, r0, est(0, -10, 10),
            [(r0, est(0, -10, 10), "expired")],
            check=lambda e: e["lifetime_ms"] == 0 and e["margin_ms"] == 0)
expiry_case("exp-earlier-on-mono-only", "the wall clock moved 800 ms further than the monotonic "
            "clock during the request (below the 1 s threshold); exp is placed at receipt and is "
            "earlier than sent + expires_in on the monotonic clock only: the deadline is the "
            "per-clock minimum (wall from expires_in, mono from exp), basis exp",
            {"expires_in_ms": 60_000, "exp_ms": T0 + 60_500}, R(T0, M0), R(T0 + 900, M0 + 100),
            est(0, 0, 0), [(R(T0 + 40_000, M0 + 53_729), est(0, 0, 0), "stale"),
                           (R(T0 + 40_000, M0 + 53_730), est(0, 0, 0), "expired")],
            check=lambda e: e["basis"] == "exp" and e["deadline"] == R(T0 + 60_000, M0 + 59_700))
expiry_case("wall-step-back-after-receipt", "299 s later by the monotonic clock, the wall clock "
            "stepped back 120 s: the monotonic deadline catches it (and the monotonic clock alone "
            "makes the refresh due)",
            {"expires_in_ms": 300_000}, s0, s0, UNKNOWN,
            [(R(T0 + 179_000, M0 + 299_000), UNKNOWN, "expired"),
             (R(T0 + 179_000, M0 + 200_000), UNKNOWN, "fresh"),
             (R(T0 + 120_000, M0 + 240_000), UNKNOWN, "stale")],
            policy={"refresh_at": {"fraction": [0.8, 0.8]}})
expiry_case("suspend-after-receipt", "suspend: the monotonic clock paused (10 s) while the wall "
            "clock moved 400 s: the wall deadline catches it (and the wall clock alone makes the "
            "refresh due at 250 s)",
            {"expires_in_ms": 300_000}, s0, s0, UNKNOWN,
            [(R(T0 + 400_000, M0 + 10_000), UNKNOWN, "expired"),
             (R(T0 + 250_000, M0 + 10_000), UNKNOWN, "stale")],
            policy={"refresh_at": {"fraction": [0.8, 0.8]}})
expiry_case("nbf-short-wait", "nbf 1.5 s in the server's future, offset known to [-300, 0]: wait "
            "until the server surely passed it (1.8 s)",
            {"expires_in_ms": 300_000, "nbf_ms": T0 + 1_700}, s0, r0, est(-150, -300, 0),
            [(r0, est(-150, -300, 0), "not_yet_valid"),
             (L(T0 + 2_000), est(-150, -300, 0), "fresh")],
            policy={"refresh_at": {"fraction": [0.5, 0.5]}})
expiry_case("nbf-beyond-max-wait", "nbf 5 s away under the worst case: beyond max_wait 2 s, used as "
            "is", {"expires_in_ms": 300_000, "nbf_ms": T0 + 5_200}, s0, r0, est(0, 0, 0),
            [(r0, est(0, 0, 0), "fresh")])
expiry_case("nbf-custom-max-wait", "max_wait 10 s: a 5 s nbf wait is reported",
            {"expires_in_ms": 300_000, "nbf_ms": T0 + 5_200}, s0, r0, est(0, 0, 0),
            [(r0, est(0, 0, 0), "not_yet_valid")], policy={"max_wait_ms": 10_000})
expiry_case("nbf-exactly-max-wait", "a wait of exactly max_wait is still a wait; one more ms is not",
            {"expires_in_ms": 300_000, "nbf_ms": T0 + 2_200}, s0, r0, est(0, 0, 0),
            [(r0, est(0, 0, 0), "not_yet_valid"), (r0, est(-1, -1, -1), "fresh")],
            flags=["boundary"])
expiry_case("nbf-unbounded-low", "no lower bound on the offset: the best offset stands in",
            {"expires_in_ms": 300_000, "nbf_ms": T0 + 1_000}, s0, r0, est(-500, None, 500),
            [(r0, est(-500, None, 500), "not_yet_valid")])
expiry_case("iat-future-default", "iat 1.2 s in the server's future counts as not-before by default "
            "(resource servers that reject future iat)",
            {"expires_in_ms": 300_000, "iat_ms": T0 + 1_400}, s0, r0, est(0, 0, 0),
            [(r0, est(0, 0, 0), "not_yet_valid")])
expiry_case("iat-future-nbf-policy", "the same token with not_before \"nbf\": iat does not count",
            {"expires_in_ms": 300_000, "iat_ms": T0 + 1_400}, s0, r0, est(0, 0, 0),
            [(r0, est(0, 0, 0), "fresh")], policy={"not_before": "nbf"})
expiry_case("nbf-and-iat-latest", "nbf in the past, iat later: the later claim counts",
            {"expires_in_ms": 300_000, "nbf_ms": T0 - 30_000, "iat_ms": T0 + 700}, s0, r0,
            est(0, -100, 100), [(r0, est(0, -100, 100), "not_yet_valid")])
expiry_case("expired-before-nbf", "expired wins over not-yet-valid",
            {"expires_in_ms": 300_000, "nbf_ms": T0 + 299_000}, s0, r0, est(0, 0, 0),
            [(L(T0 + 298_000), est(0, -1_000, 0), "expired")], policy={"max_wait_ms": 10_000})
expiry_case("margin-cap-long", "a 1 h token: margin capped at 10 s", {"expires_in_ms": H}, s0, r0,
            UNKNOWN, [], policy={"refresh_at": {"fraction": [0.8, 0.8]}},
            check=lambda e: e["margin_ms"] == 10_000)
expiry_case("margin-tenth-short", "a 45.005 s token: margin lifetime/10 = 4500 ms (floored)",
            {"expires_in_ms": 45_005}, s0, r0, UNKNOWN,
            [(L(T0 + 40_504), UNKNOWN, "stale"), (L(T0 + 40_505), UNKNOWN, "expired")],
            policy={"refresh_at": {"fraction": [0.8, 0.8]}},
            check=lambda e: e["margin_ms"] == 4_500)
expiry_case("margin-custom-cap", "cap 30 s: a 1 h token keeps 30 s", {"expires_in_ms": H}, s0, r0,
            UNKNOWN, [], policy={"margin": {"tenth_of_lifetime_cap_ms": 30_000},
                                 "refresh_at": {"fraction": [1.0, 1.0]}},
            check=lambda e: e["margin_ms"] == 30_000 and e["refresh_at"] == e["hard_expiry"])
expiry_case("margin-fixed", "fixed margin 60 s", {"expires_in_ms": H}, s0, r0, UNKNOWN, [],
            policy={"margin": {"fixed_ms": 60_000}, "refresh_at": {"before_ms": 60_000}},
            check=lambda e: e["margin_ms"] == 60_000)
expiry_case("margin-fixed-clamped", "a fixed margin longer than the lifetime is clamped to it: "
            "expired at once", {"expires_in_ms": 5_000}, s0, r0, UNKNOWN,
            [(r0, UNKNOWN, "expired")], policy={"margin": {"fixed_ms": 60_000}},
            check=lambda e: e["margin_ms"] == 5_000)
expiry_case("refresh-before-clamped", "a refresh lead longer than the time to hard expiry: due at "
            "receipt", {"expires_in_ms": 60_000}, s0, r0, UNKNOWN, [(r0, UNKNOWN, "stale")],
            policy={"refresh_at": {"before_ms": 600_000}},
            check=lambda e: e["refresh_at"] == r0)
expiry_case("refresh-random-window", "the default window 0.75-0.85 (seeded): refresh_at is not pinned; "
            "fresh before 0.75, stale after 0.85", {"expires_in_ms": 600_000}, s0, r0, UNKNOWN,
            [(L(T0 + 400_000), UNKNOWN, "fresh"), (L(T0 + 505_000), UNKNOWN, "stale")], seed=42)
expiry_case("refresh-fraction-exact", "f = 0.8 from the degenerate window [0.8, 0.8]: lead = "
            "floor(1 224 367 x 0.8) = 979 493 (the product of the double 0.8, floored)",
            {"expires_in_ms": 1_234_567}, s0, r0, UNKNOWN, [],
            policy={"refresh_at": {"fraction": [0.8, 0.8]}})
expiry_case("unbounded-server-check", "the resource server's estimate has no upper bound: only the "
            "local deadline applies", {"expires_in_ms": 300_000, "exp_ms": T0 + 300_000}, s0, r0,
            est(0, -5, 5), [(L(T0 + 200_000), est(0, 10_000, None), "fresh")],
            policy={"refresh_at": {"fraction": [0.8, 0.8]}})

# Errors.
expiry_case("err-negative-expires-in", "negative expires_in", {"expires_in_ms": -1}, s0, r0, UNKNOWN,
            flags=["malformed"], check=lambda e: e == {"error": "time_out_of_range"})
expiry_case("err-expires-in-over-a-year", "expires_in over one year",
            {"expires_in_ms": MAX_LIFETIME + 1}, s0, r0, UNKNOWN, flags=["malformed"],
            check=lambda e: e == {"error": "time_out_of_range"})
expiry_case("err-exp-beyond-9999", "exp 1e15 ms is beyond year 9999", {"exp_ms": 10**15}, s0, r0,
            UNKNOWN, flags=["malformed"], check=lambda e: e == {"error": "time_out_of_range"})
expiry_case("err-negative-nbf", "negative nbf", {"expires_in_ms": 1_000, "nbf_ms": -1}, s0, r0,
            UNKNOWN, flags=["malformed"], check=lambda e: e == {"error": "time_out_of_range"})
expiry_case("err-received-before-sent", "received before sent on the monotonic clock",
            {"expires_in_ms": 1_000}, r0, s0, UNKNOWN, flags=["malformed"],
            check=lambda e: e == {"error": "reading_order"})
expiry_case("err-window-inverted", "refresh window low above high", {"expires_in_ms": 1_000}, s0, r0,
            UNKNOWN, policy={"refresh_at": {"fraction": [0.9, 0.8]}}, flags=["malformed"],
            check=lambda e: e == {"error": "invalid_policy"})
expiry_case("err-window-zero", "refresh window starting at 0", {"expires_in_ms": 1_000}, s0, r0,
            UNKNOWN, policy={"refresh_at": {"fraction": [0.0, 0.5]}}, flags=["malformed"],
            check=lambda e: e == {"error": "invalid_policy"})
expiry_case("err-window-above-one", "refresh window beyond 1", {"expires_in_ms": 1_000}, s0, r0,
            UNKNOWN, policy={"refresh_at": {"fraction": [0.5, 1.5]}}, flags=["malformed"],
            check=lambda e: e == {"error": "invalid_policy"})
expiry_case("err-before-negative", "negative refresh lead", {"expires_in_ms": 1_000}, s0, r0,
            UNKNOWN, policy={"refresh_at": {"before_ms": -1}}, flags=["malformed"],
            check=lambda e: e == {"error": "invalid_policy"})
expiry_case("err-margin-negative", "negative margin", {"expires_in_ms": 1_000}, s0, r0, UNKNOWN,
            policy={"margin": {"fixed_ms": -5}}, flags=["malformed"],
            check=lambda e: e == {"error": "invalid_policy"})
expiry_case("err-assumed-zero", "assumed lifetime 0", {}, s0, r0, UNKNOWN,
            policy={"assumed_lifetime_ms": 0}, flags=["malformed"],
            check=lambda e: e == {"error": "invalid_policy"})
expiry_case("err-max-wait-negative", "negative max_wait", {"expires_in_ms": 1_000}, s0, r0, UNKNOWN,
            policy={"max_wait_ms": -1}, flags=["malformed"],
            check=lambda e: e == {"error": "invalid_policy"})
expiry_case("err-policy-before-order", "an invalid policy is reported before a reading-order error",
            {"expires_in_ms": -1}, r0, s0, UNKNOWN, policy={"max_wait_ms": -1}, flags=["malformed"],
            check=lambda e: e == {"error": "invalid_policy"})


def write(name, suite, description, cases):
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "duplicate id"
    doc = {"suite": suite,
           "description": description + " Generated by tests/vectors/gen/gen_skew_expiry.py; "
                                        "edit the generator, not this file.",
           "cases": cases}
    out = Path(__file__).resolve().parent.parent / name
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out} ({len(cases)} cases)")


write("skew.json", "skew", "Clock-offset samples (Date header, iat, manual), the estimator "
      "(Marzullo intersection, drift and discontinuity widening) and next_date_probe.", skew_cases)
write("expiry.json", "expiry", "Token lifetime (deadline, margin, hard expiry, refresh_at) and the "
      "state decision (fresh / stale / expired / not_yet_valid).", expiry_cases)
