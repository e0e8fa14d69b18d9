"""``tokenclock.store.RedisStore``: one token shared by a fleet of processes through Redis.

::

    store = RedisStore("redis://127.0.0.1:6379/0")
    auth = OAuth2Auth(token_url, client_id, client_secret, store=store)

What it guarantees (every decision is the core's ``FleetRefresh``; this module only runs the
Redis commands it asks for):

* **one token request per expiry, fleet-wide**: the process whose refresh comes first takes a
  lease (``SET NX PX`` with a value unique to that attempt, chosen by the core, and a fencing
  token), fetches, and publishes the token as a record; the others adopt that record instead
  of asking the token endpoint. Only the lease holder's write is accepted (a script compares
  the lease value before writing).
* **skew-safe**: a record carries the token's deadline on the *issuer's* clock; every reader
  maps it into local time through its own estimate of the issuer's clock, worst case (a
  ``HEAD`` to the token endpoint gives a new process its first estimate).
* **a vanished lease holder** (killed mid-refresh) blocks its peers at most ``lease`` seconds;
  then one of them takes the lease over.
* **Redis unreachable or slow** (each command is bounded by ``timeout``): the refresh goes on
  without the store, as a process-local single flight; logged once (and once when Redis is
  back). No request fails because of the store.
* **damaged, foreign-version or undecryptable records** are ignored, with a log line, never
  trusted. With ``encryption_key`` (32 bytes), records are sealed with AES-256-GCM (bound to
  their key) and the store never holds a bearer token in clear; a reader with a key trusts only
  sealed records.

Keys are ``<prefix>:token:v2:{<hash>}`` (plus ``:lease`` and ``:fence``), the hash of the
credential's identity (grant, token URL, client, scope, ...; core's ``CredentialIdentity``): no
secret in any key. ``client_or_url`` is a URL, a
``redis.Redis`` (used by threads; asyncio callers run its commands in a worker thread) or a
``redis.asyncio.Redis`` (asyncio callers only).

**Redis Cluster**: give a list of node URLs (``["redis://10.0.0.1:6379", "redis://10.0.0.2:6379",
...]``: the startup nodes; credentials and TLS are taken from the first URL), a
``redis.cluster.RedisCluster`` or a ``redis.asyncio.cluster.RedisCluster``. The ``{<hash>}`` hash
tag puts a credential's record, lease and fencing counter in one slot, so every script runs on
the one master that owns it. A cluster client made here follows ``MOVED``/``ASK`` redirections
(a resharding, or a replica promoted by a failover) but retries nothing else: a command sent
to a master that just died fails (the protocol refreshes locally for that round) and the
client re-reads the topology, so the next command reaches the promoted replica.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Dict, Optional, Tuple

from tokenclock import errors as _errors
from tokenclock._native import LUA_PUBLISH, LUA_RELEASE, LUA_TAKE_LEASE, FleetRefresh, Session
from tokenclock._native import store_keys as _store_keys

__all__ = ["RedisStore", "StoreError"]

logger = logging.getLogger("tokenclock")


class StoreError(Exception):
    """A store command failed (connection, timeout, server error). The fleet protocol turns it
    into a local refresh; it never reaches an API caller."""


Keys = Tuple[str, str, str]


class RedisStore:
    """A Redis-backed token store for ``OAuth2Auth(..., store=...)``.

    ``prefix`` namespaces the keys; ``encryption_key`` (32 bytes) seals records; ``lease``,
    ``poll`` and ``max_wait`` (seconds) tune the protocol (see ``tokenclock.FleetRefresh``);
    ``timeout`` bounds every Redis command (seconds, default 0.5) when this store makes the
    client from a URL (or a list of cluster node URLs).
    """

    def __init__(
        self,
        client_or_url: Any,
        *,
        prefix: str = "tokenclock",
        encryption_key: Optional[bytes] = None,
        lease: float = 15.0,
        poll: float = 0.05,
        max_wait: float = 20.0,
        timeout: float = 0.5,
    ) -> None:
        if not isinstance(prefix, str) or not prefix or any(c in prefix for c in "{} \n"):
            raise _errors.InvalidArgument("prefix must be a non-empty string without braces or spaces")
        if encryption_key is not None:
            if not isinstance(encryption_key, (bytes, bytearray)) or len(encryption_key) != 32:
                raise _errors.InvalidArgument("encryption_key must be exactly 32 bytes")
            encryption_key = bytes(encryption_key)
        if not (isinstance(timeout, (int, float)) and 0 < timeout <= 60):
            raise _errors.InvalidArgument("timeout must be a number of seconds in (0, 60]")
        self.prefix = prefix
        self._key = encryption_key
        self._lease = float(lease)
        self._poll = float(poll)
        self._max_wait = float(max_wait)
        # Checked now, so a bad value fails at construction, not at the first refresh.
        FleetRefresh(0, "check", lease=lease, poll=poll, max_wait=max_wait, encryption_key=self._key)
        self._url: Optional[str] = None
        # Cluster startup nodes, when this store makes a cluster client from URLs.
        self._nodes: Optional[Tuple[str, ...]] = None
        self._cluster = False
        self._sync: Any = None
        self._async: Any = None
        self._timeout = float(timeout)
        if isinstance(client_or_url, str):
            self._url = client_or_url
        elif isinstance(client_or_url, (list, tuple)):
            self._nodes = _node_urls(client_or_url)
            self._url = self._nodes[0]
            self._cluster = True
        elif _is_async_client(client_or_url):
            self._async = client_or_url
            self._cluster = _is_cluster(client_or_url)
        elif hasattr(client_or_url, "evalsha") and hasattr(client_or_url, "get"):
            self._sync = client_or_url
            self._cluster = _is_cluster(client_or_url)
        else:
            raise _errors.InvalidArgument(
                "client_or_url must be a redis URL, a list of cluster node URLs, a redis.Redis, "
                "a redis.asyncio.Redis or a (redis.asyncio.)cluster.RedisCluster"
            )
        self._lock = threading.Lock()
        self._down = False
        self._last_error = "error"
        self._scripts: dict = {}

    def __repr__(self) -> str:
        where = "url" if self._url else ("async client" if self._async else "client")
        if self._cluster:
            where = f"cluster, {len(self._nodes)} node urls" if self._nodes else f"cluster {where}"
        sealed = ", encrypted" if self._key else ""
        return f"<tokenclock.store.RedisStore prefix={self.prefix!r} ({where}{sealed})>"

    def close(self) -> None:
        """Closes the sync client this store made from a URL (a given client is yours)."""
        if self._url is not None and self._sync is not None:
            c, self._sync = self._sync, None
            c.close()

    async def aclose(self) -> None:
        """Closes the asyncio client this store made for the running loop (a given client is
        yours). Call it before the loop ends (``asyncio.run``), as for any asyncio client."""
        if self._url is None:
            return
        loop = asyncio.get_running_loop()
        entry = self._scripts.get("loops", {}).pop(id(loop), None)
        if entry is not None and entry[0] is loop:
            await entry[1].aclose()

    # ----- for the driver -------------------------------------------------------------

    def keys(self, session: Session) -> Keys:
        """``(record, lease, fence)`` for the session's credential."""
        return _store_keys(session, self.prefix, sealed=self._key is not None)

    def fleet(self, ticket: Any, record_key: str) -> FleetRefresh:
        """The protocol machine for one ticket."""
        return FleetRefresh(
            ticket,
            record_key,
            lease=self._lease,
            poll=self._poll,
            max_wait=self._max_wait,
            encryption_key=self._key,
        )

    def note(self, note: str) -> None:
        """Logs a protocol note: the store going down (once), a record ignored (each time)."""
        if note == "store_unavailable":
            with self._lock:
                first, self._down = not self._down, True
            if first:
                logger.warning(
                    "token store (Redis) unreachable or failing (%s): refreshing without it "
                    "(process-local single flight) until it answers again; sessions whose "
                    "refresh token the fleet shares wait for it instead",
                    self._last_error,
                )
        elif note == "store_required":
            logger.debug(
                "token store: this session's refresh token is presented only under the fleet "
                "lease; the refresh failed (store_unavailable) and is retried after a backoff"
            )
        elif note.startswith("record_ignored:"):
            logger.warning(
                "token store: ignored the shared token record (%s); not trusted",
                note.split(":", 1)[1],
            )
        elif note == "gave_up_waiting":
            logger.warning("token store: a peer's refresh took too long; refreshing here")
        elif note == "lease_lost":
            logger.warning("token store: the lease lapsed before the token was published")
        else:
            logger.debug("token store: %s", note)

    def _up(self) -> None:
        if self._down:
            with self._lock:
                was, self._down = self._down, False
            if was:
                logger.warning("token store (Redis) answers again: sharing tokens again")

    # ----- sync commands --------------------------------------------------------------

    def _client(self) -> Any:
        if self._sync is None:
            if self._url is None:
                raise StoreError("this RedisStore has an asyncio client only")
            import redis

            with self._lock:
                if self._sync is None and self._nodes is not None:
                    self._sync = _cluster_client(self._nodes, self._timeout, asyncio=False)
                elif self._sync is None:
                    self._sync = redis.Redis.from_url(
                        self._url,
                        socket_timeout=self._timeout,
                        socket_connect_timeout=self._timeout,
                        decode_responses=True,
                        # No client-side retries: a failed command falls back at once.
                        retry=_no_retry(),
                    )
        return self._sync

    def _eval(self, script: str, keys: list, args: list) -> Any:
        c = self._client()
        return c.eval(script, len(keys), *keys, *args)

    def _call(self, f: Any) -> Any:
        try:
            out = f()
        except StoreError:
            raise
        except Exception as exc:  # redis errors, OSError, timeouts: the store is unusable
            self._last_error = type(exc).__name__
            raise StoreError(type(exc).__name__) from exc
        self._up()
        return out

    def get(self, key: str) -> Optional[str]:
        v = self._call(lambda: self._client().get(key))
        return _text(v)

    # ``lease`` is the lease value the core chose for this attempt (random): stored as-is by
    # take_lease, compared by publish and release. The fencing token is the return value of
    # take_lease (0 when a peer holds the lease).

    def take_lease(self, keys: Keys, lease: str, lease_ms: int) -> int:
        return int(self._call(lambda: self._eval(LUA_TAKE_LEASE, [keys[1], keys[2]], [lease, lease_ms])))

    def publish(self, keys: Keys, lease: str, value: str, ttl_ms: int) -> bool:
        return bool(self._call(lambda: self._eval(LUA_PUBLISH, [keys[1], keys[0]], [lease, value, ttl_ms])))

    def release(self, keys: Keys, lease: str) -> bool:
        return bool(self._call(lambda: self._eval(LUA_RELEASE, [keys[1]], [lease])))

    # ----- asyncio commands -----------------------------------------------------------

    def _aclient(self) -> Any:
        if self._async is None and self._url is not None:
            import redis.asyncio

            # One asyncio client per event loop: a client's connections belong to its loop.
            loop = asyncio.get_running_loop()
            clients = self._scripts.setdefault("loops", {})
            c = clients.get(id(loop))
            if c is None or c[0] is not loop:
                if self._nodes is not None:
                    made = _cluster_client(self._nodes, self._timeout, asyncio=True)
                else:
                    made = redis.asyncio.Redis.from_url(
                        self._url,
                        socket_timeout=self._timeout,
                        socket_connect_timeout=self._timeout,
                        decode_responses=True,
                        retry=_no_retry(asyncio=True),
                    )
                c = (loop, made)
                clients[id(loop)] = c
            return c[1]
        return self._async

    async def _acall(self, sync: Any, make: Any) -> Any:
        client = self._aclient()
        try:
            if client is None:
                # A sync client: run the command in a worker thread.
                out = await asyncio.to_thread(sync)
            else:
                out = await asyncio.wait_for(make(client), self._timeout * 2)
        except StoreError:
            raise
        except Exception as exc:
            self._last_error = type(exc).__name__
            raise StoreError(type(exc).__name__) from exc
        self._up()
        return out

    async def aget(self, key: str) -> Optional[str]:
        v = await self._acall(lambda: self._client().get(key), lambda c: c.get(key))
        return _text(v)

    async def atake_lease(self, keys: Keys, lease: str, lease_ms: int) -> int:
        k, a = [keys[1], keys[2]], [lease, lease_ms]
        out = await self._acall(
            lambda: self._eval(LUA_TAKE_LEASE, k, a),
            lambda c: c.eval(LUA_TAKE_LEASE, len(k), *k, *a),
        )
        return int(out)

    async def apublish(self, keys: Keys, lease: str, value: str, ttl_ms: int) -> bool:
        k, a = [keys[1], keys[0]], [lease, value, ttl_ms]
        out = await self._acall(
            lambda: self._eval(LUA_PUBLISH, k, a),
            lambda c: c.eval(LUA_PUBLISH, len(k), *k, *a),
        )
        return bool(out)

    async def arelease(self, keys: Keys, lease: str) -> bool:
        k, a = [keys[1]], [lease]
        out = await self._acall(
            lambda: self._eval(LUA_RELEASE, k, a),
            lambda c: c.eval(LUA_RELEASE, len(k), *k, *a),
        )
        return bool(out)


