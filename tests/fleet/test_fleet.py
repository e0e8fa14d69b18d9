"""A fleet shares one token through a real ``redis-server`` (issue 10, tests (a)-(f)).

Every test starts its own ``redis-server`` on a free loopback port (Debian's, installed by
``make test``) and a loopback ``tests/servers/tcserver.py``; the fleet is real processes:
``tests/fleet/worker.py`` (Python, ``tokenclock.httpx.OAuth2Auth``, threads or asyncio) and
``tests/fleet/worker.mjs`` (Node, ``createFetch``), all with ``store=RedisStore(...)``. Each
worker runs N concurrent callers against the API until a common deadline and reports what it
saw; the token endpoint's own counter says how many token requests the fleet made.

Every test runs twice: on one ``redis-server`` (``single``) and on a 6-node Redis Cluster
(``cluster``, ``tests/fleet/cluster.py``; the workers get every node's URL and build cluster
clients). The cluster is shared by the session's tests (conftest.py) and flushed before each.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import redis

import tokenclock
from cluster import LocalCluster
from cluster_fixtures import cluster_clean, redis_cluster  # noqa: F401  (fixtures: a cluster for this module)

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
NPM = REPO / "npm"

_spec = importlib.util.spec_from_file_location("_e2e_conftest", REPO / "python" / "tests" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)
TCServer = _conftest.TCServer

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
KEY_HEX = "7f" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A throwaway redis-server on 127.0.0.1 (no persistence); can be stopped and restarted
    on the same port."""

    kind = "single"

    def __init__(self) -> None:
        if not os.path.exists(REDIS_SERVER):
            raise RuntimeError("redis-server is not installed (make test installs Debian's redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="tc-redis-")
        self.proc: Optional[subprocess.Popen] = None
        self.clients: List[Any] = []
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        c = redis.Redis(port=self.port, socket_timeout=1)
        for _ in range(200):
            try:
                if c.ping():
                    c.close()
                    return
            except redis.RedisError:
                time.sleep(0.025)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def client(self) -> "redis.Redis[str]":
        c: "redis.Redis[str]" = redis.Redis(port=self.port, decode_responses=True)
        self.clients.append(c)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class ClusterRedis:
    """A ``LocalCluster`` as the tests' Redis: ``url`` is the workers' ``--redis`` value (every
    node's URL, comma-separated), ``client()`` a cluster client; ``stop()``/``start()`` take the
    whole cluster down and up again (every node: the store is unreachable, as in the
    single-server test, and comes back empty with its topology)."""

    kind = "cluster"

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.url = cluster.url
        self.clients: List[Any] = []

    def client(self) -> Any:
        c = self.cluster.client()
        self.clients.append(c)
        return c

    def close(self) -> None:
        """Closes the clients handed out (the cluster itself is the session's)."""
        for c in self.clients:
            c.close()

    def stop(self) -> None:
        self.cluster.stop_all()

    def start(self) -> None:
        self.cluster.start_all()


@pytest.fixture(params=["single", "cluster"])
def rds(request: Any) -> Any:
    if request.param == "single":
        r = RedisServer()
        yield r
        r.close()
    else:
        c = ClusterRedis(request.getfixturevalue("cluster_clean"))
        yield c
        c.close()


@pytest.fixture
def tc() -> Any:
    s = TCServer()
    yield s
    s.stop()


def node_pkg() -> str:
    entry = NPM / "node.js"
    if not (NPM / "pkg" / "client" / "tokenclock_wasm_bg.wasm").exists():
        raise RuntimeError("npm/pkg is not built: run `make wasm` first (make test does)")
    return str(entry)


class Worker:
    def __init__(self, lang: str, tc: Any, rds: Any, *, start: float, until: float,
                 callers: int = 50, offset: float = 0.0, lease: float = 3.0,
                 key_hex: Optional[str] = None, asyncio_: bool = False, interval: float = 0.05) -> None:
        opts = {"token-url": tc.token_url, "api-url": tc.api_url, "redis": rds.url,
                "callers": callers, "start": repr(start), "until": repr(until),
                "offset": repr(offset), "lease": repr(lease), "interval": repr(interval)}
        if key_hex:
            opts["key-hex"] = key_hex
        # `--name=value`: a negative offset must not look like an option.
        common = [f"--{k}={v}" for k, v in opts.items()]
        if lang == "python":
            cmd = [sys.executable, str(HERE / "worker.py"), *common] + (["--asyncio"] if asyncio_ else [])
        else:
            cmd = ["node", str(HERE / "worker.mjs"), "--pkg", node_pkg(), *common]
        self.lang = lang
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, cwd=str(REPO))
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if not first:
            raise RuntimeError(f"{lang} worker died at start: {self.err()}")
        self.pid: int = json.loads(first)["pid"]
        self.result: Optional[Dict[str, Any]] = None

    def store_events(self) -> List[Dict[str, Any]]:
        """The worker's ``tc-store`` lines (stderr): each lease it took (``lease``,
        ``fencing``) and each publish's outcome (``ok``: true, false, or null when the
        command failed), with the time ``t``."""
        return [json.loads(line[9:]) for line in self.err().splitlines() if line.startswith("tc-store {")]

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
        assert self.proc.stdout is not None
        out, _ = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, f"{self.lang} worker exited {self.proc.returncode}: {self.err()}"
        self.result = json.loads(out.decode().strip().splitlines()[-1])
        return self.result

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def run_fleet(workers: List[Worker], until: float) -> List[Dict[str, Any]]:
    results = []
    try:
        for w in workers:
            results.append(w.finish(timeout=max(5.0, until - time.time()) + 60))
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.kill()
            w.close()
    return results


