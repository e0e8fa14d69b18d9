"""``tokenclock.store.RedisStore`` on its own, against a real loopback redis-server: the lease
scripts' semantics (only the lease holder's write is accepted, fencing tokens increase), sync
and asyncio paths, a bounded failure when Redis is gone, argument checks, and no key material
in ``repr``; the same on a 6-node Redis Cluster (node URLs, or given cluster clients), which
must follow a failover (``MOVED`` after a replica's promotion) and recover from a killed
master. The fleet itself is test_fleet.py."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from typing import Any, List, Tuple

import pytest
import redis.asyncio.cluster
import redis.cluster

import tokenclock
from tokenclock.store import RedisStore, StoreError

from cluster import LocalCluster
from cluster_fixtures import cluster_clean, redis_cluster  # noqa: F401  (fixtures: a cluster for this module)
from test_fleet import ClusterRedis, RedisServer, free_port  # noqa: E402  (tests/fleet is the rootdir-relative path)

KEYS = ("t:{k}", "t:{k}:lease", "t:{k}:fence")


@pytest.fixture(params=["single", "cluster"])
def rds(request: Any) -> Any:
    """A redis-server, or the shared cluster (then ``url`` is the node URLs, comma-separated)."""
    if request.param == "single":
        r = RedisServer()
        yield r
        r.close()
    else:
        c = ClusterRedis(request.getfixturevalue("cluster_clean"))
        yield c
        c.close()


def _target(rds: Any) -> Any:
    """What a user gives RedisStore for this Redis: a URL, or the cluster's node URLs."""
    return rds.url.split(",") if rds.kind == "cluster" else rds.url


def test_lease_publish_release_follow_the_scripts(rds: Any) -> None:
    a, b = RedisStore(_target(rds)), RedisStore(_target(rds))
    assert a.get(KEYS[0]) is None
    fa = a.take_lease(KEYS, "lease-a", 5000)
    assert fa > 0
    assert rds.client().get(KEYS[1]) == "lease-a"  # the core's lease value, stored as-is
    assert b.take_lease(KEYS, "lease-b", 5000) == 0  # held
    assert b.publish(KEYS, "lease-b", "tcr1.x.y", 10_000) is False  # not b's lease
    assert a.publish(KEYS, "lease-a", "tcr1.x.y", 10_000) is True
    assert a.get(KEYS[0]) == "tcr1.x.y"
    assert rds.client().get(KEYS[1]) is None  # publishing drops the lease
    fb = b.take_lease(KEYS, "lease-b2", 5000)
    assert fb > fa  # fencing tokens increase
    assert a.release(KEYS, "lease-a") is False  # a lapsed lease value releases nothing
    assert a.publish(KEYS, "lease-a", "tcr1.stale", 10_000) is False
    assert b.release(KEYS, "lease-b2") is True
    assert a.get(KEYS[0]) == "tcr1.x.y"
    a.close()
    b.close()


async def test_asyncio_commands(rds: Any) -> None:
    s = RedisStore(_target(rds))
    f = await s.atake_lease(KEYS, "lease-1", 5000)
    assert f > 0
    assert await s.atake_lease(KEYS, "lease-2", 5000) == 0
    assert await s.apublish(KEYS, "lease-2", "tcr1.a.b", 10_000) is False
    assert await s.apublish(KEYS, "lease-1", "tcr1.a.b", 10_000) is True
    assert await s.aget(KEYS[0]) == "tcr1.a.b"
    assert await s.arelease(KEYS, "lease-1") is False  # already dropped by publish
    await s.aclose()


def test_an_unreachable_redis_fails_fast(rds: RedisServer) -> None:
    s = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(StoreError):
        s.get(KEYS[0])

    async def go() -> None:
        try:
            with pytest.raises(StoreError):
                await s.aget(KEYS[0])
        finally:
            await s.aclose()

    asyncio.run(go())
    s.close()
    assert time.monotonic() - t0 < 3


