"""``tokenclock.httpx.OAuth2Auth``: an :class:`httpx.Auth` for ``httpx.Client`` and
``httpx.AsyncClient`` that keeps an OAuth 2 access token fresh across clock skew.

::

    auth = OAuth2Auth(token_url, client_id, client_secret, scope="read")
    with httpx.Client(auth=auth) as client:
        client.get("https://api.example/things")

Behaviour (every decision is the core ``Session``'s; see ``tokenclock._driver``):

* one refresh at a time across threads *and* asyncio tasks: while it runs, callers holding a
  still-valid token go on, the others wait for it (never longer than the session says). A
  refresh that is due while the token is still valid runs in the background (a thread, or a
  task of the running loop) and its caller is not held up;
* every API response to a request that carried our token, from the origin it was sent to, is
  reported (its ``Date`` header measures the resource server's clock); a 401 is retried once
  with the new token, after the wait the session asks for; a repeated 401 that the clocks
  explain raises :class:`tokenclock.ClockSkewError`, any other is returned as httpx would
  return it. The final response of a redirect to another origin (httpx does not send our
  header there) is handed back untouched: it neither invalidates the token nor moves the
  clock estimate;
* token-endpoint failures raise the typed :class:`tokenclock.RefreshError` kinds.

**Redirects and the token.** httpx follows redirects below the auth flow, which runs once per
request (and once more for the one retry, to the same URL). On a redirect to another origin
httpx drops the ``Authorization`` header; the one exception is the same host's http -> https
upgrade on default ports. Not covered: sending ``response.next_request`` yourself through a
client with this auth runs the flow for that URL, like any request you send.

**Where the token request goes.** Not through the user's client via the auth-flow generator,
but through a short-lived client of its own (or ``token_client=`` / ``async_token_client=``).
Through the generator, a transport failure reaches the flow only as ``GeneratorExit`` (httpx
0.28's ``Client._send_handling_auth`` closes the flow in a ``finally``), so a refused connection could not be told from a cancelled caller: no
backoff, and no typed error. The token response, access token in its body, would also sit in
every later ``response.history`` and pass through the client's event hooks, and the client's
``follow_redirects`` would apply to a POST carrying client credentials. Our own client never
follows redirects and is bounded by ``token_timeout`` seconds in total (connect, send and every
byte of the answer); the body is streamed and read up to 1 MiB after decoding (a longer one is
the session's ``body_too_large``; a gzip bomb costs 1 MiB). ``token_timeout`` (seconds) sets the
session's own bound (default 10). Give ``token_client=`` (an
``httpx.Client``) / ``async_token_client=`` (an ``httpx.AsyncClient``) to send token requests
through your own transport (proxies, certificates, mounts, ``MockTransport``).

``requires_response_body`` stays False: the flow is ``sync_auth_flow``/``async_auth_flow``
(not ``auth_flow``), API bodies stay streamed (``stream=True`` works) and only the 401 being
retried is read, to free its connection.

asyncio only (not trio): async waiters are asyncio futures.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from typing import Any, AsyncGenerator, Callable, Dict, Generator, Optional

import httpx

from tokenclock._driver import (
    BodyReader,
    Driver,
    Headers,
    TokenResponse,
    TokenTransportError,
    make_session,
    reportable,
    with_identity_encoding,
)

__all__ = ["OAuth2Auth"]

_ssl_lock = threading.Lock()
_ssl_context: Optional[ssl.SSLContext] = None


def _default_ssl_context() -> ssl.SSLContext:
    """One SSL context for our short-lived token clients (creating one loads the CA bundle,
    milliseconds; sharing it is thread-safe). Same defaults as ``httpx.Client()``."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


def _transport_error(exc: httpx.RequestError) -> TokenTransportError:
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connect"
    return TokenTransportError(kind)


def _ours(credential: Any, request: httpx.Request, response: httpx.Response) -> bool:
    """Was ``response`` produced by a request that carried our credential, to the origin we
    set it for? After redirects (followed below the auth flow) the final response may come
    from another origin, to which httpx sent no ``Authorization``."""
    final = response.request
    if final is request:
        return True
    return reportable(
        credential, str(request.url), str(final.url), final.headers.get("Authorization")
    )


def _exchange(
    client: httpx.Client, method: str, url: str, headers: Headers, body: bytes,
    timeout: float, deadline: float, cap: int,
) -> TokenResponse:
    request = client.build_request(
        method, url, headers=with_identity_encoding(headers), content=body, timeout=timeout
    )
    r = client.send(request, stream=True, follow_redirects=False)
    try:
        if r.is_stream_consumed:
            data = _in_memory(r, cap)
        else:
            reader = BodyReader(r.headers.get("content-encoding"), deadline, cap)
            for chunk in r.iter_raw():
                if reader.feed(chunk):
                    break
            data = reader.body()
    finally:
        r.close()
    return r.status_code, r.headers.multi_items(), data


def _in_memory(r: httpx.Response, cap: int) -> bytes:
    """The body of a response a transport built in memory (``httpx.MockTransport`` with
    ``json=``/``content=``): there is no stream to read, the decoded content is already held.
    Passed on cut to ``cap + 1`` bytes (the session then answers ``body_too_large``)."""
    return r.content[: cap + 1]


async def _aexchange(
    client: httpx.AsyncClient, method: str, url: str, headers: Headers, body: bytes,
    timeout: float, deadline: float, cap: int,
) -> TokenResponse:
    request = client.build_request(
        method, url, headers=with_identity_encoding(headers), content=body, timeout=timeout
    )
    r = await client.send(request, stream=True, follow_redirects=False)
    try:
        if r.is_stream_consumed:
            data = _in_memory(r, cap)
        else:
            reader = BodyReader(r.headers.get("content-encoding"), deadline, cap)
            async for chunk in r.aiter_raw():
                if reader.feed(chunk):
                    break
            data = reader.body()
    finally:
        await r.aclose()
    return r.status_code, r.headers.multi_items(), data


