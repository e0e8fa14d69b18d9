"""``Verifier.from_issuer`` against a loopback issuer (real HTTP on 127.0.0.1): discovery,
rotation, single flight, the unknown-kid cooldown, an issuer that is down, stalls, serves
garbage or an oversized set, and an issuer whose clock is 30 s ahead."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pytest
from loopback_issuer import Issuer, Key

import tokenclock
from tokenclock.remote import RemoteVerifier


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    iss = Issuer()
    iss.keys = [Key("k1")]
    try:
        yield iss
    finally:
        iss.close()


def remote(iss: Issuer, **kw: object) -> RemoteVerifier:
    opts: dict = {"algorithms": ["RS256"], "audience": "api://orders", "allow_plain_http": True}
    opts.update(kw)
    v = tokenclock.Verifier.from_issuer(iss.url, **opts)
    assert isinstance(v, RemoteVerifier)
    return v


def test_discovery_then_keys_and_the_issuer_is_required(issuer: Issuer) -> None:
    v = remote(issuer)
    out = v.verify(issuer.token(issuer.keys[0]))
    assert out["claims"]["sub"] == "user-1" and out["kid"] == "k1"
    assert (issuer.discovery_requests, issuer.jwks_requests) == (1, 1)
    assert v.keys.jwks_uri == issuer.jwks_uri
    # A token from another issuer, signed with the right key, is refused.
    with pytest.raises(tokenclock.InvalidIssuer):
        v.verify(issuer.token(issuer.keys[0], iss="https://other.example"))
    # Bytes are accepted as a token, and a lone surrogate is a MalformedToken, not a crash.
    assert v.verify(issuer.token(issuer.keys[0]).encode())["kid"] == "k1"
    with pytest.raises(tokenclock.MalformedToken):
        v.verify("\udcff.x.y")
    assert (issuer.discovery_requests, issuer.jwks_requests) == (1, 1)


def test_rotation_one_refetch_for_1000_concurrent_threads(issuer: Issuer) -> None:
    v = remote(issuer, cooldown=0.3)
    v.verify(issuer.token(issuer.keys[0]))
    time.sleep(0.35)  # past the cooldown of the first fetch
    issuer.keys.append(Key("k2"))
    token = issuer.token(issuer.keys[1])
    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(lambda _: v.verify(token)["kid"], range(1000)))
    assert results == ["k2"] * 1000
    assert issuer.jwks_requests == 2  # the first fetch and exactly one refetch


def test_rotation_one_refetch_for_1000_concurrent_tasks(issuer: Issuer) -> None:
    v = remote(issuer, cooldown=0.3)

    async def main() -> list:
        await v.averify(issuer.token(issuer.keys[0]))
        await asyncio.sleep(0.35)
        issuer.keys.append(Key("k2"))
        token = issuer.token(issuer.keys[1])
        return await asyncio.gather(*(v.averify(token) for _ in range(1000)))

    results = asyncio.run(main())
    assert [r["kid"] for r in results] == ["k2"] * 1000
    assert issuer.jwks_requests == 2


def test_cold_start_single_flight_for_concurrent_callers(issuer: Issuer) -> None:
    v = remote(issuer)
    token = issuer.token(issuer.keys[0])

    async def main() -> list:
        return await asyncio.gather(*(v.averify(token) for _ in range(200)))

    assert len(asyncio.run(main())) == 200
    assert (issuer.discovery_requests, issuer.jwks_requests) == (1, 1)


def test_a_kid_that_never_exists_costs_one_fetch_per_cooldown(issuer: Issuer) -> None:
    v = remote(issuer, cooldown=0.5)
    v.verify(issuer.token(issuer.keys[0]))
    forged = issuer.token(Key("kx"))  # a key the issuer never publishes
    start = time.monotonic()
    refused = 0
    while time.monotonic() - start < 1.6:
        with pytest.raises(tokenclock.UnknownKid):
            v.verify(forged)
        refused += 1
    elapsed = time.monotonic() - start
    refetches = issuer.jwks_requests - 1
    assert refused > 50
    # One refetch per started cooldown at most (the first is due at once: the initial fetch
    # ended just before), and at least one.
    assert 1 <= refetches <= int(elapsed / 0.5) + 1, refetches


def test_issuer_down_known_keys_keep_verifying(issuer: Issuer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tokenclock")
    issuer.cache_control = "max-age=0"
    v = remote(issuer, min_cache=0.2, cooldown=0.2, retry_min=0.1, retry_max=0.4)
    good = issuer.token(issuer.keys[0])
    v.verify(good)
    issuer.close()  # the issuer is gone: connections are refused
    start = time.monotonic()
    ok = 0
    while time.monotonic() - start < 1.5:
        assert v.verify(good)["kid"] == "k1"  # the stale set keeps verifying
        ok += 1
        time.sleep(0.01)
    assert ok > 20
    with pytest.raises(tokenclock.UnknownKid):  # a typed token error, not a crash or a hang
        v.verify(issuer.token(Key("k9")))
    failures = [r for r in caplog.records if "fetching the issuer" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in failures]  # logged once per run
    assert "transport_error" in failures[0].getMessage()


def test_cold_start_with_the_issuer_down_is_keys_unavailable() -> None:
    iss = Issuer()
    url = iss.url
    iss.close()
    v = tokenclock.Verifier.from_issuer(url, algorithms=["RS256"], allow_plain_http=True)
    with pytest.raises(tokenclock.KeysUnavailable) as e:
        v.verify("a.b.c")
    assert e.value.cause == "transport_error" and e.value.retry_in > 0
    assert not isinstance(e.value, tokenclock.InvalidToken)  # a server problem (503), not the token's


def test_garbage_500_and_oversized_sets_keep_the_last_good(issuer: Issuer) -> None:
    issuer.cache_control = "max-age=0"
    v = remote(issuer, min_cache=0.1, retry_min=0.05, retry_max=0.05)
    good = issuer.token(issuer.keys[0])
    v.verify(good)
    for mode in ("garbage", "500", "huge"):
        issuer.mode = mode
        before = issuer.jwks_requests
        deadline = time.monotonic() + 3
        while issuer.jwks_requests < before + 2 and time.monotonic() < deadline:
            assert v.verify(good)["kid"] == "k1"
            time.sleep(0.02)
        assert issuer.jwks_requests >= before + 2, mode  # it did refetch, and failed
        assert v.verify(good)["kid"] == "k1"


def test_oversized_cold_set_is_refused_as_too_large(issuer: Issuer) -> None:
    issuer.mode = "huge"
    v = remote(issuer)
    with pytest.raises(tokenclock.KeysUnavailable) as e:
        v.verify(issuer.token(issuer.keys[0]))
    assert e.value.cause == "too_large"


def test_a_stalled_issuer_cannot_hold_verifications(issuer: Issuer) -> None:
    issuer.mode = "stall"
    issuer.stall_s = 5
    v = remote(issuer, fetch_timeout=0.5)
    start = time.monotonic()
    with pytest.raises(tokenclock.KeysUnavailable) as e:
        v.verify(issuer.token(issuer.keys[0]))
    assert e.value.cause == "timeout"
    assert time.monotonic() - start < 3  # bounded by the fetch timeout, not the stall


def test_discovery_for_another_issuer_is_refused(issuer: Issuer) -> None:
    v = tokenclock.Verifier.from_issuer(issuer.url + "/", algorithms=["RS256"], allow_plain_http=True)
    with pytest.raises(tokenclock.KeysUnavailable) as e:
        v.verify(issuer.token(issuer.keys[0]))
    assert e.value.cause == "issuer_mismatch"
    assert issuer.jwks_requests == 0


def test_plain_http_to_a_remote_host_needs_the_opt_in() -> None:
    with pytest.raises(tokenclock.ConfigError) as e:
        tokenclock.Verifier.from_issuer("http://issuer.internal", algorithms=["RS256"])
    assert e.value.code == "insecure_url"
    assert tokenclock.Verifier.from_issuer(
        "http://issuer.internal", algorithms=["RS256"], allow_plain_http=True
    ) is not None


def test_issuer_clock_30s_ahead_is_measured_and_reported_once(issuer: Issuer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tokenclock")
    issuer.clock_offset_s = 30.0
    v = remote(issuer)
    sent = time.monotonic()
    # The token is fine on the issuer's clock; ours is 30 s behind it: with a 5 s leeway its
    # iat is in our future. The verifier says so (it does not widen the leeway)...
    with pytest.raises(tokenclock.TokenIssuedInFuture):
        v.verify(issuer.token(issuer.keys[0], iat=int(time.time() + 30), exp=int(time.time() + 3630)))
    rtt = time.monotonic() - sent
    est = v.estimate()
    # ...and knows why: the Date headers put the issuer 30 s ahead. Dates have 1 s resolution:
    # the interval holds the truth and is at most 1 s + the round trips wide.
    assert est.low is not None and est.high is not None
    assert est.low - 0.05 <= 30.0 <= est.high + 0.05, (est.low, est.high)
    assert est.high - est.low <= 1.0 + rtt + 0.05
    assert v.clock_off() is True
    warnings = [r for r in caplog.records if "clock is off" in r.getMessage()]
    assert len(warnings) == 1
    v.verify(issuer.token(issuer.keys[0]))  # a token minted on our clock is fine
    assert len([r for r in caplog.records if "clock is off" in r.getMessage()]) == 1


def test_reprs_and_messages_carry_no_token(issuer: Issuer) -> None:
    v = remote(issuer)
    token = issuer.token(issuer.keys[0], aud="api://elsewhere")
    with pytest.raises(tokenclock.InvalidAudience) as e:
        v.verify(token)
    text = str(e.value) + repr(e.value) + repr(v) + repr(v.keys)
    assert not any(seg in text for seg in token.split(".") if len(seg) > 8)


def test_without_a_cooldown_each_call_fetches_at_most_once(issuer: Issuer) -> None:
    v = remote(issuer, cooldown=0)
    v.verify(issuer.token(issuer.keys[0]))
    forged = issuer.token(Key("kx"))
    for n in range(1, 4):
        with pytest.raises(tokenclock.UnknownKid):
            v.verify(forged)
        assert issuer.jwks_requests == 1 + n  # one refetch per call, never a loop

    async def main() -> None:
        with pytest.raises(tokenclock.UnknownKid):
            await v.averify(forged)

    asyncio.run(main())
    assert issuer.jwks_requests == 5
