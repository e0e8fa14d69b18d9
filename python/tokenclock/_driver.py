"""Drives a :class:`tokenclock.Session` for the HTTP adapters (``tokenclock.httpx``,
``tokenclock.requests``). This is the only module of the adapters that talks to the session.

The session (in the Rust core) makes every decision: whether a token may be used, who
refreshes, how long to wait, what a 401 means. This module only carries those decisions out
with the host's concurrency primitives:

* the common case, a ``ready`` answer, is one call into the session (which has its own lock);
* a ``wait`` answer is asked again under this driver's lock, and the wait starts under it, so
  the wake-up when a ticket closes (also under it) cannot be missed; the lock is never held
  across I/O;
* ``Wait`` answers block on a :class:`threading.Condition` (threads) or on a future registered
  with this driver (asyncio tasks, any loop, any thread), woken when a ticket closes and bounded
  by the answer's ``until``;
* the one caller that gets a ``refresh`` ticket sends the token request through the
  adapter's sender and closes the ticket with ``complete_refresh``, or ``fail_refresh`` with
  ``"connect"`` / ``"timeout"`` for transport failures and ``"aborted"`` when the caller is
  cancelled or dies with any other exception, so no waiter waits for a refresh that will never
  end;
* a ``ready_and_refresh`` ticket (the token is stale but still valid) is performed in the
  background — a thread for threads, a task of the running loop for asyncio — and its caller
  goes on at once with the still-valid token. Its ticket is closed on every path (also when
  the task is cancelled before it ran, or its loop ends); its failure is counted
  (``background_refresh_errors``, ``last_background_error``: the error's code) and logged
  once at WARNING on the ``tokenclock`` logger, with the code only (never a token, a secret or
  an exception message). A background thread is not a daemon: it ends on its own within the
  token request's deadline (it may hold a fleet lease; it must close it);
* every token request is bounded: one total deadline of ``token_timeout`` for connect, send
  and every byte of the answer (asyncio: ``wait_for``; threads: the request runs in a worker
  thread that the caller stops waiting for at the deadline), and a body of at most the
  session's ``max_token_response_len`` after decoding (see :class:`BodyReader`);
* a caller performs at most the session's ``refreshes_per_call`` token requests; the failure
  of the last one is raised to it;
* an API response is reported with ``after_response`` only when the request that produced it
  carried our ``Authorization`` header, to the origin we set it for (:func:`reportable`);
  the session answers what to do with it (return it, retry once, raise).

Senders (supplied by the adapters) take ``(method, url, headers, body, timeout)`` and return
``(status, headers, body)``; they raise :class:`TokenTransportError` for transport failures.
They read the body through a :class:`BodyReader` (cap, content coding, deadline between
chunks).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
import zlib
from typing import Any, Awaitable, Callable, Dict, List, Optional, Protocol, Set, Tuple
from urllib.parse import urlsplit

from tokenclock import errors as _errors
from tokenclock.store import StoreError as _StoreError

Headers = List[Tuple[str, str]]
TokenResponse = Tuple[int, Headers, bytes]
SyncSender = Callable[[str, str, Headers, bytes, float], TokenResponse]
AsyncSender = Callable[[str, str, Headers, bytes, float], Awaitable[TokenResponse]]
Clock = Callable[[], Any]

# Shortest wait (seconds): an `until` that is already due still yields the thread/loop once.
_MIN_WAIT_S = 0.001
# Longest single wait (seconds). Every wait is bounded by the session's `until` already; this
# only caps an absurd value (e.g. from a broken injected clock). The loop re-asks the session.
_MAX_WAIT_S = 600.0
#: Largest raw read asked of a connection while reading a token response.
READ_CHUNK = 16 * 1024

_logger = logging.getLogger("tokenclock")


class TokenTransportError(Exception):
    """Raised by a sender when the token request got no HTTP response.

    ``kind`` is the session's transport failure: ``"connect"`` (refused, reset, closed, DNS,
    TLS, protocol error) or ``"timeout"``. The adapter's own exception is the ``__cause__``.
    """

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _Ready:
    """A ``ready`` answer, built once per token."""

    __slots__ = ("header", "token_id")
    kind = "ready"

    def __init__(self, header: str, token_id: int) -> None:
        self.header = header
        self.token_id = token_id

    def __repr__(self) -> str:
        return f"Authorization(ready, token {self.token_id})"


class Credential(Protocol):
    """What an API request is sent with (a ``ready`` :class:`tokenclock.Authorization`): the
    ``Authorization`` value and the id to report the response with."""

    @property
    def header(self) -> str: ...

    @property
    def token_id(self) -> int: ...


def _ticket_parts(ticket: Any, rebuilt: Any = None) -> Tuple[Any, str, str, Headers, bytes]:
    """(id, method, url, headers, body) of a ticket, headers as a list of pairs; `rebuilt`:
    a fleet `fetch` action's replacement request ``(method, url, headers, body)``."""
    if rebuilt is not None:
        method, url, pairs, text = rebuilt
        warn_insecure_http(url)
        return ticket.id, method, url, [(str(k), str(v)) for k, v in pairs], text.encode("utf-8")
    raw = ticket.headers
    items = raw.items() if hasattr(raw, "items") else raw
    headers = [(str(k), str(v)) for k, v in items]
    body = ticket.body
    if body is None:
        body = b""
    elif isinstance(body, str):
        body = body.encode("utf-8")
    url = str(ticket.url)
    warn_insecure_http(url)
    return ticket.id, str(ticket.method), url, headers, bytes(body)