def assert_no_failures(results: List[Dict[str, Any]], workers: List[Worker]) -> None:
    for r, w in zip(results, workers):
        assert r["failures"] == [], (r["lang"], r["failures"][:5], w.err()[-2000:])
        assert set(r["statuses"]) == {"200"}, (r["lang"], r["statuses"])
        assert r["requests"] > 0


def tokens_used(results: List[Dict[str, Any]]) -> Dict[str, float]:
    """jti -> exp of every token any worker sent."""
    out: Dict[str, float] = {}
    for r in results:
        for jti, t in r["tokens"].items():
            out[jti] = t["exp"]
    return out


# ----- (a) one token request per expiry, Python and Node together ---------------------------


def test_a_one_token_request_per_expiry_fleet_wide(tc: Any, rds: Any) -> None:
    """8 processes (4 Python: 2 threads + 2 asyncio; 4 Node) x 50 callers start together with
    no token, then cross one expiry (TTL 10 s; `iat` is whole seconds, so a token lives 9-10 s
    and every process's refresh time falls 6.4-8.5 s into it; the run ends at 10 s, before
    the next one): exactly one token request for the first token and one for the expiry,
    fleet-wide; every other process adopts; no caller sees a failure."""
    tc.config(token_ttl_s=10)
    start = time.time() + 4
    until = start + 10
    workers = []
    for i in range(4):
        workers.append(Worker("python", tc, rds, start=start, until=until, asyncio_=(i % 2 == 1), interval=0.25))
        workers.append(Worker("node", tc, rds, start=start, until=until, interval=0.25))
    results = run_fleet(workers, until)
    assert_no_failures(results, workers)
    used = tokens_used(results)
    assert tc.token_requests() == 2, (
        tc.stats()["token"],
        [(r["lang"], {k: v for k, v in r["stats"]["adapter"].items() if "leet" in k}, r["tokens"]) for r in results],
    )
    assert len(used) == 2
    # Every process used both tokens: the second one came from the store for all but one.
    for r in results:
        assert len(r["tokens"]) == 2, r["lang"]
    published = sum(
        r["stats"]["adapter"].get("fleet_published", r["stats"]["adapter"].get("fleetPublished", 0))
        for r in results
    )
    adopted = sum(
        r["stats"]["adapter"].get("fleet_adopted", r["stats"]["adapter"].get("fleetAdopted", 0))
        for r in results
    )
    assert published == 2
    assert adopted >= 2 * (len(workers) - 1)


# ----- (b) skewed clocks share a token ------------------------------------------------------


