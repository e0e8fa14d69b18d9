"""The binding's own behaviour (what the vectors do not cover): the error hierarchy and its
attributes, redaction in every repr, clocks (default and injected), the session across
threads, events and logging, the verifier's details, and that results are exact."""

from __future__ import annotations

import base64
import json
import logging
import pickle
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest

import tokenclock
from tokenclock import errors

T0 = 1_700_000_000.0
URL = "https://issuer.example/token"
SECRET = "s3cr3t-client-password"


def b64(obj: Dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def jwt(claims: Dict[str, Any]) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def token_body(access_token: str, expires_in: int = 300, refresh_token: Optional[str] = None) -> bytes:
    body: Dict[str, Any] = {"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in}
    if refresh_token:
        body["refresh_token"] = refresh_token
    return json.dumps(body).encode()


class FakeClock:
    """An injected clock: both clocks advance together unless stepped."""

    def __init__(self, wall: float = T0, mono: float = 1000.0) -> None:
        self.wall, self.mono = wall, mono
        self.calls = 0

    def __call__(self) -> tokenclock.Reading:
        self.calls += 1
        return tokenclock.Reading(self.wall, self.mono)

    def advance(self, s: float) -> None:
        self.wall += s
        self.mono += s


def new_session(clock: Optional[FakeClock] = None, **kw: Any) -> Tuple[tokenclock.Session, FakeClock]:
    clock = clock or FakeClock()
    grant = tokenclock.client_credentials(URL, "client", SECRET, scope="api")
    return tokenclock.Session(grant, clock=clock, seed=7, **kw), clock


def refresh(session: tokenclock.Session, clock: FakeClock, token: str, expires_in: int = 300) -> int:
    a = session.authorize()
    assert a.kind in ("refresh", "ready_and_refresh"), a
    assert a.ticket is not None
    sent = clock()
    clock.advance(0.05)
    return session.complete_refresh(a.ticket, 200, {"Date": tokenclock.format_http_date(clock.wall)},
                                    token_body(token, expires_in), sent)


# ----- errors ---------------------------------------------------------------------------------


def test_hierarchy_and_default_codes() -> None:
    assert issubclass(tokenclock.InvalidArgument, tokenclock.TokenClockError)
    assert issubclass(tokenclock.InvalidArgument, ValueError)
    assert issubclass(tokenclock.MalformedToken, tokenclock.InvalidToken)
    assert issubclass(tokenclock.MalformedToken, ValueError)
    for cls in (tokenclock.InvalidClientError, tokenclock.InvalidGrantError, tokenclock.TemporarilyUnavailableError):
        assert issubclass(cls, tokenclock.RefreshError) and not issubclass(cls, ValueError)
    for tcls in (tokenclock.TokenExpired, tokenclock.TokenNotYetValid, tokenclock.TokenIssuedInFuture,
                 tokenclock.InvalidSignature, tokenclock.UnknownKid, tokenclock.MissingClaim):
        assert issubclass(tcls, tokenclock.InvalidToken) and not issubclass(tcls, ValueError)
    assert tokenclock.TokenExpired.code == "expired"
    assert tokenclock.ClockSkewError.code == "clock_skew"
    assert tokenclock.RefreshError.retry_at is None
    assert tokenclock.TokenClockError.code == "internal_error"
    # errors.py re-exports the very same classes.
    assert errors.TokenClockError is tokenclock._native.TokenClockError
    assert set(errors.__all__) <= set(tokenclock.__all__)
    for name in errors.__all__:
        assert getattr(tokenclock, name) is getattr(errors, name)


def test_error_instances_carry_code_and_details_and_pickle() -> None:
    with pytest.raises(tokenclock.HttpDateError) as info:
        tokenclock.parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC", T0)
    e = info.value
    assert e.code == "invalid_http_date" and str(e).startswith("invalid HTTP date: bad ")
    assert "UTC" not in str(e)  # names the part, never echoes the input
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is type(e) and e2.code == e.code and str(e2) == str(e)
    with pytest.raises(tokenclock.MalformedToken) as m:
        tokenclock.peek("a.b")
    assert (m.value.code, m.value.reason, m.value.what) == ("malformed_token", "malformed_token", None)
    with pytest.raises(tokenclock.MalformedToken) as m:
        tokenclock.peek("!!!.e30.")
    assert (m.value.code, m.value.what) == ("invalid_base64", "header")


def test_token_endpoint_errors_are_classified() -> None:
    def err(status: int, body: Dict[str, Any], headers: Any = None) -> tokenclock.RefreshError:
        with pytest.raises(tokenclock.RefreshError) as info:
            tokenclock.parse_token_response(status, headers or [], json.dumps(body))
        return info.value

    e = err(401, {"error": "invalid_client", "error_description": "bad secret"})
    assert type(e) is tokenclock.InvalidClientError
    assert (e.code, e.status, e.kind, e.oauth_error, e.description, e.error_class) == (
        "invalid_client", 401, "oauth", "invalid_client", "bad secret", "permanent")
    e = err(400, {"error": "invalid_grant"})
    assert type(e) is tokenclock.InvalidGrantError and e.error_class == "invalid_grant"
    e = err(503, {"error": "temporarily_unavailable"}, {"Retry-After": "7"})
    assert type(e) is tokenclock.TemporarilyUnavailableError and e.retry_after == "7"
    e = err(400, {"error": "invalid_scope"})
    assert type(e) is tokenclock.RefreshError and e.code == "invalid_scope"


def test_verifier_errors_have_details_in_seconds() -> None:
    key = b"k" * 32
    # HS256 over a fixed token, signed here with hmac to stay independent of the verifier.
    import hashlib
    import hmac

    header = b64({"alg": "HS256", "typ": "JWT"})
    payload = b64({"sub": "u", "iat": 1_700_000_000, "exp": 1_700_000_060})
    sig = base64.urlsafe_b64encode(hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    token = f"{header}.{payload}.{sig}"
    v = tokenclock.Verifier(key, ["HS256"], leeway=5)
    ok = v.verify(token, now=1_700_000_030.0)
    assert ok["alg"] == "HS256" and ok["claims"]["sub"] == "u" and ok["exp"] == 1_700_000_060.0
    with pytest.raises(tokenclock.TokenExpired) as info:
        v.verify(token, now=1_700_000_065.5)
    assert info.value.expired_by == 5.5 and info.value.likely_clock_skew is True
    assert info.value.code == "expired"
    with pytest.raises(tokenclock.TokenIssuedInFuture) as fut:
        v.verify(token, now=1_699_999_990.0)
    assert fut.value.issued_in == 10.0
    with pytest.raises(tokenclock.InvalidSignature):
        v.verify(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1], now=1_700_000_030.0)
    with pytest.raises(tokenclock.MalformedToken) as mal:
        v.verify("Bearer " + token, now=1_700_000_030.0)
    assert mal.value.reason == "not_bare_token"
    # Injected clock: its wall time is "now".
    clock = FakeClock(wall=1_700_000_070.0)
    with pytest.raises(tokenclock.TokenExpired):
        tokenclock.Verifier(key, ["HS256"], clock=clock).verify(token)
    assert clock.calls == 1
    # Setup errors are ValueErrors; the key never shows.
    with pytest.raises(tokenclock.InvalidKey) as bad:
        tokenclock.Verifier(b"short", ["HS256"])
    assert isinstance(bad.value, ValueError) and bad.value.code == "invalid_key"
    with pytest.raises(tokenclock.ConfigError) as alg:
        tokenclock.Verifier(key, ["none"])
    assert alg.value.code == "algorithm_not_allowed"
    with pytest.raises(tokenclock.ConfigError) as lee:
        tokenclock.Verifier(key, ["HS256"], leeway=31)
    assert lee.value.code == "leeway_too_large"
    assert "kkkk" not in repr(v) and repr(v).startswith("Verifier(algorithms=['HS256']")
    # A JWK as JSON text: `from_jwk` (any text, judged by core) or a str key starting with `{`.
    jwk = json.dumps({"kty": "oct", "k": base64.urlsafe_b64encode(key).rstrip(b"=").decode()})
    for made in (tokenclock.Verifier.from_jwk(jwk, ["HS256"]), tokenclock.Verifier("  " + jwk, ["HS256"])):
        assert made.verify(token, now=1_700_000_030.0)["alg"] == "HS256"
    for text in ('{"kty": "oct", "kty": "oct", "k": "a"}', "[1]", "{", "null"):
        with pytest.raises(tokenclock.InvalidKey) as bad_jwk:
            tokenclock.Verifier.from_jwk(text, ["HS256"])
        assert bad_jwk.value.code == "invalid_key"
    with pytest.raises(tokenclock.InvalidKey):
        tokenclock.Verifier("{not json", ["HS256"])


def test_resolutions_and_lifetime_rebase() -> None:
    R = tokenclock.Reading
    T, M = 1_700_000_000.0, 5_000.0
    est = tokenclock.SkewEstimator()
    est.add_bounds(1.0, 1.1, R(T, M))
    assert est.observe(R(T + 15, M + 10)) == 5.0  # the wall clock ran 5 s further
    est.add_bounds(-3.95, -3.94, R(T + 16, M + 11))
    est.add_bounds(-3.948, -3.942, R(T + 17, M + 12))  # two agree: only a step explains them
    [res] = est.take_resolutions()
    assert res == {"at": R(T + 15, M + 10), "wall_excess": 5.0, "explanation": "wall_stepped"}
    assert est.take_resolutions() == []
    # Another estimator of the host learns it.
    other = tokenclock.SkewEstimator()
    other.add_bounds(1.0, 1.1, R(T, M))
    other.observe(R(T + 15, M + 10))
    e = other.estimate(R(T + 16, M + 11))
    assert (e.low, e.high) == (-4.004, 1.104)  # a step or a suspend
    other.apply_resolution(res["at"], res["explanation"])
    e = other.estimate(R(T + 16, M + 11))
    assert (e.low, e.high) == (-4.003, -3.897)  # a step
    with pytest.raises(tokenclock.InvalidArgument):
        other.apply_resolution(res["at"], "sideways")  # type: ignore[arg-type]
    # A token received before the step: its wall deadlines move with it (a new Lifetime).
    lt = tokenclock.Lifetime(R(T, M), R(T, M), expires_in=3600)
    stepped = lt.rebase(**res)
    assert (stepped.deadline.wall, stepped.deadline.mono) == (lt.deadline.wall + 5, lt.deadline.mono)
    paused = lt.rebase(res["at"], 5.0, "monotonic_paused")
    assert (paused.deadline.wall, paused.deadline.mono) == (lt.deadline.wall, lt.deadline.mono - 5)
    assert lt.rebase(R(T - 1, M - 1), 5.0, "wall_stepped").deadline == lt.deadline  # received after
    with pytest.raises(tokenclock.InvalidArgument):
        lt.rebase(res["at"], 5.0, "sideways")  # type: ignore[arg-type]


# ----- readings and clocks --------------------------------------------------------------------


def test_reading_is_exact_hashable_and_picklable() -> None:
    r = tokenclock.Reading(1_700_000_000.123, 42.5)
    assert (r.wall, r.mono) == (1_700_000_000.123, 42.5)
    assert r == tokenclock.Reading(1_700_000_000.123, 42.5) and hash(r) == hash(tokenclock.Reading(1_700_000_000.123, 42.5))
    assert pickle.loads(pickle.dumps(r)) == r
    assert r.advanced(1.5) == tokenclock.Reading(1_700_000_001.623, 44.0)
    assert r.advanced(0.0004) == r  # rounds to the millisecond
    assert r.advanced(0.0006) != r
    assert tokenclock.Reading(T0 + 10, 52.5).discontinuity_since(r) is None
    assert tokenclock.Reading(T0 + 100, 44.0).discontinuity_since(tokenclock.Reading(T0, 42.0)) == 98.0
    with pytest.raises(tokenclock.InvalidArgument) as e:
        tokenclock.Reading(-1.0, 0.0)
    assert e.value.what == "wall"


def test_default_clock_matches_time_time_and_monotonic() -> None:
    before_w, before_m = time.time(), time.monotonic()
    r = tokenclock.Reading.now()
    after_w, after_m = time.time(), time.monotonic()
    assert before_w - 0.002 <= r.wall <= after_w + 0.002
    assert before_m - 0.002 <= r.mono <= after_m + 0.002


def test_injected_clock_is_used_and_checked() -> None:
    session, clock = new_session()
    session.authorize()
    assert clock.calls == 1
    session.authorize(tokenclock.Reading(T0, 1000.0))  # an explicit reading skips the clock
    assert clock.calls == 1
    bad = tokenclock.Session(tokenclock.client_credentials(URL, "c", SECRET), clock=lambda: (T0, 1.0))  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError):
        bad.authorize()

    def broken() -> tokenclock.Reading:
        raise KeyError("clock broke")

    with pytest.raises(KeyError):
        tokenclock.Session(tokenclock.client_credentials(URL, "c", SECRET), clock=broken).authorize()
    with pytest.raises(TypeError):
        tokenclock.Session(tokenclock.client_credentials(URL, "c", SECRET), clock=5)  # type: ignore[arg-type]


# ----- the session ----------------------------------------------------------------------------


def test_session_flow_redaction_events_and_logging(caplog: pytest.LogCaptureFixture) -> None:
    session, clock = new_session(refresh_window=(0.5, 0.5))
    a = session.authorize()
    assert a.kind == "refresh" and a.header is None and a.token_id is None
    t = a.ticket
    assert t is not None and t.reason == "initial" and t.method == "POST" and t.url == URL
    assert dict(t.form)["grant_type"] == "client_credentials" and dict(t.form)["scope"] == "api"
    basic = dict(t.headers)["Authorization"]
    assert basic.startswith("Basic ")
    for text in (repr(a), str(a), repr(t), repr(session), repr(tokenclock.client_credentials(URL, "client", SECRET))):
        assert SECRET not in text and basic not in text and basic[6:] not in text
    assert session.refresh_in_flight
    # Concurrent callers wait for the refresh in flight.
    w = session.authorize()
    assert (w.kind, w.wait_reason) == ("wait", "refresh_in_flight") and w.wait is not None and w.wait > 0
    token = jwt({"sub": "x", "iat": int(clock.wall), "exp": int(clock.wall) + 300})
    sent = clock()
    clock.advance(0.1)
    tid = session.complete_refresh(t, 200, [("Date", tokenclock.format_http_date(clock.wall))], token_body(token), sent)
    r = session.authorize()
    assert r.kind == "ready" and r.token_id == tid and r.header == f"Bearer {token}"
    assert token not in repr(r) and token not in str(r) and repr(r) == f"Authorization(kind='ready', token_id={tid})"
    cur = session.current_token()
    assert cur is not None and cur[0] == tid and cur[1].basis in ("expires_in", "exp")
    st = session.token_state()
    assert st is not None and st.kind == "fresh" and st == "fresh"
    # Half-way: stale, this caller refreshes, the token keeps being served.
    clock.advance(160)
    rr = session.authorize()
    assert rr.kind == "ready_and_refresh" and rr.header == f"Bearer {token}" and rr.ticket is not None
    err = session.fail_refresh(rr.ticket, "connect")
    assert isinstance(err, tokenclock.TemporarilyUnavailableError) and err.code == "transport_error"
    assert err.failure == "connect" and err.retry_at is not None and err.retry_at >= clock.wall
    with pytest.raises(tokenclock.StaleTicket):
        session.fail_refresh(rr.ticket, "connect")
    with pytest.raises(tokenclock.InvalidArgument):
        session.fail_refresh(rr.ticket, "exploded")
    # A wall-clock step is noticed and logged.
    clock.wall += 120
    session.authorize()
    caplog.set_level(logging.DEBUG, logger="tokenclock")
    events = tokenclock.log_events(session)
    kinds = [e["kind"] for e in events]
    assert kinds[:2] == ["ticket_issued", "token_received"]
    assert "refresh_failed" in kinds and "clock_discontinuity" in kinds
    disc = next(e for e in events if e["kind"] == "clock_discontinuity")
    assert disc["wall_excess"] == 120.0 and isinstance(disc["at"], tokenclock.Reading)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("token refresh failed: transport_error" in m for m in warnings)
    assert any("clock discontinuity" in m and "+120.000" in m for m in warnings)
    assert all(token not in m and SECRET not in m for m in caplog.messages)
    assert session.events() == []
    st2 = session.stats()
    # The step ended the short backoff: the stale token's refresh was asked for again.
    assert st2["token_requests"] == 3 and st2["refreshes"] == 1 and st2["failures"] == 1
    assert st2["discontinuities"] >= 1


def test_on_response_verdicts_and_clock_skew_error() -> None:
    session, clock = new_session(refresh_window=(0.8, 0.8))
    tid = refresh(session, clock, jwt({"iat": int(clock.wall), "exp": int(clock.wall) + 300}))
    sent = clock()
    ok = session.on_response(tid, 200, {"Date": tokenclock.format_http_date(clock.wall)}, sent)
    assert ok.kind == "accept" and ok.wait is None and ok.error is None and ok.evidence is None
    v = session.on_response(tid, 401, [], sent)
    assert v.kind == "retry" and v.wait == 0.0
    # The retry refreshes; the fresh token is rejected again: a diagnosis, no storm.
    tid2 = refresh(session, clock, jwt({"iat": int(clock.wall) + 60, "exp": int(clock.wall) + 360}))
    # iat is 60 s ahead: further than max_wait (2 s), so the token is used as is...
    a = session.authorize()
    assert (a.kind, a.token_id) == ("ready", tid2)
    # ...and its rejection is explained by the resource server's clock.
    v2 = session.on_response(tid2, 401, [("Date", tokenclock.format_http_date(clock.wall))], clock())
    assert (v2.kind, v2.diagnosis, v2.wait) == ("fail", "clock_skew", None)
    ev = v2.evidence
    assert ev is not None and ev["finding"] == "issued_in_future"
    assert (ev["iat"], ev["exp"], ev["nbf"]) == (T0 + 60, T0 + 360, None)
    assert isinstance(ev["resource"], tokenclock.Estimate) and ev["resource"].samples == 2
    assert ev["resource_now_low"] is not None and ev["resource_now_low"] < T0 + 60
    err = v2.error
    assert isinstance(err, tokenclock.ClockSkewError) and err.code == "clock_skew"
    assert err.evidence == ev and "issued_in_future" in str(err)
    # No refresh storm: the same token keeps being served.
    assert session.authorize().token_id == tid2
    assert session.stats()["token_requests"] == 2


def test_session_is_single_flight_across_threads() -> None:
    session, clock = new_session()
    barrier = threading.Barrier(16)
    kinds: List[str] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        for _ in range(200):
            a = session.authorize(tokenclock.Reading(T0, 1000.0))
            with lock:
                kinds.append(a.kind)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert kinds.count("refresh") == 1 and kinds.count("wait") == 16 * 200 - 1
    assert session.stats()["token_requests"] == 1


def test_session_configuration_errors() -> None:
    grant = tokenclock.client_credentials(URL, "client", SECRET)
    with pytest.raises(tokenclock.LifetimeError) as e:
        tokenclock.Session(grant, refresh_window=(0.9, 0.1))
    assert e.value.code == "invalid_policy"
    with pytest.raises(tokenclock.ConfigError):
        tokenclock.Session(grant, ticket_timeout=0)
    with pytest.raises(tokenclock.InvalidArgument):
        tokenclock.Session(grant, margin=1, margin_cap=2)
    with pytest.raises(tokenclock.InvalidArgument):
        tokenclock.Session(grant, not_before="iat")
    with pytest.raises(tokenclock.GrantError) as g:
        tokenclock.Session(tokenclock.client_credentials("http://example.com/token", "c", SECRET))
    assert g.value.code == "insecure_url"
    with pytest.raises(tokenclock.GrantError) as g2:
        tokenclock.Session(tokenclock.client_credentials(URL, "c", auth_method="none"))
    assert g2.value.code == "client_auth_required"
    with pytest.raises(tokenclock.InvalidArgument):
        tokenclock.client_credentials(URL, "c", SECRET, auth_method="magic")
    with pytest.raises(tokenclock.InvalidArgument):
        tokenclock.client_credentials(URL, "c")  # client_secret_basic without a secret


def test_grant_constructors() -> None:
    g = tokenclock.refresh_token_grant(URL, "c", "rt-123456789")
    assert (g.grant_type, g.auth_method, g.client_id) == ("refresh_token", "none", "c")
    assert "rt-123456789" not in repr(g)
    g = tokenclock.refresh_token_grant(URL, "c", "rt-123456789", client_secret=SECRET)
    assert g.auth_method == "client_secret_basic"
    p = tokenclock.Pkce.generate()
    g = tokenclock.authorization_code_grant(URL, "c", "code-xyz", "https://app/cb", p.verifier)
    req = tokenclock.build_token_request(g)
    form = dict(req.form)
    assert form["code_verifier"] == p.verifier and form["code"] == "code-xyz"
    assert p.verifier not in repr(req) and "code-xyz" not in repr(req) and p.verifier not in repr(p)
    st = tokenclock.State.generate()
    url = tokenclock.authorization_url("https://as/authorize", "c", "https://app/cb", p, st, scope="openid")
    assert f"code_challenge={p.challenge}" in url and f"state={st.value}" in url
    assert tokenclock.parse_redirect(f"https://app/cb?code=abc&state={st.value}", st) == "abc"
    with pytest.raises(tokenclock.RedirectError) as e:
        tokenclock.parse_redirect("https://app/cb?code=abc&state=other", st)
    assert e.value.code == "state_mismatch"
    assert repr(st) == "State(<redacted>)"


# ----- estimator, lifetime, monitor, sntp, sim -------------------------------------------------


def test_skew_estimator_and_lifetime() -> None:
    est = tokenclock.SkewEstimator(clock=FakeClock())
    sent = tokenclock.Reading(T0, 1000.0)
    received = tokenclock.Reading(T0 + 0.2, 1000.2)
    est.add_date(tokenclock.format_http_date(T0 + 30), sent, received)
    e = est.estimate(received)
    # [date - received, date + 1 s - sent], widened by 200 ppm of the 0.2 s exchange (1 ms).
    assert (e.low, e.high, e.samples) == (29.799, 31.001, 1) and e.is_bounded and len(est) == 1
    assert e.to_server_time(T0) == T0 + e.offset and e.to_local_time(T0 + e.offset) == T0
    with pytest.raises(tokenclock.SkewSampleError) as err:
        est.add_date(tokenclock.format_http_date(T0), received, sent)
    assert err.value.code == "reading_order"
    lt = tokenclock.Lifetime(sent, received, e, expires_in=300, exp=T0 + 400, refresh_window=(0.5, 0.5))
    assert lt.basis == "expires_in" and lt.lifetime == 300.0 and lt.margin == 10.0
    assert lt.hard_expiry == sent.advanced(290)
    assert lt.state(received).kind == "fresh"
    assert lt.state(sent.advanced(200)).kind == "stale"
    assert lt.state(sent.advanced(290)).kind == "expired"
    assert lt.next_change(received) is not None


def test_monitor() -> None:
    m = tokenclock.SkewMonitor()
    for age in (0.5, 1.0, -3.0):
        m.record(age)
    m.merge(m)  # merging into itself doubles, never deadlocks
    assert m.count == 6 and len(m) == 6 and abs(m.sum - (-3.0)) < 1e-9
    assert m.quantile(0.0) is not None and m.quantile(1.0) is not None
    with pytest.raises(tokenclock.MonitorError) as e:
        m.quantile(1.5)
    assert e.value.code == "invalid_quantile"
    back = tokenclock.SkewMonitor.from_json(m.to_json())
    assert back.bucket_counts == m.bucket_counts
    assert "tokens_age_bucket" in m.prometheus("tokens_age")
    with pytest.raises(tokenclock.MonitorError):
        m.prometheus("bad name")
    assert m.assessment()["verdict"] == "insufficient"


def test_sntp_request_and_simulation() -> None:
    a, b = tokenclock.SntpRequest(T0), tokenclock.SntpRequest(T0)
    assert a.packet[0] == 0x23 and a.transmit == T0
    assert a.transmit_timestamp != b.transmit_timestamp  # OS entropy
    out = tokenclock.run_cell(ttl=60, hours=0.05, seed=3)
    assert [o["strategy"] for o in out] == ["tokenclock", "tutorial", "stackit", "naive", "oracle"]
    assert out[0]["user_visible_failures"] == 0 and out[0]["requests"] > 0
    cells = tokenclock.gauntlet_cells(1, 3.0)
    assert len(cells) == 528 and set(cells[0]) >= {"ttl", "client_offset", "seed"}
    with pytest.raises(tokenclock.InvalidArgument):
        tokenclock.run_cell(hours=10_000)
