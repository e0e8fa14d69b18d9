"""``tokenclock simulate --html FILE``: one cell's timeline as a self-contained HTML chart,
written by the real executor (``python -m tokenclock`` subprocesses): one mark per request of
every strategy, nothing that runs or fetches anything, the very bytes the core rendered, an
existing file replaced, and an unwritable path a one-line error with exit 2 (nothing written).
The same chart in headless Chromium: npm/test/cell-report.test.js."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Tuple

from test_cli import run_cli
from tokenclock import _native as n

# The docs' example: a +120 s wall step under 60 s tokens (stackit fails 25 requests).
CELL = ["--ttl", "60", "--step", "120", "--hours", "0.05", "--seed", "7"]
SVG_NS = "http://www.w3.org/2000/svg"


def sections(html: str) -> Dict[str, Tuple[int, str]]:
    """Each strategy's section: the requests it declares and its markup."""
    found = re.findall(
        r'<section class="strategy" data-strategy="([^"]*)" data-requests="(\d+)">(.*?)</section>',
        html,
        flags=re.S,
    )
    return {name: (int(requests), body) for name, requests, body in found}


def marks(section: str) -> Dict[str, int]:
    """The request marks of a section, by outcome."""
    groups = re.findall(r'<g class="req (ok|retried|failed)">(.*?)</g>', section, flags=re.S)
    assert [g[0] for g in groups] == ["ok", "retried", "failed"]
    return {result: body.count("<rect ") for result, body in groups}


def simulate(tmp_path: Path, *extra: str, name: str = "cell.html") -> Tuple[dict, Path]:
    out = tmp_path / name
    p = run_cli(["simulate", *CELL, "--html", str(out), "--json", *extra])
    assert p.returncode == 0, p.stderr
    assert p.stderr == b""
    return json.loads(p.stdout), out


def in_process(args: List[str]) -> bytes:
    """The bytes the core asks to write for ``tokenclock ARGS`` (its machine, this process)."""
    run = n._CliRun(args, {}, False)
    a = run.poll(n.Reading.now())
    assert a.kind == "write_file" and a.data is not None
    return a.data


def test_one_mark_per_request_of_every_strategy(tmp_path: Path) -> None:
    report, out = simulate(tmp_path)
    assert report["html_file"] == str(out)
    html = out.read_text("utf-8")
    drawn = sections(html)
    strategies = {s["strategy"]: s for s in report["strategies"] if s["strategy"] != "oracle"}
    assert sorted(drawn) == sorted(strategies) == ["naive", "stackit", "tokenclock", "tutorial"]
    for name, s in strategies.items():
        declared, body = drawn[name]
        counts = marks(body)
        assert declared == s["requests"] == sum(counts.values()), name
        assert counts["failed"] == s["user_visible_failures"], name
    assert marks(drawn["stackit"][1])["failed"] == 25


def test_nothing_runs_or_is_fetched(tmp_path: Path) -> None:
    _, out = simulate(tmp_path)
    html = out.read_text("utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.endswith("</html>\n")
    lower = html.lower()
    for banned in ("<script", "javascript:", "<link", "<img", "<iframe", "url(", "@import"):
        assert banned not in lower, banned
    assert not re.search(r"\son\w+\s*=", lower), "no event handler attribute"
    urls = set(re.findall(r"\w+://[^\s\"'<>)]*", html))
    assert urls <= {SVG_NS}, urls


def test_the_file_is_the_cores_bytes_and_the_report_says_where(tmp_path: Path) -> None:
    report, out = simulate(tmp_path)
    assert out.read_bytes() == in_process(["simulate", *CELL, "--html", str(out), "--json"])
    text = run_cli(["simulate", *CELL, "--html", str(out)])
    plain = run_cli(["simulate", *CELL])
    assert text.returncode == plain.returncode == 0
    line = f"chart written to {out}\n".encode()
    assert line in text.stdout
    assert text.stdout.replace(line, b"") == plain.stdout
    del report["html_file"]
    assert report == json.loads(run_cli(["simulate", *CELL, "--json"]).stdout)


def test_an_existing_file_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "cell.html"
    out.write_bytes(b"x" * 5_000_000)
    _, written = simulate(tmp_path)
    assert written == out
    assert out.read_bytes() == in_process(["simulate", *CELL, "--html", str(out)])


def test_an_unwritable_path_is_an_error_and_nothing_is_written(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_bytes(b"keep")
    cases = [
        (tmp_path / "missing" / "cell.html", "no such directory", "not_found"),
        (a_file / "cell.html", "no such directory", "not_found"),
        (tmp_path, "is a directory", "is_a_directory"),
    ]
    for path, phrase, code in cases:
        p = run_cli(["simulate", *CELL, "--html", str(path)])
        assert p.returncode == 2
        assert p.stdout == b""
        assert p.stderr.decode() == f"tokenclock simulate: error: cannot write {path}: {phrase}\n"
        p = run_cli(["simulate", *CELL, "--html", str(path), "--json"])
        assert p.returncode == 2
        error = json.loads(p.stdout)["error"]
        assert error["code"] == code, path
    assert sorted(q.name for q in tmp_path.iterdir()) == ["a-file"], "nothing written"
    assert a_file.read_bytes() == b"keep"


def test_bad_values_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "cell.html"
    for args, message in [
        (["--html", "-"], "--html: expected a file path (not -)"),
        (["--html="], "--html: expected a file path (not -)"),
        (["--html", str(out), "--ttl", "1"], "--ttl: expected seconds from 5 to 86400"),
        (["--html", str(out), "--html", str(out)], "option --html given more than once"),
    ]:
        p = run_cli(["simulate", *args])
        assert (p.returncode, p.stdout) == (2, b""), args
        assert p.stderr.decode() == f"tokenclock simulate: error: {message}\n"
    assert not out.exists()
    help_text = run_cli(["simulate", "--help"]).stdout.decode()
    assert "[--html FILE]" in help_text and "  --html FILE " in help_text
