"""A fresh virtual environment, as a user gets it: install the ``tokenclock`` package, then run
the installed ``tokenclock`` console script against a loopback tcserver whose Date origin is
2.3 s ahead. The measured interval must contain +2.3 s and be narrower than 0.3 s.

Which package is installed (built at most once per test session):

* the wheel ``make python`` leaves in ``target/wheels/tokenclock/``, when it is newer than every
  source file it is built from (``python/tokenclock``, ``bindings-python``, ``core``): no
  network needed. ``make py-test`` builds it first, so there this test always runs, offline;
* otherwise (or with ``TOKENCLOCK_PIP_FROM_SOURCE=1``) ``pip wheel ./python``: the PEP 517
  build ``pip install ./python`` does (maturin comes from PyPI; ~2–4 min from a cold cargo
  cache because of aws-lc, seconds when ``target/`` is warm). Skipped when PyPI cannot be
  reached.

``TOKENCLOCK_SKIP_PIP_TEST=1`` skips it outright (e.g. a quick local run).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from test_cli import REPO
from test_cli_skew import Servers

WHEEL_DIR = REPO / "target" / "wheels" / "tokenclock"
SOURCES = [REPO / "python" / "tokenclock", REPO / "python" / "pyproject.toml",
           REPO / "bindings-python", REPO / "core" / "src", REPO / "Cargo.toml"]

pytestmark = pytest.mark.skipif(
    os.environ.get("TOKENCLOCK_SKIP_PIP_TEST") == "1", reason="TOKENCLOCK_SKIP_PIP_TEST=1"
)


def _newest_source_mtime() -> float:
    newest = 0.0
    for root in SOURCES:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for p in paths:
            if "__pycache__" in p.parts or p.suffix in (".so", ".pyc"):
                continue
            newest = max(newest, p.stat().st_mtime)
    return newest


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("TOKENCLOCK_PIP_FROM_SOURCE") != "1":
        wheels = sorted(WHEEL_DIR.glob("tokenclock-*.whl"), key=lambda p: p.stat().st_mtime)
        if wheels and wheels[-1].stat().st_mtime >= _newest_source_mtime():
            return wheels[-1]
    if not _pypi_reachable():
        pytest.skip("no fresh wheel in target/wheels and PyPI is unreachable (offline)")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out),
         str(REPO / "python")],
        check=True,
        timeout=1800,
    )
    (built,) = out.glob("tokenclock-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", str(wheel)],
        check=True,
        timeout=300,
    )
    return venv


@pytest.fixture(scope="module")
def origin_2_3_s_ahead() -> Iterator[str]:
    s = Servers()
    try:
        s.config(origin_offsets_s=[2.3])
        yield s.origins[0]
    finally:
        s.stop()


@pytest.mark.skipif(sys.platform == "win32", reason="venv layout")
def test_fresh_venv_console_script_measures_2_3_s(
    fresh_venv: Path, origin_2_3_s_ahead: str, tmp_path: Path
) -> None:
    py = fresh_venv / "bin" / "python"
    where = subprocess.run(
        [str(py), "-c", "import tokenclock, tokenclock.cli; print(tokenclock.__file__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout.strip()
    assert Path(where).is_relative_to(fresh_venv)

    script = fresh_venv / "bin" / "tokenclock"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    p = subprocess.run(
        [str(script), "skew", origin_2_3_s_ahead, "--samples", "10", "--json"],
        capture_output=True, timeout=120, cwd=tmp_path, env=env, check=False,
    )
    assert p.stderr == b""
    assert p.returncode == 1  # 2.3 s is beyond the default ±1 s
    (o,) = json.loads(p.stdout)["origins"]
    assert o["name"] == origin_2_3_s_ahead and o["status"] == "beyond_limit"
    assert o["low_ms"] - 1 <= 2_300 <= o["high_ms"] + 1, o  # 1 ms: floored readings
    assert o["high_ms"] - o["low_ms"] < 300, o

    text = subprocess.run(
        [str(script), "skew", origin_2_3_s_ahead, "--max-offset", "3"],
        capture_output=True, timeout=120, cwd=tmp_path, env=env, check=False,
    )
    assert text.returncode == 0 and text.stderr == b""
    assert text.stdout.decode().endswith("result  ok (limit ±3.000 s)\n")
