"""The golden files (``tests/golden/*.json``, the CLI contract with ``npx tokenclock``) through
the Python front-end:

* every case with an ``argv`` through the real command — ``python -m tokenclock`` and the
  installed console script — with the token or log lines on stdin, ``{key_file}`` written to a
  temporary file and the clock injected with ``TOKENCLOCK_FAKE_NOW_MS``: the text (on the
  case's stream, nothing on the other), the ``--json`` output and the exit code byte for byte;
* every case (with or without ``argv``) through the binding's report functions;
* every ``SkewProbe`` transcript of ``skew-probe.json`` through ``tokenclock.SkewProbe``.

The case format is documented at the top of ``core/tests/report.rs``. Python times are float
seconds: ``*_ms`` values are divided by 1000 (exact: the binding rounds back to the same
milliseconds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from test_cli import FAKE_NOW_ENV, REPO, json_text, run_cli
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


# ----- through the binding --------------------------------------------------------------------


def _s(ms: Optional[int]) -> Optional[float]:
    return None if ms is None else ms / 1000


def _estimate(v: Dict[str, Any]) -> n.Estimate:
    return n.Estimate(
        _s(v["offset_ms"]) or 0.0, _s(v["low_ms"]), _s(v["high_ms"]), v["agreeing"], v["samples"]
    )


def render(command: str, inp: Dict[str, Any]) -> n.Rendered:
    """A golden case's input rendered through the binding, as core/tests/report.rs does."""
    color = bool(inp.get("color", False))
    if command == "inspect":
        server = None
        if inp["server"] is not None:
            server = n.ServerClock(inp["server"]["origin"], _estimate(inp["server"]))
        key = None
        if inp["key"] is not None:
            k = inp["key"]
            key = n.KeyInput(
                k["kind"],
                k["contents"].encode("utf-8"),
                k["alg"],
                leeway=_s(k["leeway_ms"]),
                issuer=k["iss"],
                audience=k["aud"],
            )
        return n.inspect(inp["token"], inp["now_ms"] / 1000, server=server, key=key, color=color)
    if command == "skew":
        origins = [
            n.SkewOrigin(
                o["name"],
                o["source"],
                _estimate(o),
                rtt=_s(o["rtt_ms"]),
                discarded=o["discarded"],
                error=(o["error"]["code"], o["error"]["message"]) if o["error"] else None,
            )
            for o in inp["origins"]
        ]
        return n.skew(origins, inp["max_offset_ms"] / 1000, color)
    if command == "ages":
        try:
            collector = n.AgesCollector(inp["time_field"])
        except n.InvalidArgument as exc:
            return n.argument_error("ages", exc)
        now = inp["now_ms"] / 1000
        for line in inp["lines"]:
            collector.feed_line(line, now)
        collector.finish(now)
        if inp["prometheus"]:
            return collector.render_prometheus()
        # The free functions over the collector's parts give the same output.
        direct = n.ages(collector.monitor, collector.stats, color)
        r = collector.render(color)
        assert (direct.text, direct.json) == (r.text, r.json)
        return r
    if command == "simulate":
        cell = n.SimCell()
        for flag, value in inp["args"]:
            try:
                n.parse_cell_arg(cell, flag, value)
            except n.InvalidArgument as exc:
                return n.argument_error("simulate", exc)
        return n.simulate(cell, inp["timeline"], color)
    if command == "error":
        if inp["kind"] == "usage":
            return n.usage_error(inp["command"], inp["message"])
        if inp["kind"] == "input":
            return n.input_error(inp["command"], inp["what"], inp["problem"])
        if inp["kind"] == "help":
            return n.help(inp["command"])
    raise AssertionError(f"unknown golden command {command}")


@pytest.mark.parametrize(("file", "case"), CASES, ids=[c["id"] for _, c in CASES])
def test_golden_case_through_the_binding(file: str, case: Dict[str, Any]) -> None:
    r = render(case["command"], case["input"])
    assert r.text == case["expected_text"]
    assert r.json == json_text(case["expected_json"])
    assert r.exit_code == case["exit_code"]
    assert r.stream == case["stream"]
    assert r.output(True) == r.json and r.output(False) == r.text


# ----- SkewProbe transcripts ------------------------------------------------------------------

PROBE_CASES = json.loads((GOLDEN / "skew-probe.json").read_text(encoding="utf-8"))["cases"]


def _reading(r: Dict[str, int]) -> n.Reading:
    return n.Reading(r["wall_ms"] / 1000, r["mono_ms"] / 1000)


def _ms(s: Optional[float]) -> Optional[int]:
    return None if s is None else round(s * 1000)


def _action(a: n.ProbeAction) -> Dict[str, Any]:
    if a.kind == "done":
        return {"action": "done"}
    assert a.send_at is not None
    return {
        "action": "send",
        "wait_ms": _ms(a.wait),
        "send_at": {"wall_ms": _ms(a.send_at.wall), "mono_ms": _ms(a.send_at.mono)},
        "timeout_ms": _ms(a.timeout),
    }


def _origin(o: n.SkewOrigin) -> Dict[str, Any]:
    e = o.estimate
    err = o.error
    return {
        "name": o.name,
        "source": o.source,
        "offset_ms": _ms(e.offset),
        "low_ms": _ms(e.low),
        "high_ms": _ms(e.high),
        "agreeing": e.agreeing,
        "samples": e.samples,
        "rtt_ms": _ms(o.rtt),
        "discarded": o.discarded,
        "error": {"code": err[0], "message": err[1]} if err else None,
    }


@pytest.mark.parametrize("case", PROBE_CASES, ids=[c["id"] for c in PROBE_CASES])
def test_probe_transcript(case: Dict[str, Any]) -> None:
    inp = case["input"]
    probe = n.SkewProbe(inp["name"], inp["source"], inp["samples"])
    checked = 0
    for i, ev in enumerate(inp["events"]):
        if "poll" in ev:
            assert _action(probe.poll(_reading(ev["poll"]))) == ev["expect"], i
            checked += 1
        elif "date_response" in ev:
            d = ev["date_response"]
            probe.on_date_response(d["date"], d["age"], _reading(d["sent"]), _reading(d["received"]))
        elif "sntp_request" in ev:
            s = ev["sntp_request"]
            packet = probe.sntp_request(_reading(s["now"]), s["entropy"])
            assert packet.hex() == ev["expect_packet_hex"], i
        elif "sntp_reply" in ev:
            s = ev["sntp_reply"]
            probe.on_sntp_reply(bytes.fromhex(s["hex"]), _reading(s["received"]))
        elif "error" in ev:
            probe.on_error(ev["error"])
        elif "origin_at" in ev:
            assert _origin(probe.origin(_reading(ev["origin_at"]))) == ev["expect"], i
            checked += 1
        else:
            raise AssertionError(f"event {i}: unknown {ev}")
    assert checked >= 2
    # Every transcript ends its measurement: a last poll answers done.
    assert probe.poll(_reading(inp["events"][-1]["origin_at"])).kind == "done"