def test_b_skewed_clocks_never_use_a_shared_token_past_its_real_expiry(tc: Any, rds: Any) -> None:
    """Processes whose clocks are off by -120 s, 0 and +45 s (Python and Node) share one token
    (TTL 20 s, margin min(10 s, TTL/10) = 2 s). The token endpoint then refuses every further
    request, so each process keeps the shared token until its own judgement of hard expiry:
    none uses it at or past the real expiry (the issuer's clock = the test's clock), none stops
    earlier than the margin plus its Date-probe uncertainty (1 s resolution + round trip)
    before it."""
    tc.config(token_ttl_s=20)
    start = time.time() + 4
    until = start + 24
    offsets = [("python", -120.0), ("node", 0.0), ("python", 45.0), ("node", -120.0), ("node", 45.0), ("python", 0.0)]
    workers = [Worker(lang, tc, rds, start=start, until=until, offset=off, callers=5, interval=0.1)
               for lang, off in offsets]
    # Let the first token be fetched and shared, then make every later token request fail.
    while time.time() < start + 3:
        time.sleep(0.05)
    tc.config(fail_all_token_requests_with={"kind": "status", "status": 503})
    results = run_fleet(workers, until)
    first = tc.stats()["token"]
    assert first["issued"] == 1, first
    for r, w in zip(results, workers):
        assert len(r["tokens"]) == 1, (r["lang"], r["offset"], r["tokens"])
        (tok,) = r["tokens"].values()
        exp = tok["exp"]
        # Never at or past the real expiry (the API server, leeway 0, would have said 401).
        assert tok["last_use"] < exp, (r["lang"], r["offset"], tok)
        # Not dropped early by more than the margin (2 s) + Date resolution and round trip
        # (1.5 s) + one request interval.
        assert tok["last_use"] >= exp - 2.0 - 1.5 - 0.2, (r["lang"], r["offset"], tok, exp - tok["last_use"])
        assert r["statuses"].get("401", 0) == 0, r["statuses"]


# ----- (c) the lease holder is killed ---------------------------------------------------------


def test_c_killed_lease_holder_is_taken_over(tc: Any, rds: Any) -> None:
    """Three processes share a token (TTL 12 s, lease 2 s). The refresh that takes the lease
    hangs at the token endpoint (a 30 s delay) and its process is SIGKILLed: after the lease
    lapses another process takes it over and refreshes; no caller of the survivors fails."""
    tc.config(token_ttl_s=12)
    start = time.time() + 4
    until = start + 19
    workers = [
        Worker("python", tc, rds, start=start, until=until, callers=10, lease=2.0, interval=0.1),
        Worker("node", tc, rds, start=start, until=until, callers=10, lease=2.0, interval=0.1),
        Worker("python", tc, rds, start=start, until=until, callers=10, lease=2.0, interval=0.1, asyncio_=True),
    ]
    while time.time() < start + 2:
        time.sleep(0.05)
    assert tc.token_requests() == 1
    tc.config(failures=[{"kind": "slow", "delay_s": 30}])
    r = rds.client()
    lease_key = tokenclock.store_keys(_session(tc))[1]
    victim = None
    deadline = time.time() + 15
    while victim is None and time.time() < deadline:
        v = r.get(lease_key)
        # The lease value is random per attempt: the holder is the worker that reported it.
        holders = [w for w in workers if v is not None and any(
            e["event"] == "lease" and e["lease"] == v and e["fencing"] >= 2 for e in w.store_events())]
        if holders and tc.token_requests() >= 2:
            (victim,) = holders
        else:
            time.sleep(0.02)
    assert victim is not None, "no process took the lease for the refresh"
    victim.kill()
    victim.close()
    survivors = [w for w in workers if w is not victim]
    results = run_fleet(survivors, until)
    assert_no_failures(results, survivors)
    # One request per token the survivors used (the initial one, the take-over, and one per
    # later expiry if the run crossed one), plus the hung refresh of the killed holder.
    used = tokens_used(results)
    assert len(used) >= 2
    assert tc.token_requests() == len(used) + 1, (
        tc.stats()["token"],
        [(r["lang"], {k: v for k, v in r["stats"]["adapter"].items() if "leet" in k}, r["tokens"]) for r in results],
        [w.err() for w in survivors],
    )
    for res in results:
        assert len(res["tokens"]) == len(used), res["tokens"]


def _session(tc: Any) -> Any:
    return tokenclock.Session(
        tokenclock.client_credentials(tc.token_url, "demo-client", "demo-secret", scope="read")
    )


# ----- (d) Redis restarts mid-run ---------------------------------------------------------


