"""A fleet shares one *user's* rotating refresh token through a real ``redis-server``.

The identity provider (``tests/servers/tcserver.py``) rotates refresh tokens and, like real
ones, revokes the whole family when a rotated-away refresh token is presented again
(``revoke_family_on_reuse``). One refresh token, minted through the control endpoint, is handed
to every process of a fleet (Python threads, Python asyncio, Node; ``rotation_worker.py`` /
``rotation_worker.mjs``), each with ``partition="user-1"`` and a sealed ``RedisStore``. The
store must make each refresh token reach the identity provider exactly once fleet-wide: a
process holding an older refresh token adopts the newer one from the record before refreshing.

* the fleet follows ~5 rotations with no reuse, no revoked family, no failed request;
* a family revoked mid-run (the user revoked the app) reaches every process as a typed
  invalid-grant error (error class ``invalid_grant``), without a hang and without a reuse;
* the control: the same fleet *without* the store forks the chain at once (reuse detected,
  family revoked), so the first test can fail;
* a store is refused for a refresh-token session without ``partition`` and without an
  encryption key (typed codes), in Python and Node, before any token request.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx
import pytest

import tokenclock

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import test_fleet as fleet  # noqa: E402  (shared helpers: redis-server, tcserver, node package)

REPO = fleet.REPO
KEY_HEX = fleet.KEY_HEX
PARTITION = "user-1"


@pytest.fixture
def rds() -> Any:
    r = fleet.RedisServer()
    yield r
    r.close()


@pytest.fixture
def tc() -> Any:
    s = fleet.TCServer()
    yield s
    s.stop()


def mint_refresh_token(tc: Any) -> str:
    r = httpx.post(tc.control_url + "/refresh_token", json={}, timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["refresh_token"])


def revoke_family(tc: Any, refresh_token: str) -> Dict[str, Any]:
    r = httpx.post(tc.control_url + "/revoke_refresh_tokens", json={"refresh_token": refresh_token}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


class RWorker:
    """A rotation_worker process (Python threads, Python asyncio or Node)."""

    def __init__(self, kind: str, tc: Any, redis_url: Optional[str], *, start: float, until: float,
                 refresh_token: Optional[str] = None, grant: str = "refresh_token",
                 partition: Optional[str] = PARTITION, key_hex: Optional[str] = KEY_HEX,
                 callers: int = 20, interval: float = 0.25, lease: float = 3.0, offset: float = 0.0,
                 store_timeout: float = 2.0, backoff_cap: Optional[float] = None,
                 check: bool = False) -> None:
        opts: Dict[str, Any] = {"token-url": tc.token_url, "api-url": tc.api_url, "redis": redis_url or "none",
                                "grant": grant, "callers": callers, "start": repr(start), "until": repr(until),
                                "interval": repr(interval), "lease": repr(lease), "offset": repr(offset),
                                "store-timeout": repr(store_timeout)}
        if partition is not None:
            opts["partition"] = partition
        if backoff_cap is not None:
            opts["backoff-cap"] = repr(backoff_cap)
        if key_hex:
            opts["key-hex"] = key_hex
        common = [f"--{k}={v}" for k, v in opts.items()] + (["--check"] if check else [])
        if kind.startswith("python"):
            cmd = [sys.executable, str(HERE / "rotation_worker.py"), *common]
            if kind == "python-asyncio":
                cmd.append("--asyncio")
        else:
            cmd = ["node", str(HERE / "rotation_worker.mjs"), "--pkg", fleet.node_pkg(), *common]
        env = dict(os.environ)
        if refresh_token is not None:
            env["TC_REFRESH_TOKEN"] = refresh_token  # never on a command line
        self.kind = kind
        self._err_text = ""
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, cwd=str(REPO), env=env)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if not first:
            self.proc.wait(10)
            err = self.err()
            self.close()
            raise RuntimeError(f"{kind} worker died at start: {err[-3000:]}")
        self.owner = json.loads(first)["owner"]
        self.result: Optional[Dict[str, Any]] = None

    def err(self) -> str:
        if self.stderr.closed:
            return self._err_text
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def close(self) -> None:
        if not self.stderr.closed:
            self._err_text = self.err()
            self.stderr.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def finish(self, timeout: float) -> Dict[str, Any]:
        # Not communicate(): it reads the raw pipe and would miss a line readline() buffered.
        # The output is one JSON line, far below a pipe's capacity.
        assert self.proc.stdout is not None
        self.proc.wait(timeout)
        out = self.proc.stdout.read()
        assert self.proc.returncode == 0, f"{self.kind} worker exited {self.proc.returncode}: {self.err()[-3000:]}"
        self.result = json.loads(out.decode().strip().splitlines()[-1])
        return self.result

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def run_workers(workers: List[RWorker], until: float) -> List[Dict[str, Any]]:
    """Every worker's result; a worker still running 60 s after `until` counts as hung."""
    results = []
    try:
        for w in workers:
            try:
                results.append(w.finish(timeout=max(5.0, until - time.time()) + 60))
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{w.kind} worker hung: {w.err()[-3000:]}") from None
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.kill()
            w.close()
    return results


