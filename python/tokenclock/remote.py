"""``RemoteVerifier``: JWT verification with the issuer's keys fetched over httpx.

::

    verifier = Verifier.from_issuer("https://issuer.example", algorithms=["RS256"],
                                    audience="api://orders")
    claims = verifier.verify(token)["claims"]            # threads
    claims = (await verifier.averify(token))["claims"]   # asyncio

Every rule is core's (:class:`tokenclock.KeySet`): discovery with an exact ``issuer`` match,
the key set's cache lifetime from ``Cache-Control: max-age`` (bounded to 1 min .. 1 h, 10 min
without), one fetch in flight however many verifications need it, an unknown ``kid`` refetches
at most once per 30 s cooldown, a failed or malformed fetch never drops the keys in use (retried
with backoff, logged once), keys that leave the set still verify for a 5 min grace, responses
over 256 KiB are refused. This module performs the ``GET`` s: each one bounded by the ticket's
timeout in total (connect, headers and every byte), redirects not followed, the body decoded
and capped as it arrives.

The responses' ``Date`` headers measure the issuer's clock: :meth:`RemoteVerifier.estimate`
gives the offset interval, :meth:`RemoteVerifier.clock_off` says whether this server's clock is
off by more than the leeway (a metric), and a ``clock_offset`` event is logged once at WARNING
when it is. The leeway is never widened.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import httpx

from tokenclock._driver import (
    BodyReader,
    TokenTransportError,
    _call_with_deadline,
    with_identity_encoding,
)
from tokenclock._native import Estimate, FetchTicket, KeySet, Reading
from tokenclock.errors import KeySetError, StaleTicket, UnknownKid

__all__ = ["RemoteVerifier"]

logger = logging.getLogger("tokenclock")

_Fetched = Tuple[int, Dict[str, str], bytes]

# Events logged at WARNING; the rest at INFO.
_WARN = {"fetch_failed", "clock_offset"}


def _headers(r: httpx.Response) -> Dict[str, str]:
    return {k: r.headers[k] for k in ("date", "cache-control", "age") if k in r.headers}


def _get(client: httpx.Client, ticket: FetchTicket, deadline: float) -> _Fetched:
    request = client.build_request(
        "GET", ticket.url,
        headers=with_identity_encoding([("Accept", "application/json")]),
        timeout=ticket.timeout,
    )
    r = client.send(request, stream=True, follow_redirects=False)
    try:
        reader = BodyReader(r.headers.get("content-encoding"), deadline, ticket.max_body_bytes)
        for chunk in r.iter_raw():
            if reader.feed(chunk):
                break
        return r.status_code, _headers(r), reader.body()
    finally:
        r.close()


async def _aget(client: httpx.AsyncClient, ticket: FetchTicket, deadline: float) -> _Fetched:
    request = client.build_request(
        "GET", ticket.url,
        headers=with_identity_encoding([("Accept", "application/json")]),
        timeout=ticket.timeout,
    )
    r = await client.send(request, stream=True, follow_redirects=False)
    try:
        reader = BodyReader(r.headers.get("content-encoding"), deadline, ticket.max_body_bytes)
        async for chunk in r.aiter_raw():
            if reader.feed(chunk):
                break
        return r.status_code, _headers(r), reader.body()
    finally:
        await r.aclose()


def _wake(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


class RemoteVerifier:
    """Verifies JWTs with a remote key set (see the module docs). Thread-safe, and usable from
    threads and asyncio tasks at once. Build it with :meth:`from_issuer` or
    :meth:`from_jwks_uri` (or around a :class:`tokenclock.KeySet` you configured)."""

    def __init__(
        self,
        keys: KeySet,
        *,
        client: Optional[httpx.Client] = None,
        async_client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        self._keys = keys
        self._client = client
        self._async_client = async_client
        # Guards the hand-over between a fetch's end and the callers waiting for it: a caller
        # asks `step` and starts waiting under it, a fetch reports under it.
        self._cond = threading.Condition()
        self._waiters: List[Tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]] = []
        self._background: set = set()
        self.fetches = 0  # GETs sent (discovery and key sets), for tests and metrics

    @classmethod
    def from_issuer(cls, issuer: str, *, algorithms: List[str], client: Optional[httpx.Client] = None,
                    async_client: Optional[httpx.AsyncClient] = None, **options: Any) -> "RemoteVerifier":
        """Keys from ``issuer``'s discovery document (``discovery="openid"``, or ``"oauth"`` for
        RFC 8414) and its ``jwks_uri``; tokens must carry ``iss == issuer``. ``options``: the
        :class:`tokenclock.KeySet` options (``audience``, ``leeway``, ``cooldown``, ...).
        ``client`` / ``async_client``: httpx clients to fetch with (default: one of its own)."""
        return cls(KeySet(issuer=issuer, algorithms=algorithms, **options),
                   client=client, async_client=async_client)

    @classmethod
    def from_jwks_uri(cls, jwks_uri: str, *, algorithms: List[str], client: Optional[httpx.Client] = None,
                      async_client: Optional[httpx.AsyncClient] = None, **options: Any) -> "RemoteVerifier":
        """Keys from the key set at ``jwks_uri`` (pass ``issuer_claim=`` to require an
        ``iss``)."""
        return cls(KeySet(jwks_uri, algorithms=algorithms, **options),
                   client=client, async_client=async_client)

    @property
    def keys(self) -> KeySet:
        """The core key set (its ``kids``, ``jwks_uri``, events)."""
        return self._keys

    # ----- threads -----------------------------------------------------------------------

    def verify(self, token: "str | bytes") -> Dict[str, Any]:
        """Verifies ``token`` now, fetching keys when core says so (this thread performs the
        fetch, or waits for the one in flight). Returns ``Verifier.verify``'s dict; raises an
        ``InvalidToken`` subclass, or ``KeysUnavailable`` when no key set could be fetched."""
        self._ensure_keys()
        try:
            return self._keys.verify(token)
        except UnknownKid as e:
            if not e.kid_in_token:
                raise
        fetched = False  # at most one fetch per call: with no cooldown, a kid that never
        while True:      # exists would otherwise fetch forever
            if fetched:
                return self._keys.verify(token)
            with self._cond:
                step = self._keys.on_unknown_kid()
                if step.kind == "wait":
                    self._cond.wait(step.wait)
            if step.kind == "no":
                return self._keys.verify(token)  # the error stands (or a peer's fetch helped)
            if step.kind == "fetch":
                assert step.ticket is not None
                self._fetch(step.ticket)
                fetched = True
            try:
                return self._keys.verify(token)
            except UnknownKid:
                continue

    def _ensure_keys(self) -> None:
        while True:
            with self._cond:
                step = self._keys.step()
                if step.kind == "wait":
                    self._cond.wait(step.wait)
                    continue
            if step.kind == "ready":
                return
            if step.kind == "ready_and_fetch":
                assert step.ticket is not None
                t = threading.Thread(target=self._fetch, args=(step.ticket,),
                                     name="tokenclock-keys", daemon=True)
                t.start()
                return
            if step.kind == "fetch":
                assert step.ticket is not None
                self._fetch(step.ticket)
                continue
            assert step.error is not None
            raise step.error

    def _fetch(self, ticket: FetchTicket) -> None:
        client = self._client
        sent = Reading.now()
        self.fetches += 1
        try:
            if client is None:
                with httpx.Client(trust_env=False) as own:
                    result = _call_with_deadline(
                        _get, (own, ticket, time.monotonic() + ticket.timeout), ticket.timeout)
            else:
                result = _call_with_deadline(
                    _get, (client, ticket, time.monotonic() + ticket.timeout), ticket.timeout)
        except (httpx.HTTPError, TokenTransportError, OSError) as exc:
            self._report(ticket, None, sent, exc)
            return
        self._report(ticket, result, sent, None)

    def _report(self, ticket: FetchTicket, result: Optional[_Fetched], sent: Reading,
                exc: Optional[BaseException]) -> None:
        received = Reading.now()
        with self._cond:
            try:
                if result is None:
                    code = "timeout" if (
                        isinstance(exc, (httpx.TimeoutException,))
                        or (isinstance(exc, TokenTransportError) and str(exc) == "timeout")
                    ) else "transport_error"
                    self._keys.on_failure(ticket.id, code, received)
                else:
                    status, headers, body = result
                    self._keys.on_response(
                        ticket.id, status, body, date=headers.get("date"),
                        cache_control=headers.get("cache-control"), age=headers.get("age"),
                        sent=sent, received=received,
                    )
            except StaleTicket:
                pass  # it ended at its deadline; core already counted it as failed
            except KeySetError:
                pass  # a refused response: core keeps the keys in use and logs it (below)
            finally:
                self._cond.notify_all()
                waiters, self._waiters = self._waiters, []
                for loop, fut in waiters:
                    loop.call_soon_threadsafe(_wake, fut)
        self._log_events()

    # ----- asyncio -----------------------------------------------------------------------

    async def averify(self, token: "str | bytes") -> Dict[str, Any]:
        """:meth:`verify` for asyncio tasks: fetches on ``async_client`` (or one of its own),
        waits for a fetch in flight without blocking the loop."""
        await self._aensure_keys()
        try:
            return self._keys.verify(token)
        except UnknownKid as e:
            if not e.kid_in_token:
                raise
        fetched = False  # at most one fetch per call (see verify)
        while True:
            if fetched:
                return self._keys.verify(token)
            fut = None
            with self._cond:
                step = self._keys.on_unknown_kid()
                if step.kind == "wait":
                    fut = self._waiter()
            if fut is not None:
                await self._await(fut, step.wait)
            if step.kind == "no":
                return self._keys.verify(token)
            if step.kind == "fetch":
                assert step.ticket is not None
                await self._afetch(step.ticket)
                fetched = True
            try:
                return self._keys.verify(token)
            except UnknownKid:
                continue

    def _waiter(self) -> "asyncio.Future[None]":
        loop = asyncio.get_running_loop()
        fut: "asyncio.Future[None]" = loop.create_future()
        self._waiters.append((loop, fut))
        return fut

    @staticmethod
    async def _await(fut: "asyncio.Future[None]", wait: Optional[float]) -> None:
        try:
            await asyncio.wait_for(fut, wait)
        except asyncio.TimeoutError:
            pass

    async def _aensure_keys(self) -> None:
        while True:
            fut = None
            with self._cond:
                step = self._keys.step()
                if step.kind == "wait":
                    fut = self._waiter()
            if fut is not None:
                await self._await(fut, step.wait)
                continue
            if step.kind == "ready":
                return
            if step.kind == "ready_and_fetch":
                assert step.ticket is not None
                task = asyncio.get_running_loop().create_task(self._afetch(step.ticket))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
                return
            if step.kind == "fetch":
                assert step.ticket is not None
                await self._afetch(step.ticket)
                continue
            assert step.error is not None
            raise step.error

    async def _afetch(self, ticket: FetchTicket) -> None:
        sent = Reading.now()
        self.fetches += 1
        deadline = time.monotonic() + ticket.timeout
        try:
            if self._async_client is None:
                async with httpx.AsyncClient(trust_env=False) as own:
                    result = await asyncio.wait_for(_aget(own, ticket, deadline), ticket.timeout)
            else:
                result = await asyncio.wait_for(
                    _aget(self._async_client, ticket, deadline), ticket.timeout)
        except asyncio.TimeoutError as exc:
            self._report(ticket, None, sent, TokenTransportError("timeout"))
            del exc
            return
        except (httpx.HTTPError, TokenTransportError, OSError) as exc:
            self._report(ticket, None, sent, exc)
            return
        self._report(ticket, result, sent, None)

    # ----- the issuer's clock, events ------------------------------------------------------

    def estimate(self) -> Estimate:
        """The issuer's clock relative to this host's (``issuer − local``), from the ``Date``
        of the key set and discovery responses."""
        return self._keys.estimate()

    def clock_off(self) -> Optional[bool]:
        """Whether this host's clock is off from the issuer's by more than the leeway (None
        until both bounds are known)."""
        return self._keys.clock_off()

    def _log_events(self) -> None:
        while True:
            event = self._keys.poll_event()
            if event is None:
                return
            name = event["event"]
            level = logging.WARNING if name in _WARN else logging.INFO
            if name == "clock_offset":
                logger.log(level, "this server's clock is off from the issuer's by more than the "
                           "leeway (%.3f s): issuer − local is between %s and %s s; tokens will be "
                           "judged early or late (fix NTP; the leeway is not widened)",
                           event["leeway"], event["low"], event["high"])
            elif name == "fetch_failed":
                logger.log(level, "fetching the issuer's %s failed (%s); %s, retrying in %.1f s",
                           event["kind"], event["code"],
                           "the keys in use stay" if event["serving_last_good"] else "no keys yet",
                           event["retry_in"])
            else:
                logger.log(level, "key set: %s", {k: v for k, v in event.items()})

    def __repr__(self) -> str:
        return f"RemoteVerifier({self._keys!r})"