def _replayable(request: httpx.Request) -> bool:
    """Can the request be sent again? (Its body is in memory, not a consumed stream.)"""
    try:
        request.content
    except httpx.RequestNotRead:
        return False
    return True


class OAuth2Auth(httpx.Auth):
    """Client-credentials OAuth 2 for httpx (``Client`` and ``AsyncClient``).

    ``token_url``, ``client_id``, ``client_secret``, ``scope`` and ``auth_method``
    (``"client_secret_basic"``, ``"client_secret_post"`` or ``"client_secret_jwt"``) build
    the grant (``allow_insecure_http=True``: plain ``http://`` to a host that is not loopback,
    for in-cluster identity providers; logged once per origin at WARNING); ``**policy`` goes
    to :class:`tokenclock.Session`. Or pass a ready ``session=`` (any grant) instead. ``clock``
    is the injected clock (a callable returning a :class:`tokenclock.Reading`), also given to
    the session; with ``session=``, pass the clock that session was built with.

    ``store``: a :class:`tokenclock.store.RedisStore` shares the token with every process using
    the same store and credential (one token request per expiry fleet-wide; see
    ``tokenclock.store``).
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        token_url: Optional[str] = None,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        *,
        scope: Optional[str] = None,
        auth_method: str = "client_secret_basic",
        allow_insecure_http: bool = False,
        session: Any = None,
        clock: Optional[Callable[[], Any]] = None,
        token_client: Optional[httpx.Client] = None,
        async_token_client: Optional[httpx.AsyncClient] = None,
        token_timeout: Optional[float] = None,
        store: Any = None,
        **policy: Any,
    ) -> None:
        sess = make_session(
            token_url,
            client_id,
            client_secret,
            scope=scope,
            auth_method=auth_method,
            allow_insecure_http=allow_insecure_http,
            session=session,
            clock=clock,
            policy=policy,
        )
        self._token_client = token_client
        self._async_token_client = async_token_client
        self._driver = Driver(
            sess,
            clock=clock,
            send_sync=self._send_token,
            send_async=self._send_token_async,
            token_timeout=token_timeout,
            store=store,
        )

    def __repr__(self) -> str:
        return f"<tokenclock.httpx.OAuth2Auth {self._driver.describe()}>"

    def stats(self) -> Dict[str, Any]:
        """Counters and estimates: the session's (``token_requests``, ``refreshes``,
        ``failures``, ``unauthorized`` = 401s seen, ``retries`` advised, offsets) and this
        adapter's under ``"adapter"`` (``retries_sent``, ``unauthorized_returned``, ...)."""
        return self._driver.stats()

    # ----- token requests ---------------------------------------------------------------

    # The body is streamed raw (``iter_raw``: one chunk per read from the connection) and
    # decoded by a BodyReader (1 MiB cap after decoding, the deadline between chunks). The
    # driver bounds the whole call by the same deadline (`wait_for`, or a worker thread).

    def _send_token(
        self, method: str, url: str, headers: Headers, body: bytes, timeout: float
    ) -> TokenResponse:
        deadline = time.monotonic() + timeout
        cap = self._driver.max_token_response_len
        try:
            if self._token_client is not None:
                return _exchange(
                    self._token_client, method, url, headers, body, timeout, deadline, cap
                )
            with httpx.Client(
                timeout=timeout, follow_redirects=False, verify=_default_ssl_context()
            ) as client:
                return _exchange(client, method, url, headers, body, timeout, deadline, cap)
        except httpx.RequestError as exc:
            raise _transport_error(exc) from exc

    async def _send_token_async(
        self, method: str, url: str, headers: Headers, body: bytes, timeout: float
    ) -> TokenResponse:
        deadline = time.monotonic() + timeout
        cap = self._driver.max_token_response_len
        try:
            if self._async_token_client is not None:
                return await _aexchange(
                    self._async_token_client, method, url, headers, body, timeout, deadline, cap
                )
            async with httpx.AsyncClient(
                timeout=timeout, follow_redirects=False, verify=_default_ssl_context()
            ) as client:
                return await _aexchange(
                    client, method, url, headers, body, timeout, deadline, cap
                )
        except httpx.RequestError as exc:
            raise _transport_error(exc) from exc

    # ----- the flows --------------------------------------------------------------------

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        driver = self._driver
        attempt = 1
        while True:
            credential = driver.acquire()
            request.headers["Authorization"] = credential.header
            sent = driver.now()
            response = yield request
            received = driver.now()
            if not _ours(credential, request, response):
                driver.not_reported()
                return
            wait = driver.report(
                credential, response.status_code, response.headers, sent, received,
                attempt=attempt, replayable=_replayable(request),
            )
            if wait is None:
                return
            attempt += 1
            response.read()  # free the connection before waiting
            if wait > 0:
                time.sleep(wait)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        driver = self._driver
        attempt = 1
        while True:
            credential = await driver.acquire_async()
            request.headers["Authorization"] = credential.header
            sent = driver.now()
            response = yield request
            received = driver.now()
            if not _ours(credential, request, response):
                driver.not_reported()
                return
            wait = driver.report(
                credential, response.status_code, response.headers, sent, received,
                attempt=attempt, replayable=_replayable(request),
            )
            if wait is None:
                return
            attempt += 1
            await response.aread()
            if wait > 0:
                await asyncio.sleep(wait)
