#!/usr/bin/env python3
"""Generates tests/vectors/session/{basic,errors,skew}.json: transcripts for `Session`.

Python standard library only. Run from anywhere:

    python3 tests/vectors/gen/gen_session.py

The transcript format is documented in tests/vectors/session/README.md and at the top of
core/tests/vectors_session.rs. Every expected value here comes from SPEC.md ("Time", "Skew
estimation", "Token lifetime and the expiry decision", "The refresh state machine") and the
documented rules of core/src/session/, reasoned through per case in the comments below; the
numbers (deadlines, refresh times, estimate bounds, waits) are computed by the small model in
this file, never by running the Rust code. JWTs (unsigned, `alg: none`) and HTTP dates are
built here too.

Model (SPEC rules, restated):
* A Date header D (1 s resolution) on an exchange sent..received gives the offset interval
  `[D - recv.wall, D + 1000 - (recv.wall - rtt)]`, rtt on the monotonic clock; a token's iat
  gives `[iat - recv.wall, +inf)`. Samples widen by ceil((age_ms + rtt_ms) * 200 / 1e6) on both
  sides (the server may have read its clock up to one round trip before receipt; iat samples
  have no round trip); the estimate is Marzullo's intersection (documented in
  core/src/skew.rs).
* A token's deadline is the per-clock earliest of `sent + expires_in` (both clocks) and
  `exp - high` (high = the upper offset bound of the judging estimate; only when bounded, or
  the best offset when there is no expires_in). margin = min(10 s, lifetime/10), hard expiry =
  deadline - margin, refresh_at = recv + floor((hard - recv) * f) (f = 0.8 in these
  transcripts: the policy window is [0.8, 0.8], so the refresh time does not depend on the RNG).
* Expired once either clock reaches hard expiry, or `exp - margin <= now + high`.
  "Not before" = max(nbf, iat): usable once `now + low >= nbf`; a wait of at most max_wait
  (2 s) is a `wait`, a longer one means "use as is".
* The session judges a token with the resource server's estimate once it has a sample, the
  issuer's before that.
* Failure classes (SPEC "Failure classes and who decides"): one odd answer never ends a session
  for good. Transient: transport errors, 408/429/5xx, temporarily_unavailable, server_error,
  every HTTP error without an OAuth `error` whatever its status (a WAF's HTML 403, a 301, a
  404), every malformed response (no access_token, token_type DPoP, ...), expired on arrival.
  Configuration errors: invalid_client, unauthorized_client, invalid_scope, invalid_request,
  unsupported_grant_type, unknown codes on other statuses, and invalid_grant on a primary
  client-credentials grant. invalid_grant on a refresh token: dropped, fall back to the primary
  grant, or reauthorization_required (permanent) when there is none; on an authorization code
  (spent) reauthorization_required too.
* Backoff: full jitter, delay uniform in [0, min(cap, base * 2^(n-1))] for the n-th failure in
  a row (base 1 s, cap 60 s; configuration errors count, a token or a refused refresh token
  resets); Retry-After (seconds, or an HTTP-date read through the issuer's estimate: wait until
  the issuer's clock surely reached it, i.e. `date - low`) is a floor on the delay, capped at
  max_retry_after_ms. Jittered delays are checked as ranges.
* Configuration errors: no jitter, the delay is config_retry_ms (default 5 min), or a longer
  Retry-After up to max_retry_after_ms. Callers without a usable token fail at once with the
  error and its retry time (no `wait`, even when the end is within max_wait); a still-valid
  token is served (stale, without a ticket) meanwhile; at the end the next caller gets a ticket.
"""
import base64
import json
from datetime import datetime, timezone
from math import floor
from pathlib import Path

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z, a whole second
M0 = 7_000_000  # arbitrary monotonic origin
TOKEN_URL = "https://issuer.example/token"
DRIFT_PPM = 200
MAX_WAIT = 2_000
CONFIG_RETRY = 300_000  # backoff.config_retry_ms's default
MAX_RETRY_AFTER = 600_000  # backoff.max_retry_after_ms's default

OUT = Path(__file__).resolve().parent.parent / "session"


# ---------------------------------------------------------------------------------------------
# Readings, dates, tokens
# ---------------------------------------------------------------------------------------------

def R(wall, mono):
    return {"wall_ms": wall, "mono_ms": mono}


def L(t, step=0):
    """The local reading at true time t (ms) for a host whose wall clock was stepped by `step`."""
    return R(t + step, t - T0 + M0)


def adv(r, ms):
    return R(r["wall_ms"] + ms, r["mono_ms"] + ms)


WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def http_date(ms):
    """IMF-fixdate (RFC 9110 §5.6.7) of the whole second containing `ms`."""
    d = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return (f"{WEEKDAYS[d.weekday()]}, {d.day:02d} {MONTHS[d.month - 1]} {d.year:04d} "
            f"{d.hour:02d}:{d.minute:02d}:{d.second:02d} GMT")


assert http_date(784111777000) == "Sun, 06 Nov 1994 08:49:37 GMT"  # RFC 9110's example


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(name, iat=None, nbf=None, exp=None):
    """An unsigned JWT (RFC 7519 §6) whose claims are whole seconds (arguments in ms)."""
    header = {"alg": "none", "typ": "JWT"}
    claims = {"iss": "https://issuer.example", "sub": "svc", "jti": name}
    for k, v in (("iat", iat), ("nbf", nbf), ("exp", exp)):
        if v is not None:
            assert v % 1000 == 0
            claims[k] = v // 1000
    enc = lambda o: b64url(json.dumps(o, separators=(",", ":")).encode())
    return f"{enc(header)}.{enc(claims)}."


def body(token, expires_in=100, refresh_token=None, **extra):
    doc = {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}
    if refresh_token is not None:
        doc["refresh_token"] = refresh_token
    doc.update(extra)
    return json.dumps(doc, separators=(",", ":"))


def floor_s(ms):
    return ms // 1000 * 1000


JSON_HEADERS = [["Content-Type", "application/json"], ["Cache-Control", "no-store"]]


def with_date(headers, server_ms):
    return headers + [["Date", http_date(server_ms)]]


BASIC = {"method": "client_secret_basic", "client_id": "app", "client_secret": "s3cret"}
POST = {"method": "client_secret_post", "client_id": "app", "client_secret": "s3cret"}
PUBLIC = {"method": "none", "client_id": "app"}
# RFC 6749 §2.3.1: form-encode id and secret ("app", "s3cret" need no escaping), then base64.
BASIC_HEADER = "Basic " + base64.b64encode(b"app:s3cret").decode()
CC = {"type": "client_credentials", "scope": "api.read"}
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 Appendix B's verifier
AUTH_CODE = {"type": "authorization_code", "code": "code-123",
             "redirect_uri": "https://app.example/cb", "code_verifier": VERIFIER}
POLICY = {"refresh_at": {"fraction": [0.8, 0.8]}}


def config(grant=CC, auth=BASIC, policy=POLICY, seed=1, **kw):
    c = {"token_url": TOKEN_URL, "auth": auth, "grant": grant, "seed": seed}
    if policy is not None:
        c["policy"] = policy
    c.update(kw)
    return c


# ---------------------------------------------------------------------------------------------
# Model: skew estimate and token lifetime (SPEC rules; see the module docstring)
# ---------------------------------------------------------------------------------------------

def ceil_drift(age, ppm=DRIFT_PPM):
    return (abs(age) * ppm + 999_999) // 1_000_000


def marzullo(ivs):
    n = len(ivs)
    if n == 0:
        return {"offset": 0, "low": None, "high": None}
    events = sorted([(l, 0) for l, _ in ivs] + [(h, 1) for _, h in ivs if h is not None])
    count = best = 0
    regions = []
    for i, (v, kind) in enumerate(events):
        if kind == 0:
            count += 1
            if count >= best:
                end = next((e[0] for e in events[i + 1:] if e[1] == 1), None)
                if count > best:
                    best, regions = count, []
                regions.append((v, end))
        else:
            count -= 1
    src = regions if 2 * best > n else ivs
    low = min(r[0] for r in src)
    high = None if any(r[1] is None for r in src) else max(r[1] for r in src)
    offset = low + (high - low) // 2 if high is not None else max(low, 0)
    return {"offset": offset, "low": low, "high": high}


class Est:
    """One origin's samples; no local clock discontinuities (cases with a wall step build the
    carried samples by hand)."""

    def __init__(self, drift_ppm=DRIFT_PPM):
        self.samples = []
        self.drift_ppm = drift_ppm

    def date(self, d, sent, recv):
        rtt = recv["mono_ms"] - sent["mono_ms"]
        self.samples.append((d - recv["wall_ms"], d + 1000 - (recv["wall_ms"] - rtt), recv, rtt))

    def iat(self, iat, recv):
        self.samples.append((iat - recv["wall_ms"], None, recv, 0))

    def raw(self, low, high, at, rtt):
        self.samples.append((low, high, at, rtt))

    def empty(self):
        return not self.samples

    def at(self, now):
        ivs = []
        for low, high, at, rtt in self.samples:
            w = ceil_drift(abs(now["mono_ms"] - at["mono_ms"]) + rtt, self.drift_ppm)
            ivs.append((low - w, None if high is None else high + w))
        return marzullo(ivs)


def judge(issuer, resource, now):
    return (issuer if resource.empty() else resource).at(now)


