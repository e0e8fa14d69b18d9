"""The shared adapter conformance scenarios (``tests/vectors/adapters/*.json``, format in the
README beside them), run against the real loopback servers by every Python adapter:
``httpx.Client``, ``httpx.AsyncClient`` and ``requests``. ``npm/test/adapter-scenarios.test.js``
runs the same files through ``createFetch`` with the same expectations.

A scenario marked ``"pending"`` is a strict expected failure: it must fail today, and the run
fails when it passes (then remove ``pending`` from the JSON).
"""

from __future__ import annotations

import asyncio
import json
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import httpx
import pytest
import requests
from conftest import ADAPTERS, run_bounded

import tokenclock
import tokenclock.httpx
import tokenclock.requests

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / "tests" / "servers" / "tcserver.py"
SCENARIO_DIR = REPO / "tests" / "vectors" / "adapters"
SCENARIO_BOUND_S = 60.0  # a whole scenario, whatever happens
CLIENT_ID, CLIENT_SECRET = "demo-client", "demo-secret"


def load_scenarios() -> List[Dict[str, Any]]:
    out = []
    for path in sorted(SCENARIO_DIR.glob("*.json")):
        with open(path, encoding="utf-8") as f:
            scenario = json.load(f)
        assert scenario["name"] == path.stem, f"{path.name}: name must be the file name"
        out.append(scenario)
    return out


SCENARIOS = load_scenarios()


def is_pending(scenario: Dict[str, Any], adapter: str) -> bool:
    """``pending`` applies to every adapter unless ``pending_adapters`` names some."""
    if not scenario.get("pending"):
        return False
    only = scenario.get("pending_adapters")
    return only is None or adapter in only


def _params() -> List[Any]:
    out = []
    for s in SCENARIOS:
        for adapter in ADAPTERS:
            marks = []
            if is_pending(s, adapter):
                marks.append(pytest.mark.xfail(strict=True, reason="pending: " + s["pending"]))
            out.append(pytest.param(s, adapter, id=f"{s['name']}-{adapter}", marks=marks))
    return out


# ----- the server (with one Date origin, for the cross-origin redirect) ---------------------


class Server:
    def __init__(self) -> None:
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--origins", "1", "--exit-on-stdin-eof",
             "--max-lifetime-s", "900"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
        )
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout=15)
        sel.close()
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise RuntimeError("tcserver did not start")
        self.info = json.loads(line)
        self.control = httpx.Client(timeout=10.0)

    def config(self, settings: Dict[str, Any]) -> None:
        r = self.control.post(self.info["control_url"] + "/config", json=settings)
        assert r.status_code == 200, r.text

    def reset(self) -> None:
        r = self.control.post(self.info["control_url"] + "/reset", json={"config": True})
        assert r.status_code == 200, r.text

    def stats(self) -> Dict[str, Any]:
        return self.control.get(self.info["control_url"] + "/stats").json()  # type: ignore

    def stop(self) -> None:
        if getattr(self, "control", None) is not None:
            self.control.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()
        self._stderr.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server()
    try:
        yield s
    finally:
        s.stop()


def refused_url() -> str:
    """A loopback URL where nothing listens (a port just released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/token"


# ----- the harness --------------------------------------------------------------------------


class ShiftedClock:
    """The real clocks moved forward by ``shift`` seconds (wall and monotonic alike)."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> Any:
        return tokenclock.Reading(time.time() + self.shift, time.monotonic() + self.shift)


OFFSET_KEYS = ("issuer_offset_s", "api_offset_s")


