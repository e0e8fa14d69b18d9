"""The examples in examples/ run as a user runs them (a subprocess, URLs from argv or the
environment) against the loopback tcserver, and do their job: three API calls, one token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from conftest import REPO

EXAMPLES = REPO / "examples"


@pytest.mark.parametrize("script", ["httpx_client_credentials.py", "requests_client_credentials.py"])
@pytest.mark.parametrize("urls_from", ["argv", "env"])
def test_example_calls_the_api_with_one_token(tc: Any, script: str, urls_from: str) -> None:
    path = EXAMPLES / script
    assert len(path.read_text(encoding="utf-8").splitlines()) < 30
    env = dict(os.environ)
    args = [sys.executable, str(path)]
    if urls_from == "argv":
        args += [tc.token_url, tc.api_url]
    else:
        env.update(TOKEN_URL=tc.token_url, API_URL=tc.api_url)
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4, done.stdout
    for line in lines[:3]:
        # Each line is the API's JSON answer, printed as a Python dict.
        body = json.loads(line.replace("'", '"').replace("True", "true"))
        assert body["ok"] is True and body["sub"] == tc.client_id and body["scope"] == "read"
    assert lines[3] == "1 token request(s)"
    stats = tc.stats()
    assert stats["token"]["requests"] == 1
    assert stats["api"]["responses_200"] == 3
    assert tc.client_secret not in done.stdout + done.stderr


@pytest.mark.parametrize("script", ["httpx_client_credentials.py", "requests_client_credentials.py"])
def test_the_readme_shows_the_example_as_it_runs(script: str) -> None:
    code = (EXAMPLES / script).read_text(encoding="utf-8")
    body = code[code.index("import os"):].strip()
    assert body in (REPO / "README.md").read_text(encoding="utf-8"), f"README's copy of {script} differs"


def test_fastapi_resource_server_example_runs_on_uvicorn() -> None:
    """examples/fastapi_resource_server.py as its docstring says to run it, against a loopback
    issuer: 200 with a token the issuer signed, 401 without one or with a forged one."""
    import socket
    import time

    import httpx
    from loopback_issuer import Issuer, Key

    issuer = Issuer()
    issuer.keys = [Key("k1")]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, ISSUER=issuer.url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "fastapi_resource_server:app", "--port", str(port),
         "--log-level", "warning"],
        cwd=EXAMPLES, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/orders")
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.1)
        good = issuer.token(issuer.keys[0])
        r = httpx.get(base + "/orders", headers={"Authorization": f"Bearer {good}"})
        assert r.status_code == 200 and r.json() == {"sub": "user-1", "orders": []}
        assert httpx.get(base + "/orders").status_code == 401
        forged = issuer.token(Key("k1"))
        r = httpx.get(base + "/orders", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401 and "invalid_signature" in r.headers["www-authenticate"]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
        issuer.close()


def test_the_readme_shows_the_fastapi_example_as_it_runs() -> None:
    code = (EXAMPLES / "fastapi_resource_server.py").read_text(encoding="utf-8")
    body = code[code.index("import os"):].strip()
    assert len(body.splitlines()) <= 14
    assert body in (REPO / "README.md").read_text(encoding="utf-8")