FLEET = ["python", "python", "python-asyncio", "node", "node"]


def start_fleet(tc: Any, rds: Any, rt: str, *, start: float, until: float, store: bool = True,
                **kw: Any) -> List[RWorker]:
    return [RWorker(kind, tc, rds.url if store else None, start=start, until=until, refresh_token=rt, **kw)
            for kind in FLEET]


def summary(results: List[Dict[str, Any]], workers: List[RWorker]) -> List[Any]:
    """What to print when an assertion fails."""
    return [
        (r["lang"], r["statuses"], r["error_codes"], r["failures"][:3],
         {k: v for k, v in r["stats"]["adapter"].items() if "leet" in k or "oken" in k}, w.err()[-1500:])
        for r, w in zip(results, workers)
    ]


def error_kinds(result: Dict[str, Any]) -> Dict[str, int]:
    """error_codes (`<class>:<code>:<error class>`) as `<code>/<error class>` counts, e.g.
    `reauthorization_required/invalid_grant`."""
    out: Dict[str, int] = {}
    for k, n in result["error_codes"].items():
        _, code, klass = k.split(":")
        out[f"{code}/{klass}"] = out.get(f"{code}/{klass}", 0) + n
    return out


# A refused refresh token with no other grant to fall back to: the core's code is
# `reauthorization_required` (the user must authorize again), its error class `invalid_grant`
# (the identity provider's answer); an adapter may also pass the OAuth error on as the code.
INVALID_GRANT = {"reauthorization_required/invalid_grant", "invalid_grant/invalid_grant"}


def invalid_grant_errors(result: Dict[str, Any]) -> int:
    return sum(n for k, n in error_kinds(result).items() if k in INVALID_GRANT)


def assert_records_sealed_without_refresh_tokens(rds: Any) -> None:
    c = rds.client()
    records = 0
    for key in c.scan_iter("tokenclock:*"):
        if c.type(key) != "string":
            continue
        value = c.get(key)
        if value is None or not value.startswith(("tce1.", "tcr1.")):
            continue  # a lease or a fencing counter
        records += 1
        assert PARTITION not in key, key  # the partition is hashed into the key, never shown
        assert value.startswith("tce1."), "a user's record must be sealed"
        raw = base64.urlsafe_b64decode(value[5:] + "=" * (-len(value[5:]) % 4))
        for needle in ("rt-", "refresh_token", "demo-client", PARTITION):
            assert needle not in value and needle.encode() not in raw
    c.close()
    assert records >= 1


# ----- 1. the fleet follows the rotation, each refresh token presented once ----------------------


def test_fleet_shares_a_rotating_refresh_token_without_reuse(tc: Any, rds: Any) -> None:
    """5 processes (2 Python threaded, 1 Python asyncio, 2 Node) x 20 callers start from one
    refresh token; TTL 6 s, so the run crosses ~5 expiries. The identity provider sees one
    chain: every refresh presents the newest refresh token, each exactly once (no reuse, no
    revoked family, every issued refresh token but the last one used), no failed request."""
    tc.config(token_ttl_s=6, rotate_refresh_tokens=True, revoke_family_on_reuse=True)
    rt = mint_refresh_token(tc)
    start = time.time() + 5
    until = start + 24
    workers = start_fleet(tc, rds, rt, start=start, until=until)
    results = run_workers(workers, until)
    st = tc.stats()
    rts, tok = st["refresh_tokens"], st["token"]
    info = (st["token"], rts, summary(results, workers))
    assert rts["reused"] == 0 and rts["families_revoked"] == 0, info
    assert tok["errors"] == {}, info
    rotations = tok["by_grant_type"]["refresh_token"]
    assert rotations >= 4, info
    assert tok["requests"] == rotations, info  # no other token request
    # One chain, no fork: the control token and every rotated one but the newest were used once.
    assert rts == {"active": 1, "used": rotations, "revoked": 0, "families": 1, "reused": 0,
                   "families_revoked": 0}, info
    for r in results:
        assert r["failures"] == [] and set(r["statuses"]) == {"200"}, info
        assert r["requests"] > 0
    assert st["api"]["responses_401"] == 0, st["api"]
    # One token request per access token, and every process followed the chain.
    used = set().union(*(r["tokens"] for r in results))
    assert rotations - 1 <= len(used) <= rotations, (len(used), rotations)
    for r in results:
        assert len(r["tokens"]) >= rotations - 2, (r["lang"], len(r["tokens"]), rotations)
    assert_records_sealed_without_refresh_tokens(rds)