def lifetime(sent, recv, expires_in_ms, est, exp=None, nbf=None, iat=None, frac=0.8,
             margin_cap=10_000):
    sw, sm, rw, rm = sent["wall_ms"], sent["mono_ms"], recv["wall_ms"], recv["mono_ms"]
    by_ei = (sw + expires_in_ms, sm + expires_in_ms) if expires_in_ms is not None else None
    by_exp = None
    if exp is not None:
        w = exp - est["high"] if est["high"] is not None else (
            exp - est["offset"] if by_ei is None else None)
        if w is not None:
            by_exp = (w, rm + (w - rw))
    terms = [t for t in (by_ei, by_exp) if t is not None]
    dw, dm = min(t[0] for t in terms), min(t[1] for t in terms)
    life = max(0, min(dw - sw, dm - sm))
    margin = min(margin_cap, life // 10)
    hw, hm = dw - margin, dm - margin
    span = max(0, min(hw - rw, hm - rm))
    lead = floor(span * frac)
    nb = max([v for v in (nbf, iat) if v is not None], default=None)
    return {"hard": R(hw, hm), "refresh": R(rw + lead, rm + lead), "margin": margin,
            "exp": exp, "nb": nb, "deadline": R(dw, dm), "recv": recv}


def until_hard(lt, now, est):
    local = min(lt["hard"]["wall_ms"] - now["wall_ms"], lt["hard"]["mono_ms"] - now["mono_ms"])
    if lt["exp"] is not None and est["high"] is not None:
        local = min(local, lt["exp"] - lt["margin"] - (now["wall_ms"] + est["high"]))
    return local


def until_valid(lt, now, est):
    if lt["nb"] is None:
        return 0
    low = est["low"] if est["low"] is not None else est["offset"]
    return lt["nb"] - (now["wall_ms"] + low)


def passed(deadline, now):
    return now["wall_ms"] >= deadline["wall_ms"] or now["mono_ms"] >= deadline["mono_ms"]


def remaining(deadline, now):
    return min(deadline["wall_ms"] - now["wall_ms"], deadline["mono_ms"] - now["mono_ms"])


def state(lt, now, est):
    if until_hard(lt, now, est) <= 0:
        return "expired"
    wait = until_valid(lt, now, est)
    if 0 < wait <= MAX_WAIT:
        return ("not_yet_valid", wait)
    return "stale" if passed(lt["refresh"], now) else "fresh"


def next_change(lt, now, est):
    hard = until_hard(lt, now, est)
    if hard <= 0:
        return None
    wait = until_valid(lt, now, est)
    if 0 < wait <= MAX_WAIT:
        return min(wait, hard)
    refresh = remaining(lt["refresh"], now)
    return min(refresh, hard) if refresh > 0 else hard


def late_refresh(lt):
    """After the issuer re-served a cached token: min(5 s, a tenth of the usable span) before
    hard expiry (never earlier than the normal refresh time)."""
    span = max(0, remaining(lt["hard"], lt["recv"]))
    lead = min(5_000, span // 10)
    late = adv(lt["hard"], -lead)
    return R(max(late["wall_ms"], lt["refresh"]["wall_ms"]),
             max(late["mono_ms"], lt["refresh"]["mono_ms"]))


# ---------------------------------------------------------------------------------------------
# Transcript builder
# ---------------------------------------------------------------------------------------------

class T:
    def __init__(self, cid, comment, cfg, flags=None):
        self.id, self.comment, self.cfg, self.flags = cid, comment, cfg, flags or []
        self.steps = []

    def _step(self, at, call, expect, **args):
        s = {"at": at, "call": call}
        s.update(args)
        s["expect"] = expect
        self.steps.append(s)

    def authorize(self, at, kind, **e):
        e = {"kind": kind, **e}
        self._step(at, "authorize", e)

    def complete(self, at, ticket, sent, body_text, expect, status=200, headers=None):
        self._step(at, "complete_refresh", expect, ticket=ticket, status=status,
                   headers=JSON_HEADERS if headers is None else headers, body=body_text, sent=sent)

    def fail(self, at, ticket, failure, expect):
        self._step(at, "fail_refresh", expect, ticket=ticket, failure=failure)

    def respond(self, at, token, status, sent, expect, headers=None):
        self._step(at, "on_response", expect, token=token, status=status,
                   headers=headers or [], sent=sent)

    def next_timeout(self, at, when):
        self._step(at, "next_timeout", {"at": when})

    def next_timeout_range(self, at, lo, hi):
        """next_timeout's wall time within [lo, hi] (a jittered backoff end)."""
        self._step(at, "next_timeout", {"at_wall_ms_range": [lo, hi]})

    def stats(self, at, **e):
        self._step(at, "stats", e)

    def done(self, **expected):
        c = {"id": self.id, "comment": self.comment}
        if self.flags:
            c["flags"] = self.flags
        c["input"] = {"config": self.cfg, "steps": self.steps}
        c["expected"] = expected
        return c


def cc_request(scope="api.read"):
    return {"grant_type": "client_credentials",
            "form_subset": {"grant_type": "client_credentials", "scope": scope},
            "form_absent": ["refresh_token", "client_secret"], "authorization": BASIC_HEADER}


def standard_first_token(t, name="k1", start=T0, rtt=200, issuer=None, date=False,
                         refresh_token=None, nbf=True, iat=True, expires_in=100, exp_s=100,
                         server_offset=0, ticket="t1", resource=None, request=None, extra_claims=None):
    """Steps: authorize -> refresh(initial), complete -> token `name`. Returns (lifetime,
    access token). The issuer answers at the midpoint of the exchange; its clock reads
    true time + server_offset."""
    sent, recv = L(start), L(start + rtt)
    server = start + rtt // 2 + server_offset
    i = floor_s(server)
    tok = jwt(name, iat=i if iat else None, nbf=i if nbf else None, exp=i + exp_s * 1000)
    t.authorize(sent, "refresh", ticket=ticket, reason="initial",
                **({"request": request} if request else {}))
    headers = with_date(JSON_HEADERS, server) if date else JSON_HEADERS
    t.complete(recv, ticket, sent, body(tok, expires_in, refresh_token), {"token": name},
               headers=headers)
    issuer = Est() if issuer is None else issuer
    if date:
        issuer.date(floor_s(server), sent, recv)
    if iat:
        issuer.iat(i, recv)
    est = judge(issuer, Est() if resource is None else resource, recv)
    lt = lifetime(sent, recv, expires_in * 1000, est, exp=i + exp_s * 1000,
                  nbf=i if nbf else None, iat=i if iat else None)
    return lt, tok


CASES = {"basic": [], "errors": [], "skew": []}


def add(file, case):
    CASES[file].append(case)


# =============================================================================================
# basic.json
# =============================================================================================

def basic_cases():
    # --- first use -------------------------------------------------------------------------
    t = T("session-basic-first-use",
          "A new session has no token: the first caller gets the single ticket (reason initial) "
          "with a client_credentials request (Basic auth per RFC 6749 §2.3.1); a second caller "
          "waits for the refresh in flight until the ticket would time out (60 s after issue); "
          "then the token is handed out and next_timeout is its refresh time.",
          config())
    t.next_timeout(L(T0 - 1), None)
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial", request=cc_request())
    t.authorize(L(T0 + 50), "wait", wait_reason="refresh_in_flight", until=L(T0 + 60_000))
    t.next_timeout(L(T0 + 60), L(T0 + 60_000))
    iss = Est()
    tok = jwt("k1", iat=T0, nbf=T0, exp=T0 + 100_000)
    t.complete(L(T0 + 200), "t1", L(T0), body(tok, 100), {"token": "k1"})
    iss.iat(T0, L(T0 + 200))
    lt = lifetime(L(T0), L(T0 + 200), 100_000, iss.at(L(T0 + 200)), exp=T0 + 100_000, nbf=T0,
                  iat=T0)
    # expires_in 100 s from sent: deadline T0+100 s, margin 10 s, hard T0+90 s,
    # refresh at recv + 0.8 * (90 000 - 200).
    assert lt["hard"] == L(T0 + 90_000) and lt["refresh"] == L(T0 + 72_040)
    t.next_timeout(L(T0 + 200), L(T0 + 72_040))
    t.authorize(L(T0 + 250), "ready", token="k1")
    t.authorize(L(T0 + 72_039), "ready", token="k1")
    t.stats(L(T0 + 72_039), token_requests=1, refreshes=1, failures=0)
    add("basic", t.done(stats={"token_requests": 1, "refreshes": 1, "failures": 0,
                               "unauthorized": 0, "abandoned_tickets": 0}))

    # --- stale with concurrent callers -----------------------------------------------------
    t = T("session-basic-stale-single-flight",
          "At the refresh time the first caller gets ready_and_refresh (the stale token plus the "
          "one ticket); callers after it get the stale token with no ticket; after the refresh "
          "everyone gets the new token; a late 200 on the old token is simply accepted.",
          config())
    lt1, _ = standard_first_token(t)
    t.authorize(L(T0 + 72_040), "ready_and_refresh", token="k1", ticket="t2", reason="stale",
                request=cc_request())
    t.authorize(L(T0 + 72_041), "ready", token="k1")
    t.authorize(L(T0 + 72_100), "ready", token="k1")
    t.next_timeout(L(T0 + 72_100), L(T0 + 72_040 + 60_000))
    tok2 = jwt("k2", iat=T0 + 72_000, nbf=T0 + 72_000, exp=T0 + 172_000)
    t.complete(L(T0 + 72_300), "t2", L(T0 + 72_040), body(tok2), {"token": "k2"})
    t.authorize(L(T0 + 72_301), "ready", token="k2")
    t.authorize(L(T0 + 72_302), "ready", token="k2")
    lt2 = lifetime(L(T0 + 72_040), L(T0 + 72_300), 100_000, {"offset": 0, "low": -200, "high": None},
                   exp=T0 + 172_000)
    assert lt2["refresh"] == L(T0 + 72_300 + 71_792)
    t.next_timeout(L(T0 + 72_302), lt2["refresh"])
    t.respond(L(T0 + 72_400), "k1", 200, L(T0 + 72_350), {"verdict": "accept"})
    t.authorize(L(T0 + 72_401), "ready", token="k2")
    add("basic", t.done(stats={"token_requests": 2, "refreshes": 2, "failures": 0,
                               "unauthorized": 0}))

    # --- hard expiry with waiters ----------------------------------------------------------
    t = T("session-basic-hard-expiry-waiters",
          "No caller during the stale window; at hard expiry (deadline - margin, exactly) the "
          "token is never handed out: the first caller gets refresh(reason expired), others "
          "wait for the refresh in flight, and get the new token after completion.",
          config())
    standard_first_token(t)
    t.next_timeout(L(T0 + 89_000), L(T0 + 90_000))
    t.authorize(L(T0 + 90_000), "refresh", ticket="t2", reason="expired", request=cc_request())
    t.authorize(L(T0 + 90_010), "wait", wait_reason="refresh_in_flight", until=L(T0 + 150_000))
    t.authorize(L(T0 + 90_300), "wait", wait_reason="refresh_in_flight", until=L(T0 + 150_000))
    tok2 = jwt("k2", iat=T0 + 90_000, nbf=T0 + 90_000, exp=T0 + 190_000)
    t.complete(L(T0 + 90_400), "t2", L(T0 + 90_000), body(tok2), {"token": "k2"})
    t.authorize(L(T0 + 90_401), "ready", token="k2")
    t.authorize(L(T0 + 90_402), "ready", token="k2")
    add("basic", t.done(stats={"token_requests": 2, "refreshes": 2}))

    # --- refresh-token rotation ------------------------------------------------------------
    t = T("session-basic-refresh-token-rotation",
          "A refresh-token session (client_secret_post): a rotated refresh token replaces the "
          "old one in the next request; a response without one keeps the old one (RFC 6749 §6).",
          config(grant={"type": "refresh_token", "refresh_token": "rt-0"}, auth=POST))

    def rt_request(rt):
        return {"grant_type": "refresh_token",
                "form_subset": {"grant_type": "refresh_token", "refresh_token": rt,
                                "client_id": "app", "client_secret": "s3cret"},
                "form_absent": ["scope", "code"], "authorization": None}

    standard_first_token(t, refresh_token="rt-1", request=rt_request("rt-0"))
    t.authorize(L(T0 + 72_040), "ready_and_refresh", token="k1", ticket="t2", reason="stale",
                request=rt_request("rt-1"))
    tok2 = jwt("k2", iat=T0 + 72_000, nbf=T0 + 72_000, exp=T0 + 172_000)
    t.complete(L(T0 + 72_300), "t2", L(T0 + 72_040), body(tok2), {"token": "k2"})
    r2 = 72_300 + 71_792  # as in session-basic-stale-single-flight
    t.authorize(L(T0 + r2 - 1), "ready", token="k2")
    t.authorize(L(T0 + r2), "ready_and_refresh", token="k2", ticket="t3", reason="stale",
                request=rt_request("rt-1"))
    tok3 = jwt("k3", iat=floor_s(T0 + r2 + 100), exp=floor_s(T0 + r2 + 100) + 100_000)
    t.complete(L(T0 + r2 + 200), "t3", L(T0 + r2), body(tok3, refresh_token="rt-2"),
               {"token": "k3"})
    r3 = r2 + 200 + floor(89_800 * 0.8)
    t.authorize(L(T0 + r3), "ready_and_refresh", token="k3", ticket="t4", reason="stale",
                request=rt_request("rt-2"))
    add("basic", t.done(stats={"token_requests": 4, "refreshes": 3}))

    # --- authorization code + PKCE ---------------------------------------------------------
    t = T("session-basic-authorization-code",
          "Authorization code with PKCE for a public client: the code is exchanged once; the "
          "next refresh uses the refresh token it returned. When that refresh token is refused "
          "(invalid_grant) there is nothing to fall back to (the code is spent): "
          "reauthorization_required; the still-valid token is served until hard expiry, then "
          "callers fail.",
          config(grant=AUTH_CODE, auth=PUBLIC))
    standard_first_token(t, refresh_token="rt-1", request={
        "grant_type": "authorization_code",
        "form_subset": {"grant_type": "authorization_code", "code": "code-123",
                        "redirect_uri": "https://app.example/cb", "code_verifier": VERIFIER,
                        "client_id": "app"},
        "form_absent": ["client_secret", "refresh_token"], "authorization": None})
    t.authorize(L(T0 + 72_040), "ready_and_refresh", token="k1", ticket="t2", reason="stale",
                request={"grant_type": "refresh_token",
                         "form_subset": {"refresh_token": "rt-1", "client_id": "app"},
                         "form_absent": ["code", "code_verifier", "redirect_uri"],
                         "authorization": None})
    t.complete(L(T0 + 72_300), "t2", L(T0 + 72_040),
               json.dumps({"error": "invalid_grant", "error_description": "refresh token revoked"}),
               {"error": "reauthorization_required"}, status=400)
    t.authorize(L(T0 + 72_400), "ready", token="k1")
    t.authorize(L(T0 + 89_999), "ready", token="k1")
    t.authorize(L(T0 + 90_000), "failed", error="reauthorization_required")
    t.authorize(L(T0 + 95_000), "failed", error="reauthorization_required")
    add("basic", t.done(stats={"token_requests": 2, "refreshes": 1, "failures": 1}))

    t = T("session-basic-authorization-code-no-refresh-token",
          "The code exchange returned no refresh token: at the refresh time there is nothing to "
          "refresh with, so the stale token is served without a ticket until hard expiry, then "
          "reauthorization_required.",
          config(grant=AUTH_CODE, auth=PUBLIC))
    standard_first_token(t)
    t.authorize(L(T0 + 72_040), "ready", token="k1")
    t.authorize(L(T0 + 89_999), "ready", token="k1")
    t.authorize(L(T0 + 90_000), "failed", error="reauthorization_required")
    add("basic", t.done(stats={"token_requests": 1, "refreshes": 1}))

    # --- ticket timeout --------------------------------------------------------------------
    t = T("session-basic-ticket-timeout",
          "The ticket holder never comes back: after ticket_timeout_ms (30 s here) the ticket is "
          "abandoned and the next caller gets a new one; the late answer to the abandoned ticket "
          "is rejected (stale_ticket), never applied.",
          config(ticket_timeout_ms=30_000))
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.authorize(L(T0 + 29_999), "wait", wait_reason="refresh_in_flight", until=L(T0 + 30_000))
    t.next_timeout(L(T0 + 29_999), L(T0 + 30_000))
    t.authorize(L(T0 + 30_000), "refresh", ticket="t2", reason="initial")
    late = jwt("k-late", iat=T0, nbf=T0, exp=T0 + 100_000)
    t.complete(L(T0 + 30_100), "t1", L(T0), body(late), {"error": "stale_ticket"})
    t.authorize(L(T0 + 30_150), "wait", wait_reason="refresh_in_flight", until=L(T0 + 60_000))
    tok = jwt("k1", iat=T0 + 30_000, nbf=T0 + 30_000, exp=T0 + 130_000)
    t.complete(L(T0 + 30_200), "t2", L(T0 + 30_000), body(tok), {"token": "k1"})
    t.fail(L(T0 + 30_300), "t1", "connect", {"error": "stale_ticket"})
    t.authorize(L(T0 + 30_301), "ready", token="k1")
    add("basic", t.done(stats={"token_requests": 2, "refreshes": 1, "abandoned_tickets": 1,
                               "failures": 0}))

    t = T("session-basic-ticket-timeout-stale-token",
          "A stale token's refresh is abandoned after ticket_timeout_ms (10 s): the next caller "
          "gets the stale token and the new ticket; the abandoned one is stale_ticket.",
          config(ticket_timeout_ms=10_000))
    standard_first_token(t)
    t.authorize(L(T0 + 72_040), "ready_and_refresh", token="k1", ticket="t2", reason="stale")
    t.authorize(L(T0 + 82_039), "ready", token="k1")
    t.next_timeout(L(T0 + 82_039), L(T0 + 82_040))
    t.authorize(L(T0 + 82_040), "ready_and_refresh", token="k1", ticket="t3", reason="stale")
    t.authorize(L(T0 + 82_041), "ready", token="k1")
    tok2 = jwt("k2", iat=T0 + 82_000, nbf=T0 + 82_000, exp=T0 + 182_000)
    t.complete(L(T0 + 82_100), "t2", L(T0 + 72_040), body(tok2), {"error": "stale_ticket"})
    t.complete(L(T0 + 82_240), "t3", L(T0 + 82_040), body(tok2), {"token": "k2"})
    t.authorize(L(T0 + 82_241), "ready", token="k2")
    add("basic", t.done(stats={"token_requests": 3, "refreshes": 2, "abandoned_tickets": 1}))

    # --- stale and foreign tickets ---------------------------------------------------------
    t = T("session-basic-stale-and-foreign-tickets",
          "A ticket this session never issued (unbound name = foreign), a ticket closed twice, "
          "and fail_refresh after completion are all stale_ticket; a foreign attempt does not "
          "disturb the outstanding ticket.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    tok = jwt("k1", iat=T0, nbf=T0, exp=T0 + 100_000)
    t.complete(L(T0 + 100), "foreign-1", L(T0), body(tok), {"error": "stale_ticket"})
    t.authorize(L(T0 + 110), "wait", wait_reason="refresh_in_flight", until=L(T0 + 60_000))
    t.fail(L(T0 + 120), "foreign-2", "timeout", {"error": "stale_ticket"})
    t.authorize(L(T0 + 130), "wait", wait_reason="refresh_in_flight", until=L(T0 + 60_000))
    t.complete(L(T0 + 200), "t1", L(T0), body(tok), {"token": "k1"})
    t.complete(L(T0 + 210), "t1", L(T0), body(jwt("k-again", iat=T0, exp=T0 + 100_000)),
               {"error": "stale_ticket"})
    t.fail(L(T0 + 220), "t1", "connect", {"error": "stale_ticket"})
    t.authorize(L(T0 + 230), "ready", token="k1")
    add("basic", t.done(stats={"token_requests": 1, "refreshes": 1, "failures": 0}))

    # --- configuration errors --------------------------------------------------------------
    for cid, comment, cfg, code in [
        ("session-config-ticket-timeout-zero", "ticket_timeout_ms must be positive",
         config(ticket_timeout_ms=0), "invalid_config"),
        ("session-config-max-401-wait-negative", "max_401_wait_ms must not be negative",
         config(max_401_wait_ms=-1), "invalid_config"),
        ("session-config-backoff-cap-below-base", "backoff cap below its base",
         config(backoff={"base_ms": 2_000, "cap_ms": 1_000}), "invalid_config"),
        ("session-config-refresh-window-inverted", "refresh window low > high",
         config(policy={"refresh_at": {"fraction": [0.9, 0.8]}}), "invalid_policy"),
    ]:
        add("basic", {"id": cid, "comment": comment, "flags": ["config"],
                      "input": {"config": cfg, "steps": []}, "expected": {"error": code}})


# =============================================================================================
# errors.json
# =============================================================================================

def errors_cases():
    # --- configuration errors: fail fast, retried after config_retry_ms ----------------------
    t = T("session-errors-invalid-client-config-retry",
          "invalid_client (401 after Basic auth) needs a configuration fix: the error carries the "
          "retry time (received + config_retry_ms, 5 min, not jittered) and no ticket is issued "
          "before it; the still-valid token keeps being served (stale, without a ticket) until "
          "hard expiry, then callers fail at once with invalid_client; next_timeout is the end "
          "of the wait; then one caller gets a ticket (reason expired) and the fixed server's "
          "token is served.",
          config())
    standard_first_token(t)
    t.authorize(L(T0 + 72_040), "ready_and_refresh", token="k1", ticket="t2", reason="stale")
    retry = T0 + 72_300 + CONFIG_RETRY
    t.complete(L(T0 + 72_300), "t2", L(T0 + 72_040),
               json.dumps({"error": "invalid_client", "error_description": "bad secret"}),
               {"error": "invalid_client", "retry_at_wall_ms": retry}, status=401,
               headers=JSON_HEADERS + [["WWW-Authenticate", "Basic realm=\"issuer\""]])
    t.authorize(L(T0 + 72_400), "ready", token="k1")
    t.authorize(L(T0 + 89_999), "ready", token="k1")
    t.next_timeout(L(T0 + 89_999), L(T0 + 90_000))
    t.authorize(L(T0 + 90_000), "failed", error="invalid_client", retry_at_wall_ms=retry)
    t.authorize(L(T0 + 200_000), "failed", error="invalid_client", retry_at_wall_ms=retry)
    t.next_timeout(L(T0 + 200_000), L(retry))
    t.authorize(L(retry - 1), "failed", error="invalid_client")
    t.authorize(L(retry), "refresh", ticket="t3", reason="expired", request=cc_request())
    t.authorize(L(retry + 10), "wait", wait_reason="refresh_in_flight", until=L(retry + 60_000))
    tok2 = jwt("k2", iat=floor_s(retry + 100), nbf=floor_s(retry + 100), exp=floor_s(retry + 100) + 100_000)
    t.complete(L(retry + 200), "t3", L(retry), body(tok2), {"token": "k2"})
    t.authorize(L(retry + 201), "ready", token="k2")
    add("errors", t.done(stats={"token_requests": 3, "refreshes": 2, "failures": 1}))

    t = T("session-errors-unauthorized-client-initial",
          "unauthorized_client on the first request: every caller fails at once with it and its "
          "retry time, even within max_wait (2 s) of the end of the wait (a configuration error "
          "is not waited out); after config_retry_ms (5 min) one caller gets a ticket (reason "
          "retry); the server now answers with a token.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    retry = T0 + 200 + CONFIG_RETRY
    t.complete(L(T0 + 200), "t1", L(T0), json.dumps({"error": "unauthorized_client"}),
               {"error": "unauthorized_client", "retry_at_wall_ms": retry}, status=400)
    t.authorize(L(T0 + 300), "failed", error="unauthorized_client", retry_at_wall_ms=retry)
    t.next_timeout(L(T0 + 300), L(retry))
    t.authorize(L(retry - 1_000), "failed", error="unauthorized_client", retry_at_wall_ms=retry)
    t.authorize(L(retry), "refresh", ticket="t2", reason="retry")
    tok = jwt("k1", iat=floor_s(retry + 100), nbf=floor_s(retry + 100), exp=floor_s(retry + 100) + 100_000)
    t.complete(L(retry + 200), "t2", L(retry), body(tok), {"token": "k1"})
    t.authorize(L(retry + 201), "ready", token="k1")
    add("errors", t.done(stats={"token_requests": 2, "refreshes": 1, "failures": 1}))

    t = T("session-errors-config-retry-configured",
          "backoff.config_retry_ms set to 20 s: an invalid_client waits exactly that long (not "
          "jittered, not the 5 min default); a setting below backoff.base_ms or under 1 s is "
          "refused when the session is built.",
          config(backoff={"config_retry_ms": 20_000}))
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    retry = T0 + 200 + 20_000
    t.complete(L(T0 + 200), "t1", L(T0), json.dumps({"error": "invalid_client"}),
               {"error": "invalid_client", "retry_at_wall_ms": retry}, status=401)
    t.next_timeout(L(T0 + 300), L(retry))
    t.authorize(L(retry - 1), "failed", error="invalid_client", retry_at_wall_ms=retry)
    t.authorize(L(retry), "refresh", ticket="t2", reason="retry")
    add("errors", t.done(stats={"token_requests": 2, "refreshes": 0, "failures": 1}))
    for bad in ({"config_retry_ms": 999}, {"config_retry_ms": 500, "base_ms": 1_000},
                {"config_retry_ms": 86_400_001}):
        t = T(f"session-config-invalid-config-retry-{bad['config_retry_ms']}",
              "An out-of-range backoff.config_retry_ms (1 s to 1 day, at least base_ms) is "
              "refused when the session is built (invalid_config).",
              config(backoff=bad))
        add("errors", t.done(error="invalid_config"))

    t = T("session-errors-config-retry-after",
          "A configuration error's Retry-After longer than config_retry_ms (450 s > 300 s) is "
          "honoured; a shorter one (60 s) does not shorten the wait; one over "
          "max_retry_after_ms (10 min) is cut to it. The failures in a row do not grow the "
          "configuration wait (it is not exponential).",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    r1 = T0 + 200 + 450_000
    t.complete(L(T0 + 200), "t1", L(T0), json.dumps({"error": "invalid_client"}),
               {"error": "invalid_client", "retry_at_wall_ms": r1}, status=401,
               headers=JSON_HEADERS + [["Retry-After", "450"]])
    t.authorize(L(r1 - 1), "failed", error="invalid_client", retry_at_wall_ms=r1)
    t.authorize(L(r1), "refresh", ticket="t2", reason="retry")
    r2 = r1 + 200 + CONFIG_RETRY
    t.complete(L(r1 + 200), "t2", L(r1), json.dumps({"error": "invalid_scope"}),
               {"error": "invalid_scope", "retry_at_wall_ms": r2}, status=400,
               headers=JSON_HEADERS + [["Retry-After", "60"]])
    t.authorize(L(r1 + 60_200), "failed", error="invalid_scope", retry_at_wall_ms=r2)
    t.authorize(L(r2), "refresh", ticket="t3", reason="retry")
    r3 = r2 + 200 + MAX_RETRY_AFTER
    t.complete(L(r2 + 200), "t3", L(r2), json.dumps({"error": "invalid_client"}),
               {"error": "invalid_client", "retry_at_wall_ms": r3}, status=401,
               headers=JSON_HEADERS + [["Retry-After", "86400"]])
    t.next_timeout(L(r2 + 300), L(r3))
    t.authorize(L(r3), "refresh", ticket="t4", reason="retry")
    add("errors", t.done(stats={"token_requests": 4, "refreshes": 0, "failures": 3}))

    t = T("session-errors-invalid-grant-client-credentials-config-retry",
          "invalid_grant on the primary client-credentials grant (there is no refresh token to "
          "drop) is a configuration error: fail fast, retried after config_retry_ms; never "
          "reauthorization_required.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial", request=cc_request())
    retry = T0 + 200 + CONFIG_RETRY
    t.complete(L(T0 + 200), "t1", L(T0), json.dumps({"error": "invalid_grant"}),
               {"error": "invalid_grant", "retry_at_wall_ms": retry}, status=400)
    t.authorize(L(T0 + 300), "failed", error="invalid_grant", retry_at_wall_ms=retry)
    t.authorize(L(retry), "refresh", ticket="t2", reason="retry", request=cc_request())
    add("errors", t.done(stats={"token_requests": 2, "refreshes": 0, "failures": 1}))

    t = T("session-errors-config-then-transient",
          "A configuration error then, after its wait, a 503: the 503 is the second failure in "
          "a row, so its full-jitter bound is 2 s; the caller within max_wait of the end waits "
          "(a transient backoff), then a ticket and a token.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    r1 = T0 + 200 + CONFIG_RETRY
    t.complete(L(T0 + 200), "t1", L(T0), json.dumps({"error": "invalid_request"}),
               {"error": "invalid_request", "retry_at_wall_ms": r1}, status=400)
    t.authorize(L(r1), "refresh", ticket="t2", reason="retry")
    t.complete(L(r1 + 200), "t2", L(r1), "", {"error": "http_error",
               "retry_at_wall_ms_range": [r1 + 200, r1 + 2_200]}, status=503, headers=[])
    t.authorize(L(r1 + 2_200), "refresh", ticket="t3", reason="retry")
    tok = jwt("k1", iat=floor_s(r1 + 2_300), nbf=floor_s(r1 + 2_300), exp=floor_s(r1 + 2_300) + 100_000)
    t.complete(L(r1 + 2_400), "t3", L(r1 + 2_200), body(tok), {"token": "k1"})
    t.authorize(L(r1 + 2_401), "ready", token="k1")
    add("errors", t.done(stats={"token_requests": 3, "refreshes": 1, "failures": 2}))

    t = T("session-errors-invalid-grant-fallback",
          "Client credentials primary; the issuer also returned a refresh token, which the next "
          "refresh uses. invalid_grant on it: the refresh token is dropped and the next caller "
          "gets a fallback ticket with the primary grant (no refresh_token in the form).",
          config())
    standard_first_token(t, refresh_token="rt-A")
    t.authorize(L(T0 + 72_040), "ready_and_refresh", token="k1", ticket="t2", reason="stale",
                request={"grant_type": "refresh_token",
                         "form_subset": {"grant_type": "refresh_token", "refresh_token": "rt-A"},
                         "form_absent": ["scope"], "authorization": BASIC_HEADER})
    t.complete(L(T0 + 72_300), "t2", L(T0 + 72_040), json.dumps({"error": "invalid_grant"}),
               {"error": "invalid_grant"}, status=400)
    t.authorize(L(T0 + 72_400), "ready_and_refresh", token="k1", ticket="t3", reason="fallback",
                request=cc_request())
    t.authorize(L(T0 + 72_401), "ready", token="k1")
    tok2 = jwt("k2", iat=T0 + 72_000, nbf=T0 + 72_000, exp=T0 + 172_000)
    t.complete(L(T0 + 72_600), "t3", L(T0 + 72_400), body(tok2), {"token": "k2"})
    t.authorize(L(T0 + 72_601), "ready", token="k2")
    add("errors", t.done(stats={"token_requests": 3, "refreshes": 2, "failures": 1}))

    t = T("session-errors-invalid-grant-refresh-only",
          "A refresh-token-only session: invalid_grant means the user must authorize again "
          "(reauthorization_required); the valid token is served until hard expiry, then callers "
          "fail; no further ticket.",
          config(grant={"type": "refresh_token", "refresh_token": "rt-0"}, auth=POST))
    standard_first_token(t, refresh_token="rt-1")
    t.authorize(L(T0 + 72_040), "ready_and_refresh", token="k1", ticket="t2", reason="stale",
                request={"grant_type": "refresh_token", "form_subset": {"refresh_token": "rt-1"}})
    t.complete(L(T0 + 72_300), "t2", L(T0 + 72_040), json.dumps({"error": "invalid_grant"}),
               {"error": "reauthorization_required"}, status=400)
    t.authorize(L(T0 + 72_301), "ready", token="k1")
    t.authorize(L(T0 + 89_999), "ready", token="k1")
    t.authorize(L(T0 + 90_000), "failed", error="reauthorization_required")
    t.authorize(L(T0 + 95_000), "failed", error="reauthorization_required")
    add("errors", t.done(stats={"token_requests": 2, "refreshes": 1, "failures": 1}))

    # --- transient errors: full jitter, doubling bound, reset after success ------------------
    t = T("session-errors-transient-backoff-with-valid-token",
          "500 (an HTML page), 503 temporarily_unavailable and a connect failure in a row: each "
          "backs off with full jitter in [0, 1 s], [0, 2 s], [0, 4 s]; once the bound has passed "
          "the stale token's next caller gets a new ticket; a success resets the count (the next "
          "failure is back to [0, 1 s]).",
          config())
    standard_first_token(t)
    t.authorize(L(T0 + 72_040), "ready_and_refresh", token="k1", ticket="t2", reason="stale")
    t.complete(L(T0 + 72_300), "t2", L(T0 + 72_040), "<html><body>Bad gateway</body></html>",
               {"error": "http_error", "retry_at_wall_ms_range": [T0 + 72_300, T0 + 73_300]},
               status=500, headers=[["Content-Type", "text/html"]])
    t.authorize(L(T0 + 73_300), "ready_and_refresh", token="k1", ticket="t3", reason="stale")
    t.complete(L(T0 + 73_500), "t3", L(T0 + 73_300),
               json.dumps({"error": "temporarily_unavailable"}),
               {"error": "temporarily_unavailable",
                "retry_at_wall_ms_range": [T0 + 73_500, T0 + 75_500]}, status=503)
    t.authorize(L(T0 + 75_500), "ready_and_refresh", token="k1", ticket="t4", reason="stale")
    t.fail(L(T0 + 75_600), "t4", "connect",
           {"error": "transport_error", "retry_at_wall_ms_range": [T0 + 75_600, T0 + 79_600]})
    t.authorize(L(T0 + 79_600), "ready_and_refresh", token="k1", ticket="t5", reason="stale")
    tok2 = jwt("k2", iat=T0 + 79_000, nbf=T0 + 79_000, exp=T0 + 179_000)
    t.complete(L(T0 + 79_800), "t5", L(T0 + 79_600), body(tok2), {"token": "k2"})
    t.authorize(L(T0 + 79_801), "ready", token="k2")
    r2 = 79_800 + 71_840
    t.authorize(L(T0 + r2), "ready_and_refresh", token="k2", ticket="t6", reason="stale")
    t.complete(L(T0 + r2 + 200), "t6", L(T0 + r2), "", {
        "error": "http_error", "retry_at_wall_ms_range": [T0 + r2 + 200, T0 + r2 + 1_200]},
        status=502, headers=[])
    t.authorize(L(T0 + r2 + 1_200), "ready_and_refresh", token="k2", ticket="t7", reason="stale")
    add("errors", t.done(stats={"token_requests": 7, "refreshes": 2, "failures": 4}))

    t = T("session-errors-transport-backoff-cap",
          "No token yet, transport failures in a row with backoff base 1 s, cap 3 s: bounds "
          "1 s, 2 s, 3 s (capped), 3 s; the attempt after a backoff is a ticket with reason "
          "retry.",
          config(backoff={"base_ms": 1_000, "cap_ms": 3_000}))
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.fail(L(T0 + 100), "t1", "connect",
           {"error": "transport_error", "retry_at_wall_ms_range": [T0 + 100, T0 + 1_100]})
    t.authorize(L(T0 + 1_100), "refresh", ticket="t2", reason="retry")
    t.fail(L(T0 + 1_200), "t2", "timeout",
           {"error": "transport_error", "retry_at_wall_ms_range": [T0 + 1_200, T0 + 3_200]})
    t.authorize(L(T0 + 3_200), "refresh", ticket="t3", reason="retry")
    t.fail(L(T0 + 3_300), "t3", "connect",
           {"error": "transport_error", "retry_at_wall_ms_range": [T0 + 3_300, T0 + 6_300]})
    t.authorize(L(T0 + 6_300), "refresh", ticket="t4", reason="retry")
    t.fail(L(T0 + 6_400), "t4", "timeout",
           {"error": "transport_error", "retry_at_wall_ms_range": [T0 + 6_400, T0 + 9_400]})
    t.authorize(L(T0 + 9_400), "refresh", ticket="t5", reason="retry")
    tok = jwt("k1", iat=T0 + 9_000, nbf=T0 + 9_000, exp=T0 + 109_000)
    t.complete(L(T0 + 9_600), "t5", L(T0 + 9_400), body(tok), {"token": "k1"})
    t.authorize(L(T0 + 9_601), "ready", token="k1")
    add("errors", t.done(stats={"token_requests": 5, "refreshes": 1, "failures": 4}))

    t = T("session-errors-retry-after-seconds",
          "429 with Retry-After: 30 and no token: nothing before 30 s after receipt (the jitter "
          "bound, 1 s, is below it, so the retry time is exact). Callers fail fast while the "
          "backoff ends more than max_wait (2 s) away, then wait for its end, then get a ticket.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.complete(L(T0 + 200), "t1", L(T0), "", {"error": "http_error",
                                              "retry_at_wall_ms": T0 + 30_200},
               status=429, headers=[["Retry-After", "30"]])
    t.authorize(L(T0 + 300), "failed", error="http_error", retry_at_wall_ms=T0 + 30_200)
    t.next_timeout(L(T0 + 300), L(T0 + 30_200))
    t.authorize(L(T0 + 28_199), "failed", error="http_error")
    t.authorize(L(T0 + 28_200), "wait", wait_reason="backoff", until=L(T0 + 30_200))
    t.authorize(L(T0 + 30_199), "wait", wait_reason="backoff", until=L(T0 + 30_200))
    t.authorize(L(T0 + 30_200), "refresh", ticket="t2", reason="retry")
    tok = jwt("k1", iat=T0 + 30_000, nbf=T0 + 30_000, exp=T0 + 130_000)
    t.complete(L(T0 + 30_400), "t2", L(T0 + 30_200), body(tok), {"token": "k1"})
    t.authorize(L(T0 + 30_401), "ready", token="k1")
    add("errors", t.done(stats={"token_requests": 2, "refreshes": 1, "failures": 1}))

    # Retry-After as an HTTP-date on a skewed issuer ---------------------------------------
    t = T("session-errors-retry-after-http-date-skewed-issuer",
          "The issuer's clock is 30 s ahead (its Date headers say so). A 503 carries "
          "Retry-After as an HTTP-date 10 s after its own Date: the session waits until the "
          "issuer's clock has surely reached it (date - lowest offset), about 10 s, not 40 s. "
          "During the backoff the stale token is served without a ticket.",
          config())
    iss = Est()
    lt1, _ = standard_first_token(t, issuer=iss, date=True, server_offset=30_000)
    # Date T0+30 s, iat T0+30 s: offset in [29 800, 31 000]; exp = T0+130 s; exp - high =
    # T0+99 s (before sent + expires_in): lifetime 99 s, margin 9.9 s, hard T0+89.1 s.
    assert lt1["hard"] == L(T0 + 89_100) and lt1["refresh"] == L(T0 + 71_320)
    t.authorize(L(T0 + 71_320), "ready_and_refresh", token="k1", ticket="t2", reason="stale")
    sent, recv = L(T0 + 71_320), L(T0 + 71_520)
    d = floor_s(T0 + 71_420 + 30_000)
    iss.date(d, sent, recv)
    low = iss.at(recv)["low"]
    ra = d + 10_000
    retry_at = recv["wall_ms"] + max(1_000, ra - (recv["wall_ms"] + low))
    assert retry_at == T0 + 81_215, retry_at
    t.complete(recv, "t2", sent, json.dumps({"error": "temporarily_unavailable"}),
               {"error": "temporarily_unavailable", "retry_at_wall_ms": retry_at}, status=503,
               headers=with_date(JSON_HEADERS, T0 + 71_420 + 30_000) + [["Retry-After", http_date(ra)]])
    t.authorize(L(T0 + 71_600), "ready", token="k1")
    t.authorize(L(retry_at - 1), "ready", token="k1")
    t.next_timeout(L(retry_at - 1), L(retry_at))
    t.authorize(L(retry_at), "ready_and_refresh", token="k1", ticket="t3", reason="stale")
    add("errors", t.done(stats={"token_requests": 3, "refreshes": 1, "failures": 1}))

    t = T("session-errors-retry-after-capped",
          "Retry-After: 86400 is cut to backoff.max_retry_after_ms (120 s here).",
          config(backoff={"max_retry_after_ms": 120_000}))
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.complete(L(T0 + 200), "t1", L(T0), json.dumps({"error": "server_error"}),
               {"error": "server_error", "retry_at_wall_ms": T0 + 120_200}, status=503,
               headers=JSON_HEADERS + [["Retry-After", "86400"]])
    t.authorize(L(T0 + 120_199), "wait", wait_reason="backoff", until=L(T0 + 120_200))
    t.authorize(L(T0 + 120_200), "refresh", ticket="t2", reason="retry")
    add("errors", t.done(stats={"token_requests": 2, "failures": 1}))

    t = T("session-errors-retry-after-unreadable",
          "An unreadable Retry-After is ignored: plain full jitter in [0, 1 s].",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.complete(L(T0 + 200), "t1", L(T0), "", {"error": "http_error",
                                              "retry_at_wall_ms_range": [T0 + 200, T0 + 1_200]},
               status=503, headers=[["Retry-After", "soon"]])
    t.authorize(L(T0 + 1_200), "refresh", ticket="t2", reason="retry")
    add("errors", t.done(stats={"token_requests": 2, "failures": 1}))

    t = T("session-errors-aborted",
          "An aborted refresh (the caller's AbortSignal) closes the ticket without backoff: the "
          "next caller gets a ticket at once.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.fail(L(T0 + 50), "t1", "aborted", {"error": "transport_error", "retry_at_wall_ms": None})
    t.authorize(L(T0 + 50), "refresh", ticket="t2", reason="initial")
    tok = jwt("k1", iat=T0, nbf=T0, exp=T0 + 100_000)
    t.complete(L(T0 + 250), "t2", L(T0 + 50), body(tok), {"token": "k1"})
    t.authorize(L(T0 + 251), "ready", token="k1")
    add("errors", t.done(stats={"token_requests": 2, "refreshes": 1}))

    t = T("session-errors-expired-on-arrival",
          "expires_in 1 s over a 1.5 s exchange: the token is past hard expiry when it arrives "
          "(deadline sent + 1 s, margin 0.1 s): a transient failure with backoff, not a token.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.complete(L(T0 + 1_500), "t1", L(T0), body(jwt("k0", iat=T0, exp=T0 + 1_000), 1),
               {"error": "expired_on_arrival"})
    # The backoff (first failure: [0, 1 s]) shows in next_timeout.
    t.next_timeout_range(L(T0 + 1_500), T0 + 1_500, T0 + 2_500)
    t.authorize(L(T0 + 2_500), "refresh", ticket="t2", reason="retry")
    tok = jwt("k1", iat=T0 + 2_000, nbf=T0 + 2_000, exp=T0 + 102_000)
    t.complete(L(T0 + 2_700), "t2", L(T0 + 2_500), body(tok), {"token": "k1"})
    t.authorize(L(T0 + 2_701), "ready", token="k1")
    add("errors", t.done(stats={"token_requests": 2, "refreshes": 1, "failures": 1}))

    t = T("session-errors-expired-on-arrival-retry-at",
          "expired_on_arrival is transient and imposes a backoff like every other transient "
          "failure, so the error carries the time of the next attempt (retry_at) as they do.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.complete(L(T0 + 1_500), "t1", L(T0), body(jwt("k0", iat=T0, exp=T0 + 1_000), 1),
               {"error": "expired_on_arrival",
                "retry_at_wall_ms_range": [T0 + 1_500, T0 + 2_500]})
    add("errors", t.done())

    t = T("session-errors-html-on-200-transient",
          "A 200 whose body is a proxy's HTML page (invalid_json) is transient: backoff, then a "
          "new ticket.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.complete(L(T0 + 200), "t1", L(T0), "<html>captive portal</html>",
               {"error": "invalid_json", "retry_at_wall_ms_range": [T0 + 200, T0 + 1_200]},
               headers=[["Content-Type", "text/html"]])
    t.authorize(L(T0 + 1_200), "refresh", ticket="t2", reason="retry")
    add("errors", t.done(stats={"token_requests": 2, "failures": 1}))

    t = T("session-errors-missing-access-token-transient",
          "A 200 whose JSON has no access_token (a half-deployed or misrouted issuer) is "
          "transient like a 5xx: full-jitter backoff in [0, 1 s], then a new ticket, and the "
          "token once the server answers properly.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.complete(L(T0 + 200), "t1", L(T0), json.dumps({"token_type": "Bearer", "expires_in": 60}),
               {"error": "missing_access_token", "retry_at_wall_ms_range": [T0 + 200, T0 + 1_200]})
    t.authorize(L(T0 + 1_200), "refresh", ticket="t2", reason="retry")
    tok = jwt("k1", iat=T0 + 1_000, nbf=T0 + 1_000, exp=T0 + 101_000)
    t.complete(L(T0 + 1_400), "t2", L(T0 + 1_200), body(tok), {"token": "k1"})
    t.authorize(L(T0 + 1_401), "ready", token="k1")
    add("errors", t.done(stats={"token_requests": 2, "refreshes": 1, "failures": 1}))

    t = T("session-errors-dpop-token-type-transient",
          "A 200 with token_type DPoP (unsupported_token_type: a DPoP-bound token is useless as "
          "a bearer token) while a valid token is held: transient, the stale token is served "
          "during the backoff ([0, 1 s]), then a new ticket; the server's bearer token is served.",
          config())
    standard_first_token(t)
    t.authorize(L(T0 + 72_040), "ready_and_refresh", token="k1", ticket="t2", reason="stale")
    dpop = json.dumps({"access_token": "dpop-bound", "token_type": "DPoP", "expires_in": 100})
    t.complete(L(T0 + 72_300), "t2", L(T0 + 72_040), dpop,
               {"error": "unsupported_token_type",
                "retry_at_wall_ms_range": [T0 + 72_300, T0 + 73_300]})
    t.authorize(L(T0 + 72_301), "ready", token="k1")
    t.authorize(L(T0 + 73_300), "ready_and_refresh", token="k1", ticket="t3", reason="stale")
    tok2 = jwt("k2", iat=T0 + 73_000, nbf=T0 + 73_000, exp=T0 + 173_000)
    t.complete(L(T0 + 73_500), "t3", L(T0 + 73_300), body(tok2), {"token": "k2"})
    t.authorize(L(T0 + 73_501), "ready", token="k2")
    add("errors", t.done(stats={"token_requests": 3, "refreshes": 2, "failures": 1}))

    t = T("session-errors-html-403-transient",
          "A WAF's HTML 403 page in front of the token endpoint, once: not the authorization "
          "server's word (no OAuth error), so transient: full-jitter backoff in [0, 1 s]; "
          "callers within max_wait of its end wait for it; then the next caller gets a ticket "
          "and the token.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.complete(L(T0 + 200), "t1", L(T0),
               "<!DOCTYPE html><html><body><h1>403 Forbidden</h1>Request blocked.</body></html>",
               {"error": "http_error", "retry_at_wall_ms_range": [T0 + 200, T0 + 1_200]},
               status=403, headers=[["Content-Type", "text/html; charset=utf-8"]])
    t.next_timeout_range(L(T0 + 200), T0 + 200, T0 + 1_200)
    t.authorize(L(T0 + 1_200), "refresh", ticket="t2", reason="retry")
    tok = jwt("k1", iat=T0 + 1_000, nbf=T0 + 1_000, exp=T0 + 101_000)
    t.complete(L(T0 + 1_400), "t2", L(T0 + 1_200), body(tok), {"token": "k1"})
    t.authorize(L(T0 + 1_401), "ready", token="k1")
    add("errors", t.done(stats={"token_requests": 2, "refreshes": 1, "failures": 1}))

    t = T("session-errors-301-and-404-transient",
          "A 301 to the URL with a trailing slash (never followed), then a 404 while the issuer "
          "deploys: both transient, the bounds double ([0, 1 s], [0, 2 s]); then the token.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.complete(L(T0 + 200), "t1", L(T0), "",
               {"error": "http_error", "retry_at_wall_ms_range": [T0 + 200, T0 + 1_200]},
               status=301, headers=[["Location", TOKEN_URL + "/"]])
    t.authorize(L(T0 + 1_200), "refresh", ticket="t2", reason="retry")
    t.complete(L(T0 + 1_400), "t2", L(T0 + 1_200), "<html>Not Found</html>",
               {"error": "http_error", "retry_at_wall_ms_range": [T0 + 1_400, T0 + 3_400]},
               status=404, headers=[["Content-Type", "text/html"]])
    t.authorize(L(T0 + 3_400), "refresh", ticket="t3", reason="retry")
    tok = jwt("k1", iat=T0 + 3_000, nbf=T0 + 3_000, exp=T0 + 103_000)
    t.complete(L(T0 + 3_600), "t3", L(T0 + 3_400), body(tok), {"token": "k1"})
    t.authorize(L(T0 + 3_601), "ready", token="k1")
    add("errors", t.done(stats={"token_requests": 3, "refreshes": 1, "failures": 2}))

    t = T("session-errors-invalid-grant-authorization-code",
          "invalid_grant on the authorization code itself: the code is spent and there is no "
          "refresh token, so nothing is left to retry with: reauthorization_required, for good.",
          config(grant=AUTH_CODE, auth=PUBLIC))
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    t.complete(L(T0 + 200), "t1", L(T0), json.dumps({"error": "invalid_grant"}),
               {"error": "reauthorization_required"}, status=400)
    t.authorize(L(T0 + 300), "failed", error="reauthorization_required", retry_at_wall_ms=None)
    t.authorize(L(T0 + 3_600_000), "failed", error="reauthorization_required")
    t.next_timeout(L(T0 + 3_600_000), None)
    add("errors", t.done(stats={"token_requests": 1, "refreshes": 0, "failures": 1}))


# =============================================================================================
# skew.json
# =============================================================================================

def rs_date(true_sent, true_recv, rs_offset):
    """The resource server answers at the midpoint; its clock is true + rs_offset."""
    return floor_s((true_sent + true_recv) // 2 + rs_offset)


def skew_cases():
    # --- a response from a cache ---------------------------------------------------------------
    for age, expect in (("3600", "ready"), ("0", "refresh")):
        t = T(f"session-skew-cached-response-age-{age}",
              "An API response whose Date is an hour ahead: served from a cache (Age other than "
              "0, RFC 9111) its Date is when the origin made it, not the resource server's "
              "clock, and feeds nothing (the token stays ready); with Age 0 it is the server's "
              "clock (the token is judged expired there: refresh).",
              config())
        lt, _ = standard_first_token(t)
        s1, r1 = L(T0 + 1_000), L(T0 + 1_100)
        t.respond(r1, "k1", 200, s1, {"verdict": "accept"},
                  headers=[["Date", http_date(floor_s(T0 + 1_050 + 3_600_000))], ["Age", age]])
        if expect == "ready":
            t.authorize(L(T0 + 1_200), "ready", token="k1")
        else:
            t.authorize(L(T0 + 1_200), "refresh", ticket="t2", reason="expired")
        add("skew", t.done())

    # --- 401 on the current token ------------------------------------------------------------
    t = T("session-skew-401-current-token",
          "401 on the current token (resource server in sync, its Date says so): retry at once; "
          "the token is invalidated and the next caller refreshes (reason rejected). The new "
          "token is judged with the resource server's estimate (its bounded offset makes exp "
          "count). A late 401 on the replaced token just retries with the new one.",
          config())
    iss, res = Est(), Est()
    standard_first_token(t, issuer=iss, resource=res)
    s, r = L(T0 + 10_000), L(T0 + 10_100)
    d = rs_date(T0 + 10_000, T0 + 10_100, 0)
    t.respond(r, "k1", 401, s, {"verdict": "retry", "wait_ms": 0},
              headers=[["Date", http_date(d)], ["WWW-Authenticate", 'Bearer error="invalid_token"']])
    res.date(d, s, r)
    t.authorize(L(T0 + 10_150), "refresh", ticket="t2", reason="rejected")
    t.authorize(L(T0 + 10_160), "wait", wait_reason="refresh_in_flight", until=L(T0 + 70_150))
    s2, r2 = L(T0 + 10_150), L(T0 + 10_350)
    i2 = floor_s(T0 + 10_250)
    tok2 = jwt("k2", iat=i2, nbf=i2, exp=i2 + 100_000)
    t.complete(r2, "t2", s2, body(tok2), {"token": "k2"})
    iss.iat(i2, r2)
    lt2 = lifetime(s2, r2, 100_000, judge(iss, res, r2), exp=i2 + 100_000, nbf=i2, iat=i2)
    assert lt2["deadline"]["wall_ms"] == i2 + 100_000 - 1_001  # exp - high: basis exp
    t.authorize(L(T0 + 10_400), "ready", token="k2")
    t.next_timeout(L(T0 + 10_400), adv(L(T0 + 10_400), next_change(lt2, L(T0 + 10_400), res.at(L(T0 + 10_400)))))
    t.respond(L(T0 + 10_500), "k2", 200, L(T0 + 10_450), {"verdict": "accept"},
              headers=[["Date", http_date(rs_date(T0 + 10_450, T0 + 10_500, 0))]])
    t.respond(L(T0 + 10_600), "k1", 401, L(T0 + 10_000), {"verdict": "retry", "wait_ms": 0})
    t.authorize(L(T0 + 10_601), "ready", token="k2")
    add("skew", t.done(stats={"token_requests": 2, "refreshes": 2, "unauthorized": 2,
                              "retries": 2}))

    t = T("session-skew-401-replaced-token",
          "401 on a token that was already replaced by a normal refresh: retry with the new one; "
          "no refresh, and the new token's refresh time is unchanged.",
          config())
    standard_first_token(t)
    t.authorize(L(T0 + 72_040), "ready_and_refresh", token="k1", ticket="t2", reason="stale")
    tok2 = jwt("k2", iat=T0 + 72_000, nbf=T0 + 72_000, exp=T0 + 172_000)
    t.complete(L(T0 + 72_300), "t2", L(T0 + 72_040), body(tok2), {"token": "k2"})
    t.respond(L(T0 + 72_500), "k1", 401, L(T0 + 72_040), {"verdict": "retry", "wait_ms": 0})
    t.authorize(L(T0 + 72_501), "ready", token="k2")
    t.next_timeout(L(T0 + 72_501), L(T0 + 72_300 + 71_792))
    add("skew", t.done(stats={"token_requests": 2, "refreshes": 2, "unauthorized": 1,
                              "retries": 1}))

    t = T("session-skew-401-burst-single-refresh",
          "Three requests with the current token all get 401: each is told to retry, but only "
          "one refresh happens (single flight); the others wait for it.",
          config())
    standard_first_token(t)
    for i in range(3):
        t.respond(L(T0 + 5_000 + i), "k1", 401, L(T0 + 4_900), {"verdict": "retry", "wait_ms": 0})
    t.authorize(L(T0 + 5_010), "refresh", ticket="t2", reason="rejected")
    t.authorize(L(T0 + 5_011), "wait", wait_reason="refresh_in_flight", until=L(T0 + 65_010))
    t.authorize(L(T0 + 5_012), "wait", wait_reason="refresh_in_flight", until=L(T0 + 65_010))
    tok2 = jwt("k2", iat=T0 + 5_000, nbf=T0 + 5_000, exp=T0 + 105_000)
    t.complete(L(T0 + 5_200), "t2", L(T0 + 5_010), body(tok2), {"token": "k2"})
    for i in range(3):
        t.authorize(L(T0 + 5_201 + i), "ready", token="k2")
    add("skew", t.done(stats={"token_requests": 2, "refreshes": 2, "unauthorized": 3,
                              "retries": 3}))

    # --- repeated 401: unauthorized ------------------------------------------------------------
    t = T("session-skew-repeated-401-unauthorized",
          "The token fresh from the refresh after a 401 is rejected too, and the resource "
          "server's clock (Date, in sync) explains nothing: fail with diagnosis unauthorized. "
          "No refresh storm: the token keeps being handed out (each 401 fails again), and the "
          "next refresh happens only at its normal refresh time.",
          config())
    iss, res = Est(), Est()
    standard_first_token(t, issuer=iss, resource=res)
    s, r = L(T0 + 10_000), L(T0 + 10_100)
    d = rs_date(T0 + 10_000, T0 + 10_100, 0)
    t.respond(r, "k1", 401, s, {"verdict": "retry", "wait_ms": 0}, headers=[["Date", http_date(d)]])
    res.date(d, s, r)
    t.authorize(L(T0 + 10_150), "refresh", ticket="t2", reason="rejected")
    s2, r2 = L(T0 + 10_150), L(T0 + 10_350)
    i2 = floor_s(T0 + 10_250)
    tok2 = jwt("k2", iat=i2, nbf=i2, exp=i2 + 100_000)
    t.complete(r2, "t2", s2, body(tok2), {"token": "k2"})
    iss.iat(i2, r2)
    lt2 = lifetime(s2, r2, 100_000, judge(iss, res, r2), exp=i2 + 100_000, nbf=i2, iat=i2)
    t.authorize(L(T0 + 10_400), "ready", token="k2")
    s3, r3 = L(T0 + 10_400), L(T0 + 10_500)
    d3 = rs_date(T0 + 10_400, T0 + 10_500, 0)
    t.respond(r3, "k2", 401, s3, {"verdict": "fail", "diagnosis": "unauthorized"},
              headers=[["Date", http_date(d3)]])
    res.date(d3, s3, r3)
    t.authorize(L(T0 + 10_600), "ready", token="k2")
    t.respond(L(T0 + 10_700), "k2", 401, L(T0 + 10_600),
              {"verdict": "fail", "diagnosis": "unauthorized"},
              headers=[["Date", http_date(rs_date(T0 + 10_600, T0 + 10_700, 0))]])
    t.authorize(L(T0 + 10_800), "ready", token="k2")
    t.authorize(L(T0 + 20_000), "ready", token="k2")
    t.stats(L(T0 + 20_000), token_requests=2, unauthorized=3, retries=1)
    ra = lt2["refresh"]
    t.authorize(adv(ra, -1), "ready", token="k2")
    t.authorize(ra, "ready_and_refresh", token="k2", ticket="t3", reason="stale")
    add("skew", t.done(stats={"token_requests": 3, "refreshes": 2, "unauthorized": 3,
                              "retries": 1}))

    # --- repeated 401: clock skew (resource server behind: issued in the future) --------------
    def behind_case(cid, comment, rs_offset, nbf, iat, finding, flags=None, evidence=True):
        t = T(cid, comment, config(), flags=flags)
        iss, res = Est(), Est()
        standard_first_token(t, issuer=iss, resource=res, date=True, nbf=nbf, iat=iat)
        s, r = L(T0 + 10_000), L(T0 + 10_100)
        d = rs_date(T0 + 10_000, T0 + 10_100, rs_offset)
        res.date(d, s, r)
        t.respond(r, "k1", 401, s, {"verdict": "retry", "wait_ms": 0},
                  headers=[["Date", http_date(d)]])
        t.authorize(L(T0 + 10_200), "refresh", ticket="t2", reason="rejected")
        s2, r2 = L(T0 + 10_200), L(T0 + 10_400)
        srv2 = T0 + 10_300
        i2 = floor_s(srv2)
        tok2 = jwt("k2", iat=i2 if iat else None, nbf=i2 if nbf else None, exp=i2 + 100_000)
        t.complete(r2, "t2", s2, body(tok2), {"token": "k2"},
                   headers=with_date(JSON_HEADERS, srv2))
        iss.date(floor_s(srv2), s2, r2)
        if iat:
            iss.iat(i2, r2)
        lt2 = lifetime(s2, r2, 100_000, judge(iss, res, r2), exp=i2 + 100_000,
                       nbf=i2 if nbf else None, iat=i2 if iat else None)
        now = L(T0 + 10_500)
        # The resource server is so far behind that the wait is beyond max_wait: used as is.
        assert until_valid(lt2, now, res.at(now)) > MAX_WAIT
        assert state(lt2, now, res.at(now)) == "fresh"
        t.authorize(now, "ready", token="k2")
        s3, r3 = L(T0 + 10_600), L(T0 + 10_700)
        d3 = rs_date(T0 + 10_600, T0 + 10_700, rs_offset)
        res.date(d3, s3, r3)
        e = res.at(r3)
        exp = {"verdict": "fail", "diagnosis": "clock_skew", "finding": finding}
        if evidence:
            exp["evidence"] = {"exp_ms": i2 + 100_000, "iat_ms": i2 if iat else None,
                               "nbf_ms": i2 if nbf else None,
                               "resource_now_low_ms": r3["wall_ms"] + e["low"],
                               "resource_now_high_ms": r3["wall_ms"] + e["high"]}
        t.respond(r3, "k2", 401, s3, exp, headers=[["Date", http_date(d3)]])
        t.authorize(L(T0 + 10_800), "ready", token="k2")
        t.respond(L(T0 + 10_900), "k2", 401, L(T0 + 10_800),
                  {"verdict": "fail", "diagnosis": "clock_skew", "finding": finding},
                  headers=[["Date", http_date(rs_date(T0 + 10_800, T0 + 10_900, rs_offset))]])
        t.authorize(L(T0 + 11_000), "ready", token="k2")
        return t

    t = behind_case(
        "session-skew-repeated-401-issued-in-future",
        "The resource server's clock is 60 s behind (its Date headers). Tokens carry iat and "
        "exp, no nbf. The first 401 cannot be waited out (60 s > max_401_wait_ms 10 s): "
        "refresh; the new token is rejected too: fail with clock_skew, finding "
        "issued_in_future (the server's earliest possible time is before iat), with the "
        "evidence; afterwards no refresh storm.",
        -60_000, nbf=False, iat=True, finding="issued_in_future", evidence=False)
    add("skew", t.done(stats={"token_requests": 2, "refreshes": 2, "unauthorized": 3,
                              "retries": 1}))

    t = behind_case(
        "session-skew-repeated-401-not-yet-valid",
        "As issued-in-future, with tokens that carry nbf and exp but no iat, and the resource "
        "server 30 s behind: finding not_yet_valid; the evidence gives the resource server's "
        "possible clock range and the claims.",
        -30_000, nbf=True, iat=False, finding="not_yet_valid")
    add("skew", t.done(stats={"token_requests": 2, "refreshes": 2, "unauthorized": 3,
                              "retries": 1}))

    t = behind_case(
        "session-skew-evidence-nbf-is-the-claim",
        "Evidence of a clock_skew diagnosis reports the token's own claims: a token without "
        "nbf has nbf_ms null (not its iat).",
        -60_000, nbf=False, iat=True, finding="issued_in_future")
    add("skew", t.done())

    # --- repeated 401: clock skew (resource server ahead: expired) ---------------------------
    t = T("session-skew-repeated-401-expired",
          "The first 401 carries no Date; the second (on the token fresh from the refresh) shows "
          "the resource server 200 s ahead, past the token's exp: clock_skew, finding expired. "
          "Judged by that clock the token is now expired: the next caller refreshes. The new "
          "100 s token is expired on arrival by the resource server's estimate alone (the "
          "issuer's would use it): the estimate is dropped and the token used (no single sample "
          "locks the session); its 401 shows the server still 200 s ahead; the next token is "
          "expired on arrival (transient, backoff: one drop per config_retry_ms, not a storm); "
          "5 min after the first drop the estimate is dropped again for a new token.",
          config())
    iss, res = Est(), Est()
    standard_first_token(t, issuer=iss, resource=res)
    t.respond(L(T0 + 10_100), "k1", 401, L(T0 + 10_000), {"verdict": "retry", "wait_ms": 0})
    t.authorize(L(T0 + 10_150), "refresh", ticket="t2", reason="rejected")
    i2 = floor_s(T0 + 10_250)
    tok2 = jwt("k2", iat=i2, nbf=i2, exp=i2 + 100_000)
    t.complete(L(T0 + 10_350), "t2", L(T0 + 10_150), body(tok2), {"token": "k2"})
    t.authorize(L(T0 + 10_400), "ready", token="k2")
    s3, r3 = L(T0 + 10_400), L(T0 + 10_500)
    d3 = rs_date(T0 + 10_400, T0 + 10_500, 200_000)
    res.date(d3, s3, r3)
    e = res.at(r3)
    assert r3["wall_ms"] + e["high"] >= i2 + 100_000
    t.respond(r3, "k2", 401, s3, {"verdict": "fail", "diagnosis": "clock_skew", "finding": "expired",
                                  "evidence": {"exp_ms": i2 + 100_000, "iat_ms": i2, "nbf_ms": i2,
                                               "resource_now_low_ms": r3["wall_ms"] + e["low"],
                                               "resource_now_high_ms": r3["wall_ms"] + e["high"]}},
              headers=[["Date", http_date(d3)]])
    t.authorize(L(T0 + 10_600), "refresh", ticket="t3", reason="expired")
    i3 = floor_s(T0 + 10_700)
    tok3 = jwt("k3", iat=i3, nbf=i3, exp=i3 + 100_000)
    t.complete(L(T0 + 10_800), "t3", L(T0 + 10_600), body(tok3), {"token": "k3"})
    res = Est()  # dropped
    t.authorize(L(T0 + 10_801), "ready", token="k3")
    s4, r4 = L(T0 + 10_801), L(T0 + 10_901)
    d4 = rs_date(T0 + 10_801, T0 + 10_901, 200_000)
    res.date(d4, s4, r4)
    t.respond(r4, "k3", 401, s4, {"verdict": "retry", "wait_ms": 0}, headers=[["Date", http_date(d4)]])
    t.authorize(L(T0 + 10_950), "refresh", ticket="t4", reason="rejected")
    i4 = floor_s(T0 + 11_050)
    tok4 = jwt("k4", iat=i4, nbf=i4, exp=i4 + 100_000)
    e4 = res.at(L(T0 + 11_150))
    assert T0 + 11_150 + e4["high"] >= i4 + 100_000 - 10_000, "expired on arrival by that clock"
    t.complete(L(T0 + 11_150), "t4", L(T0 + 10_950), body(tok4), {"error": "expired_on_arrival"})
    t.next_timeout_range(L(T0 + 11_150), T0 + 11_150, T0 + 12_150)
    later = T0 + 10_800 + CONFIG_RETRY + 100
    t.authorize(L(later), "refresh", ticket="t5", reason="rejected")
    i5 = floor_s(later + 100)
    tok5 = jwt("k5", iat=i5, nbf=i5, exp=i5 + 100_000)
    t.complete(L(later + 200), "t5", L(later), body(tok5), {"token": "k5"})
    t.authorize(L(later + 201), "ready", token="k5")
    add("skew", t.done(stats={"token_requests": 5, "refreshes": 4, "failures": 1,
                              "unauthorized": 3, "retries": 2}))

    # --- 401 explained by nbf on a slow resource server ---------------------------------------
    def nbf_wait_case(cid, comment, drift_ppm):
        cfg = config()
        if drift_ppm is not None:
            cfg["skew"] = {"drift_ppm": drift_ppm}
        t = T(cid, comment, cfg)
        ppm = DRIFT_PPM if drift_ppm is None else drift_ppm
        iss, res = Est(ppm), Est(ppm)
        standard_first_token(t, issuer=iss, resource=res, date=True)
        s, r = L(T0 + 300), L(T0 + 400)
        d = rs_date(T0 + 300, T0 + 400, -5_000)
        assert d == T0 - 5_000
        res.date(d, s, r)
        e = res.at(r)
        # The resource server's clock is at least D at receipt (less the drift over one round
        # trip): nbf (T0) passes in about nbf - D.
        wait = T0 - (r["wall_ms"] + e["low"])
        assert wait == (5_000 if ppm == 0 else 5_001)
        t.respond(r, "k1", 401, s, {"verdict": "retry", "wait_ms": wait},
                  headers=[["Date", http_date(d)]])
        return t, res, r, wait

    t, res, r, wait = nbf_wait_case(
        "session-skew-401-nbf-wait",
        "The resource server is 5 s behind and answers 401 at once: its clock (Date, lowest "
        "bound) has not reached nbf; that is within max_401_wait_ms (10 s): retry after "
        "exactly that wait, no refresh. With drift 0 the token is ready right after the wait.",
        0)
    t.authorize(adv(r, wait), "ready", token="k1")
    t.respond(adv(r, wait + 100), "k1", 200, adv(r, wait + 50), {"verdict": "accept"})
    t.authorize(adv(r, wait + 101), "ready", token="k1")
    add("skew", t.done(stats={"token_requests": 1, "refreshes": 1, "unauthorized": 1,
                              "retries": 1}))

    t, res, r, wait = nbf_wait_case(
        "session-skew-401-nbf-wait-default-drift",
        "As nbf-wait with the default 200 ppm drift: the wait includes the drift over the "
        "round trip (5001 ms); the resource server's lowest possible time keeps widening during "
        "the wait, so right after it nbf may still be a millisecond ahead (wait not_yet_valid, "
        "until the time the model computes); then ready. Still no refresh.",
        None)
    lt1 = lifetime(L(T0), L(T0 + 200), 100_000, {"offset": 0, "low": None, "high": None},
                   nbf=T0, iat=T0)
    now = adv(r, wait)
    st = state(lt1, now, res.at(now))
    assert st[0] == "not_yet_valid", st
    t.authorize(now, "wait", wait_reason="not_yet_valid", until=adv(now, st[1]))
    later = adv(now, st[1])
    while state(lt1, later, res.at(later)) != "fresh":
        later = adv(later, 1)
    assert later["wall_ms"] - now["wall_ms"] <= 3
    t.authorize(later, "ready", token="k1")
    add("skew", t.done(stats={"token_requests": 1, "unauthorized": 1, "retries": 1}))

    t = T("session-skew-401-nbf-wait-too-long",
          "max_401_wait_ms 3 s and a resource server 5 s behind: the wait would be too long, so "
          "the token is invalidated and refreshed (reason rejected).",
          config(max_401_wait_ms=3_000))
    standard_first_token(t, date=True)
    s, r = L(T0 + 300), L(T0 + 400)
    t.respond(r, "k1", 401, s, {"verdict": "retry", "wait_ms": 0},
              headers=[["Date", http_date(rs_date(T0 + 300, T0 + 400, -5_000))]])
    t.authorize(L(T0 + 500), "refresh", ticket="t2", reason="rejected")
    add("skew", t.done(stats={"token_requests": 2, "unauthorized": 1, "retries": 1}))

    # --- nbf in the future at authorize -------------------------------------------------------
    t = T("session-skew-nbf-wait-first-token",
          "The issuer stamps nbf 1 s after iat; with no other token the caller waits until the "
          "issuer's clock has surely passed nbf (lowest offset from the iat sample, widened by "
          "drift), then gets it.",
          config())
    t.authorize(L(T0), "refresh", ticket="t1", reason="initial")
    tok = jwt("k1", iat=T0, nbf=T0 + 1_000, exp=T0 + 100_000)
    t.complete(L(T0 + 200), "t1", L(T0), body(tok), {"token": "k1"})
    iss = Est()
    iss.iat(T0, L(T0 + 200))
    lt = lifetime(L(T0), L(T0 + 200), 100_000, iss.at(L(T0 + 200)), exp=T0 + 100_000,
                  nbf=T0 + 1_000, iat=T0)
    now = L(T0 + 250)
    st = state(lt, now, iss.at(now))
    assert st[0] == "not_yet_valid"
    t.authorize(now, "wait", wait_reason="not_yet_valid", until=adv(now, st[1]))
    t.next_timeout(now, adv(now, st[1]))
    later = adv(now, st[1])
    assert state(lt, later, iss.at(later)) == "fresh"
    t.authorize(later, "ready", token="k1")
    add("skew", t.done(stats={"token_requests": 1, "refreshes": 1}))

    t = T("session-skew-previous-token-while-new-not-yet-valid",
          "The resource server is about 1 s behind. The token from a stale refresh is not yet "
          "valid on its clock (nbf = iat within max_wait): the previous, still-valid token is "
          "served meanwhile, then the new one.",
          config())
    iss, res = Est(), Est()
    standard_first_token(t, issuer=iss, resource=res)
    s, r = L(T0 + 1_000), L(T0 + 1_100)
    d = rs_date(T0 + 1_000, T0 + 1_100, -1_000)
    t.respond(r, "k1", 200, s, {"verdict": "accept"}, headers=[["Date", http_date(d)]])
    res.date(d, s, r)
    t.authorize(L(T0 + 72_040), "ready_and_refresh", token="k1", ticket="t2", reason="stale")
    s2, r2 = L(T0 + 72_040), L(T0 + 72_240)
    i2 = floor_s(T0 + 72_140)
    tok2 = jwt("k2", iat=i2, nbf=i2, exp=i2 + 100_000)
    t.complete(r2, "t2", s2, body(tok2), {"token": "k2"})
    iss.iat(i2, r2)
    lt2 = lifetime(s2, r2, 100_000, judge(iss, res, r2), exp=i2 + 100_000, nbf=i2, iat=i2)
    now = L(T0 + 72_300)
    st = state(lt2, now, res.at(now))
    assert st[0] == "not_yet_valid", st
    t.authorize(now, "ready", token="k1")
    valid_at = adv(now, st[1])
    while state(lt2, valid_at, res.at(valid_at)) != "fresh":
        valid_at = adv(valid_at, 1)
    t.authorize(adv(valid_at, -1), "ready", token="k1")
    t.authorize(valid_at, "ready", token="k2")
    add("skew", t.done(stats={"token_requests": 2, "refreshes": 2}))

    # --- wall-clock steps ------------------------------------------------------------------------
    t = T("session-skew-wall-step-back",
          "The wall clock is stepped back 120 s during the token's life: by the wall clock the "
          "token would live 2 min longer, but the monotonic deadline still expires it (a step can "
          "only make a token expire earlier). next_timeout follows the earlier clock.",
          config())
    standard_first_token(t)
    step = -120_000
    t.authorize(L(T0 + 30_000, step), "ready", token="k1")
    # refresh_at is (T0+72 040, M0+72 040): 42 040 ms away on the monotonic clock.
    t.next_timeout(L(T0 + 30_000, step), adv(L(T0 + 30_000, step), 42_040))
    t.authorize(L(T0 + 90_000, step), "refresh", ticket="t2", reason="expired")
    tok2 = jwt("k2", iat=T0 + 90_000, nbf=T0 + 90_000, exp=T0 + 190_000)
    t.complete(L(T0 + 90_200, step), "t2", L(T0 + 90_000, step), body(tok2), {"token": "k2"})
    t.authorize(L(T0 + 90_201, step), "ready", token="k2")
    add("skew", t.done(stats={"token_requests": 2, "refreshes": 2, "discontinuities": 1}))

    t = T("session-skew-wall-step-forward-caching-issuer",
          "The wall clock jumps 1 h forward (no Date headers anywhere, so nothing tells a step "
          "from a suspend): the token is treated as expired; the issuer, which caches, hands the "
          "same token back: a transient failure (expired_on_arrival) with growing backoff, not a "
          "refresh storm.",
          config())
    standard_first_token(t)
    step = 3_600_000
    t.authorize(L(T0 + 10_000, step), "refresh", ticket="t2", reason="expired")
    t.authorize(L(T0 + 10_001, step), "wait", wait_reason="refresh_in_flight",
                until=L(T0 + 70_000, step))
    tok1 = jwt("k1", iat=T0, nbf=T0, exp=T0 + 100_000)
    t.complete(L(T0 + 10_200, step), "t2", L(T0 + 10_000, step), body(tok1, 90),
               {"error": "expired_on_arrival"})
    t.next_timeout_range(L(T0 + 10_200, step), T0 + 10_200 + step, T0 + 11_200 + step)
    t.authorize(L(T0 + 11_200, step), "refresh", ticket="t3", reason="expired")
    t.authorize(L(T0 + 11_201, step), "wait", wait_reason="refresh_in_flight",
                until=L(T0 + 71_200, step))
    t.complete(L(T0 + 11_400, step), "t3", L(T0 + 11_200, step), body(tok1, 89),
               {"error": "expired_on_arrival"})
    t.next_timeout_range(L(T0 + 11_400, step), T0 + 11_400 + step, T0 + 13_400 + step)
    t.authorize(L(T0 + 13_400, step), "refresh", ticket="t4", reason="expired")
    add("skew", t.done(stats={"token_requests": 4, "refreshes": 1, "failures": 2}))

    t = T("session-skew-wall-step-forward-resolved-by-date",
          "As the caching-issuer step, but both token responses carry Date: the second one "
          "shows the issuer's clock did not jump, so the wall clock was stepped; the token's "
          "wall deadlines move with the step, the re-served token keeps its id, and is "
          "refreshed late (shortly before hard expiry).",
          config())
    iss = Est()
    lt1, tok1 = standard_first_token(t, issuer=iss, date=True)
    assert lt1["hard"] == L(T0 + 89_100)
    step = 3_600_000
    t.authorize(L(T0 + 10_000, step), "refresh", ticket="t2", reason="expired")
    s2, r2 = L(T0 + 10_000, step), L(T0 + 10_200, step)
    t.complete(r2, "t2", s2, body(tok1, 90), {"token": "k1"},
               headers=with_date(JSON_HEADERS, T0 + 10_100))
    # After resolution (wall stepped by +1 h) the old samples shift by -1 h.
    carried = Est()
    for low, high, at, rtt in iss.samples:
        carried.raw(low - step, None if high is None else high - step, at, rtt)
    carried.date(floor_s(T0 + 10_100), s2, r2)
    carried.iat(T0, r2)
    rebased = dict(lt1, hard=R(lt1["hard"]["wall_ms"] + step, lt1["hard"]["mono_ms"]),
                   refresh=R(lt1["refresh"]["wall_ms"] + step, lt1["refresh"]["mono_ms"]))
    assert until_hard(rebased, r2, carried.at(r2)) > 0
    rebased["refresh"] = late_refresh(rebased)
    assert rebased["refresh"] == L(T0 + 84_100, step)
    now = L(T0 + 10_300, step)
    assert state(rebased, now, carried.at(now)) == "fresh"
    t.authorize(now, "ready", token="k1")
    t.next_timeout(now, adv(now, next_change(rebased, now, carried.at(now))))
    t.authorize(L(T0 + 84_099, step), "ready", token="k1")
    t.authorize(L(T0 + 84_100, step), "ready_and_refresh", token="k1", ticket="t3", reason="stale")
    add("skew", t.done(stats={"token_requests": 3, "refreshes": 2, "discontinuities": 1}))

    # --- caching issuer ---------------------------------------------------------------------
    t = T("session-skew-caching-issuer-late-refresh",
          "The issuer answers the stale refresh with the token the session already holds: the "
          "session keeps the token (same id), does not count it as new, and asks again only "
          "shortly before hard expiry (min(5 s, a tenth of the usable span) ahead); from then on "
          "every token is refreshed late.",
          config())
    lt1, tok1 = standard_first_token(t)
    t.authorize(L(T0 + 72_040), "ready_and_refresh", token="k1", ticket="t2", reason="stale")
    t.complete(L(T0 + 72_240), "t2", L(T0 + 72_040), body(tok1, 28), {"token": "k1"})
    t.authorize(L(T0 + 72_300), "ready", token="k1")
    late = late_refresh(lt1)
    assert late == L(T0 + 85_000)
    t.next_timeout(L(T0 + 72_300), late)
    t.authorize(adv(late, -1), "ready", token="k1")
    t.authorize(late, "ready_and_refresh", token="k1", ticket="t3", reason="stale")
    tok2 = jwt("k2", iat=T0 + 85_000, nbf=T0 + 85_000, exp=T0 + 185_000)
    t.complete(L(T0 + 85_200), "t3", L(T0 + 85_000), body(tok2), {"token": "k2"})
    lt2 = lifetime(L(T0 + 85_000), L(T0 + 85_200), 100_000, {"offset": 0, "low": None, "high": None})
    assert late_refresh(lt2) == L(T0 + 170_000)
    t.next_timeout(L(T0 + 85_200), L(T0 + 170_000))
    t.authorize(L(T0 + 169_999), "ready", token="k2")
    t.authorize(L(T0 + 170_000), "ready_and_refresh", token="k2", ticket="t4", reason="stale")
    add("skew", t.done(stats={"token_requests": 4, "refreshes": 3}))

    t = T("session-skew-caching-issuer-rejected-token",
          "The resource server rejects the token and the caching issuer hands the same one back "
          "after the refresh: it is served (as a token fresh from a refresh), rejected again, "
          "and the session fails with unauthorized instead of refreshing in a loop.",
          config())
    lt1, tok1 = standard_first_token(t)
    t.respond(L(T0 + 5_100), "k1", 401, L(T0 + 5_000), {"verdict": "retry", "wait_ms": 0})
    t.authorize(L(T0 + 5_200), "refresh", ticket="t2", reason="rejected")
    t.complete(L(T0 + 5_400), "t2", L(T0 + 5_200), body(tok1, 95), {"token": "k1-again"})
    t.authorize(L(T0 + 5_500), "ready", token="k1-again")
    t.respond(L(T0 + 5_600), "k1-again", 401, L(T0 + 5_500),
              {"verdict": "fail", "diagnosis": "unauthorized"})
    t.authorize(L(T0 + 5_700), "ready", token="k1-again")
    add("skew", t.done(stats={"token_requests": 2, "unauthorized": 2, "retries": 1}))

    # --- known bugs (see the runner: these cases run in an #[ignore]d test) ---------------------
    t = T("session-skew-condemned-token-revoked-later",
          "A token that failed with clock_skew and was later accepted (the resource server's "
          "clock caught up) is an ordinary token again: when it is revoked afterwards, a 401 "
          "must invalidate it and refresh (retry), not fail for the rest of its life.",
          config())
    iss, res = Est(), Est()
    standard_first_token(t, issuer=iss, resource=res, date=True, nbf=False)
    s, r = L(T0 + 10_000), L(T0 + 10_100)
    t.respond(r, "k1", 401, s, {"verdict": "retry", "wait_ms": 0},
              headers=[["Date", http_date(rs_date(T0 + 10_000, T0 + 10_100, -60_000))]])
    t.authorize(L(T0 + 10_200), "refresh", ticket="t2", reason="rejected")
    i2 = floor_s(T0 + 10_300)
    tok2 = jwt("k2", iat=i2, exp=i2 + 100_000)
    t.complete(L(T0 + 10_400), "t2", L(T0 + 10_200), body(tok2), {"token": "k2"},
               headers=with_date(JSON_HEADERS, T0 + 10_300))
    t.authorize(L(T0 + 10_500), "ready", token="k2")
    t.respond(L(T0 + 10_700), "k2", 401, L(T0 + 10_600),
              {"verdict": "fail", "diagnosis": "clock_skew"},
              headers=[["Date", http_date(rs_date(T0 + 10_600, T0 + 10_700, -60_000))]])
    # 65 s later the resource server's clock has passed iat: accepted.
    t.respond(L(T0 + 75_700), "k2", 200, L(T0 + 75_600), {"verdict": "accept"},
              headers=[["Date", http_date(rs_date(T0 + 75_600, T0 + 75_700, -60_000))]])
    # Then revoked: an ordinary first rejection.
    t.respond(L(T0 + 76_700), "k2", 401, L(T0 + 76_600), {"verdict": "retry", "wait_ms": 0},
              headers=[["Date", http_date(rs_date(T0 + 76_600, T0 + 76_700, -60_000))]])
    t.authorize(L(T0 + 76_800), "refresh", ticket="t3", reason="rejected")
    add("skew", t.done())

    t = T("session-skew-401-on-previous-token",
          "While the new token is not yet valid the previous one is served; when the resource "
          "server rejects that previous token, the retry must not get it again (SPEC: a 401 on "
          "an already-replaced token retries with the new one): the caller waits for the new "
          "token's nbf instead.",
          config())
    iss, res = Est(), Est()
    standard_first_token(t, issuer=iss, resource=res)
    s, r = L(T0 + 1_000), L(T0 + 1_100)
    d = rs_date(T0 + 1_000, T0 + 1_100, -1_000)
    t.respond(r, "k1", 200, s, {"verdict": "accept"}, headers=[["Date", http_date(d)]])
    res.date(d, s, r)
    t.authorize(L(T0 + 72_040), "ready_and_refresh", token="k1", ticket="t2", reason="stale")
    s2, r2 = L(T0 + 72_040), L(T0 + 72_240)
    i2 = floor_s(T0 + 72_140)
    t.complete(r2, "t2", s2, body(jwt("k2", iat=i2, nbf=i2, exp=i2 + 100_000)), {"token": "k2"})
    iss.iat(i2, r2)
    lt2 = lifetime(s2, r2, 100_000, judge(iss, res, r2), exp=i2 + 100_000, nbf=i2, iat=i2)
    t.authorize(L(T0 + 72_300), "ready", token="k1")
    s3, r3 = L(T0 + 72_300), L(T0 + 72_400)
    d3 = rs_date(T0 + 72_300, T0 + 72_400, -1_000)
    t.respond(r3, "k1", 401, s3, {"verdict": "retry"}, headers=[["Date", http_date(d3)]])
    res.date(d3, s3, r3)
    now = L(T0 + 72_401)
    st = state(lt2, now, res.at(now))
    assert st[0] == "not_yet_valid", st
    t.authorize(now, "wait", wait_reason="not_yet_valid", until=adv(now, st[1]))
    add("skew", t.done())

    t = T("session-skew-next-timeout-after-fail",
          "After a repeated 401 failed with a diagnosis, the token is still handed out and will "
          "be refreshed at its refresh time: next_timeout must still announce that time.",
          config())
    iss, res = Est(), Est()
    standard_first_token(t, issuer=iss, resource=res)
    t.respond(L(T0 + 10_100), "k1", 401, L(T0 + 10_000), {"verdict": "retry", "wait_ms": 0})
    t.authorize(L(T0 + 10_150), "refresh", ticket="t2", reason="rejected")
    s2, r2 = L(T0 + 10_150), L(T0 + 10_350)
    i2 = floor_s(T0 + 10_250)
    t.complete(r2, "t2", s2, body(jwt("k2", iat=i2, nbf=i2, exp=i2 + 100_000)), {"token": "k2"})
    lt2 = lifetime(s2, r2, 100_000, {"offset": 0, "low": None, "high": None})
    t.authorize(L(T0 + 10_400), "ready", token="k2")
    t.respond(L(T0 + 10_500), "k2", 401, L(T0 + 10_400),
              {"verdict": "fail", "diagnosis": "unauthorized"})
    t.next_timeout(L(T0 + 10_600), lt2["refresh"])
    add("skew", t.done())


def main():
    basic_cases()
    errors_cases()
    skew_cases()
    OUT.mkdir(parents=True, exist_ok=True)
    descriptions = {
        "basic": "Session transcripts: first use, single flight around the refresh time and hard "
                 "expiry, grants and refresh-token rotation, ticket timeout, stale and foreign "
                 "tickets, configuration errors.",
        "errors": "Session transcripts: token-endpoint failures (configuration errors: fail fast, "
                  "retried after config_retry_ms; invalid_grant with and without fallback; "
                  "transient with full-jitter backoff: HTTP errors without an OAuth error, "
                  "malformed responses, Retry-After, transport failures, aborts, "
                  "expired-on-arrival).",
        "skew": "Session transcripts: 401 handling, repeated-401 diagnosis, nbf waits, wall-clock "
                "steps, caching issuers.",
    }
    ids = set()
    for name, cases in CASES.items():
        for c in cases:
            assert c["id"] not in ids, c["id"]
            ids.add(c["id"])
        doc = {"suite": "session", "description": descriptions[name], "cases": cases}
        (OUT / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(f"{name}.json: {len(cases)} cases")


if __name__ == "__main__":
    main()