def _is_stale_ticket(exc: BaseException) -> bool:
    return getattr(exc, "code", None) == "stale_ticket"


def _as_exception(err: Any) -> BaseException:
    """The session's error value as an exception to raise."""
    if isinstance(err, BaseException):
        return err
    return _errors.TokenClockError(str(err))


def _wake(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


def _error_code(exc: BaseException) -> str:
    """What is logged and counted of a failure: the typed error's code, else the exception's
    class name (never its message: a transport error may quote a URL or a request)."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) and code else type(exc).__name__


# ----- token responses: size, content coding and deadline ----------------------------------


class BodyReader:
    """Reads a token response body as raw chunks from the connection, decodes its content
    coding itself (``identity``, ``gzip``/``x-gzip``, ``deflate``) with a bounded output, and
    keeps at most ``cap`` + 1 bytes (``cap``: the session's ``max_token_response_len``, 1 MiB):
    a 200 KB gzip body that inflates to 200 MB costs 1 MiB. The raw body is capped alike (a compressed body over the limit is
    over it). Any other coding (or a corrupt one) is a transport failure (``"connect"``), as
    httpx and requests report a body they cannot decode. ``deadline`` (``time.monotonic()``)
    is checked between chunks: passed, reading stops with ``"timeout"``.

    ``feed(chunk)`` returns True once the cap is reached (stop reading); ``body()`` is what the
    session gets."""

    __slots__ = ("_cap", "_deadline", "_out", "_raw", "_decoder", "_deflate", "_over")

    def __init__(self, content_encoding: Optional[str], deadline: float, cap: int) -> None:
        self._cap = cap
        self._deadline = deadline
        self._out = bytearray()
        self._raw = 0
        self._over = False
        self._deflate = False
        codings = [
            c.strip().lower() for c in (content_encoding or "").split(",")
            if c.strip() and c.strip().lower() != "identity"
        ]
        self._decoder: Any = None
        if not codings:
            return
        if len(codings) == 1 and codings[0] in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif codings == ["deflate"]:
            # RFC 9110 "deflate" is zlib-wrapped; some servers send raw deflate (as httpx and
            # urllib3 do, the raw form is tried when the zlib header is wrong).
            self._decoder = zlib.decompressobj()
            self._deflate = True
        else:
            raise TokenTransportError("connect")

    def feed(self, chunk: bytes) -> bool:
        if time.monotonic() >= self._deadline:
            raise TokenTransportError("timeout")
        if not chunk or self._over:
            return self._over
        self._raw += len(chunk)
        room = self._cap + 1 - len(self._out)
        if self._decoder is None:
            self._out += chunk[:room]
        else:
            self._decode(chunk, room)
        if len(self._out) > self._cap or self._raw > self._cap:
            self._over = True
        return self._over

    def _decode(self, chunk: bytes, room: int) -> None:
        try:
            data = self._decoder.decompress(chunk, room)
        except zlib.error:
            if not (self._deflate and not self._out and self._raw == len(chunk)):
                raise TokenTransportError("connect") from None
            self._deflate = False
            self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate
            try:
                data = self._decoder.decompress(chunk, room)
            except zlib.error:
                raise TokenTransportError("connect") from None
        self._out += data
        # Output stopped at `room` with input left: the decoded body is over the cap.

    def body(self) -> bytes:
        """The body for the session: complete, or (over the cap) exactly cap + 1 bytes."""
        if not self._over and self._decoder is not None:
            try:
                self._out += self._decoder.flush()[: self._cap + 1 - len(self._out)]
            except zlib.error:
                raise TokenTransportError("connect") from None
            if len(self._out) > self._cap:
                self._over = True
        if self._over:
            # Over the limit (decoded, or raw): the session sees a body one byte too long.
            missing = self._cap + 1 - len(self._out)
            return bytes(self._out[: self._cap + 1]) + b"\0" * max(missing, 0)
        return bytes(self._out)


def with_identity_encoding(headers: Headers) -> Headers:
    """The token request's headers, asking for an uncompressed answer (a token response is
    small) unless the ticket already says what it accepts."""
    if any(k.lower() == "accept-encoding" for k, _ in headers):
        return headers
    return [*headers, ("Accept-Encoding", "identity")]


def _call_with_deadline(fn: Callable[..., Any], args: Tuple[Any, ...], timeout: float) -> Any:
    """``fn(*args)`` in a worker thread, waited for at most ``timeout`` seconds: one total
    deadline for a blocking token request (DNS, connect, TLS, headers trickled a byte at a
    time: nothing in a blocking HTTP client bounds them all). Past it, TokenTransportError
    ("timeout"); the worker is left to end on its own (the sender's own per-operation timeouts
    and its deadline between chunks end it) and its result is dropped. Exceptions of ``fn``
    (any kind) are raised here. The caller's context variables go with it."""
    box: List[Any] = []
    done = threading.Event()
    ctx = contextvars.copy_context()

    def run() -> None:
        try:
            box.append((True, ctx.run(fn, *args)))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box.append((False, exc))
        finally:
            done.set()

    worker = threading.Thread(target=run, name="tokenclock-token-request", daemon=True)
    worker.start()
    if not done.wait(timeout):
        raise TokenTransportError("timeout")
    ok, value = box[0]
    if ok:
        return value
    raise value


# ----- which API responses are ours ----------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> Optional[Tuple[str, str, int]]:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return scheme, parts.hostname.lower(), port


_LOOPBACK_HOSTS = frozenset(("127.0.0.1", "localhost", "::1"))
_insecure_warned: Set[Tuple[str, str, int]] = set()
_insecure_lock = threading.Lock()


def warn_insecure_http(url: str) -> None:
    """Logs once per process and origin, at WARNING on the ``tokenclock`` logger, that a token
    request goes over plain http to a host that is not loopback. Core builds such a request only
    with ``allow_insecure_http=True``. The message names the origin only (no path, query,
    credential or token)."""
    if url[:7].lower() != "http://":
        return
    origin = _origin(url)
    if origin is None or origin[1] in _LOOPBACK_HOSTS:
        return
    with _insecure_lock:
        if origin in _insecure_warned:
            return
        _insecure_warned.add(origin)
    _logger.warning(
        "allow_insecure_http: token requests to http://%s:%d are sent unencrypted "
        "(client credentials and tokens travel in clear); use https outside a private network",
        origin[1],
        origin[2],
    )


def reportable(credential: "Credential", sent_url: str, final_url: str, header: Optional[str]) -> bool:
    """Is a response ours to report? The request that produced it (``final_url``, its
    ``Authorization`` ``header``) must have carried our credential, and gone to the origin we
    set it for (``sent_url``) — or to that origin's ``https`` upgrade on the same host (http:80
    -> https:443), the one cross-origin redirect after which httpx and requests keep the
    header, so the credential went there too. Anything else (a redirect to another host or
    port, which both clients send without our header) is not the API's answer to our token:
    its 401 must not invalidate the token, its ``Date`` must not move the resource server's
    clock estimate."""
    if header != credential.header:
        return False
    if final_url == sent_url:
        return True
    a, b = _origin(sent_url), _origin(final_url)
    if a is None or b is None:
        return False
    return a == b or (a[0] == "http" and a[2] == 80 and b == ("https", a[1], 443))


def make_session(
    token_url: Optional[str],
    client_id: Optional[str],
    client_secret: Optional[str],
    *,
    scope: Optional[str],
    auth_method: str,
    session: Any,
    clock: Optional[Clock],
    policy: Dict[str, Any],
    allow_insecure_http: bool = False,
) -> Any:
    """The adapters' constructor rule: either a ready ``Session`` (``session=``) or the client
    credentials to build one (policy keywords go to ``Session``), never both."""
    if session is not None:
        if (
            token_url is not None
            or client_id is not None
            or client_secret is not None
            or policy
            or allow_insecure_http
        ):
            raise _errors.InvalidArgument(
                "give either session= or token_url/client_id/client_secret (and policy), not both"
            )
        return session
    if token_url is None or client_id is None:
        raise _errors.InvalidArgument("token_url and client_id are required without session=")
    import tokenclock

    grant = tokenclock.client_credentials(
        token_url,
        client_id,
        client_secret,
        scope=scope,
        auth_method=auth_method,
        allow_insecure_http=allow_insecure_http,
    )
    return tokenclock.Session(grant, clock=clock, **policy)


class Driver:
    """One session, its lock, its waiters and the adapter's counters."""

    def __init__(
        self,
        session: Any,
        *,
        clock: Optional[Clock] = None,
        send_sync: Optional[SyncSender] = None,
        send_async: Optional[AsyncSender] = None,
        token_timeout: Optional[float] = None,
        store: Any = None,
    ) -> None:
        if store is not None and not all(
            hasattr(store, m) for m in ("keys", "fleet", "get", "take_lease", "publish", "release")
        ):
            raise _errors.InvalidArgument("store must be a tokenclock.store.RedisStore")
        if token_timeout is not None:
            # An override of the session's own bound (core validates it).
            session.set_token_timeout(token_timeout)
        self._session = session
        # The session reads its own clock (the `clock` it was built with).
        # Hot path: a ready answer is a token id, and the credential object is built once per
        # token (no object or 1 KB header string per request).
        self._authorize_token: Callable[[], Any] = session.authorize_token_now
        self._credential_now: Callable[[], Any] = session._credential_now
        self._ready: Optional[_Ready] = None
        self._authorize: Callable[[], Any] = self._fast_authorize
        if clock is None:
            from tokenclock import Reading

            clock = Reading.now
        self._now: Clock = clock
        #: A reading of the session's clock, for ``sent``/``received`` (the clock itself: no
        #: wrapper call on every request).
        self.now: Clock = clock
        self._send_sync = send_sync
        self._send_async = send_async
        #: The shared token store (fleet single flight), or None.
        self._store = store
        self._store_keys = store.keys(session) if store is not None else None
        # With a store, the fleet's bound (core: the session's, within the lease).
        self._token_timeout = float(
            session.token_timeout
            if store is None
            else store.fleet(0, self._store_keys[0]).token_timeout(session)
        )
        #: The largest token response body read (the session's limit).
        self.max_token_response_len: int = int(session.max_token_response_len)
        self._refreshes_per_call: int = int(session.refreshes_per_call)
        # Guards the waiters and the counters; a `wait` answer is re-asked under it.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        # asyncio waiters: future -> its loop; woken (thread-safely) whenever a ticket closes.
        self._waiters: Dict["asyncio.Future[None]", asyncio.AbstractEventLoop] = {}
        # Background refresh tasks (asyncio): strong references until they end.
        self._tasks: "set[asyncio.Task[None]]" = set()
        self._counters: Dict[str, Any] = {
            "requests": 0,
            "responses_not_reported": 0,
            "background_refreshes": 0,
            "background_refresh_errors": 0,
            "last_background_error": None,
            "retries_sent": 0,
            "unauthorized_returned": 0,
            "clock_skew_errors": 0,
            "waits": 0,
            "refreshes_performed": 0,
            "refreshes_aborted": 0,
            "fleet_adopted": 0,
            "fleet_published": 0,
            "fleet_local": 0,
        }

    # ----- the session's answers --------------------------------------------------------

    def _wait_seconds(self, a: Any) -> float:
        """How long a ``wait`` answer says to wait (bounded; counted)."""
        self._counters["waits"] += 1
        return min(max(float(a.wait), _MIN_WAIT_S), _MAX_WAIT_S)

    def _notify(self) -> None:
        """A ticket closed: wake every waiter (the caller holds the lock)."""
        self._cond.notify_all()
        waiters, self._waiters = self._waiters, {}
        for fut, loop in waiters.items():
            try:
                loop.call_soon_threadsafe(_wake, fut)
            except RuntimeError:  # that loop is closed; its task is gone
                pass

    def _complete(
        self,
        ticket_id: Any,
        response: TokenResponse,
        sent: Any,
        received: Any,
    ) -> bool:
        """Closes the ticket with the token endpoint's answer. False if the ticket had been
        abandoned meanwhile (its result is ignored); raises the session's refresh error."""
        status, headers, body = response
        with self._lock:
            try:
                self._counters["refreshes_performed"] += 1
                self._session.complete_refresh(
                    ticket_id, status, headers, body, sent, received
                )
            except _errors.TokenClockError as exc:
                if _is_stale_ticket(exc):
                    return False
                raise
            except BaseException:
                # The binding refused an argument (a sender bug) before the session saw the
                # response: the ticket is still open; close it rather than leave it to the
                # ticket timeout.
                self._close_quietly(ticket_id)
                raise
            finally:
                self._notify()
        return True

    def _close_quietly(self, ticket_id: Any) -> bool:
        """Closes the ticket as aborted if it is still the outstanding one (the caller holds
        the lock). True if it was open."""
        try:
            self._session.fail_refresh(ticket_id, "aborted")
        except _errors.TokenClockError:
            return False  # stale: already closed
        self._counters["refreshes_aborted"] += 1
        return True

    def _ensure_closed(self, ticket_id: Any) -> None:
        """The safety net of a background refresh: whatever happened to it, its ticket is
        not left open."""
        with self._lock:
            if self._close_quietly(ticket_id):
                self._notify()

    def _fail(self, ticket_id: Any, failure: str) -> Optional[BaseException]:
        """Closes the ticket after a transport failure or an abort; returns the error callers
        see (None when the ticket had been abandoned meanwhile)."""
        with self._lock:
            try:
                if failure == "aborted":
                    self._counters["refreshes_aborted"] += 1
                result = self._session.fail_refresh(ticket_id, failure)
            except _errors.TokenClockError as exc:
                if _is_stale_ticket(exc):
                    return None
                raise
            finally:
                self._notify()
        return _as_exception(result) if result is not None else None

    def _fast_authorize(self) -> Any:
        return self._resolve(self._authorize_token())

    def _resolve(self, r: Any) -> Any:
        """An ``authorize_token`` answer as an authorization: the cached credential for a
        token id (its header fetched once per token), the full ``Authorization`` otherwise."""
        if r.__class__ is not int:
            return r  # not ready: the full Authorization
        c = self._ready
        if c is not None and c.token_id == r:
            return c
        header = self._session.token_header(r)
        if header is None:
            # Replaced between the two calls: ask again in full.
            return self._session.authorize()
        c = _Ready(header, r)
        self._ready = c
        self._session._set_credential(r, c)
        return c

    # ----- threads ----------------------------------------------------------------------

    def acquire(self) -> Credential:
        """The credential for one API request (blocking; threads). Performs the refresh when
        this caller holds a ``refresh`` ticket (no usable token), waits when another caller
        holds the ticket, and returns the stale-but-valid token at once for a
        ``ready_and_refresh`` ticket, whose refresh runs in a background thread.

        The common case (``ready``) is one call into the session, which has its own lock. A
        ``wait`` answer is asked again under this driver's lock and waited on there, so the
        wake-up from a ticket closing (also under the lock) cannot be missed."""
        # The hot path: while the session's ready window answers the token whose credential
        # it holds, one native call returns that credential (without entering core).
        a = self._credential_now()
        if a.__class__ is _Ready:
            return a  # type: ignore[no-any-return]
        a = self._resolve(a)
        performed = 0
        while True:
            kind = a.kind
            if kind == "ready":
                return a  # type: ignore[no-any-return]  # .header, .token_id
            if kind == "wait":
                with self._lock:
                    a = self._authorize()
                    if a.kind == "wait":
                        self._cond.wait(self._wait_seconds(a))
                        a = None
                if a is None:
                    a = self._authorize()
                continue
            if kind == "ready_and_refresh":
                # Stale but valid: this caller goes on with it; the refresh runs meanwhile.
                self._start_background_thread(a.ticket)
                return a  # type: ignore[no-any-return]  # .header, .token_id
            if kind == "refresh":
                performed += 1
                try:
                    self._refresh_sync(a.ticket)
                except _errors.TokenClockError:
                    if performed >= self._refreshes_per_call:
                        raise
                a = self._authorize()
                continue
            self._raise_unusable(a)

    def _raise_unusable(self, a: Any) -> None:
        if a.kind == "failed":
            raise _as_exception(a.error)
        raise _errors.TokenClockError(f"unknown authorization kind {a.kind!r}")

    # ----- background refreshes ------------------------------------------------------------

    def _start_background_thread(self, ticket: Any) -> None:
        with self._lock:
            self._counters["background_refreshes"] += 1
        # Not a daemon: at interpreter exit the refresh (bounded by the token deadline) ends and
        # closes its ticket, and a fleet lease it holds is released or published.
        worker = threading.Thread(
            target=self._background_sync, args=(ticket,), name="tokenclock-refresh"
        )
        try:
            worker.start()
        except BaseException as exc:  # no thread to be had: close the ticket, go on
            self._ensure_closed(ticket.id)
            self._background_failed(exc)

    def _background_sync(self, ticket: Any) -> None:
        try:
            self._refresh_sync(ticket)
        except BaseException as exc:  # noqa: BLE001 - counted and logged, never raised
            self._background_failed(exc)
        finally:
            self._ensure_closed(ticket.id)

    def _start_background_task(self, ticket: Any) -> None:
        with self._lock:
            self._counters["background_refreshes"] += 1
        coro = self._refresh_async(ticket)
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except BaseException as exc:
            coro.close()
            self._ensure_closed(ticket.id)
            self._background_failed(exc)
            return
        self._tasks.add(task)
        # Runs whatever happens to the task: done, failed, or cancelled (also before it ran,
        # when its loop shuts down: the coroutine then never started and closed nothing).
        task.add_done_callback(lambda t: self._background_done(t, ticket.id))

    def _background_done(self, task: "asyncio.Task[None]", ticket_id: Any) -> None:
        self._tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        self._ensure_closed(ticket_id)
        if exc is not None:
            self._background_failed(exc)

    def _background_failed(self, exc: BaseException) -> None:
        code = _error_code(exc)
        with self._lock:
            self._counters["background_refresh_errors"] += 1
            self._counters["last_background_error"] = code
        _logger.warning(
            "background token refresh failed: %s (the current token is served while it is "
            "valid; the session decides when to try again)",
            code,
        )

    def _refresh_sync(self, ticket: Any) -> None:
        if self._send_sync is None:
            self._ensure_closed(ticket.id)
            raise _errors.TokenClockError("this adapter cannot send token requests synchronously")
        if self._store is not None:
            self._fleet_sync(ticket)
            return
        self._fetch_sync(ticket)

    def _fetch_sync(self, ticket: Any, rebuilt: Any = None) -> None:
        """The ticket's token request (or the fleet's `rebuilt` one), closing the ticket;
        raises what callers see."""
        assert self._send_sync is not None
        ticket_id, method, url, headers, body = _ticket_parts(ticket, rebuilt)
        sent = self._now()
        try:
            response = _call_with_deadline(
                self._send_sync, (method, url, headers, body, self._token_timeout),
                self._token_timeout,
            )
        except TokenTransportError as exc:
            err = self._fail(ticket_id, exc.kind)
            if err is None:
                raise exc.__cause__ or exc
            raise err from exc.__cause__
        except BaseException:
            self._fail(ticket_id, "aborted")
            raise
        self._complete(ticket_id, response, sent, self._now())

    # ----- asyncio ----------------------------------------------------------------------

    async def acquire_async(self) -> Credential:
        """The credential for one API request (asyncio tasks). Same rules as ``acquire``
        (a ``ready_and_refresh`` refresh is a task of the running loop); waiters wait on a
        future that the closing of a ticket resolves (from any thread)."""
        a = self._credential_now()
        if a.__class__ is _Ready:
            return a  # type: ignore[no-any-return]
        a = self._resolve(a)
        performed = 0
        while True:
            kind = a.kind
            if kind == "ready":
                return a  # type: ignore[no-any-return]
            if kind == "wait":
                loop = asyncio.get_running_loop()
                fut: Optional["asyncio.Future[None]"] = None
                with self._lock:
                    a = self._authorize()
                    if a.kind == "wait":
                        timeout = self._wait_seconds(a)
                        fut = loop.create_future()
                        self._waiters[fut] = loop
                if fut is not None:
                    try:
                        await asyncio.wait((fut,), timeout=timeout)
                    finally:
                        with self._lock:
                            self._waiters.pop(fut, None)
                        if not fut.done():
                            fut.cancel()
                    a = self._authorize()
                continue
            if kind == "ready_and_refresh":
                # Stale but valid: go on with it; the refresh is a task of this loop.
                self._start_background_task(a.ticket)
                return a  # type: ignore[no-any-return]
            if kind == "refresh":
                performed += 1
                try:
                    await self._refresh_async(a.ticket)
                except _errors.TokenClockError:
                    if performed >= self._refreshes_per_call:
                        raise
                a = self._authorize()
                continue
            self._raise_unusable(a)

    async def _refresh_async(self, ticket: Any) -> None:
        if self._send_async is None:
            self._ensure_closed(ticket.id)
            raise _errors.TokenClockError("this adapter cannot send token requests asynchronously")
        if self._store is not None:
            await self._fleet_async(ticket)
            return
        await self._fetch_async(ticket)

    async def _fetch_async(self, ticket: Any, rebuilt: Any = None) -> None:
        assert self._send_async is not None
        ticket_id, method, url, headers, body = _ticket_parts(ticket, rebuilt)
        sent = self._now()
        try:
            try:
                # One total deadline: connect, send and every byte of the answer.
                response = await asyncio.wait_for(
                    self._send_async(method, url, headers, body, self._token_timeout),
                    self._token_timeout,
                )
            except asyncio.TimeoutError as exc:
                raise TokenTransportError("timeout") from exc
        except TokenTransportError as exc:
            err = self._fail(ticket_id, exc.kind)
            if err is None:
                raise exc.__cause__ or exc
            raise err from exc.__cause__
        except BaseException:  # CancelledError included: close the ticket, then propagate
            self._fail(ticket_id, "aborted")
            raise
        self._complete(ticket_id, response, sent, self._now())

    # ----- the fleet (a shared store) -----------------------------------------------------
    #
    # The core's FleetRefresh decides every step; these loops only run the store commands and
    # the token request it asks for. A store failure is answered with `on_store_error` (the
    # refresh goes on locally). The ticket is always closed: by an adoption, by the fetch, or
    # as "aborted" when the caller dies mid-protocol.

    def _fleet_end(self, fleet: Any, ticket_id: Any, a: Any) -> None:
        """After `done`: counters, and wake the waiters (an adoption closed the ticket)."""
        outcome = a.outcome
        with self._lock:
            if outcome == "adopted":
                self._counters["fleet_adopted"] += 1
            elif outcome == "published":
                self._counters["fleet_published"] += 1
            elif outcome == "fetched":
                self._counters["fleet_local"] += 1
            self._notify()

    def _fleet_notes(self, fleet: Any) -> None:
        for note in fleet.notes():
            self._store.note(note)

    def _probe_sync(self, url: str) -> None:
        """A HEAD to the token endpoint: its `Date` gives this process the issuer's clock."""
        assert self._send_sync is not None
        sent = self._now()
        try:
            _status, headers, _ = _call_with_deadline(
                self._send_sync, ("HEAD", url, [], b"", self._token_timeout), self._token_timeout
            )
        except Exception:  # the adoption then fails and this process takes the lease
            return
        self._feed_date(headers, sent)

    async def _probe_async(self, url: str) -> None:
        assert self._send_async is not None
        sent = self._now()
        try:
            _status, headers, _ = await asyncio.wait_for(
                self._send_async("HEAD", url, [], b"", self._token_timeout), self._token_timeout
            )
        except Exception:
            return
        self._feed_date(headers, sent)

    def _feed_date(self, headers: Headers, sent: Any) -> None:
        received = self._now()
        for name, value in headers:
            if name.lower() == "date":
                try:
                    self._session.add_issuer_date(value, sent, received)
                except _errors.TokenClockError:
                    pass
                return

    def _fleet_sync(self, ticket: Any) -> None:
        store, keys, session = self._store, self._store_keys, self._session
        assert keys is not None
        fleet = store.fleet(ticket, keys[0])
        error: Optional[BaseException] = None
        a = fleet.action
        try:
            while True:
                self._fleet_notes(fleet)
                kind = a.kind
                if kind == "done":
                    break
                try:
                    if kind == "read":
                        a = fleet.on_record(session, store.get(keys[0]))
                    elif kind == "take_lease":
                        a = fleet.on_lease(session, store.take_lease(keys, a.lease, a.lease_ms))
                    elif kind == "publish":
                        a = fleet.on_published(store.publish(keys, a.lease, a.value, a.ttl_ms))
                    elif kind == "release":
                        store.release(keys, a.lease)
                        a = fleet.on_released()
                    elif kind == "probe_issuer":
                        self._probe_sync(ticket.url)
                        a = fleet.on_probe(session)
                    elif kind == "wait":
                        time.sleep(min(max(a.wait or 0.0, _MIN_WAIT_S), _MAX_WAIT_S))
                        a = fleet.on_wake(session)
                    elif kind == "fetch":
                        ok = True
                        try:
                            self._fetch_sync(ticket, a.request)
                        except Exception as exc:
                            ok, error = False, exc
                        a = fleet.on_fetched(session, ok)
                    else:
                        raise _errors.TokenClockError(f"unknown fleet action {kind!r}")
                except _StoreError:
                    a = fleet.on_store_error(session)
        except BaseException:
            self._fail(ticket.id, "aborted")
            raise
        self._fleet_end(fleet, ticket.id, a)
        if error is not None:
            raise error

    async def _fleet_async(self, ticket: Any) -> None:
        store, keys, session = self._store, self._store_keys, self._session
        assert keys is not None
        fleet = store.fleet(ticket, keys[0])
        error: Optional[BaseException] = None
        a = fleet.action
        try:
            while True:
                self._fleet_notes(fleet)
                kind = a.kind
                if kind == "done":
                    break
                try:
                    if kind == "read":
                        a = fleet.on_record(session, await store.aget(keys[0]))
                    elif kind == "take_lease":
                        a = fleet.on_lease(session, await store.atake_lease(keys, a.lease, a.lease_ms))
                    elif kind == "publish":
                        written = await store.apublish(keys, a.lease, a.value, a.ttl_ms)
                        a = fleet.on_published(written)
                    elif kind == "release":
                        await store.arelease(keys, a.lease)
                        a = fleet.on_released()
                    elif kind == "probe_issuer":
                        await self._probe_async(ticket.url)
                        a = fleet.on_probe(session)
                    elif kind == "wait":
                        await asyncio.sleep(min(max(a.wait or 0.0, _MIN_WAIT_S), _MAX_WAIT_S))
                        a = fleet.on_wake(session)
                    elif kind == "fetch":
                        ok = True
                        try:
                            await self._fetch_async(ticket, a.request)
                        except Exception as exc:
                            ok, error = False, exc
                        a = fleet.on_fetched(session, ok)
                    else:
                        raise _errors.TokenClockError(f"unknown fleet action {kind!r}")
                except _StoreError:
                    a = fleet.on_store_error(session)
        except BaseException:  # CancelledError included
            self._fail(ticket.id, "aborted")
            raise
        self._fleet_end(fleet, ticket.id, a)
        if error is not None:
            raise error

    # ----- responses --------------------------------------------------------------------

    def not_reported(self) -> None:
        """Counts a response that is not ours to report (see :func:`reportable`): handed to
        the caller as it is, with no effect on the session."""
        with self._lock:
            self._counters["responses_not_reported"] += 1

    def report(
        self,
        credential: Credential,
        status: int,
        headers: Any,
        sent: Any,
        received: Any,
        *,
        attempt: int,
        replayable: bool,
    ) -> Optional[float]:
        """Reports one API response (``headers``: a mapping or ``(name, value)`` pairs, as
        the session takes them) and carries out the session's answer (``after_response``):
        returns the seconds to wait before sending once more, or None to hand the response to
        the caller; raises the session's :class:`tokenclock.ClockSkewError`.

        ``attempt``: 1 for the call's first send, 2 for its retry; ``replayable``: whether the
        request can be sent again."""
        with self._lock:
            self._counters["requests"] += 1
            a = self._session.after_response(
                credential.token_id, status, headers, sent, received,
                attempt=attempt, replayable=replayable,
            )
            kind = a.kind
            if kind == "return":
                return None
            if kind == "retry":
                self._counters["retries_sent"] += 1
                return a.wait  # type: ignore[no-any-return]
            if kind == "raise":
                self._counters["clock_skew_errors"] += 1
                raise a.error  # ClockSkewError: message and evidence from core
            self._counters["unauthorized_returned"] += 1  # return_refusal
            return None

    # ----- getters ----------------------------------------------------------------------

    def describe(self) -> str:
        """For the adapters' ``repr``: the session's own (redacted) ``repr``."""
        return repr(self._session)

    def stats(self) -> Dict[str, Any]:
        """The session's counters (``token_requests``, ``refreshes``, ``failures``,
        ``unauthorized`` = 401s seen, ``retries`` advised, ...), its current clock-offset
        estimates under ``offsets`` (``issuer`` and ``resource``: ``offset``, ``low``,
        ``high`` in seconds, server − local, ``agreeing``, ``samples``), and this adapter's
        own counters under ``adapter``."""
        with self._lock:
            out: Dict[str, Any] = dict(self._session.stats())
            issuer, resource = self._session.estimates()
            adapter = dict(self._counters)
        out["offsets"] = {"issuer": _estimate(issuer), "resource": _estimate(resource)}
        out["adapter"] = adapter
        return out


def _estimate(e: Any) -> Dict[str, Any]:
    return {
        "offset": e.offset,
        "low": e.low,
        "high": e.high,
        "agreeing": e.agreeing,
        "samples": e.samples,
    }