# ----- 2. the family is revoked mid-run ------------------------------------------------------------


def test_revoked_family_reaches_every_process_as_invalid_grant(tc: Any, rds: Any) -> None:
    """Same fleet; 8 s in, the user revokes the app (the family is revoked at the identity
    provider). Every process goes on with its access token until it expires, then surfaces
    a typed invalid-grant error to its callers and no other error (Python `InvalidGrantError`,
    Node `TokenClockError`; error class `invalid_grant`, code `reauthorization_required`: the
    user must authorize again); no call hangs, no refresh token is presented twice, no access
    token is used past its expiry."""
    tc.config(token_ttl_s=6, rotate_refresh_tokens=True, revoke_family_on_reuse=True)
    rt = mint_refresh_token(tc)
    start = time.time() + 5
    until = start + 20
    workers = start_fleet(tc, rds, rt, start=start, until=until)
    while time.time() < start + 8:
        time.sleep(0.05)
    revoked = revoke_family(tc, rt)
    t_revoked = time.time()
    before = tc.stats()["token"]["requests"]
    assert revoked["families_revoked"] == 1 and revoked["tokens_revoked"] == 1, revoked
    results = run_workers(workers, until)
    st = tc.stats()
    info = (st["token"], st["refresh_tokens"], summary(results, workers))
    assert st["refresh_tokens"]["reused"] == 0, info
    assert st["refresh_tokens"]["families_revoked"] == 1, info
    assert before >= 2, info  # the fleet rotated before the revocation
    for r, w in zip(results, workers):
        kinds = error_kinds(r)
        assert kinds and set(kinds) <= INVALID_GRANT, (r["lang"], r["error_codes"], r["failures"][:5],
                                                       w.err()[-2000:])
        # typed: Python's InvalidGrantError (a RefreshError), Node's TokenClockError
        for k in r["error_codes"]:
            name = k.split(":")[0]
            if r["lang"].startswith("python"):
                assert name == "InvalidGrantError", k
                assert issubclass(tokenclock.InvalidGrantError, tokenclock.RefreshError)
            else:
                assert name == "TokenClockError", k
        assert r["first_error_at"] >= t_revoked, (r["lang"], r["first_error_at"] - t_revoked)
        assert r["statuses"].get("200", 0) > 0 and set(r["statuses"]) == {"200"}, r["statuses"]
        assert r["max_call_s"] < 10, (r["lang"], r["max_call_s"])  # nobody hangs
    assert st["api"]["responses_401"] == 0, st["api"]
    # The identity provider is not hammered with the dead refresh token.
    after = st["token"]["requests"] - before
    assert after <= 2 * len(workers), info


# ----- 3. the control: without the store the chain forks ---------------------------------------


def test_without_the_store_the_fleet_reuses_the_refresh_token_and_loses_the_family(tc: Any, rds: Any) -> None:
    """The same fleet with the same refresh token but no store: each process refreshes on its
    own, so the token is presented more than once: the identity provider detects the reuse and
    revokes the family, and callers get invalid_grant. This is the harm test 1 rules out."""
    tc.config(token_ttl_s=6, rotate_refresh_tokens=True, revoke_family_on_reuse=True)
    rt = mint_refresh_token(tc)
    start = time.time() + 5
    until = start + 5
    workers = start_fleet(tc, rds, rt, start=start, until=until, store=False)
    results = run_workers(workers, until)
    st = tc.stats()
    info = (st["token"], st["refresh_tokens"], summary(results, workers))
    assert st["refresh_tokens"]["reused"] >= 1, info
    assert st["refresh_tokens"]["families_revoked"] == 1, info
    assert st["refresh_tokens"]["active"] == 0, info
    assert sum(invalid_grant_errors(r) for r in results) > 0, info


# ----- 4. a user's token is never shared unpartitioned or in clear --------------------------------


