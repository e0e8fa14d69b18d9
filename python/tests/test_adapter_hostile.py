"""End to end, real sockets: the adapters against hostile or misdirected peers.

1. **Redirects.** An API that redirects to another origin (127.0.0.1 on another port) which
   answers 401 with a clock an hour ahead: our token never reaches the other origin, and its
   answer is not charged to our token (no invalidation, no retry, no resource-clock sample);
   the next request to the real API goes through with the same token. A same-origin redirect
   is still reported.
2. **Bounded token requests.** A token endpoint that trickles its headers or its body a byte
   a second fails the refresh within ``token_timeout`` (one total deadline); one that streams
   200 MB, or a 200 KB gzip body that inflates to 200 MB, is read only up to the core's 1 MiB
   limit (the session calls it ``body_too_large``) without the memory of the body. A small
   gzip/deflate token response still works.
3. **Background refresh.** A caller whose token is stale but valid gets it at once while the
   one refresh runs in a thread (sync) or a task of the running loop (asyncio); later calls use
   the new token; a failed background refresh is counted and logged once, without a secret;
   the ticket is closed even when the background work dies or its loop ends.

The hostile servers are ``http.server`` instances in this process (threads, 127.0.0.1 only);
tcserver provides the real token endpoint and API where one is needed.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import resource
import threading
import time
import tracemalloc
import zlib
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import httpx
import pytest
import requests
from conftest import ADAPTERS, get_once, make_auth, run_bounded

import tokenclock
import tokenclock.httpx
import tokenclock.requests

Respond = Callable[[BaseHTTPRequestHandler, "Origin"], None]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (as ours do on a hostile answer) is not news


class Origin:
    """A plain HTTP/1.1 server on 127.0.0.1 with a port of its own (so an origin of its own),
    serving every request with ``respond(handler, origin)``; it records what it was sent."""

    def __init__(self, respond: Respond) -> None:
        #: (method, path, Authorization header or None) of every request received.
        self.seen: List[Tuple[str, str, Optional[str]]] = []
        self.stop = threading.Event()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                origin.seen.append((self.command, self.path, self.headers.get("Authorization")))
                try:
                    respond(self, origin)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_HEAD = _any

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def origins() -> Iterator[Callable[[Respond], Origin]]:
    """Starts :class:`Origin` servers for the test; stops them all at the end."""
    started: List[Origin] = []

    def start(respond: Respond) -> Origin:
        o = Origin(respond)
        started.append(o)
        return o

    yield start
    for o in started:
        o.close()


def _reply(
    h: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    *,
    date_offset_s: Optional[float] = None,
    headers: Optional[Dict[str, str]] = None,
) -> None:
    """A complete response; ``date_offset_s``: a ``Date`` that far from real time."""
    if date_offset_s is None:
        h.send_response(status)  # adds Server and the real Date
    else:
        h.send_response_only(status)
        h.send_header("Date", formatdate(time.time() + date_offset_s, usegmt=True))
    for name, value in (headers or {}).items():
        h.send_header(name, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def _client_request(
    adapter: str, auth: Any, method: str, url: str, body: Optional[bytes] = None,
    seen: Optional[List[Optional[str]]] = None,
) -> int:
    """One request through the adapter with a fresh client that follows redirects; the
    ``Authorization`` of the request that produced the final response goes to ``seen``."""
    if adapter == "httpx":
        with httpx.Client(auth=auth, timeout=10, follow_redirects=True) as client:
            r = client.request(method, url, content=body)
            if seen is not None:
                seen.append(r.request.headers.get("Authorization"))
            return r.status_code
    if adapter == "httpx-async":

        async def go() -> int:
            async with httpx.AsyncClient(auth=auth, timeout=10, follow_redirects=True) as client:
                r = await client.request(method, url, content=body)
                if seen is not None:
                    seen.append(r.request.headers.get("Authorization"))
                return r.status_code

        return asyncio.run(go())
    with requests.Session() as s:
        resp = s.request(method, url, data=body, auth=auth, timeout=10)
        if seen is not None:
            seen.append(resp.request.headers.get("Authorization"))
        return resp.status_code


# ----- 1. redirects --------------------------------------------------------------------------


def _unauthorized_an_hour_ahead(h: BaseHTTPRequestHandler, o: Origin) -> None:
    _reply(
        h, 401, b'{"error": "invalid_token"}', date_offset_s=3600.0,
        headers={
            "WWW-Authenticate": 'Bearer error="invalid_token"',
            "Content-Type": "application/json",
        },
    )


def _redirect_to(location: str, status: int) -> Respond:
    def respond(h: BaseHTTPRequestHandler, o: Origin) -> None:
        _reply(h, status, headers={"Location": location})

    return respond


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("status,method", [(302, "GET"), (307, "POST")])
def test_a_redirect_to_another_origin_gets_no_token_and_is_not_charged_to_it(
    tc: Any, origins: Callable[[Respond], Origin], adapter: str, status: int, method: str
) -> None:
    other = origins(_unauthorized_an_hour_ahead)
    api = origins(_redirect_to(other.url + "/landing", status))
    auth = make_auth(adapter, tc)
    body = b'{"n": 1}' if method == "POST" else None

    kind, value = run_bounded(
        lambda: _client_request(adapter, auth, method, api.url + "/start", body), 20
    )
    # The other origin's 401 is handed back as it came: not retried, not diagnosed.
    assert (kind, value) == ("ok", 401), repr(value)

    # Our token went to the API (once: no retry) and never to the other origin.
    assert [(m, p) for m, p, _ in api.seen] == [(method, "/start")]
    sent = api.seen[0][2]
    assert sent is not None and sent.startswith("Bearer ")
    assert len(other.seen) == 1 and other.seen[0][2] is None

    stats = auth.stats()
    assert stats["unauthorized"] == 0 and stats["retries"] == 0
    assert stats["adapter"]["retries_sent"] == 0
    assert stats["adapter"]["responses_not_reported"] == 1
    # No resource-clock sample from the other origin (an hour ahead). requests reports the
    # API's own 302 (it carried our token, from our origin: real time); httpx reports only
    # the final response, which is not ours.
    resource_estimate = stats["offsets"]["resource"]
    assert resource_estimate["samples"] == (1 if adapter == "requests" else 0)
    if resource_estimate["samples"]:
        assert resource_estimate["high"] < 60 and resource_estimate["low"] > -60
    assert tc.token_requests() == 1

    # The token was not invalidated: the real API accepts it, no second token request.
    assert run_bounded(lambda: get_once(adapter, auth, tc.api_url), 20) == ("ok", 200)
    assert tc.token_requests() == 1
    assert auth.stats()["offsets"]["resource"]["high"] < 60


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_same_origin_redirect_is_still_reported(
    tc: Any, origins: Callable[[Respond], Origin], adapter: str
) -> None:
    def respond(h: BaseHTTPRequestHandler, o: Origin) -> None:
        # This API's clock is two minutes ahead (within the token's hour).
        if h.path == "/start":
            _reply(h, 302, date_offset_s=120.0, headers={"Location": "/final"})
        else:
            _reply(h, 200, b'{"ok": true}', date_offset_s=120.0,
                   headers={"Content-Type": "application/json"})

    api = origins(respond)
    auth = make_auth(adapter, tc)
    seen: List[Optional[str]] = []
    assert run_bounded(
        lambda: _client_request(adapter, auth, "GET", api.url + "/start", seen=seen), 20
    ) == ("ok", 200)
    # Same origin: the token goes along, and the final response measures the API's clock.
    assert [p for _, p, _ in api.seen] == ["/start", "/final"]
    assert all(a is not None and a.startswith("Bearer ") for _, _, a in api.seen)
    assert seen == [api.seen[0][2]]
    estimate = auth.stats()["offsets"]["resource"]
    assert estimate["samples"] >= 1
    assert 115.0 < estimate["offset"] < 125.0, estimate
    assert auth.stats()["adapter"]["responses_not_reported"] == 0


# ----- 2. bounded token requests ---------------------------------------------------------------

CAP = 1024 * 1024
HUGE = 200 * 1024 * 1024


def _trickle_headers(h: BaseHTTPRequestHandler, o: Origin) -> None:
    h.close_connection = True
    h.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for byte in b"Content-Type: application/json\r\n" * 1000:
        if o.stop.wait(1.0):
            return
        h.wfile.write(bytes([byte]))


def _trickle_body(h: BaseHTTPRequestHandler, o: Origin) -> None:
    h.close_connection = True
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    h.wfile.write(b"{")
    for _ in range(100000):
        if o.stop.wait(1.0):
            return
        h.wfile.write(b" ")


def _endless(h: BaseHTTPRequestHandler, o: Origin) -> None:
    """200 MB of body, no Content-Length (ends with the connection)."""
    h.close_connection = True
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Connection", "close")
    h.end_headers()
    chunk = b"a" * 65536
    for _ in range(HUGE // len(chunk)):
        if o.stop.is_set():
            return
        h.wfile.write(chunk)


_bomb_cache: List[bytes] = []


def _gzip_bomb_bytes() -> bytes:
    """~200 KB of gzip that inflates to 200 MB of zeros (built once, 1 MiB at a time)."""
    if not _bomb_cache:
        co = zlib.compressobj(9, zlib.DEFLATED, 31)
        zeros = bytes(1024 * 1024)
        parts = [co.compress(zeros) for _ in range(HUGE // len(zeros))]
        parts.append(co.flush())
        _bomb_cache.append(b"".join(parts))
    return _bomb_cache[0]


def _gzip_bomb(h: BaseHTTPRequestHandler, o: Origin) -> None:
    _reply(h, 200, _gzip_bomb_bytes(), headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip",
    })


def _auth_for(adapter: str, token_url: str, **kwargs: Any) -> Any:
    cls = tokenclock.requests.OAuth2Auth if adapter == "requests" else tokenclock.httpx.OAuth2Auth
    return cls(token_url, "demo-client", "demo-secret", **kwargs)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_trickling_token_endpoint_fails_the_refresh_within_token_timeout(
    tc: Any, origins: Callable[[Respond], Origin], adapter: str, where: str
) -> None:
    hostile = origins(_trickle_headers if where == "headers" else _trickle_body)
    auth = _auth_for(adapter, hostile.url + "/token", token_timeout=2)
    start = time.monotonic()
    kind, value = run_bounded(lambda: get_once(adapter, auth, tc.api_url), 15)
    elapsed = time.monotonic() - start
    assert kind == "error", (kind, value)
    assert isinstance(value, tokenclock.RefreshError) and value.code == "transport_error", repr(value)
    # A hang check (one deadline of 2 s for connect + send + every byte), not a benchmark.
    assert elapsed < 8.0
    assert len(hostile.seen) == 1
    assert tc.stats()["api"]["requests"] == 0


def _peak_memory_growth(fn: Callable[[], Any]) -> Tuple[Tuple[str, Any], int, int]:
    """Runs ``fn`` (bounded, 30 s); returns its outcome, the peak of Python allocations while
    it ran (tracemalloc) and the growth of the process's peak RSS, both in bytes."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = run_bounded(fn, 30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    return result, peak, rss_growth


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("body", ["200MB", "gzip-bomb"])
def test_a_huge_token_response_is_too_large_without_its_memory(
    tc: Any, origins: Callable[[Respond], Origin], adapter: str, body: str
) -> None:
    if body == "gzip-bomb":
        _gzip_bomb_bytes()  # built before measuring
    hostile = origins(_endless if body == "200MB" else _gzip_bomb)
    auth = _auth_for(adapter, hostile.url + "/token", token_timeout=10)
    start = time.monotonic()
    (kind, value), peak, rss_growth = _peak_memory_growth(
        lambda: get_once(adapter, auth, tc.api_url)
    )
    elapsed = time.monotonic() - start
    assert kind == "error", (kind, value)
    assert isinstance(value, tokenclock.RefreshError) and value.code == "body_too_large", repr(value)
    assert peak < 50 * 1024 * 1024, f"peak Python allocations {peak / 2**20:.0f} MiB"
    assert rss_growth < 50 * 1024 * 1024, f"peak RSS grew {rss_growth / 2**20:.0f} MiB"
    assert elapsed < 20.0
    assert tc.stats()["api"]["requests"] == 0


