#!/usr/bin/env python3
"""Generates tests/vectors/session/fleet.json: transcripts for the fleet refresh protocol
(`FleetRefresh` driving a `Session`, core/src/fleet.rs).

Python standard library only. Run from anywhere:

    python3 tests/vectors/gen/gen_fleet.py

The format (the session transcript format plus the `fleet_*` and `add_issuer_date` calls) is
documented in tests/vectors/session/README.md. Every expected action, note, wait time, TTL and
record field is stated here from the protocol's rules (the module docs of core/src/fleet.rs
and the fleet rules of `Session`), restated below and reasoned per case; the numbers come
from the small model of gen_session.py (skew estimate, token lifetime) extended with:

* A record's deadline on the issuer's clock (at the token response): with the issuer
  estimate at `received`, low = sent.wall + est.low, high = received.wall + est.high; the
  deadline is `exp` when exp <= low + expires_in (slack 0), else low + expires_in with slack
  high - low.
* Publishing: ttl_ms = deadline + slack - (now.wall + est(now).offset), clamped to
  [1 s, 1 day]; the value is `tcr1.` + base64url(JSON) + `.` + hex(SHA-256(JSON))[:32],
  sealed (`tce1.`) when a key is set.
* Adopting: the deadline is mapped to local time through our estimate, worst case:
  local = deadline - est(now).high (refused with issuer_clock_unknown without a high bound);
  the token counts as received at `now`: margin = min(10 s, (local - now)/10), hard expiry
  = local - margin, refresh at now + floor(0.8 * (hard - now)). A record is *newer* when it
  holds another token than ours with a later issuer-clock deadline, or when we hold none.
* The machine: read -> (newer: adopt | issuer clock unknown: probe once, then adopt |
  otherwise take the lease); lease taken -> read again -> (newer: adopt and release |
  fetch under the lease -> publish, or release when the fetch failed); lease busy -> wait
  min(poll, max_wait - waited) from now (waiting counted from the first busy answer, on the
  monotonic clock) -> read again ...; waited >= max_wait -> fetch without the lease; any
  store error -> fetch without the lease (at read/lease), finish (at publish/release).
"""
import hashlib
import json
import sys
from math import floor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_session import (  # noqa: E402  (the shared model)
    BASIC, CC, JSON_HEADERS, T, T0, TOKEN_URL, Est, L, adv, b64url, body, config, floor_s,
    http_date, judge, jwt, lifetime, next_change, standard_first_token, until_hard, until_valid,
    MAX_WAIT,
)

OUT = Path(__file__).resolve().parent.parent / "session" / "fleet.json"
PREFIX = "tokenclock"
LEASE_MS, POLL_MS, MAX_WAIT_MS = 15_000, 50, 20_000
KEY_HEX = "07" * 32


# ---------------------------------------------------------------------------------------------
# Records and store keys
# ---------------------------------------------------------------------------------------------

def token_id(token):
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def store_key(prefix, token_url, client_id, scope, audience):
    """SHA-256 over length-prefixed parts (1 + u64 big-endian length + bytes; None = a 0 byte),
    first 16 bytes in hex, as a Redis Cluster hash tag."""
    h = hashlib.sha256()
    for part in (token_url, client_id, scope, audience):
        if part is None:
            h.update(b"\x00")
        else:
            b = part.encode()
            h.update(b"\x01" + len(b).to_bytes(8, "big") + b)
    return f"{prefix}:token:v1:{{{h.hexdigest()[:32]}}}"


STORE_KEY = store_key(PREFIX, TOKEN_URL, BASIC["client_id"], CC["scope"], None)


def record_fields(token, deadline, slack, exp, nbf, iat, fencing, origin=TOKEN_URL,
                  scope=CC["scope"], audience=None):
    return {"v": 1, "token_id": token_id(token), "access_token": token, "origin": origin,
            "scope": scope, "audience": audience, "deadline_ms": deadline,
            "deadline_slack_ms": slack, "exp_ms": exp, "nbf_ms": nbf, "iat_ms": iat,
            "fencing": fencing}


def encode_json(text):
    return f"tcr1.{b64url(text.encode())}.{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def encode(fields):
    return encode_json(json.dumps(fields, separators=(",", ":")))