def test_arguments_and_repr() -> None:
    with pytest.raises(tokenclock.InvalidArgument):
        RedisStore(42)
    with pytest.raises(tokenclock.InvalidArgument):
        RedisStore("redis://x", prefix="a{b")
    with pytest.raises(tokenclock.InvalidArgument):
        RedisStore("redis://x", encryption_key=b"short")
    with pytest.raises(tokenclock.ConfigError):
        RedisStore("redis://x", lease=0.01)
    key = bytes([0xAB]) * 32
    s = RedisStore("redis://127.0.0.1:1/0", encryption_key=key)
    text = repr(s) + str(s) + repr(vars(s).keys())
    assert "encrypted" in repr(s)
    assert "ab" * 4 not in text.lower() and "\\xab" not in text


# ----- Redis Cluster ------------------------------------------------------------------------


def test_cluster_arguments_and_repr() -> None:
    for bad in ([], [""], ["not a url"], ["redis://127.0.0.1:7000/3"], ["redis://127.0.0.1:7000", 7001]):
        with pytest.raises(tokenclock.InvalidArgument):
            RedisStore(bad)
    s = RedisStore(("redis://:pw-s3cret@127.0.0.1:1", "redis://127.0.0.1:2"), encryption_key=bytes([0xAB]) * 32)
    text = repr(s) + str(s) + repr(vars(s).keys())
    assert "cluster" in repr(s) and "encrypted" in repr(s)
    assert "s3cret" not in text and "abababab" not in text.lower()


def test_an_unreachable_cluster_fails_fast() -> None:
    s = RedisStore([f"redis://127.0.0.1:{free_port()}", f"redis://127.0.0.1:{free_port()}"], timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(StoreError):
        s.get(KEYS[0])
    with pytest.raises(StoreError):
        s.take_lease(KEYS, "l", 5000)  # and again: construction is retried, not cached broken

    async def go() -> None:
        try:
            with pytest.raises(StoreError):
                await s.aget(KEYS[0])
        finally:
            await s.aclose()

    asyncio.run(go())
    s.close()
    assert time.monotonic() - t0 < 5


async def test_given_cluster_clients_are_used_and_stay_open(cluster_clean: LocalCluster) -> None:
    nodes = [redis.cluster.ClusterNode("127.0.0.1", p) for p in cluster_clean.ports]
    sync = redis.cluster.RedisCluster(startup_nodes=nodes, decode_responses=True)
    anodes = [redis.asyncio.cluster.ClusterNode("127.0.0.1", p) for p in cluster_clean.ports]
    aclient = redis.asyncio.cluster.RedisCluster(startup_nodes=anodes, decode_responses=True)
    s, a = RedisStore(sync), RedisStore(aclient)
    assert "cluster client" in repr(s) and "cluster async client" in repr(a)
    f = s.take_lease(KEYS, "lease-s", 5000)
    assert f > 0
    assert await a.atake_lease(KEYS, "lease-a", 5000) == 0
    assert await a.apublish(KEYS, "lease-s", "tcr1.c.d", 10_000) is True  # any holder's value works
    assert s.get(KEYS[0]) == "tcr1.c.d"
    # The record sits on the master that owns the hash tag's slot.
    assert cluster_clean.on(cluster_clean.master_of(KEYS[0]), "GET", KEYS[0]) == "tcr1.c.d"
    s.close()
    await a.aclose()
    assert sync.get(KEYS[0]) == "tcr1.c.d"  # a given client stays open
    assert await aclient.get(KEYS[0]) == "tcr1.c.d"
    sync.close()
    await aclient.aclose()


def test_cluster_failover_is_followed(cluster_clean: LocalCluster) -> None:
    """CLUSTER FAILOVER between taking the lease and publishing: the stores' clients (sync and
    asyncio, their slot maps now stale) follow MOVED to the promoted replica on the first try,
    and the leases taken on the old master hold on the new one."""
    akeys = ("u:{k}", "u:{k}:lease", "u:{k}:fence")  # the same slot as KEYS (hash tag {k})
    s = RedisStore(cluster_clean.url.split(","))
    a = RedisStore(cluster_clean.url.split(","))
    loop = asyncio.new_event_loop()
    try:
        assert s.take_lease(KEYS, "lease-s", 10_000) > 0
        assert loop.run_until_complete(a.atake_lease(akeys, "lease-a", 10_000)) > 0
        old, new = cluster_clean.failover(KEYS[0])
        assert cluster_clean.master_of(akeys[0]) == new != old
        assert s.publish(KEYS, "lease-s", "tcr1.sync", 10_000) is True
        assert loop.run_until_complete(a.apublish(akeys, "lease-a", "tcr1.async", 10_000)) is True
        assert s.get(KEYS[0]) == "tcr1.sync"
        assert loop.run_until_complete(a.aget(akeys[0])) == "tcr1.async"
        assert cluster_clean.on(new, "GET", KEYS[0]) == "tcr1.sync"
    finally:
        s.close()
        loop.run_until_complete(a.aclose())
        loop.close()


def test_cluster_killed_master_fails_one_command_then_reaches_the_promoted_replica(cluster_clean: LocalCluster) -> None:
    """SIGKILL of the master that owns the keys' slot (replicated lease): once the replica is
    promoted, the first command of a store fails (StoreError: no client retries; the client
    re-reads the topology) and the next one reaches the new master, where the lease still
    holds."""
    s = RedisStore(cluster_clean.url.split(","))
    loop = asyncio.new_event_loop()
    a = RedisStore(cluster_clean.url.split(","))
    try:
        assert s.take_lease(KEYS, "lease-s", 30_000) > 0
        assert loop.run_until_complete(a.aget(KEYS[0])) is None  # the asyncio client knows the old map
        cluster_clean.wait_replicated(KEYS[0])
        old, new = cluster_clean.kill_master(KEYS[0])
        assert new != old

        def attempts(f: Any) -> Any:
            failed = 0
            for _ in range(3):
                try:
                    return failed, f()
                except StoreError:
                    failed += 1
            return failed, None

        failed, ok = attempts(lambda: s.publish(KEYS, "lease-s", "tcr1.sync", 10_000))
        assert (failed, ok) in ((0, True), (1, True)), (failed, ok)
        failed, got = attempts(lambda: loop.run_until_complete(a.aget(KEYS[0])))
        assert (failed, got) in ((0, "tcr1.sync"), (1, "tcr1.sync")), (failed, got)
    finally:
        s.close()
        loop.run_until_complete(a.aclose())
        loop.close()
        cluster_clean.start_all()  # the killed node comes back as a replica


# ----- a token request never outlives the lease --------------------------------------------------


def _slow_token_endpoint() -> Tuple[str, Any, List[float]]:
    """A loopback token endpoint that answers a valid token response after 3 s. Returns its
    URL, the server (to shut down) and the list of request times."""
    seen: List[float] = []

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            seen.append(time.monotonic())
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(3)
            body = json.dumps({"access_token": "opaque-slow", "token_type": "Bearer", "expires_in": 300}).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up, as it should

        def do_GET(self) -> None:  # noqa: N802  (the API: echoes the Authorization header)
            body = (self.headers.get("Authorization") or "").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self) -> None:  # noqa: N802  (the fleet's issuer probe)
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/token", server, seen


