"""Fixtures and helpers for the end-to-end tests: one loopback ``tests/servers/tcserver.py``
process per test session (a real subprocess on 127.0.0.1), reset to its launch configuration
before each test that uses it; helpers that build the adapters and bound every call."""

from __future__ import annotations

import asyncio
import json
import selectors
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import httpx
import pytest
import requests

import tokenclock.httpx
import tokenclock.requests

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / "tests" / "servers" / "tcserver.py"


class TCServer:
    """A running tcserver: its URLs, and its control API (config, stats, reset)."""

    def __init__(self) -> None:
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            # --exit-on-stdin-eof: the server dies with this process even if a fixture's
            # teardown never runs; --max-lifetime-s: and with a hung test run.
            [sys.executable, str(SERVER), "--exit-on-stdin-eof", "--max-lifetime-s", "900"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout=15)
        sel.close()
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise RuntimeError("tcserver did not start: " + self.stderr_text())
        self.info: Dict[str, Any] = json.loads(line)
        self.token_url: str = self.info["token_url"]
        self.api_url: str = self.info["api_url"]
        self.api_base: str = self.info["api_base"]
        self.health_url: str = self.info["health_url"]
        self.control_url: str = self.info["control_url"]
        self.client_id = "demo-client"
        self.client_secret = "demo-secret"
        self._control = httpx.Client(timeout=10.0)

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def _post(self, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        r = self._control.post(f"{self.control_url}/{path}", json=body)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def config(self, **settings: Any) -> Dict[str, Any]:
        """Partial settings update (``POST /control/config``)."""
        return self._post("config", settings)["config"]  # type: ignore[no-any-return]

    def reset(self) -> None:
        """Counters to zero, launch configuration, no failures, no cached tokens."""
        self._post("reset", {"config": True})

    def stats(self) -> Dict[str, Any]:
        r = self._control.get(f"{self.control_url}/stats")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def token_requests(self) -> int:
        return int(self.stats()["token"]["requests"])

    def stop(self) -> None:
        if getattr(self, "_control", None) is not None:
            self._control.close()
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


@pytest.fixture(scope="session")
def tcserver_process() -> Iterator[TCServer]:
    server = TCServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tc(tcserver_process: TCServer) -> Iterator[TCServer]:
    """The shared server, freshly reset for this test."""
    tcserver_process.reset()
    yield tcserver_process


# ----- helpers for the e2e tests (import them: `from conftest import ...`) -----------------

ADAPTERS = ("httpx", "httpx-async", "requests")


def make_auth(adapter: str, tc: Any, **kwargs: Any) -> Any:
    """A fresh auth object of the adapter's kind for tcserver's configured client."""
    cls = tokenclock.requests.OAuth2Auth if adapter == "requests" else tokenclock.httpx.OAuth2Auth
    return cls(tc.token_url, tc.client_id, tc.client_secret, **kwargs)


def run_bounded(fn: Callable[[], Any], timeout: float) -> Tuple[str, Any]:
    """Runs ``fn`` in a daemon thread. ``("ok", result)``, ``("error", exception)``, or
    ``("hang", None)`` when it has not returned within ``timeout`` seconds (the thread is
    left behind; it is a daemon, so it cannot keep the test run alive)."""
    box: Dict[str, Any] = {}

    def target() -> None:
        try:
            box["ok"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        return "hang", None
    if "error" in box:
        return "error", box["error"]
    return "ok", box["ok"]


def get_once(adapter: str, auth: Any, url: str, timeout: float = 30.0) -> int:
    """One GET through the adapter with a fresh client; returns the status code."""
    if adapter == "httpx":
        with httpx.Client(auth=auth, timeout=timeout) as client:
            return client.get(url).status_code
    if adapter == "httpx-async":

        async def go() -> int:
            async with httpx.AsyncClient(auth=auth, timeout=timeout) as client:
                return (await client.get(url)).status_code

        return asyncio.run(go())
    with requests.Session() as s:
        return s.get(url, auth=auth, timeout=timeout).status_code


def outcome(adapter: str, auth: Any, url: str, bound: float = 20.0) -> Tuple[str, Any]:
    """``get_once`` bounded by ``bound`` seconds (never hangs the test)."""
    return run_bounded(lambda: get_once(adapter, auth, url), bound)


def token_of(header: Optional[str]) -> str:
    assert header is not None and header.startswith("Bearer ")
    return header[len("Bearer "):]
