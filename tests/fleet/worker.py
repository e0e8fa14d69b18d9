"""One process of a fleet (tests/fleet/test_fleet.py): N concurrent callers (threads, or asyncio
tasks with --asyncio) call the loopback API through ``tokenclock.httpx.OAuth2Auth`` with a shared
``RedisStore`` until ``--until`` (Unix seconds, real clock), then print one JSON line:

``{"lang": "python", "pid", "requests", "failures": [...], "statuses": {...}, "tokens": {jti:
{"exp", "first_use", "last_use"}}, "adoptions": [...], "stats": {...}}``

``--offset S`` shifts this process's wall clock (the session's clock) by S seconds: its
readings are real time + S, as on a host whose clock is off. Usage times in the output are on
the real clock (the test's reference). Starts once ``--start`` (Unix seconds) is reached.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import sys
import threading
import time
from typing import Any, Dict, List

import httpx

import tokenclock
from tokenclock.httpx import OAuth2Auth
from tokenclock.store import RedisStore


def claims(header: str) -> Dict[str, Any]:
    payload = header.split(" ", 1)[1].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def report(event: str, **fields: Any) -> None:
    """One ``tc-store {...}`` line on stderr: the tests find the lease holder and count the
    publishes by them (lease values are random per attempt; no token is ever written)."""
    sys.stderr.write("tc-store " + json.dumps({"event": event, "pid": os.getpid(), "t": time.time(), **fields}) + "\n")
    sys.stderr.flush()


class ReportingStore(RedisStore):
    """A RedisStore that reports the leases it took and its publishes' outcomes."""

    def take_lease(self, keys: Any, lease: str, lease_ms: int) -> int:
        f = super().take_lease(keys, lease, lease_ms)
        if f:
            report("lease", lease=lease, fencing=f)
        return f

    async def atake_lease(self, keys: Any, lease: str, lease_ms: int) -> int:
        f = await super().atake_lease(keys, lease, lease_ms)
        if f:
            report("lease", lease=lease, fencing=f)
        return f

    # ok: true (written), false (the lease was no longer ours), null (the command failed).
    def publish(self, keys: Any, lease: str, value: str, ttl_ms: int) -> bool:
        ok = None
        try:
            ok = super().publish(keys, lease, value, ttl_ms)
            return ok
        finally:
            report("publish", lease=lease, ok=ok)

    async def apublish(self, keys: Any, lease: str, value: str, ttl_ms: int) -> bool:
        ok = None
        try:
            ok = await super().apublish(keys, lease, value, ttl_ms)
            return ok
        finally:
            report("publish", lease=lease, ok=ok)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--token-url", required=True)
    ap.add_argument("--api-url", required=True)
    ap.add_argument("--redis", required=True)
    ap.add_argument("--callers", type=int, default=50)
    ap.add_argument("--start", type=float, required=True)
    ap.add_argument("--until", type=float, required=True)
    ap.add_argument("--offset", type=float, default=0.0)
    ap.add_argument("--lease", type=float, default=3.0)
    ap.add_argument("--key-hex", default=None)
    ap.add_argument("--prefix", default="tokenclock")
    ap.add_argument("--asyncio", action="store_true")
    ap.add_argument("--interval", type=float, default=0.05)
    args = ap.parse_args()

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="worker %(process)d: %(message)s")
    offset_ms = round(args.offset * 1000)

    def clock() -> tokenclock.Reading:
        r = tokenclock.Reading.now()
        return tokenclock.Reading(r.wall + offset_ms / 1000.0, r.mono)

    store = ReportingStore(
        # Comma-separated node URLs: a Redis Cluster.
        args.redis.split(",") if "," in args.redis else args.redis,
        prefix=args.prefix,
        encryption_key=bytes.fromhex(args.key_hex) if args.key_hex else None,
        lease=args.lease,
        max_wait=args.lease * 2 + 2,
    )
    print(json.dumps({"pid": os.getpid()}), flush=True)
    auth = OAuth2Auth(
        args.token_url, "demo-client", "demo-secret", scope="read", clock=clock, store=store
    )
    lock = threading.Lock()
    out: Dict[str, Any] = {
        "lang": "python",
        "pid": os.getpid(),
        "offset": args.offset,
        "requests": 0,
        "failures": [],
        "statuses": {},
        "tokens": {},
    }

    def record(status: int) -> None:
        with lock:
            out["requests"] += 1
            out["statuses"][str(status)] = out["statuses"].get(str(status), 0) + 1

    def sent(request: httpx.Request) -> None:
        """httpx request hook: runs after the auth flow, as the request goes out."""
        header = request.headers.get("authorization")
        if header is None or str(request.url) != args.api_url:
            return
        t = time.time()
        c = claims(header)
        with lock:
            tok = out["tokens"].setdefault(c["jti"], {"exp": c["exp"], "first_use": t, "last_use": t})
            tok["first_use"] = min(tok["first_use"], t)
            tok["last_use"] = max(tok["last_use"], t)

    async def asent(request: httpx.Request) -> None:
        sent(request)

    def fail(exc: BaseException) -> None:
        with lock:
            out["failures"].append(f"{type(exc).__name__}: {exc}"[:300])

    while time.time() < args.start:
        time.sleep(min(0.01, max(0.0, args.start - time.time())))

    if args.asyncio:

        async def caller(client: httpx.AsyncClient) -> None:
            while time.time() < args.until:
                try:
                    r = await client.get(args.api_url)
                    record(r.status_code)
                except Exception as exc:  # a user-visible failure
                    fail(exc)
                await asyncio.sleep(args.interval)

        async def run() -> None:
            async with httpx.AsyncClient(auth=auth, timeout=30, event_hooks={"request": [asent]}) as client:
                await asyncio.gather(*(caller(client) for _ in range(args.callers)))

        asyncio.run(run())
    else:
        client = httpx.Client(auth=auth, timeout=30, event_hooks={"request": [sent]})

        def caller() -> None:
            while time.time() < args.until:
                try:
                    r = client.get(args.api_url)
                    record(r.status_code)
                except Exception as exc:
                    fail(exc)
                time.sleep(args.interval)

        threads = [threading.Thread(target=caller) for _ in range(args.callers)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        client.close()
    stats = auth.stats()
    out["stats"] = {
        "token_requests": stats.get("token_requests"),
        "adapter": stats["adapter"],
        "issuer": stats["offsets"]["issuer"],
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