def test_a_token_request_never_outlives_the_fleet_lease() -> None:
    """The session allows a token request 10 s, but with a store whose lease is 0.6 s the core
    bounds it by two thirds of the lease: a token endpoint that answers after 3 s fails the
    refresh with a transport error (a request outliving the lease would let a peer take the lease
    over and present the same refresh token again). Without the store, the same slow answer is
    waited for and used."""
    import httpx

    from tokenclock.httpx import OAuth2Auth

    url, server, seen = _slow_token_endpoint()
    r = RedisServer()
    try:
        store = RedisStore(r.url, lease=0.6, poll=0.05)
        session = tokenclock.Session(tokenclock.client_credentials(url, "app", "s3cret"))
        fleet = store.fleet(0, store.keys(session)[0])
        assert fleet.token_timeout(session) == pytest.approx(0.4)
        auth = OAuth2Auth(session=session, store=store)
        with httpx.Client(auth=auth, timeout=10) as client:
            with pytest.raises(tokenclock.RefreshError) as e:
                client.get(url.replace("/token", "/api"))
        assert e.value.code == "transport_error", repr(e.value)
        assert len(seen) == 1
        store.close()

        plain = OAuth2Auth(session=tokenclock.Session(tokenclock.client_credentials(url, "app", "s3cret")))
        with httpx.Client(auth=plain, timeout=10) as client:
            resp = client.get(url.replace("/token", "/api"))
        assert resp.status_code == 200 and resp.text == "Bearer opaque-slow"
        assert len(seen) == 2
    finally:
        r.close()
        server.shutdown()
        server.server_close()