def _token_json(token: str) -> bytes:
    return json.dumps(
        {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
    ).encode()


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity"])
def test_a_small_encoded_token_response_still_works(
    origins: Callable[[Respond], Origin], adapter: str, encoding: str
) -> None:
    payload = _token_json(f"opaque-{encoding}")
    encoded = {
        "gzip": gzip.compress(payload),
        "deflate": zlib.compress(payload),
        "identity": payload,
    }[encoding]

    def token_endpoint(h: BaseHTTPRequestHandler, o: Origin) -> None:
        headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
        if encoding != "identity":
            headers["Content-Encoding"] = encoding
        _reply(h, 200, encoded, headers=headers)

    issuer = origins(token_endpoint)
    api = origins(lambda h, o: _reply(h, 200, b'{"ok": true}'))
    auth = _auth_for(adapter, issuer.url + "/token")
    assert run_bounded(lambda: get_once(adapter, auth, api.url + "/api"), 20) == ("ok", 200)
    assert api.seen[0][2] == f"Bearer opaque-{encoding}"


# ----- 3. background refresh -------------------------------------------------------------------

SLOW_S = 3.0
CODE_503 = "http_error"  # the session's code for a 503 without an OAuth error body

# Whether a caller waited for the refresh is judged by what happened, not by how long it took
# (a loaded machine makes any time bound flaky): the token endpoint answers after SLOW_S, so a
# caller that returned while the session still counts one refresh did not wait for the second.


def _refresh_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tokenclock-")]


def _wait_for(cond: Callable[[], bool], bound: float) -> bool:
    end = time.monotonic() + bound
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def _make_stale(tc: Any) -> None:
    """The token got by the first request is stale after ~1 s (refresh at a tenth of its
    10 s life) and valid for ~8 s more; the next token request is slow."""
    time.sleep(1.2)
    tc.config(failures=[{"kind": "slow", "delay_s": SLOW_S}])


@pytest.mark.parametrize("adapter", ["httpx", "requests"])
def test_sync_caller_with_a_stale_token_does_not_wait_for_the_refresh(tc: Any, adapter: str) -> None:
    tc.config(token_ttl_s=10)
    auth = make_auth(adapter, tc, refresh_window=(0.1, 0.1))
    seen: List[Optional[str]] = []

    def call() -> int:
        return _client_request(adapter, auth, "GET", tc.api_url, seen=seen)

    assert run_bounded(call, 20) == ("ok", 200)
    # The first token may be a moment from valid on the resource server's clock (its nbf, in
    # whole seconds): a cold start can wait for that. Counted from the stale phase on.
    waits_before = auth.stats()["adapter"]["waits"]
    _make_stale(tc)
    assert run_bounded(call, 20) == ("ok", 200)
    assert auth.stats()["refreshes"] == 1  # returned before the refresh ended
    assert seen[1] == seen[0]  # the stale, still valid token
    # The refresh runs meanwhile (one thread); other callers go on with the stale token.
    assert _wait_for(lambda: tc.token_requests() == 2, 5)
    assert [t.name for t in _refresh_threads()] != []
    results = [run_bounded(call, 20) for _ in range(3)]
    assert results == [("ok", 200)] * 3
    assert set(seen[2:]) == {seen[0]}
    # The client is closed; the refresh ends on its own and leaves no thread behind.
    assert _wait_for(lambda: auth.stats()["refreshes"] == 2, 10)
    assert _wait_for(lambda: not _refresh_threads(), 5), _refresh_threads()
    assert run_bounded(call, 20) == ("ok", 200)
    assert seen[-1] != seen[0]  # the new token
    assert tc.token_requests() == 2  # single flight
    stats = auth.stats()
    assert stats["adapter"]["background_refreshes"] == 1
    assert stats["adapter"]["background_refresh_errors"] == 0
    assert stats["adapter"]["waits"] == waits_before


async def test_async_caller_with_a_stale_token_does_not_wait_for_the_refresh(tc: Any) -> None:
    tc.config(token_ttl_s=10)
    auth = make_auth("httpx-async", tc, refresh_window=(0.1, 0.1))
    seen: List[Optional[str]] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.headers.get("Authorization"))

    async with httpx.AsyncClient(auth=auth, timeout=10, event_hooks={"request": [record]}) as c:
        assert (await c.get(tc.api_url)).status_code == 200
        waits_before = auth.stats()["adapter"]["waits"]  # see the sync test
        await asyncio.sleep(1.2)
        tc.config(failures=[{"kind": "slow", "delay_s": SLOW_S}])
        r = await asyncio.wait_for(c.get(tc.api_url), 10)
        assert r.status_code == 200
        assert auth.stats()["refreshes"] == 1  # returned before the refresh ended
        assert seen[1] == seen[0]
        # Concurrent callers meanwhile: all served with the stale token, one token request.
        rs = await asyncio.wait_for(asyncio.gather(*(c.get(tc.api_url) for _ in range(5))), 10)
        assert [x.status_code for x in rs] == [200] * 5
        assert set(seen[2:]) == {seen[0]}
        for _ in range(500):
            if auth.stats()["refreshes"] == 2:
                break
            await asyncio.sleep(0.02)
        assert auth.stats()["refreshes"] == 2
        assert (await c.get(tc.api_url)).status_code == 200
        assert seen[-1] != seen[0]
    assert tc.token_requests() == 2
    stats = auth.stats()
    assert stats["adapter"]["background_refreshes"] == 1
    assert stats["adapter"]["waits"] == waits_before