def peer_record(name, minted, ttl_s=100, slack=0, fencing=1, **kw):
    """A record a peer published for a token it got at issuer time `minted` (whole second):
    iat = nbf = minted, exp = minted + ttl; deadline = exp unless given."""
    tok = jwt(name, iat=minted, nbf=minted, exp=minted + ttl_s * 1000)
    deadline = kw.pop("deadline", minted + ttl_s * 1000)
    f = record_fields(tok, deadline, slack, minted + ttl_s * 1000, minted, minted, fencing, **kw)
    return tok, f


# ---------------------------------------------------------------------------------------------
# Model additions
# ---------------------------------------------------------------------------------------------

def issuer_deadline(est, sent, recv, expires_in_ms, exp):
    low = sent["wall_ms"] + (est["low"] if est["low"] is not None else est["offset"])
    high = recv["wall_ms"] + (est["high"] if est["high"] is not None else est["offset"])
    span = max(0, high - low)
    d = low + expires_in_ms
    return (exp, 0) if exp is not None and exp <= d else (d, span)


def publish_ttl(deadline, slack, now, est):
    return min(max(deadline + slack - (now["wall_ms"] + est["offset"]), 1_000), 86_400_000)


def adopted_lifetime(fields, now, est):
    assert est["high"] is not None
    lw = fields["deadline_ms"] - est["high"]
    lm = now["mono_ms"] + (lw - now["wall_ms"])
    life = max(0, min(lw - now["wall_ms"], lm - now["mono_ms"]))
    margin = min(10_000, life // 10)
    hw, hm = lw - margin, lm - margin
    span = max(0, min(hw - now["wall_ms"], hm - now["mono_ms"]))
    lead = floor(span * 0.8)
    nb = max(v for v in (fields["nbf_ms"], fields["iat_ms"]) if v is not None)
    lt = {"hard": {"wall_ms": hw, "mono_ms": hm},
          "refresh": {"wall_ms": now["wall_ms"] + lead, "mono_ms": now["mono_ms"] + lead},
          "margin": margin, "exp": fields["exp_ms"], "nb": nb,
          "deadline": {"wall_ms": lw, "mono_ms": lm}, "recv": now}
    assert until_hard(lt, now, est) > 0, "the record must be adoptable"
    assert until_valid(lt, now, est) <= 0, "and valid"
    return lt


def A(kind, **kw):
    return {"kind": kind, **kw}


READ = A("read")
LEASE = A("take_lease", lease_ms=LEASE_MS)
PROBE = A("probe_issuer")


def N(kind, code=None):
    return {"kind": kind, **({"code": code} if code else {})}


class F(T):
    """A transcript with the fleet calls."""

    def fleet(self, at, call, action=None, notes=(), error=None, **args):
        e = {"error": error} if error else {"action": action, "notes": list(notes)}
        self._step(at, call, e, **args)

    def begin(self, at, ticket, action=READ, fleet=None, key=None, error=None):
        args = {"ticket": ticket, "prefix": PREFIX, "store_key": STORE_KEY}
        if fleet is not None:
            args["fleet"] = fleet
        if key is not None:
            args["key"] = key
        self.fleet(at, "fleet_begin", action, error=error, **args)

    def issuer_date(self, at, sent, server_ms, expect=None):
        self._step(at, "add_issuer_date", expect or {}, date=http_date(server_ms), sent=sent)


CASES = []


def first_token_at_refresh(t, iss):
    """The session fetches k1 (Date header, rtt 200 ms; expires_in = exp - iat = 100 s) and
    reaches its refresh time: the caller gets ready_and_refresh with ticket t2."""
    lt, tok = standard_first_token(t, date=True, issuer=iss)
    sent, recv = L(T0), L(T0 + 200)
    own = issuer_deadline(iss.at(recv), sent, recv, 100_000, lt["exp"])
    t.authorize(lt["refresh"], "ready_and_refresh", token="k1", ticket="t2", reason="stale")
    return lt, tok, own


def cases():
    # --- adopt a peer's newer record ----------------------------------------------------------
    t = F("fleet-adopt-newer-record",
          "At its refresh time the session reads the store: a peer published a newer token (k2, "
          "minted 70 s later, a later issuer-clock deadline). It is adopted at once (no lease, "
          "no token request); its deadline is mapped through our estimate's upper bound, and "
          "the next timeout is the adopted token's refresh time (0.8 of the way to hard expiry).",
          config())
    iss = Est()
    lt, _, _ = first_token_at_refresh(t, iss)
    now = lt["refresh"]
    t.begin(now, "t2")
    tok2, rec2 = peer_record("k2", T0 + 70_000, fencing=4)
    now = adv(now, 3)
    lt2 = adopted_lifetime(rec2, now, iss.at(now))
    t.fleet(now, "fleet_on_record", A("done", outcome="adopted", token="k2"),
            value=encode(rec2))
    t.authorize(adv(now, 1), "ready", token="k2")
    at = adv(now, 2)
    t.next_timeout(at, adv(at, next_change(lt2, at, iss.at(at))))
    CASES.append(t.done(stats={"token_requests": 2, "refreshes": 1}))

    # --- probe, then adopt ------------------------------------------------------------------
    t = F("fleet-probe-then-adopt",
          "A new session (no token, the issuer's clock unknown) finds a peer's record: it cannot "
          "place the deadline without an upper bound on the issuer's offset, so it probes the "
          "token endpoint's Date once (add_issuer_date), then adopts. The host clock is 45 s "
          "ahead of the issuer's: the adopted deadline lands 45 s later locally.",
          config())
    H = lambda ms: {"wall_ms": ms + 45_000, "mono_ms": ms - T0 + 7_000_000}  # noqa: E731
    t.authorize(H(T0 + 10_000), "refresh", ticket="t1", reason="initial")
    t.begin(H(T0 + 10_000), "t1")
    tok, rec = peer_record("k1", T0 + 5_000)
    t.fleet(H(T0 + 10_002), "fleet_on_record", PROBE, value=encode(rec))
    iss = Est()
    sent, recv = H(T0 + 10_002), H(T0 + 10_082)
    t.issuer_date(recv, sent, T0 + 10_040)
    iss.date(floor_s(T0 + 10_040), sent, recv)
    now = H(T0 + 10_083)
    lt = adopted_lifetime(rec, now, iss.at(now))
    t.fleet(now, "fleet_on_probe", A("done", outcome="adopted", token="k1"))
    t.authorize(H(T0 + 10_084), "ready", token="k1")
    at = H(T0 + 10_085)
    t.next_timeout(at, adv(at, next_change(lt, at, iss.at(at))))
    CASES.append(t.done(stats={"token_requests": 1, "refreshes": 0}))

    # --- probe fails: ignore, lease, fetch, publish ---------------------------------------------
    t = F("fleet-probe-fails-then-fetch-and-publish",
          "The issuer probe brings no Date (it failed): the record still cannot be placed, so it "
          "is ignored (issuer_clock_unknown; probed once only) and the lease is taken; the "
          "re-read finds the same record, ignored again, so the session fetches under the lease "
          "(fencing 1) and publishes its token: exp binds the deadline (expires_in 120 s > exp "
          "- iat), TTL = deadline - the issuer's clock now (best estimate).",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.begin(L(T0), "t1")
    tok, rec = peer_record("k0", T0 - 20_000)
    t.fleet(L(T0 + 2), "fleet_on_record", PROBE, value=encode(rec))
    t.fleet(L(T0 + 90), "fleet_on_probe", LEASE, [N("record_ignored", "issuer_clock_unknown")])
    t.fleet(L(T0 + 92), "fleet_on_lease", READ, fencing=1)
    t.fleet(L(T0 + 94), "fleet_on_record", A("fetch", fencing=1),
            [N("record_ignored", "issuer_clock_unknown")], value=encode(rec))
    sent, recv = L(T0 + 94), L(T0 + 294)
    server = T0 + 194
    i = floor_s(server)
    tok1 = jwt("k1", iat=i, nbf=i, exp=i + 100_000)
    t.complete(recv, "t1", sent, body(tok1, 120), {"token": "k1"},
               headers=JSON_HEADERS + [["Date", http_date(server)]])
    iss = Est()
    iss.date(i, sent, recv)
    iss.iat(i, recv)
    dl, slack = issuer_deadline(iss.at(recv), sent, recv, 120_000, i + 100_000)
    assert (dl, slack) == (i + 100_000, 0)
    now = L(T0 + 295)
    ttl = publish_ttl(dl, slack, now, iss.at(now))
    t.fleet(now, "fleet_on_fetched", A("publish", fencing=1, ttl_ms=ttl, value_prefix="tcr1.",
                                       value_record=record_fields(tok1, dl, slack, i + 100_000,
                                                                  i, i, 1)),
            ok=True, nonce="00" * 12)
    t.fleet(L(T0 + 297), "fleet_on_published", A("done", outcome="published"), written=True)
    t.authorize(L(T0 + 298), "ready", token="k1")
    CASES.append(t.done(stats={"token_requests": 1, "refreshes": 1}))

    # --- older record, own record: lease, fetch, publish ----------------------------------------
    t = F("fleet-older-then-own-record-fetch-publish",
          "At the refresh time the store holds an older token (an earlier deadline than ours): "
          "not adopted, the lease is taken (fencing 7). The re-read finds our own token's record "
          "(same token id: not newer): fetch under the lease, then publish k2 with its "
          "issuer-clock deadline (low at sent + expires_in, slack high - low) and TTL.",
          config())
    iss = Est()
    lt, tok1, own = first_token_at_refresh(t, iss)
    now = lt["refresh"]
    t.begin(now, "t2")
    old_tok, old = peer_record("k0", T0 - 10_000, deadline=own[0] - 10_000)
    t.fleet(adv(now, 2), "fleet_on_record", LEASE, value=encode(old))
    t.fleet(adv(now, 4), "fleet_on_lease", READ, fencing=7)
    mine = record_fields(tok1, own[0], own[1], lt["exp"], floor_s(T0 + 100),
                         floor_s(T0 + 100), 3)
    t.fleet(adv(now, 6), "fleet_on_record", A("fetch", fencing=7), value=encode(mine))
    sent, recv = adv(now, 6), adv(now, 156)
    server = sent["wall_ms"] + 75
    i = floor_s(server)
    tok2 = jwt("k2", iat=i, nbf=i, exp=i + 100_000)
    t.complete(recv, "t2", sent, body(tok2, 100), {"token": "k2"},
               headers=JSON_HEADERS + [["Date", http_date(server)]])
    iss.date(i, sent, recv)
    iss.iat(i, recv)
    dl, slack = issuer_deadline(iss.at(recv), sent, recv, 100_000, i + 100_000)
    # (exp binds here: the Date probe narrowed the estimate, low + expires_in >= exp.)
    now = adv(recv, 1)
    ttl = publish_ttl(dl, slack, now, iss.at(now))
    t.fleet(now, "fleet_on_fetched",
            A("publish", fencing=7, ttl_ms=ttl, value_prefix="tcr1.",
              value_record=record_fields(tok2, dl, slack, i + 100_000, i, i, 7)),
            ok=True, nonce="01" * 12)
    t.fleet(adv(now, 2), "fleet_on_published", A("done", outcome="published"), written=True)
    CASES.append(t.done(stats={"token_requests": 2, "refreshes": 2}))

    # --- lease taken, peer published meanwhile: adopt and release -------------------------------
    t = F("fleet-lease-then-peer-record-adopt-release",
          "Nothing in the store, the lease is ours (fencing 3); the re-read finds a peer's newer "
          "record (published between our read and our lease): adopt it, release the lease, "
          "done adopted. No token request.",
          config())
    iss = Est()
    lt, _, _ = first_token_at_refresh(t, iss)
    now = lt["refresh"]
    t.begin(now, "t2")
    t.fleet(adv(now, 2), "fleet_on_record", LEASE, value=None)
    t.fleet(adv(now, 4), "fleet_on_lease", READ, fencing=3)
    tok2, rec2 = peer_record("k2", floor_s(now["wall_ms"]))
    t.fleet(adv(now, 6), "fleet_on_record", A("release", fencing=3), value=encode(rec2))
    t.fleet(adv(now, 8), "fleet_on_released", A("done", outcome="adopted", token="k2"))
    t.authorize(adv(now, 9), "ready", token="k2")
    CASES.append(t.done(stats={"token_requests": 2, "refreshes": 1}))

    # --- lease busy: wait, peer publishes: adopt ------------------------------------------------
    t = F("fleet-lease-busy-wait-then-adopt",
          "A peer holds the lease: wait poll_ms (50) from the busy answer (note waiting_for_peer, "
          "once), read again (nothing yet), lease still busy: wait again; the next read finds "
          "the peer's record: adopted.",
          config())
    iss = Est()
    lt, _, _ = first_token_at_refresh(t, iss)
    now = lt["refresh"]
    t.begin(now, "t2")
    t.fleet(adv(now, 2), "fleet_on_record", LEASE, value=None)
    t.fleet(adv(now, 4), "fleet_on_lease", A("wait", until=adv(now, 54)),
            [N("waiting_for_peer")], fencing=None)
    t.fleet(adv(now, 54), "fleet_on_wake", READ)
    t.fleet(adv(now, 56), "fleet_on_record", LEASE, value=None)
    t.fleet(adv(now, 58), "fleet_on_lease", A("wait", until=adv(now, 108)), fencing=None)
    t.fleet(adv(now, 108), "fleet_on_wake", READ)
    tok2, rec2 = peer_record("k2", floor_s(now["wall_ms"]))
    t.fleet(adv(now, 110), "fleet_on_record", A("done", outcome="adopted", token="k2"),
            value=encode(rec2))
    CASES.append(t.done(stats={"token_requests": 2, "refreshes": 1}))

    # --- waited max_wait: fetch without the lease -----------------------------------------------
    t = F("fleet-wait-exceeds-max-wait",
          "lease 1 s, poll 400 ms, max_wait 1 s. Busy at +4 (waiting from +4): wait to +404; busy "
          "at +410 (waited 406): wait min(400, 594) to +810; busy at +816 (waited 812): wait "
          "min(400, 188) to +1004; busy at +1006 (waited 1002 >= 1000): gave_up_waiting, fetch "
          "without the lease, and the token is not published.",
          config())
    iss = Est()
    lt, _, _ = first_token_at_refresh(t, iss)
    now = lt["refresh"]
    t.begin(now, "t2", fleet={"lease_ms": 1_000, "poll_ms": 400, "max_wait_ms": 1_000})
    t.fleet(adv(now, 2), "fleet_on_record", A("take_lease", lease_ms=1_000), value=None)
    t.fleet(adv(now, 4), "fleet_on_lease", A("wait", until=adv(now, 404)),
            [N("waiting_for_peer")], fencing=None)
    for wake, lease, until in ((404, 410, 810), (810, 816, 1_004)):
        t.fleet(adv(now, wake), "fleet_on_wake", READ)
        t.fleet(adv(now, wake + 2), "fleet_on_record", A("take_lease", lease_ms=1_000),
                value=None)
        t.fleet(adv(now, lease), "fleet_on_lease", A("wait", until=adv(now, until)),
                fencing=None)
    t.fleet(adv(now, 1_004), "fleet_on_wake", READ)
    t.fleet(adv(now, 1_005), "fleet_on_record", A("take_lease", lease_ms=1_000), value=None)
    t.fleet(adv(now, 1_006), "fleet_on_lease", A("fetch", fencing=None),
            [N("gave_up_waiting")], fencing=None)
    sent, recv = adv(now, 1_006), adv(now, 1_206)
    i = floor_s(sent["wall_ms"])
    tok2 = jwt("k2", iat=i, nbf=i, exp=i + 100_000)
    t.complete(recv, "t2", sent, body(tok2, 100), {"token": "k2"})
    t.fleet(adv(recv, 1), "fleet_on_fetched", A("done", outcome="fetched"), ok=True,
            nonce="02" * 12)
    CASES.append(t.done(stats={"token_requests": 2, "refreshes": 2}))

    # --- store errors -----------------------------------------------------------------------
    for where, comment in (
            ("read", "The first read fails: fetch without the lease, nothing published."),
            ("lease", "Taking the lease fails: fetch without the lease."),
            ("reread", "The re-read under our lease fails: fetch without it (the lease lapses by "
                       "itself), nothing published."),
            ("publish", "Publishing fails: the token is ours alone (done fetched)."),
    ):
        t = F(f"fleet-store-error-at-{where}",
              f"{comment} Note store_unavailable; no request fails because of the store.",
              config())
        iss = Est()
        lt, _, _ = first_token_at_refresh(t, iss)
        now = lt["refresh"]
        t.begin(now, "t2")
        unavailable = [N("store_unavailable")]
        fencing = None
        if where == "read":
            t.fleet(adv(now, 2), "fleet_on_store_error", A("fetch", fencing=None), unavailable)
        else:
            t.fleet(adv(now, 2), "fleet_on_record", LEASE, value=None)
            if where == "lease":
                t.fleet(adv(now, 4), "fleet_on_store_error", A("fetch", fencing=None),
                        unavailable)
            else:
                t.fleet(adv(now, 4), "fleet_on_lease", READ, fencing=5)
                if where == "reread":
                    t.fleet(adv(now, 6), "fleet_on_store_error", A("fetch", fencing=None),
                            unavailable)
                else:
                    t.fleet(adv(now, 6), "fleet_on_record", A("fetch", fencing=5), value=None)
                    fencing = 5
        sent, recv = adv(now, 10), adv(now, 210)
        server = sent["wall_ms"] + 100
        i = floor_s(server)
        tok2 = jwt("k2", iat=i, nbf=i, exp=i + 100_000)
        t.complete(recv, "t2", sent, body(tok2, 100), {"token": "k2"},
                   headers=JSON_HEADERS + [["Date", http_date(server)]])
        after = adv(recv, 1)
        if fencing is None:
            t.fleet(after, "fleet_on_fetched", A("done", outcome="fetched"), ok=True,
                    nonce="03" * 12)
        else:
            iss.date(i, sent, recv)
            iss.iat(i, recv)
            dl, slack = issuer_deadline(iss.at(recv), sent, recv, 100_000, i + 100_000)
            ttl = publish_ttl(dl, slack, after, iss.at(after))
            t.fleet(after, "fleet_on_fetched",
                    A("publish", fencing=5, ttl_ms=ttl, value_prefix="tcr1.",
                      value_record=record_fields(tok2, dl, slack, i + 100_000, i, i, 5)),
                    ok=True, nonce="03" * 12)
            t.fleet(adv(after, 2), "fleet_on_store_error", A("done", outcome="fetched"),
                    unavailable)
        t.authorize(adv(after, 3), "ready", token="k2")
        CASES.append(t.done(stats={"token_requests": 2, "refreshes": 2}))

    # --- fetch failure: release -------------------------------------------------------------
    for release_fails in (False, True):
        t = F("fleet-fetch-failed-release" + ("-store-error" if release_fails else ""),
              "The token request under the lease fails (503): the lease is released for the next "
              "process and the refresh ends fetch_failed (the session backs off)."
              + (" The release itself fails: still fetch_failed, note store_unavailable (the "
                 "lease lapses by itself)." if release_fails else ""),
              config())
        iss = Est()
        lt, _, _ = first_token_at_refresh(t, iss)
        now = lt["refresh"]
        t.begin(now, "t2")
        t.fleet(adv(now, 2), "fleet_on_record", LEASE, value=None)
        t.fleet(adv(now, 4), "fleet_on_lease", READ, fencing=9)
        t.fleet(adv(now, 6), "fleet_on_record", A("fetch", fencing=9), value=None)
        t._step(adv(now, 206), "complete_refresh", {"error": "temporarily_unavailable"},
                ticket="t2", status=503, headers=JSON_HEADERS,
                body='{"error":"temporarily_unavailable"}', sent=adv(now, 6))
        t.fleet(adv(now, 207), "fleet_on_fetched", A("release", fencing=9), ok=False,
                nonce="04" * 12)
        if release_fails:
            t.fleet(adv(now, 209), "fleet_on_store_error", A("done", outcome="fetch_failed"),
                    [N("store_unavailable")])
        else:
            t.fleet(adv(now, 209), "fleet_on_released", A("done", outcome="fetch_failed"))
        t.authorize(adv(now, 210), "ready", token="k1")
        CASES.append(t.done(stats={"token_requests": 2, "refreshes": 1, "failures": 1}))

    # --- damaged and foreign records ----------------------------------------------------------
    t = F("fleet-damaged-records-ignored",
          "A new session that knows the issuer's clock (one Date probe) and holds no token: every "
          "value read is ignored with its code and never adopted; between reads the lease is "
          "busy and the session waits 50 ms. Codes: truncated (record_checksum), a flipped "
          "payload character (record_checksum), prefix tcr2 (record_version), a valid checksum "
          "over JSON with v 2 (record_version), not a record (record_malformed), a negative "
          "deadline (record_out_of_range), a sealed value without a key (record_encrypted), "
          "another token endpoint and another scope (invalid_argument, refused by the session), "
          "a record already past hard expiry here (expired_on_arrival).",
          config())
    t.issuer_date(L(T0 + 100), L(T0), T0 + 50)
    iss = Est()
    iss.date(T0, L(T0), L(T0 + 100))
    t.authorize(L(T0 + 200), "refresh", ticket="t1", reason="initial")
    t.begin(L(T0 + 200), "t1")
    tok, good_fields = peer_record("kx", T0)
    good = encode(good_fields)
    flipped = bytearray(good.encode())
    flipped[45] = ord("B") if flipped[45] == ord("A") else ord("A")
    neg = dict(good_fields, deadline_ms=-5)
    neg["exp_ms"] = None
    expired = peer_record("ky", T0 - 200_000)[1]
    values = [
        (good[:-5], "record_checksum"),
        (flipped.decode(), "record_checksum"),
        ("tcr2." + good[5:], "record_version"),
        (encode_json('{"v":2,"token_id":"00","access_token":"x"}'), "record_version"),
        ("not a record", "record_malformed"),
        (encode(neg), "record_out_of_range"),
        ("tce1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "record_encrypted"),
        (encode(dict(good_fields, origin="https://other.example/token")), "invalid_argument"),
        (encode(dict(good_fields, scope="admin")), "invalid_argument"),
        (encode(expired), "expired_on_arrival"),
    ]
    at = 202
    for n, (value, code) in enumerate(values):
        t.fleet(L(T0 + at), "fleet_on_record", LEASE, [N("record_ignored", code)], value=value)
        t.fleet(L(T0 + at + 2), "fleet_on_lease", A("wait", until=L(T0 + at + 52)),
                [N("waiting_for_peer")] if n == 0 else [], fencing=None)
        t.fleet(L(T0 + at + 52), "fleet_on_wake", READ)
        at += 52
    t.authorize(L(T0 + at), "wait", wait_reason="refresh_in_flight")
    CASES.append(t.done(stats={"token_requests": 1, "refreshes": 0}))

    # --- sealed records: not-encrypted, undecryptable, publish sealed, lease lost ---------------
    t = F("fleet-sealed-records-and-lease-lost",
          "With a key (32 bytes of 0x07): a clear record is not trusted (record_not_encrypted); "
          "a sealed value that does not open is ignored (record_decrypt); the token is "
          "published sealed (tce1., AES-256-GCM with the given nonce and the store key as "
          "associated data; opened, it is the record below). The publish script refuses: our "
          "lease lapsed, note lease_lost, done fetched.",
          config(), flags=["encrypt"])
    iss = Est()
    lt, tok1, own = first_token_at_refresh(t, iss)
    now = lt["refresh"]
    t.begin(now, "t2", key=KEY_HEX)
    tok2, rec2 = peer_record("k9", floor_s(now["wall_ms"]))
    t.fleet(adv(now, 2), "fleet_on_record", LEASE, [N("record_ignored", "record_not_encrypted")],
            value=encode(rec2))
    t.fleet(adv(now, 4), "fleet_on_lease", READ, fencing=2)
    t.fleet(adv(now, 6), "fleet_on_record", A("fetch", fencing=2),
            [N("record_ignored", "record_decrypt")],
            value="tce1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    sent, recv = adv(now, 6), adv(now, 206)
    server = sent["wall_ms"] + 100
    i = floor_s(server)
    tok3 = jwt("k2", iat=i, nbf=i, exp=i + 100_000)
    t.complete(recv, "t2", sent, body(tok3, 100), {"token": "k2"},
               headers=JSON_HEADERS + [["Date", http_date(server)]])
    iss.date(i, sent, recv)
    iss.iat(i, recv)
    dl, slack = issuer_deadline(iss.at(recv), sent, recv, 100_000, i + 100_000)
    after = adv(recv, 1)
    ttl = publish_ttl(dl, slack, after, iss.at(after))
    t.fleet(after, "fleet_on_fetched",
            A("publish", fencing=2, ttl_ms=ttl, value_prefix="tce1.",
              value_record=record_fields(tok3, dl, slack, i + 100_000, i, i, 2)),
            ok=True, nonce="0a" * 12)
    t.fleet(adv(after, 2), "fleet_on_published", A("done", outcome="fetched"),
            [N("lease_lost")], written=False)
    CASES.append(t.done(stats={"token_requests": 2, "refreshes": 2}))

    # --- the ticket timed out while waiting: abandoned ------------------------------------------
    t = F("fleet-ticket-abandoned",
          "ticket_timeout_ms 1 s. While the refresh waits on a busy lease, the session abandons "
          "the ticket (a caller after 1 s gets a new one, t3). The next read finds a peer's "
          "record, but the refresh's ticket is stale: done abandoned, nothing adopted for t2 "
          "(the new ticket's caller runs its own refresh).",
          config(ticket_timeout_ms=1_000))
    iss = Est()
    lt, _, _ = first_token_at_refresh(t, iss)
    now = lt["refresh"]
    t.begin(now, "t2")
    t.fleet(adv(now, 2), "fleet_on_record", LEASE, value=None)
    t.fleet(adv(now, 4), "fleet_on_lease", A("wait", until=adv(now, 54)),
            [N("waiting_for_peer")], fencing=None)
    t.authorize(adv(now, 1_000), "ready_and_refresh", token="k1", ticket="t3", reason="stale")
    t.fleet(adv(now, 1_001), "fleet_on_wake", READ)
    tok2, rec2 = peer_record("k2", floor_s(now["wall_ms"]))
    t.fleet(adv(now, 1_003), "fleet_on_record", A("done", outcome="abandoned"),
            value=encode(rec2))
    CASES.append(t.done(stats={"abandoned_tickets": 1}))

    # --- unexpected inputs and configuration errors ---------------------------------------------
    t = F("fleet-unexpected-input",
          "An answer to another action than the current one is refused with "
          "fleet_unexpected_input and changes nothing; a store error is an answer only to a "
          "store operation; out-of-range fleet settings are invalid_config.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.begin(L(T0), "t1", fleet={"poll_ms": 1}, error="invalid_config")
    t.begin(L(T0), "t1", fleet={"lease_ms": 50}, error="invalid_config")
    t.begin(L(T0), "t1", fleet={"poll_ms": 20_000, "lease_ms": 10_000}, error="invalid_config")
    t.begin(L(T0), "t1")
    t.fleet(L(T0 + 1), "fleet_on_lease", error="fleet_unexpected_input", fencing=1)
    t.fleet(L(T0 + 1), "fleet_on_wake", error="fleet_unexpected_input")
    t.fleet(L(T0 + 1), "fleet_on_probe", error="fleet_unexpected_input")
    t.fleet(L(T0 + 1), "fleet_on_published", error="fleet_unexpected_input", written=True)
    t.fleet(L(T0 + 1), "fleet_on_released", error="fleet_unexpected_input")
    t.fleet(L(T0 + 1), "fleet_on_fetched", error="fleet_unexpected_input", ok=True,
            nonce="00" * 12)
    t.fleet(L(T0 + 2), "fleet_on_record", LEASE, value=None)
    t.fleet(L(T0 + 3), "fleet_on_record", error="fleet_unexpected_input", value=None)
    t.fleet(L(T0 + 4), "fleet_on_lease", A("wait", until=L(T0 + 54)), [N("waiting_for_peer")],
            fencing=None)
    t.fleet(L(T0 + 5), "fleet_on_store_error", error="fleet_unexpected_input")
    t.fleet(L(T0 + 54), "fleet_on_wake", READ)
    CASES.append(t.done())


def main():
    cases()
    ids = set()
    for c in CASES:
        assert c["id"] not in ids, c["id"]
        ids.add(c["id"])
    doc = {"suite": "session",
           "description": "Fleet refresh transcripts (FleetRefresh driving a Session): adopt a "
                          "peer's record, probe the issuer's clock, lease / re-read / fetch / "
                          "publish, wait for a peer, give up waiting, store errors, failed "
                          "fetches, damaged and foreign records, sealed records and a lost "
                          "lease, an abandoned ticket, unexpected inputs.",
           "cases": CASES}
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"fleet.json: {len(CASES)} cases")


if __name__ == "__main__":
    main()