def _python_refusal(tc: Any, rds: Any, rt: str, partition: Optional[str], key: Optional[bytes],
                    use_async: bool) -> Any:
    """The error a refresh-token session with this store raises (at construction or at the
    first request), or None."""
    from tokenclock.httpx import OAuth2Auth
    from tokenclock.store import RedisStore

    grant = tokenclock.refresh_token_grant(tc.token_url, "demo-client", rt, client_secret="demo-secret",
                                           auth_method="client_secret_basic")
    store = RedisStore(rds.url, encryption_key=key)
    try:
        sess = tokenclock.Session(grant) if partition is None else tokenclock.Session(grant, partition=partition)
        auth = OAuth2Auth(session=sess, store=store)
        if use_async:
            import asyncio

            async def one() -> None:
                async with httpx.AsyncClient(auth=auth, timeout=10) as c:
                    (await c.get(tc.api_url)).raise_for_status()
                await store.aclose()

            asyncio.run(one())
        else:
            with httpx.Client(auth=auth, timeout=10) as c:
                c.get(tc.api_url).raise_for_status()
    except tokenclock.TokenClockError as e:
        return e
    finally:
        store.close()
    return None


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "asyncio"])
def test_python_store_refused_without_partition_or_encryption_key(tc: Any, rds: Any, use_async: bool) -> None:
    rt = mint_refresh_token(tc)
    key = bytes.fromhex(KEY_HEX)
    e = _python_refusal(tc, rds, rt, None, key, use_async)
    assert e is not None and e.code == "partition_required", e
    e = _python_refusal(tc, rds, rt, PARTITION, None, use_async)
    assert e is not None and e.code == "encryption_required", e
    # Refused before the refresh token went anywhere.
    assert tc.token_requests() == 0
    assert rds.client().dbsize() == 0
    # With both it works.
    assert _python_refusal(tc, rds, rt, PARTITION, key, use_async) is None
    assert tc.token_requests() == 1


def test_node_store_refused_without_partition_or_encryption_key(tc: Any, rds: Any) -> None:
    rt = mint_refresh_token(tc)
    now = time.time()

    def check(partition: Optional[str], key_hex: Optional[str]) -> Dict[str, Any]:
        w = RWorker("node", tc, rds.url, start=now, until=now, refresh_token=rt, partition=partition,
                    key_hex=key_hex, check=True)
        (res,) = run_workers([w], time.time() + 10)
        return res

    r = check(None, KEY_HEX)
    assert r["error"] is not None and r["error"]["code"] == "partition_required", r
    assert r["error"]["type"] == "TokenClockError", r
    r = check(PARTITION, None)
    assert r["error"] is not None and r["error"]["code"] == "encryption_required", r
    assert tc.token_requests() == 0
    assert rds.client().dbsize() == 0
    r = check(PARTITION, KEY_HEX)
    assert r["error"] is None and r["status"] == 200, r
    assert tc.token_requests() == 1


# ----- 5. the store is unreachable: fail closed, typed, and recover --------------------------------


def test_user_fleet_fails_closed_with_typed_errors_while_the_store_is_down(tc: Any, rds: Any) -> None:
    """Redis is down when the fleet starts and comes back 4 s later. A refresh-token session
    must not refresh outside the lease (it could present a used refresh token), so while the
    store is down no token request is made and callers get a typed, transient TokenClockError
    within the bounded store commands (never a hang, never a non-Error rejection); once Redis
    answers, the fleet gets its
    token (one token request) and every process serves callers again."""
    tc.config(token_ttl_s=30, rotate_refresh_tokens=True, revoke_family_on_reuse=True)
    rt = mint_refresh_token(tc)
    rds.stop()
    start = time.time() + 5
    until = start + 9
    # Backoff capped at 3 s (above max_wait, so callers see the failures; short enough that
    # the first attempt after the store is back falls in the test's window).
    workers = [RWorker(kind, tc, rds.url, start=start, until=until, refresh_token=rt, callers=3,
                       store_timeout=0.5, backoff_cap=3.0) for kind in ("python", "python-asyncio", "node")]
    while time.time() < start + 4:
        time.sleep(0.05)
    assert tc.token_requests() == 0
    rds.start()
    results = run_workers(workers, until)
    st = tc.stats()
    info = (st["token"], st["refresh_tokens"], summary(results, workers))
    assert st["refresh_tokens"]["reused"] == 0 and st["token"]["errors"] == {}, info
    assert st["token"]["requests"] == 1, info  # after the store came back, once for the fleet
    for r, w in zip(results, workers):
        # Callers either waited out the short backoffs (the store came back within them) or
        # got typed, transient errors; never anything else.
        for k, n in r["error_codes"].items():
            name, code, klass = k.split(":")
            if r["lang"].startswith("python"):
                assert issubclass(getattr(tokenclock, name, type(None)), tokenclock.TokenClockError), (k, info)
            else:
                assert name == "TokenClockError", (k, r["failures"][:3])
            assert code != "null" and klass == "transient", (k, r["failures"][:3])
        # An error is told while the store is still down (each store command is bounded), not
        # held until it came back.
        if r["error_codes"]:
            assert r["first_error_at"] < start + 4, (r["lang"], r["first_error_at"] - start)
        assert r["max_call_s"] < 8, (r["lang"], r["max_call_s"])  # a hang bound, not a speed figure
        assert r["statuses"].get("200", 0) > 0 and set(r["statuses"]) == {"200"}, (r["lang"], r["statuses"])
