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
* the one caller that gets a ticket sends the token request through the adapter's sender and
  closes the ticket with ``complete_refresh``, or ``fail_refresh`` with ``"connect"`` /
  ``"timeout"`` for transport failures and ``"aborted"`` when the caller is cancelled or dies
  with any other exception, so no waiter waits for a refresh that will never end;
* every API response is reported with ``on_response``; the adapters retry at most once.

Senders (supplied by the adapters) take ``(method, url, headers, body, timeout)`` and return
``(status, headers, body)``; they raise :class:`TokenTransportError` for transport failures.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Protocol, Tuple

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
# Longest honoured `Verdict.wait` (the core caps it at its `max_401_wait_ms`, 10 s by default).
_MAX_RETRY_WAIT_S = 600.0


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
        return ticket.id, method, url, [(str(k), str(v)) for k, v in pairs], text.encode("utf-8")
    raw = ticket.headers
    items = raw.items() if hasattr(raw, "items") else raw
    headers = [(str(k), str(v)) for k, v in items]
    body = ticket.body
    if body is None:
        body = b""
    elif isinstance(body, str):
        body = body.encode("utf-8")
    return ticket.id, str(ticket.method), str(ticket.url), headers, bytes(body)


def _is_stale_ticket(exc: BaseException) -> bool:
    return getattr(exc, "code", None) == "stale_ticket"


def _as_exception(err: Any) -> BaseException:
    """The session's error value as an exception to raise."""
    if isinstance(err, BaseException):
        return err
    return _errors.TokenClockError(str(err))


def _clock_skew_error(verdict: Any) -> BaseException:
    """The :class:`tokenclock.ClockSkewError` (with ``.evidence``) of a ``fail`` verdict
    diagnosed as clock skew."""
    err = verdict.error
    if isinstance(err, BaseException):
        return err
    return _errors.ClockSkewError("the resource server's clock explains the repeated 401")


def _wake(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


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
) -> Any:
    """The adapters' constructor rule: either a ready ``Session`` (``session=``) or the client
    credentials to build one (policy keywords go to ``Session``), never both."""
    if session is not None:
        if token_url is not None or client_id is not None or client_secret is not None or policy:
            raise _errors.InvalidArgument(
                "give either session= or token_url/client_id/client_secret (and policy), not both"
            )
        return session
    if token_url is None or client_id is None:
        raise _errors.InvalidArgument("token_url and client_id are required without session=")
    import tokenclock

    grant = tokenclock.client_credentials(
        token_url, client_id, client_secret, scope=scope, auth_method=auth_method
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
        token_timeout: float = 10.0,
        store: Any = None,
    ) -> None:
        if store is not None and not all(
            hasattr(store, m) for m in ("keys", "fleet", "get", "take_lease", "publish", "release")
        ):
            raise _errors.InvalidArgument("store must be a tokenclock.store.RedisStore")
        if not (isinstance(token_timeout, (int, float)) and 0 < token_timeout <= 600):
            raise _errors.InvalidArgument(
                "token_timeout must be a number of seconds in (0, 600]"
            )
        self._session = session
        # The session reads its own clock (the `clock` it was built with).
        # Hot path: a ready answer is a token id, and the credential object is built once per
        # token (no object or 1 KB header string per request).
        self._authorize_token: Callable[[], Any] = session.authorize_token
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
        if store is not None:
            # A token request must end within the fleet lease (two thirds of it, at most), or
            # a peer may take the lease over and present the same rotating refresh token again.
            token_timeout = min(float(token_timeout), float(getattr(store, "_lease", 15.0)) * 2 / 3)
        self._token_timeout = float(token_timeout)
        # Guards the waiters and the counters; a `wait` answer is re-asked under it.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        # asyncio waiters: future -> its loop; woken (thread-safely) whenever a ticket closes.
        self._waiters: Dict["asyncio.Future[None]", asyncio.AbstractEventLoop] = {}
        self._counters = {
            "requests": 0,
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
            finally:
                self._notify()
        return True

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
        r = self._authorize_token()
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
        return c

    # ----- threads ----------------------------------------------------------------------

    def acquire(self) -> Credential:
        """The credential for one API request (blocking; threads). Performs the refresh when
        this caller holds the ticket, waits when another caller does.

        The common case (``ready``) is one call into the session, which has its own lock. A
        ``wait`` answer is asked again under this driver's lock and waited on there, so the
        wake-up from a ticket closing (also under the lock) cannot be missed."""
        a = self._authorize()
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
            if kind == "refresh" or kind == "ready_and_refresh":
                try:
                    self._refresh_sync(a.ticket)
                except _errors.TokenClockError:
                    if kind == "refresh":
                        raise
                    # The token is stale but still valid: the session keeps serving it (next
                    # round) while it backs off.
                a = self._authorize()
                continue
            self._raise_unusable(a)

    def _raise_unusable(self, a: Any) -> None:
        if a.kind == "failed":
            raise _as_exception(a.error)
        raise _errors.TokenClockError(f"unknown authorization kind {a.kind!r}")

    def _refresh_sync(self, ticket: Any) -> None:
        if self._send_sync is None:
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
            response = self._send_sync(method, url, headers, body, self._token_timeout)
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
        """The credential for one API request (asyncio tasks). Same rules as ``acquire``;
        waiters wait on a future that the closing of a ticket resolves (from any thread)."""
        a = self._authorize()
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
            if kind == "refresh" or kind == "ready_and_refresh":
                try:
                    await self._refresh_async(a.ticket)
                except _errors.TokenClockError:
                    if kind == "refresh":
                        raise
                a = self._authorize()
                continue
            self._raise_unusable(a)

    async def _refresh_async(self, ticket: Any) -> None:
        if self._send_async is None:
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
            response = await self._send_async(method, url, headers, body, self._token_timeout)
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
            _status, headers, _ = self._send_sync("HEAD", url, [], b"", self._token_timeout)
        except Exception:  # the adoption then fails and this process takes the lease
            return
        self._feed_date(headers, sent)

    async def _probe_async(self, url: str) -> None:
        assert self._send_async is not None
        sent = self._now()
        try:
            _status, headers, _ = await self._send_async("HEAD", url, [], b"", self._token_timeout)
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

    def report(
        self,
        credential: Credential,
        status: int,
        headers: Any,
        sent: Any,
        received: Any,
        *,
        can_retry: bool,
    ) -> Optional[float]:
        """Reports one API response (``headers``: a mapping or ``(name, value)`` pairs, as
        the session takes them). Returns the seconds to wait before the one retry, or
        None to hand the response to the caller. Raises :class:`tokenclock.ClockSkewError`
        when the session diagnoses a repeated 401 as clock skew.

        ``can_retry`` is False for the retry itself (one retry per request) and for requests
        whose body cannot be sent again."""
        with self._lock:
            self._counters["requests"] += 1
            verdict = self._session.on_response(
                credential.token_id, status, headers, sent, received
            )
            kind = verdict.kind
            if kind == "accept":
                return None
            if kind == "retry" and can_retry:
                self._counters["retries_sent"] += 1
                wait = verdict.wait
                return 0.0 if not wait else min(max(float(wait), 0.0), _MAX_RETRY_WAIT_S)
            if kind == "fail" and verdict.diagnosis == "clock_skew":
                self._counters["clock_skew_errors"] += 1
                raise _clock_skew_error(verdict)
            self._counters["unauthorized_returned"] += 1
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