def _no_retry(asyncio: bool = False) -> Any:
    from redis.backoff import NoBackoff

    if asyncio:
        from redis.asyncio.retry import Retry as ARetry

        return ARetry(NoBackoff(), 0)
    from redis.retry import Retry

    return Retry(NoBackoff(), 0)


def _cluster_client(urls: Tuple[str, ...], timeout: float, *, asyncio: bool) -> Any:
    """A Redis Cluster client with every URL as a startup node. Credentials and TLS come from
    the first URL. ``retry`` with 0 retries: redis-py then retries no connection error, timeout
    or ``CLUSTERDOWN`` (it re-reads the topology and raises); ``MOVED``/``ASK`` redirections
    are followed regardless (at most 16 per command)."""
    from redis.connection import SSLConnection, parse_url

    opts = [parse_url(u) for u in urls]
    first = opts[0]
    kwargs: Dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": True,
        "retry": _no_retry(asyncio=asyncio),
    }
    for k in ("username", "password"):
        if first.get(k) is not None:
            kwargs[k] = first[k]
    tls = first.get("connection_class") is SSLConnection
    if asyncio:
        from redis.asyncio.cluster import ClusterNode as ANode
        from redis.asyncio.cluster import RedisCluster as ACluster

        return ACluster(startup_nodes=[ANode(o["host"], o.get("port", 6379)) for o in opts], ssl=tls, **kwargs)
    from redis.cluster import ClusterNode, RedisCluster

    if tls:
        kwargs["connection_class"] = SSLConnection
    # Connects (reads the topology) here: called inside a command, so a failure is a StoreError.
    return RedisCluster(startup_nodes=[ClusterNode(o["host"], o.get("port", 6379)) for o in opts], **kwargs)


def _node_urls(urls: Any) -> Tuple[str, ...]:
    from redis.connection import parse_url

    bad = _errors.InvalidArgument(
        "a Redis Cluster is given as a non-empty list of node URLs redis://host:port (db 0)"
    )
    if not urls or not all(isinstance(u, str) for u in urls):
        raise bad
    for u in urls:
        try:
            o = parse_url(u)
        except ValueError:
            raise bad from None
        if "path" in o or "host" not in o or int(o.get("db", 0)) != 0:
            raise bad
    return tuple(urls)


def _is_cluster(c: Any) -> bool:
    try:
        import redis.asyncio.cluster
        import redis.cluster
    except ImportError:  # pragma: no cover - redis is optional
        return False
    return isinstance(c, (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster))


def _text(v: Any) -> Optional[str]:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def _is_async_client(c: Any) -> bool:
    try:
        import redis.asyncio
        import redis.asyncio.cluster
    except ImportError:  # pragma: no cover - redis is optional
        return False
    return isinstance(c, (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster))