def test_async_background_refresh_ended_by_its_loop_closes_the_ticket(tc: Any) -> None:
    tc.config(token_ttl_s=10)
    auth = make_auth("httpx-async", tc, refresh_window=(0.1, 0.1))

    async def stale_call() -> int:
        async with httpx.AsyncClient(auth=auth, timeout=10) as c:
            assert (await c.get(tc.api_url)).status_code == 200
            await asyncio.sleep(1.2)
            tc.config(failures=[{"kind": "slow", "delay_s": SLOW_S}])
            status = (await c.get(tc.api_url)).status_code
            assert auth.stats()["refreshes"] == 1  # returned before the refresh ended
            for _ in range(250):  # the background request has reached the endpoint
                if tc.token_requests() == 2:
                    break
                await asyncio.sleep(0.02)
            return status

    # asyncio.run cancels the background task when main returns: the ticket is closed as
    # aborted, so nobody waits for a refresh that will never end.
    assert run_bounded(lambda: asyncio.run(stale_call()), 20) == ("ok", 200)
    assert tc.token_requests() == 2
    assert auth._driver._session.refresh_in_flight is False
    assert auth.stats()["adapter"]["refreshes_aborted"] == 1

    async def later() -> int:
        async with httpx.AsyncClient(auth=auth, timeout=10) as c:
            status = (await c.get(tc.api_url)).status_code  # stale: a new background refresh
            for _ in range(500):
                if auth.stats()["refreshes"] == 2:
                    break
                await asyncio.sleep(0.02)
            return status

    assert run_bounded(lambda: asyncio.run(later()), 20) == ("ok", 200)
    assert auth.stats()["refreshes"] == 2
    assert tc.token_requests() == 3


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_failed_background_refresh_is_counted_and_logged_once_without_secrets(
    tc: Any, adapter: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tokenclock")
    tc.config(token_ttl_s=10)
    auth = make_auth(adapter, tc, refresh_window=(0.1, 0.1))
    seen: List[Optional[str]] = []
    assert run_bounded(
        lambda: _client_request(adapter, auth, "GET", tc.api_url, seen=seen), 20
    ) == ("ok", 200)
    time.sleep(1.2)
    tc.config(failures=[{"kind": "status", "status": 503}])
    if adapter == "httpx-async":
        # The background task belongs to the loop: keep it running until the task has ended.
        async def stale_call() -> int:
            async with httpx.AsyncClient(auth=auth, timeout=10) as c:
                r = await c.get(tc.api_url)
                seen.append(r.request.headers.get("Authorization"))
                for _ in range(500):
                    if auth.stats()["adapter"]["background_refresh_errors"]:
                        break
                    await asyncio.sleep(0.02)
                return r.status_code

        assert run_bounded(lambda: asyncio.run(stale_call()), 20) == ("ok", 200)
    else:
        assert run_bounded(
            lambda: _client_request(adapter, auth, "GET", tc.api_url, seen=seen), 20
        ) == ("ok", 200)
    assert _wait_for(lambda: auth.stats()["adapter"]["background_refresh_errors"] == 1, 10)
    assert _wait_for(lambda: not _refresh_threads(), 5)
    stats = auth.stats()
    assert stats["failures"] == 1
    assert stats["adapter"]["last_background_error"] == CODE_503
    records = [r for r in caplog.records if r.name == "tokenclock" and "background" in r.getMessage()]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    text = caplog.text
    token = (seen[0] or "")[len("Bearer "):]
    assert token and token not in text and tc.client_secret not in text
    # The stale token is still served while the session backs off.
    assert run_bounded(
        lambda: _client_request(adapter, auth, "GET", tc.api_url, seen=seen), 20
    ) == ("ok", 200)
    assert seen[-1] == seen[0]


def test_a_background_refresh_that_dies_closes_its_ticket(tc: Any) -> None:
    tc.config(token_ttl_s=10)
    auth = make_auth("httpx", tc, refresh_window=(0.1, 0.1))
    assert run_bounded(lambda: get_once("httpx", auth, tc.api_url), 20) == ("ok", 200)
    time.sleep(1.2)
    real_send = auth._driver._send_sync
    calls: List[int] = []

    def dying_send(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the background work died")
        return real_send(*args)

    auth._driver._send_sync = dying_send
    assert run_bounded(lambda: get_once("httpx", auth, tc.api_url), 20) == ("ok", 200)
    assert _wait_for(lambda: auth.stats()["adapter"]["background_refresh_errors"] == 1, 10)
    assert _wait_for(lambda: not _refresh_threads(), 5)
    assert auth._driver._session.refresh_in_flight is False
    assert auth.stats()["adapter"]["refreshes_aborted"] == 1
    # The next caller starts the refresh again (no backoff after an abort), in the background.
    assert run_bounded(lambda: get_once("httpx", auth, tc.api_url), 20) == ("ok", 200)
    assert _wait_for(lambda: auth.stats()["refreshes"] == 2, 10)
    assert tc.token_requests() == 2
