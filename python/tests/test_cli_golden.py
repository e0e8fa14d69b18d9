"""The golden files (``tests/golden/*.json``, the CLI contract with ``npx tokenclock``) through
the Python front-end:

* every case with an ``argv`` through the real command — ``python -m tokenclock`` and the
  installed console script — with the token or log lines on stdin, ``{key_file}`` written to a
  temporary file and the clock injected with ``TOKENCLOCK_FAKE_NOW_MS``: the text (on the
  case's stream, nothing on the other), the ``--json`` output and the exit code byte for byte;
* every case the command can make (those with an ``argv``, and the colour cases on a terminal)
  through the core's machine ``_CliRun`` in this process (``test_cli.drive``), text and
  ``--json``;
* every ``SkewProbe`` transcript of ``skew-probe.json`` through the machine's measurement:
  ``skew URL|--ntp HOST --json`` with each exchange answered as the transcript says.

The case format is documented at the top of ``core/tests/report.rs``. Python times are float
seconds: ``*_ms`` values are divided by 1000 (exact: the binding rounds back to the same
milliseconds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from test_cli import FAKE_NOW_ENV, REPO, drive, json_text, run_cli
from tokenclock import _native as n

GOLDEN = REPO / "tests" / "golden"
REPORT_FILES = ("inspect", "skew", "ages", "simulate", "errors")
# The native wheel is built with every core feature (verify, sign, sim, aws-lc).
FEATURES = {"verify", "sim"}


def _cases() -> List[Tuple[str, Dict[str, Any]]]:
    out = []
    for name in REPORT_FILES:
        doc = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
        for case in doc["cases"]:
            out.append((name, case))
    return out


CASES = _cases()
ARGV_CASES = [(f, c) for f, c in CASES if c.get("argv") is not None]


def test_the_golden_files_are_all_here() -> None:
    # A vanished file or case must fail, not shrink the suite.
    assert len(CASES) >= 40
    assert len(ARGV_CASES) >= 30
    ids = [c["id"] for _, c in CASES]
    assert len(ids) == len(set(ids))
    assert {f for f, _ in ARGV_CASES} == set(REPORT_FILES)
    for _, c in CASES:
        assert set(c.get("features", [])) <= FEATURES


def _stdin_for(case: Dict[str, Any]) -> bytes:
    if "-" not in case["argv"]:
        return b""
    inp = case["input"]
    if case["command"] == "inspect":
        return str(inp["token"]).encode("utf-8")
    if case["command"] == "ages":
        lines = inp["lines"]
        return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
    raise AssertionError(f"{case['id']}: stdin for {case['command']}")


def _argv_for(case: Dict[str, Any], tmp_path: Path) -> List[str]:
    argv = []
    for a in case["argv"]:
        if a == "{key_file}":
            key = tmp_path / "key"
            key.write_bytes(case["input"]["key"]["contents"].encode("utf-8"))
            a = str(key)
        argv.append(a)
    return argv


def _env_for(case: Dict[str, Any]) -> Dict[str, str]:
    now = case["input"].get("now_ms") if isinstance(case["input"], dict) else None
    return {FAKE_NOW_ENV: str(now)} if now is not None else {}


@pytest.mark.parametrize("console", [False, True], ids=["python-m", "console-script"])
@pytest.mark.parametrize(("file", "case"), ARGV_CASES, ids=[c["id"] for _, c in ARGV_CASES])
def test_golden_case_through_the_cli(
    file: str, case: Dict[str, Any], console: bool, tmp_path: Path
) -> None:
    assert case["input"].get("color", False) is False  # a pipe is never a terminal
    argv = _argv_for(case, tmp_path)
    stdin = _stdin_for(case)
    env = _env_for(case)

    p = run_cli(argv, stdin=stdin, env=env, console=console)
    expected = case["expected_text"].encode("utf-8")
    if case["stream"] == "stdout":
        assert p.stdout == expected, p.stderr
        assert p.stderr == b""
    else:
        assert p.stderr == expected
        assert p.stdout == b""
    assert p.returncode == case["exit_code"]

    p = run_cli([*argv, "--json"], stdin=stdin, env=env, console=console)
    assert p.stderr == b""
    assert p.stdout == json_text(case["expected_json"]).encode("utf-8")
    assert json.loads(p.stdout) == case["expected_json"]
    assert p.returncode == case["exit_code"]


# ----- through the machine, in this process -------------------------------------------------

# Golden cases without an ``argv`` that the machine replays all the same: the colour cases on a
# terminal, and a usage message that would echo a token. The others need measured clocks (the
# ``skew`` reports, ``inspect --server``): core/tests/report.rs renders them, and the SkewProbe
# transcripts below drive the machine's measurements through this binding.
MACHINE_ARGV = {
    "cli-inspect-color": lambda i: (["inspect", i["token"]], b""),
    "cli-ages-color": lambda i: (["ages"], "".join(f"{line}\n" for line in i["lines"]).encode("utf-8")),
    "cli-simulate-cached-issuer": lambda i: (
        ["simulate", *(a for pair in i["args"] for a in pair), *(["--timeline"] if i["timeline"] else [])],
        b"",
    ),
    "cli-error-usage-redacts-token": lambda i: (
        [i["command"], "x", i["message"].rsplit("'", 2)[1]],
        b"",
    ),
}
MEASURED = [
    "cli-inspect-server",
    "cli-inspect-worst-case-expired",
    "cli-skew-ok",
    "cli-skew-may-exceed",
    "cli-skew-beyond",
    "cli-skew-custom-limit",
    "cli-skew-unbounded",
    "cli-skew-unmeasured",
    "cli-skew-color",
]
KEY_PATH = "golden.key"


def _machine_run(case: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """``drive`` arguments replaying a golden case (``None``: it needs measured clocks)."""
    inp = case["input"]
    now = inp.get("now_ms")
    env = {FAKE_NOW_ENV: str(now)} if now is not None else {}
    if case.get("argv") is not None:
        argv = [KEY_PATH if a == "{key_file}" else a for a in case["argv"]]
        files = {KEY_PATH: inp["key"]["contents"].encode("utf-8")} if inp.get("key") else {}
        return {"args": argv, "stdin": _stdin_for(case), "files": files, "env": env}
    make = MACHINE_ARGV.get(case["id"])
    if make is None:
        return None
    argv, stdin = make(inp)
    return {"args": argv, "stdin": stdin, "env": env, "terminal": bool(inp.get("color", False))}


def test_the_machine_replays_every_case_but_the_measured_ones() -> None:
    assert [c["id"] for _, c in CASES if _machine_run(c) is None] == MEASURED
    for _, c in CASES:
        if c["id"] in MEASURED:
            assert c["command"] == "skew" or c["input"]["server"] is not None


@pytest.mark.parametrize(
    ("file", "case"),
    [(f, c) for f, c in CASES if c["id"] not in MEASURED],
    ids=[c["id"] for _, c in CASES if c["id"] not in MEASURED],
)
def test_golden_case_through_the_machine(file: str, case: Dict[str, Any]) -> None:
    run = _machine_run(case)
    assert run is not None
    args = run.pop("args")
    assert drive(args, **run) == (case["expected_text"], case["stream"], case["exit_code"])
    as_json = drive([*args, "--json"], **run)
    assert as_json == (json_text(case["expected_json"]), "stdout", case["exit_code"])


# ----- SkewProbe transcripts through the machine ----------------------------------------------

PROBE_CASES = json.loads((GOLDEN / "skew-probe.json").read_text(encoding="utf-8"))["cases"]


def _reading(r: Dict[str, int]) -> n.Reading:
    return n.Reading(r["wall_ms"] / 1000, r["mono_ms"] / 1000)


def _ms(s: Optional[float]) -> Optional[int]:
    return None if s is None else round(s * 1000)


@pytest.mark.parametrize("case", PROBE_CASES, ids=[c["id"] for c in PROBE_CASES])
def test_probe_transcript_through_the_machine(case: Dict[str, Any]) -> None:
    """``skew URL|--ntp HOST --json`` with each exchange answered as the transcript says: the
    same requests at the same moments, and the transcript's result in the report."""
    inp = case["input"]
    name, source, samples = inp["name"], inp["source"], inp["samples"]
    host, port = name[len("ntp:") :].rsplit(":", 1) if source == "sntp" else ("", "0")
    argv = ["skew", *(["--ntp", f"{host}:{port}"] if source == "sntp" else [name])]
    if samples is not None:
        argv += ["--samples", str(samples)]
    run = n._CliRun([*argv, "--json"], {}, False)
    report: Optional[Dict[str, Any]] = None
    checked = 0
    for i, ev in enumerate(inp["events"]):
        if "poll" in ev:
            want = ev["expect"]
            a = run.poll(_reading(ev["poll"]))
            if want["action"] == "done":
                # The measurement is over: the machine prints the skew report at once.
                assert (a.kind, a.stream) == ("write", "stdout"), i
                report = json.loads(a.text or "")
                end = run.poll(_reading(ev["poll"]))
                assert (end.kind, end.code) == ("exit", report["exit_code"]), i
                checked += 1
                continue
            if want["wait_ms"] > 0:
                # The executor sleeps until the instant the probe chose, then polls again.
                assert (a.kind, _ms(a.wait)) == ("wait", want["wait_ms"]), i
                a = run.poll(_reading(want["send_at"]))
            assert (a.id, _ms(a.timeout)) == (0, want["timeout_ms"]), i
            if source == "sntp":
                assert (a.kind, a.host, a.port) == ("sntp", host, int(port)), i
            else:
                assert (a.kind, a.url, a.method) == ("http", name, "HEAD"), i
                assert ("Cache-Control", "no-cache") in a.headers, i
            checked += 1
        elif "date_response" in ev:
            d = ev["date_response"]
            run.on_http_response(0, 200, d["date"], d["age"], _reading(d["sent"]), _reading(d["received"]))
        elif "sntp_request" in ev:
            s = ev["sntp_request"]
            packet = run.sntp_packet(0, _reading(s["now"]), s["entropy"])
            assert packet is not None and packet.hex() == ev["expect_packet_hex"], i
        elif "sntp_reply" in ev:
            s = ev["sntp_reply"]
            run.on_sntp_reply(0, bytes.fromhex(s["hex"]), _reading(s["received"]))
        elif "error" in ev:
            run.on_transport_error(0, ev["error"])
        elif "origin_at" in ev:
            assert report is not None, i
            origin = report["origins"][0]
            got = {k: origin[k] for k in ev["expect"]}
            # The report shows no offset for an origin without a sample (the probe's is 0).
            if origin["samples"] == 0:
                assert origin["offset_ms"] is None, i
                got["offset_ms"] = 0
            assert got == ev["expect"], i
            checked += 1
        else:
            raise AssertionError(f"event {i}: unknown {ev}")
    assert checked >= 3 and report is not None
