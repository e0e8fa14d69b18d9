"""One Python process of a fleet that shares a *user's* token (tests/fleet/test_rotation.py,
tests/fleet/test_deadlines.py). Modelled on worker.py, but:

* ``--grant refresh_token`` (default): a ``tokenclock.Session`` over
  ``refresh_token_grant(..., client_secret="demo-secret")`` with ``partition=--partition``, the
  refresh token from the environment variable ``TC_REFRESH_TOKEN`` (never on the command line);
  ``--grant client_credentials``: the client credentials grant (scope ``read``);
* ``--redis none`` runs without a store (each process on its own);
* tokens are recorded by a fingerprint (SHA-256 of the token, 16 hex), so opaque access tokens
  work; a JWT's ``exp`` is recorded when there is one;
* every failure is also counted by ``<exception class>:<code>:<error_class>`` in
  ``error_codes``;
* ``--check`` only builds the session, store and adapter and sends one request, then prints
  ``{"phase": "construct"|"request"|"ok", "error": {"type", "code", "message"}|null}`` (the
  store refusals: ``partition_required``, ``encryption_required``).

N concurrent callers (threads, or asyncio tasks with ``--asyncio``) call the API until
``--until`` (Unix seconds, real clock), then one JSON line is printed (see ``out`` below). The
first stdout line is ``{"owner", "pid"}`` as for worker.py.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import logging
import os
import sys
import threading
import time
from typing import Any, Dict, List, Optional

import httpx

import tokenclock
from tokenclock.httpx import OAuth2Auth
from tokenclock.store import RedisStore


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def jwt_exp(token: str) -> Optional[float]:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return float(claims["exp"])
    except (ValueError, KeyError, TypeError):
        return None


def error_key(exc: BaseException) -> str:
    """``<class>:<code>:<error class>`` (``null`` for a missing attribute), e.g.
    ``InvalidGrantError:reauthorization_required:invalid_grant``."""
    code = getattr(exc, "code", None)
    klass = getattr(exc, "error_class", None)
    return f"{type(exc).__name__}:{'null' if code is None else code}:{'null' if klass is None else klass}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--token-url", required=True)
    ap.add_argument("--api-url", required=True)
    ap.add_argument("--redis", required=True, help="a redis URL, or none")
    ap.add_argument("--grant", choices=("refresh_token", "client_credentials"), default="refresh_token")
    ap.add_argument("--partition", default=None)
    ap.add_argument("--callers", type=int, default=20)
    ap.add_argument("--start", type=float, default=0.0)
    ap.add_argument("--until", type=float, default=0.0)
    ap.add_argument("--offset", type=float, default=0.0)
    ap.add_argument("--lease", type=float, default=3.0)
    # Redis command bound: 2 s, not the library's 0.5 s, so that a CPU-starved CI machine
    # (parallel builds) does not turn into store failures; the outage tests lower it.
    ap.add_argument("--store-timeout", type=float, default=2.0)
    ap.add_argument("--backoff-cap", type=float, default=None, help="the session's backoff cap (s)")
    ap.add_argument("--key-hex", default=None)
    ap.add_argument("--prefix", default="tokenclock")
    ap.add_argument("--asyncio", action="store_true")
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="rworker %(process)d: %(message)s")
    offset_ms = round(args.offset * 1000)

    def clock() -> tokenclock.Reading:
        r = tokenclock.Reading.now()
        return tokenclock.Reading(r.wall + offset_ms / 1000.0, r.mono)

    phase = "construct"
    try:
        store: Optional[RedisStore] = None
        if args.redis != "none":
            store = RedisStore(
                args.redis,
                prefix=args.prefix,
                encryption_key=bytes.fromhex(args.key_hex) if args.key_hex else None,
                lease=args.lease,
                max_wait=args.lease * 2 + 2,
                timeout=args.store_timeout,
            )
        if args.grant == "refresh_token":
            grant = tokenclock.refresh_token_grant(
                args.token_url,
                "demo-client",
                os.environ["TC_REFRESH_TOKEN"],
                client_secret="demo-secret",
                auth_method="client_secret_basic",
            )
        else:
            grant = tokenclock.client_credentials(args.token_url, "demo-client", "demo-secret", scope="read")
        session_kw: Dict[str, Any] = {"clock": clock}
        if args.partition is not None:
            session_kw["partition"] = args.partition
        if args.backoff_cap is not None:
            session_kw["backoff_cap"] = args.backoff_cap
        session = tokenclock.Session(grant, **session_kw)
        # Token-endpoint clients of our own, only to log each token request's outcome.
        token_log: List[Any] = []

        def on_token_response(response: httpx.Response) -> None:
            if response.request.method == "POST":
                token_log.append([round(time.time(), 3), response.status_code])

        async def aon_token_response(response: httpx.Response) -> None:
            on_token_response(response)

        token_client = httpx.Client(event_hooks={"response": [on_token_response]})
        async_token_client = httpx.AsyncClient(event_hooks={"response": [aon_token_response]})
        auth = OAuth2Auth(session=session, clock=clock, store=store, token_client=token_client,
                          async_token_client=async_token_client)
    except Exception as exc:  # the typed refusal (or an API that is not there yet)
        if not args.check:
            raise
        print(json.dumps({"owner": None, "pid": os.getpid()}), flush=True)
        print(json.dumps({"phase": phase, "error": {"type": type(exc).__name__, "code": getattr(exc, "code", None),
                                                     "message": str(exc)[:300]}}), flush=True)
        return 0
    print(json.dumps({"owner": getattr(store, "owner", None), "pid": os.getpid()}), flush=True)

    if args.check:
        phase = "request"
        result: Dict[str, Any] = {"phase": "ok", "error": None}
        try:
            with httpx.Client(auth=auth, timeout=30) as c:
                result["status"] = c.get(args.api_url).status_code
        except Exception as exc:
            result = {"phase": phase, "error": {"type": type(exc).__name__, "code": getattr(exc, "code", None),
                                                "message": str(exc)[:300]}}
        if store is not None:
            store.close()
        print(json.dumps(result), flush=True)
        return 0

    lock = threading.Lock()
    out: Dict[str, Any] = {
        "lang": "python-asyncio" if args.asyncio else "python",
        "pid": os.getpid(),
        "offset": args.offset,
        "requests": 0,
        "calls": 0,
        "failures": [],
        "error_codes": {},
        "first_error_at": None,
        "statuses": {},
        "tokens": {},
        "max_call_s": 0.0,
        "token_log": [],  # [time, status] of every token request (POST) this process sent
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
        token = header.split(" ", 1)[1]
        fp = fingerprint(token)
        with lock:
            tok = out["tokens"].setdefault(fp, {"exp": jwt_exp(token), "first_use": t, "last_use": t, "uses": 0})
            tok["first_use"] = min(tok["first_use"], t)
            tok["last_use"] = max(tok["last_use"], t)
            tok["uses"] += 1

    async def asent(request: httpx.Request) -> None:
        sent(request)

    def fail(exc: BaseException) -> None:
        with lock:
            if len(out["failures"]) < 50:
                out["failures"].append(f"{type(exc).__name__}: {getattr(exc, 'code', '')} {exc}"[:300])
            k = error_key(exc)
            out["error_codes"][k] = out["error_codes"].get(k, 0) + 1
            if out["first_error_at"] is None:
                out["first_error_at"] = time.time()

    def took(t0: float) -> None:
        with lock:
            out["calls"] += 1
            out["max_call_s"] = max(out["max_call_s"], time.time() - t0)

    while time.time() < args.start:
        time.sleep(min(0.01, max(0.0, args.start - time.time())))

    if args.asyncio:

        async def caller(client: httpx.AsyncClient) -> None:
            while time.time() < args.until:
                t0 = time.time()
                try:
                    r = await client.get(args.api_url)
                    record(r.status_code)
                except Exception as exc:  # a user-visible failure
                    fail(exc)
                took(t0)
                await asyncio.sleep(args.interval)

        async def run() -> None:
            async with httpx.AsyncClient(auth=auth, timeout=30, event_hooks={"request": [asent]}) as client:
                await asyncio.gather(*(caller(client) for _ in range(args.callers)))
            if store is not None:
                await store.aclose()
            await async_token_client.aclose()

        asyncio.run(run())
    else:
        client = httpx.Client(auth=auth, timeout=30, event_hooks={"request": [sent]})

        def caller() -> None:
            while time.time() < args.until:
                t0 = time.time()
                try:
                    r = client.get(args.api_url)
                    record(r.status_code)
                except Exception as exc:
                    fail(exc)
                took(t0)
                time.sleep(args.interval)

        threads = [threading.Thread(target=caller) for _ in range(args.callers)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        client.close()
        if store is not None:
            store.close()
    stats = auth.stats()
    out["stats"] = {
        "token_requests": stats.get("token_requests"),
        "adapter": stats["adapter"],
        "offsets": stats.get("offsets"),
    }
    out["token_log"] = token_log
    token_client.close()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
