"""``tokenclock.store.RedisStore`` on its own, against a real loopback redis-server: the lease
scripts' semantics (only the owner's write is accepted, fencing tokens increase), sync and
asyncio paths, a bounded failure when Redis is gone, argument checks, and no key material in
``repr``. The fleet itself is test_fleet.py."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import tokenclock
from tokenclock.store import RedisStore, StoreError

from test_fleet import RedisServer, free_port  # noqa: E402  (tests/fleet is the rootdir-relative path)

KEYS = ("t:{k}", "t:{k}:lease", "t:{k}:fence")


@pytest.fixture
def rds() -> Any:
    r = RedisServer()
    yield r
    r.close()


def test_lease_publish_release_follow_the_scripts(rds: RedisServer) -> None:
    a, b = RedisStore(rds.url), RedisStore(rds.url)
    assert a.owner != b.owner
    assert a.get(KEYS[0]) is None
    fa = a.take_lease(KEYS, 5000)
    assert fa > 0
    assert b.take_lease(KEYS, 5000) == 0  # held
    assert b.publish(KEYS, fa, "tcr1.x.y", 10_000) is False  # not b's lease
    assert a.publish(KEYS, fa, "tcr1.x.y", 10_000) is True
    assert a.get(KEYS[0]) == "tcr1.x.y"
    assert rds.client().get(KEYS[1]) is None  # publishing drops the lease
    fb = b.take_lease(KEYS, 5000)
    assert fb > fa  # fencing tokens increase
    assert a.release(KEYS, fa) is False  # a stale fencing token releases nothing
    assert b.release(KEYS, fb) is True
    a.close()
    b.close()


async def test_asyncio_commands(rds: RedisServer) -> None:
    s = RedisStore(rds.url)
    f = await s.atake_lease(KEYS, 5000)
    assert f > 0
    assert await s.apublish(KEYS, f, "tcr1.a.b", 10_000) is True
    assert await s.aget(KEYS[0]) == "tcr1.a.b"
    assert await s.arelease(KEYS, f) is False  # already dropped by publish
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