def test_d_redis_stopped_and_restarted_mid_run_fails_no_request(tc: Any, rds: Any) -> None:
    """TTL 6 s; Redis is stopped 3 s in and started again 6 s later: no request fails; each
    process logs the outage once and the return once. For the cluster, every node is stopped
    and restarted (a whole-store outage, like the single server's; losing one master is
    test_cluster_failover.py)."""
    tc.config(token_ttl_s=6)
    start = time.time() + 4
    until = start + 16
    workers = [
        Worker("python", tc, rds, start=start, until=until, callers=10, interval=0.1),
        Worker("node", tc, rds, start=start, until=until, callers=10, interval=0.1),
        Worker("python", tc, rds, start=start, until=until, callers=10, interval=0.1, asyncio_=True),
    ]
    while time.time() < start + 3:
        time.sleep(0.05)
    rds.stop()
    time.sleep(6)
    rds.start()
    results = run_fleet(workers, until)
    assert_no_failures(results, workers)
    for w in workers:
        err = w.err()
        assert err.count("unreachable or failing") <= 1, err
    # At least one process noticed the outage (a refresh fell inside it).
    assert any("unreachable or failing" in w.err() for w in workers), [w.err() for w in workers]


# ----- (e) damaged records are ignored ------------------------------------------------------


@pytest.mark.parametrize(
    "damage,code",
    [("flip", "record_checksum"), ("version", "record_version"), ("garbage", "record_malformed")],
)
def test_e_tampered_or_foreign_records_are_ignored(tc: Any, rds: Any, damage: str, code: str) -> None:
    """A record that was tampered with, written by another format version, or is not a record
    is never trusted: every worker logs why and fetches its own (shared) token."""
    tc.config(token_ttl_s=30)
    # A real record first (one worker run), then damage it in place.
    start = time.time() + 3
    w = Worker("python", tc, rds, start=start, until=start + 1, callers=2)
    (first,) = run_fleet([w], start + 1)
    c = rds.client()
    key = tokenclock.store_keys(_session(tc))[0]
    value = c.get(key)
    assert value is not None and value.startswith("tcr") and value[4] == "."  # tcrN. (N: the format version)
    if damage == "flip":
        i = 20
        bad = value[:i] + ("B" if value[i] != "B" else "C") + value[i + 1:]
    elif damage == "version":
        bad = "tcr9." + value[5:]  # a format version this build does not know
    else:
        bad = "not a record"
    c.set(key, bad)
    before = tc.token_requests()
    start = time.time() + 4
    until = start + 2
    workers = [Worker("python", tc, rds, start=start, until=until, callers=5),
               Worker("node", tc, rds, start=start, until=until, callers=5)]
    results = run_fleet(workers, until)
    assert_no_failures(results, workers)
    # Whoever read the damaged record said so (the other may have found the fresh record its
    # peer published instead), and nobody used the token it held.
    assert any(f"ignored the shared token record ({code})" in wk.err() for wk in workers), [
        wk.err() for wk in workers
    ]
    assert not set(tokens_used(results)) & set(first["tokens"])
    assert tc.token_requests() == before + 1  # one fresh token, shared by the two
    assert c.get(key) != bad


# ----- (f) encrypted records ------------------------------------------------------------------


def test_f_encrypted_record_holds_no_token_bytes_and_is_shared_across_languages(tc: Any, rds: Any) -> None:
    """With an encryption key the store holds only a sealed record: no token bytes in it (not
    even in its base64 decoding); Python and Node open each other's records (one token request
    for both)."""
    tc.config(token_ttl_s=30)
    start = time.time() + 4
    until = start + 2
    workers = [Worker("python", tc, rds, start=start, until=until, callers=5, key_hex=KEY_HEX),
               Worker("node", tc, rds, start=start, until=until, callers=5, key_hex=KEY_HEX)]
    results = run_fleet(workers, until)
    assert_no_failures(results, workers)
    assert tc.token_requests() == 1
    value = rds.client().get(tokenclock.store_keys(_session(tc))[0])
    assert value is not None and value.startswith("tce1.")
    raw = base64.urlsafe_b64decode(value[5:] + "=" * (-len(value[5:]) % 4))
    (jti,) = tokens_used(results)
    for needle in (jti, "eyJ", "access_token", "demo-client"):
        assert needle not in value
        assert needle.encode() not in raw
    # A reader without the key ignores it (record_encrypted) and fetches for itself.
    start = time.time() + 3
    w = Worker("python", tc, rds, start=start, until=start + 1, callers=2)
    (res,) = run_fleet([w], start + 1)
    assert res["failures"] == []
    assert "ignored the shared token record (record_encrypted)" in w.err()