class Run:
    """One scenario with one adapter. ``mismatches`` collects every difference."""

    def __init__(self, scenario: Dict[str, Any], adapter: str, server: Server) -> None:
        self.s = scenario
        self.adapter = adapter
        self.server = server
        self.clock = ShiftedClock()
        self.base: Dict[str, Any] = {"issuer_offset_s": 0.0, "api_offset_s": 0.0,
                                     "origin_offsets_s": [0.0]}
        self.mismatches: List[str] = []
        self.api_base = server.info["api_base"]
        self.origin0 = server.info["origins"][0].rstrip("/")

    # server ---------------------------------------------------------------------------
    def subst(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{origin0}", self.origin0)
        if isinstance(value, list):
            return [self.subst(v) for v in value]
        if isinstance(value, dict):
            return {k: self.subst(v) for k, v in value.items()}
        return value

    def configure(self, settings: Dict[str, Any]) -> None:
        settings = self.subst(dict(settings))
        for k in OFFSET_KEYS:
            if k in settings:
                self.base[k] = float(settings[k])
        if "origin_offsets_s" in settings:
            self.base["origin_offsets_s"] = [float(x) for x in settings["origin_offsets_s"]]
        settings.update(self.shifted())
        self.server.config(settings)

    def shifted(self) -> Dict[str, Any]:
        sh = self.clock.shift
        out: Dict[str, Any] = {k: self.base[k] + sh for k in OFFSET_KEYS}
        out["origin_offsets_s"] = [x + sh for x in (self.base["origin_offsets_s"] or [0.0])]
        return out

    def advance(self, seconds: float) -> None:
        self.clock.shift += seconds
        self.server.config(self.shifted())

    # the auth object ------------------------------------------------------------------
    def make_auth(self) -> Any:
        knobs = self.s.get("session", {})
        policy: Dict[str, Any] = {}
        names = {"backoff_base_s": "backoff_base", "backoff_cap_s": "backoff_cap",
                 "max_retry_after_s": "max_retry_after", "max_wait_s": "max_wait",
                 "max_401_wait_s": "max_401_wait", "config_retry_s": "config_retry",
                 "seed": "seed"}
        for k, v in knobs.items():
            if k in names:
                policy[names[k]] = v
            elif k != "token_timeout_s":
                raise AssertionError(f"unknown session knob {k}")
        token_url = refused_url() if self.s.get("token_endpoint") == "refused" \
            else self.server.info["token_url"]
        cls = tokenclock.requests.OAuth2Auth if self.adapter == "requests" \
            else tokenclock.httpx.OAuth2Auth
        return cls(token_url, CLIENT_ID, CLIENT_SECRET, clock=self.clock,
                   token_timeout=knobs.get("token_timeout_s", 10.0), **policy)

    # outcomes -------------------------------------------------------------------------
    @staticmethod
    def error_outcome(exc: BaseException) -> Dict[str, Any]:
        code = getattr(exc, "code", None)
        if isinstance(exc, tokenclock.TokenClockError) and isinstance(code, str):
            return {"error": code}
        return {"error": f"untyped:{type(exc).__name__}"}

    def expect_call(self, i: int, step: Dict[str, Any], outcomes: List[Dict[str, Any]],
                    elapsed: float) -> None:
        want = step["expect"]
        for n, got in enumerate(outcomes):
            if got != want:
                self.mismatches.append(f"step {i} call {n}: expected {want}, got {got}")
                break
        limit = step.get("max_elapsed_s")
        if limit is not None and elapsed > limit:
            self.mismatches.append(f"step {i}: took {elapsed:.2f} s, bound {limit} s")
        least = step.get("min_elapsed_s")
        if least is not None and elapsed < least:
            self.mismatches.append(f"step {i}: took {elapsed:.2f} s, at least {least} s expected")

    def counters(self, auth: Any) -> Dict[str, Any]:
        st = self.server.stats()
        a = auth.stats()
        ad = a["adapter"]
        origin = st["origins"][0]
        return {
            "token_requests": st["token"]["requests"],
            "token_issued": st["token"]["issued"],
            "api_requests": st["api"]["requests"],
            "api_401": st["api"]["responses_401"],
            "origin_requests": origin["requests"],
            "origin_with_authorization": origin.get("with_authorization", 0),
            "session_token_requests": a["token_requests"],
            "session_refreshes": a["refreshes"],
            "session_failures": a["failures"],
            "session_unauthorized": a["unauthorized"],
            "session_retries": a["retries"],
            "retries_sent": ad["retries_sent"],
            "returned_401": ad["unauthorized_returned"],
            "clock_skew_errors": ad["clock_skew_errors"],
            "resource_offset_s": a["offsets"]["resource"]["offset"],
        }

    def check(self, i: int, want: Dict[str, Any], auth: Any) -> None:
        got = self.counters(auth)
        for key, value in want.items():
            if key == "resource_offset_abs_max_s":
                off = got["resource_offset_s"]
                if abs(off) > value:
                    self.mismatches.append(f"step {i}: resource offset {off:.3f} s, |.| > {value}")
                continue
            if key not in got:
                raise AssertionError(f"unknown counter {key}")
            actual = got[key]
            if isinstance(value, dict):
                ok = value.get("min", actual) <= actual <= value.get("max", actual)
            else:
                ok = actual == value
            if not ok:
                self.mismatches.append(f"step {i}: {key} expected {value}, got {actual}")

    # requests -------------------------------------------------------------------------
    def request_args(self, call: Dict[str, Any]) -> Any:
        return call.get("method", "GET"), self.api_base + call["path"], call.get("body")

    def run_sync(self) -> None:
        auth = self.make_auth()
        if self.adapter == "httpx":
            client = httpx.Client(auth=auth, timeout=20)

            def one(call: Dict[str, Any]) -> Dict[str, Any]:
                method, url, body = self.request_args(call)
                content: Any = None
                if body == "bytes":
                    content = b"payload=1"
                elif body == "stream":
                    content = iter([b"part one, ", b"part two"])
                try:
                    r = client.request(method, url, content=content,
                                       follow_redirects=bool(call.get("follow_redirects")))
                    r.read()
                    return {"status": r.status_code}
                except Exception as exc:  # noqa: BLE001 - the outcome under test
                    return self.error_outcome(exc)

            closer: Callable[[], None] = client.close
        else:
            local = threading.local()
            sessions: List[requests.Session] = []
            lock = threading.Lock()

            def one(call: Dict[str, Any]) -> Dict[str, Any]:
                s = getattr(local, "s", None)
                if s is None:
                    s = local.s = requests.Session()
                    with lock:
                        sessions.append(s)
                method, url, body = self.request_args(call)
                data: Any = None
                if body == "bytes":
                    data = b"payload=1"
                elif body == "stream":
                    data = iter([b"part one, ", b"part two"])
                try:
                    r = s.request(method, url, data=data, auth=auth, timeout=20,
                                  allow_redirects=bool(call.get("follow_redirects")))
                    return {"status": r.status_code}
                except Exception as exc:  # noqa: BLE001
                    return self.error_outcome(exc)

            def closer() -> None:
                for s in sessions:
                    s.close()

        try:
            for i, step in enumerate(self.s["steps"]):
                if "call" in step:
                    n = step.get("concurrent", 1)
                    t0 = time.monotonic()
                    if n == 1:
                        outcomes = [one(step["call"])]
                    else:
                        barrier = threading.Barrier(n)

                        def go(_: int) -> Dict[str, Any]:
                            barrier.wait(10)
                            return one(step["call"])

                        with ThreadPoolExecutor(n) as pool:
                            outcomes = list(pool.map(go, range(n)))
                    self.expect_call(i, step, outcomes, time.monotonic() - t0)
                else:
                    self.other_step(i, step, auth)
                    if "sleep_s" in step:
                        time.sleep(step["sleep_s"])
        finally:
            closer()

    async def run_async(self) -> None:
        auth = self.make_auth()
        async with httpx.AsyncClient(auth=auth, timeout=20) as client:

            async def one(call: Dict[str, Any]) -> Dict[str, Any]:
                method, url, body = self.request_args(call)
                content: Any = None
                if body == "bytes":
                    content = b"payload=1"
                elif body == "stream":
                    async def chunks() -> Any:
                        yield b"part one, "
                        await asyncio.sleep(0)
                        yield b"part two"
                    content = chunks()
                try:
                    r = await client.request(method, url, content=content,
                                             follow_redirects=bool(call.get("follow_redirects")))
                    await r.aread()
                    return {"status": r.status_code}
                except Exception as exc:  # noqa: BLE001
                    return self.error_outcome(exc)

            for i, step in enumerate(self.s["steps"]):
                if "call" in step:
                    n = step.get("concurrent", 1)
                    t0 = time.monotonic()
                    outcomes = list(await asyncio.gather(*(one(step["call"]) for _ in range(n))))
                    self.expect_call(i, step, outcomes, time.monotonic() - t0)
                else:
                    await asyncio.to_thread(self.other_step, i, step, auth)
                    if "sleep_s" in step:
                        await asyncio.sleep(step["sleep_s"])

    def other_step(self, i: int, step: Dict[str, Any], auth: Any) -> None:
        if "config" in step:
            self.configure(step["config"])
        elif "advance_s" in step:
            self.advance(step["advance_s"])
        elif "check" in step:
            self.check(i, step["check"], auth)
        elif "sleep_s" in step:
            time.sleep(step["sleep_s"])
        elif "settle" in step:
            # A stale token's refresh runs in the background: wait for it (bounded).
            session = auth._driver._session
            until = time.monotonic() + 10
            while session.refresh_in_flight and time.monotonic() < until:
                time.sleep(0.01)
            assert not session.refresh_in_flight, f"step {i}: background refresh still in flight after 10 s"
        else:
            raise AssertionError(f"step {i}: unknown step {step}")

    def run(self) -> None:
        self.server.reset()
        self.configure(self.s.get("server", {}))
        if self.adapter == "httpx-async":
            asyncio.run(self.run_async())
        else:
            self.run_sync()


@pytest.mark.parametrize("scenario,adapter", _params())
def test_adapter_scenario(server: Server, scenario: Dict[str, Any], adapter: str) -> None:
    run = Run(scenario, adapter, server)
    result, value = run_bounded(run.run, SCENARIO_BOUND_S)
    if result == "hang":
        pytest.fail(f"{scenario['name']} [{adapter}]: did not finish within {SCENARIO_BOUND_S} s")
    if result == "error":
        raise value
    assert not run.mismatches, f"{scenario['name']} [{adapter}]:\n  " + "\n  ".join(run.mismatches)


def test_scenario_files_are_well_formed() -> None:
    known_steps = {"call", "config", "advance_s", "sleep_s", "settle", "check"}
    names = [s["name"] for s in SCENARIOS]
    assert len(names) == len(set(names)) and len(names) >= 20
    for s in SCENARIOS:
        assert set(s) <= {"name", "description", "pending", "pending_adapters", "token_endpoint",
                          "server", "session", "steps"}, s["name"]
        assert set(s.get("pending_adapters", [])) <= set(ADAPTERS) | {"createFetch"}, s["name"]
        for step in s["steps"]:
            assert set(step) & known_steps, (s["name"], step)
