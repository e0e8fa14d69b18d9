"""End to end, real sockets: one token request however many callers need a token at once.

(b) 200 concurrent ``httpx.AsyncClient`` requests, with no token and again once the token has
expired: exactly one token request each time (tcserver counts them).
(c) 50 threads sharing one ``httpx.Client``, and 50 sharing one ``requests.Session``: likewise.
A refresh whose caller is cancelled or dies is closed as aborted: the next caller refreshes at
once instead of waiting for a ticket nobody will close. While the one refresh of a stale token
runs, callers go on with the still-valid token.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List

import httpx
import pytest
import requests
from conftest import make_auth, run_bounded

# Tokens live 30 s on the servers, but the session stops using one after at most 4 s
# (`margin=26`: hard expiry = deadline - 26 s) and never calls it stale first
# (`refresh_before=0`: refresh at hard expiry). So a burst finds the token either fresh or
# expired, and requests queued in a busy client are never refused by the resource server.
TTL_S = 30
POLICY = {"margin": 26, "refresh_before": 0}
USABLE_MAX_S = 4.0


def _sleep_until_expired(burst_ended: float) -> None:
    """Sleeps until the token surely expired: it was requested before the burst ended, and
    the session stops using it at most ``USABLE_MAX_S`` after that."""
    time.sleep(max(0.0, burst_ended + USABLE_MAX_S + 0.2 - time.monotonic()))


async def test_200_concurrent_async_requests_make_one_token_request(tc: Any) -> None:
    tc.config(token_ttl_s=TTL_S)
    auth = make_auth("httpx-async", tc, **POLICY)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(auth=auth, limits=limits, timeout=30) as client:

        async def burst() -> List[int]:
            rs = await asyncio.wait_for(
                asyncio.gather(*(client.get(tc.api_url) for _ in range(200))), 30
            )
            return [r.status_code for r in rs]

        # No token yet: one caller refreshes, 199 wait for it.
        assert await burst() == [200] * 200
        ended = time.monotonic()
        assert tc.token_requests() == 1
        # The token has expired (not merely stale): again one refresh for 200 callers.
        await asyncio.sleep(max(0.0, ended + USABLE_MAX_S + 0.2 - time.monotonic()))
        assert await burst() == [200] * 200
        assert tc.token_requests() == 2
    stats = auth.stats()
    assert stats["token_requests"] == 2 and stats["refreshes"] == 2
    assert stats["unauthorized"] == 0
    assert tc.stats()["api"]["responses_200"] == 400


def _threaded_bursts(tc: Any, get: Callable[[], int]) -> None:
    """Two bursts of 50 threads released together by a barrier: cold, then past expiry."""

    def burst() -> List[int]:
        barrier = threading.Barrier(50)

        def worker() -> int:
            barrier.wait(10)
            return get()

        with ThreadPoolExecutor(max_workers=50) as pool:
            futures = [pool.submit(worker) for _ in range(50)]
            return [f.result(timeout=30) for f in futures]

    assert burst() == [200] * 50
    ended = time.monotonic()
    assert tc.token_requests() == 1
    _sleep_until_expired(ended)
    assert burst() == [200] * 50
    assert tc.token_requests() == 2
    assert tc.stats()["api"]["responses_200"] == 100


def test_50_threads_sharing_an_httpx_client_make_one_token_request(tc: Any) -> None:
    tc.config(token_ttl_s=TTL_S)
    auth = make_auth("httpx", tc, **POLICY)
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    with httpx.Client(auth=auth, limits=limits, timeout=30) as client:
        _threaded_bursts(tc, lambda: client.get(tc.api_url).status_code)
    assert auth.stats()["token_requests"] == 2


def test_50_threads_sharing_a_requests_session_make_one_token_request(tc: Any) -> None:
    tc.config(token_ttl_s=TTL_S)
    auth = make_auth("requests", tc, **POLICY)
    with requests.Session() as s:
        s.auth = auth
        s.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=50))
        _threaded_bursts(tc, lambda: s.get(tc.api_url, timeout=30).status_code)
    assert auth.stats()["token_requests"] == 2


async def test_cancelled_refresh_is_aborted_and_the_next_caller_refreshes(tc: Any) -> None:
    # The first token request hangs for 5 s; its caller is cancelled meanwhile. The next
    # caller must not wait for that ticket (60 s ticket timeout): it gets a new one at once.
    tc.config(failures=[{"kind": "slow", "delay_s": 5}])
    auth = make_auth("httpx-async", tc)
    async with httpx.AsyncClient(auth=auth, timeout=30) as client:
        first = asyncio.ensure_future(client.get(tc.api_url))
        for _ in range(500):  # until the token request has reached the endpoint (<= 10 s)
            if tc.token_requests() >= 1:
                break
            await asyncio.sleep(0.02)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        r = await asyncio.wait_for(client.get(tc.api_url), 4)
        assert r.status_code == 200
    stats = auth.stats()
    assert stats["adapter"]["refreshes_aborted"] == 1
    assert stats["token_requests"] == 2 and stats["refreshes"] == 1
    assert tc.token_requests() == 2


def test_refresh_whose_thread_dies_is_aborted(tc: Any) -> None:
    # A caller's thread dies mid-refresh (here: its token request raises something that is not
    # a transport error). Waiters are woken and the next caller refreshes at once.
    auth = make_auth("httpx", tc)
    real_send = auth._send_token
    calls = []

    def dying_send(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real_send(*args)

    auth._driver._send_sync = dying_send

    def get() -> int:
        with httpx.Client(auth=auth) as client:
            return client.get(tc.api_url).status_code

    kind, value = run_bounded(get, 10)
    assert kind == "error" and isinstance(value, KeyboardInterrupt)
    kind, value = run_bounded(get, 4)
    assert (kind, value) == ("ok", 200)
    assert auth.stats()["adapter"]["refreshes_aborted"] == 1
    assert tc.token_requests() == 1  # the first attempt never reached the server


def test_callers_with_a_valid_token_proceed_while_the_refresh_runs(tc: Any) -> None:
    # The token is stale but valid (refresh after a tenth of its life); the one refresh is
    # slow (2 s). It runs in the background: the caller that started it and everyone else go
    # on with the stale token meanwhile, and nobody starts a second refresh.
    tc.config(token_ttl_s=10)
    auth = make_auth("httpx", tc, refresh_window=(0.1, 0.1))
    with httpx.Client(auth=auth, timeout=30) as client:
        assert client.get(tc.api_url).status_code == 200
        # A cold start may wait for the first token's nbf second on the resource server's
        # clock: waits are counted from the stale phase on.
        waits_before = auth.stats()["adapter"]["waits"]
        time.sleep(1.2)  # past the refresh time (<= 1 s), far from hard expiry (>= 8 s)
        tc.config(failures=[{"kind": "slow", "delay_s": 2}])
        started = time.monotonic()
        # The caller that triggers the refresh does not wait for it (a hang bound, not a
        # performance figure: the refresh takes 2 s).
        assert client.get(tc.api_url).status_code == 200
        assert time.monotonic() - started < 1.5
        while tc.token_requests() < 2:  # the refresh has reached the token endpoint
            time.sleep(0.01)
        statuses: List[int] = [client.get(tc.api_url).status_code for _ in range(20)]
        deadline = time.monotonic() + 10
        while auth.stats()["adapter"]["background_refreshes"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert auth.stats()["adapter"]["background_refreshes"] == 1
    # Twenty requests went through with the stale token while the refresh was still running.
    assert statuses == [200] * 20
    assert tc.token_requests() == 2
    assert auth.stats()["adapter"]["waits"] == waits_before
