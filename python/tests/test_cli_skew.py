"""``tokenclock skew`` and ``inspect --server`` measuring real loopback servers: a
``tests/servers/tcserver.py`` subprocess (API server, Date origins and SNTP server, each with a
configurable clock offset) and small in-test HTTP servers for the protocol corners (HEAD
refused, cached responses, no ``Date``, redirects).

The true offsets are known exactly (the servers' clocks are this machine's clock plus the
configured offset), so the reported interval must contain them. Readings are whole
milliseconds (floored), so a bound may miss the true offset by less than 1 ms: the checks allow
that 1 ms and nothing more.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from test_cli import REPO, fake_token, one_error_line, run_cli

SERVER = REPO / "tests" / "servers" / "tcserver.py"
SLACK_MS = 1  # readings are floored to whole milliseconds


class Servers:
    """One tcserver with 3 Date origins and the SNTP server."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--sntp", "--origins", "3",
             "--exit-on-stdin-eof", "--max-lifetime-s", "900"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "tcserver did not start"
        self.info: Dict[str, Any] = json.loads(line)
        self.api_base: str = self.info["api_base"]
        self.origins: List[str] = self.info["origins"]
        self.ntp = f"{self.info['sntp_host']}:{self.info['sntp_port']}"
        self.control: str = self.info["control_url"]

    def post(self, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        req = urllib.request.Request(
            f"{self.control}/{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback
            assert r.status == 200
            return json.loads(r.read())  # type: ignore[no-any-return]

    def config(self, **settings: Any) -> None:
        self.post("config", settings)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()


@pytest.fixture(scope="module")
def servers_process() -> Iterator[Servers]:
    s = Servers()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def srv(servers_process: Servers) -> Servers:
    servers_process.post("reset", {"config": True})
    return servers_process


def skew_json(*args: str) -> tuple[int, Dict[str, Any]]:
    p = run_cli(["skew", *args, "--json"], timeout=120)
    assert p.stderr == b"", p.stderr
    return p.returncode, json.loads(p.stdout)


def assert_contains(origin: Dict[str, Any], offset_ms: int, max_width_ms: int) -> None:
    assert origin["status"] != "unmeasured", origin
    assert origin["low_ms"] - SLACK_MS <= offset_ms <= origin["high_ms"] + SLACK_MS, origin
    assert origin["low_ms"] <= origin["offset_ms"] <= origin["high_ms"]
    assert origin["width_ms"] == origin["high_ms"] - origin["low_ms"]
    assert origin["width_ms"] < max_width_ms, origin
    assert origin["error"] is None


# ----- Date origins -----------------------------------------------------------------------


def test_api_server_600_s_behind(srv: Servers) -> None:
    srv.config(api_offset_s=-600)
    url = srv.api_base + "/health"
    code, doc = skew_json(url, "--samples", "10")
    assert code == 1
    (o,) = doc["origins"]
    assert (o["name"], o["source"], o["status"]) == (url, "date", "beyond_limit")
    assert_contains(o, -600_000, 300)
    assert 1 <= o["samples"] <= 10 and o["agreeing"] == o["samples"]
    assert doc["findings"] == [
        {"code": "skew_beyond_limit", "message": f"{url} is off by more than 1.000 s"}
    ]


def test_two_origins_that_disagree(srv: Servers) -> None:
    srv.config(origin_offsets_s=[2.3, -1.0])
    a, b = srv.origins[0], srv.origins[1]
    code, doc = skew_json(a, b, "--samples", "10")
    assert code == 1
    oa, ob = doc["origins"]
    assert (oa["name"], ob["name"]) == (a, b)
    assert_contains(oa, 2_300, 300)
    assert_contains(ob, -1_000, 300)
    assert oa["status"] == "beyond_limit"
    assert ob["status"] in ("may_exceed_limit", "beyond_limit", "ok")
    (d,) = doc["disagreements"]
    assert (d["a"], d["b"]) == (a, b)
    assert d["gap_ms"] == oa["low_ms"] - ob["high_ms"]
    assert 3_300 - 600 < d["gap_ms"] <= 3_300 + SLACK_MS


def test_a_small_offset_within_the_limit_is_ok(srv: Servers) -> None:
    srv.config(origin_offsets_s=[0, 0, 0.25])
    url = srv.origins[2]
    p = run_cli(["skew", url, "--max-offset", "0.9"], timeout=60)
    assert p.returncode == 0, p.stdout
    out = p.stdout.decode()
    lines = out.splitlines()
    assert lines[0].startswith("origin ") and "interval (server − local)" in lines[0]
    assert lines[1].startswith(url) and lines[1].rstrip().endswith("ok")
    assert out.endswith("result  ok (limit ±0.900 s)\n")
    code, doc = skew_json(url, "--samples", "10")
    assert code == 0
    assert_contains(doc["origins"][0], 250, 300)


# ----- SNTP ---------------------------------------------------------------------------------


def test_sntp_server_with_an_offset_in_command_line_order(srv: Servers) -> None:
    srv.config(sntp_offset_s=2.3, origin_offsets_s=[2.3])
    code, doc = skew_json("--ntp", srv.ntp, srv.origins[0], "--samples", "1", "--max-offset", "4")
    assert code == 0, doc
    o_ntp, o_date = doc["origins"]
    assert (o_ntp["name"], o_ntp["source"]) == ("ntp:" + srv.ntp, "sntp")
    assert (o_date["name"], o_date["source"]) == (srv.origins[0], "date")
    assert_contains(o_ntp, 2_300, 300)
    assert o_ntp["samples"] == 1 and o_ntp["rtt_ms"] is not None and o_ntp["rtt_ms"] < 100
    # One Date sample is a whole second wide: it contains 2.3 s but is not narrow.
    assert o_date["low_ms"] - SLACK_MS <= 2_300 <= o_date["high_ms"] + SLACK_MS


@pytest.mark.parametrize(
    ("mode", "code"),
    [("kiss_rate", "sntp_kiss_of_death"), ("wrong_origin", "sntp_origin_mismatch")],
)
def test_sntp_refusals_end_the_measurement(srv: Servers, mode: str, code: str) -> None:
    srv.config(sntp_mode=mode)
    rc, doc = skew_json("--ntp", srv.ntp)
    assert rc == 2
    (o,) = doc["origins"]
    assert o["status"] == "unmeasured" and o["error"]["code"] == code
    assert doc["findings"][0]["code"] == "origin_unmeasured"


def test_garbage_sntp_reply_exits_2(srv: Servers) -> None:
    srv.config(sntp_mode="garbage")
    p = run_cli(["skew", "--ntp", srv.ntp])
    assert p.returncode == 2 and p.stderr == b""
    out = p.stdout.decode()
    assert f"ntp:{srv.ntp}" in out and "error: " in out
    assert out.endswith("result  origin_unmeasured (limit ±1.000 s)\n")
    rc, doc = skew_json("--ntp", srv.ntp)
    (o,) = doc["origins"]
    assert rc == 2 and o["samples"] == 0
    # 48 random bytes fail one of the reply checks (mode, version, stratum, origin, ...).
    assert o["error"]["code"].startswith("sntp_") or o["error"]["code"] == "invalid_sample", o


def test_silent_sntp_server_times_out(srv: Servers) -> None:
    srv.config(sntp_mode="silent")
    start = time.monotonic()
    rc, doc = skew_json("--ntp", srv.ntp)
    assert 4.9 <= time.monotonic() - start < 20
    assert rc == 2 and doc["origins"][0]["error"]["code"] == "timeout"


def test_nothing_listening_on_the_udp_port_is_connect_error() -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc, doc = skew_json("--ntp", f"127.0.0.1:{port}")
    assert rc == 2
    assert doc["origins"][0]["error"] == {
        "code": "connect_error",
        "message": "the connection could not be made",
    }


# ----- unreachable origins ------------------------------------------------------------------


def _closed_tcp_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_url_exits_2_with_the_reason() -> None:
    url = f"http://127.0.0.1:{_closed_tcp_port()}/"
    p = run_cli(["skew", url])
    assert p.returncode == 2 and p.stderr == b""
    out = p.stdout.decode()
    assert f"! {url} could not be measured: the connection could not be made\n" in out
    rc, doc = skew_json(url, "--ntp", "host.invalid")
    assert rc == 2
    assert [o["error"]["code"] for o in doc["origins"]] == ["connect_error", "dns_error"]
    rc, doc = skew_json("https://nonexistent.invalid/")
    assert doc["origins"][0]["error"]["code"] == "dns_error"


def test_tls_failure_is_tls_error(srv: Servers) -> None:
    # An https:// URL to a plain-HTTP server: the handshake fails.
    url = srv.origins[0].replace("http://", "https://")
    rc, doc = skew_json(url)
    assert rc == 2
    assert doc["origins"][0]["error"]["code"] == "tls_error"


# ----- protocol corners (in-test HTTP servers) ----------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    behaviour = "ok"  # set per server class
    seen: List[str] = []

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _answer(self) -> None:
        self.seen.append(f"{self.command} {self.path} {self.headers.get('Cache-Control')}")
        b = self.behaviour
        if b == "no_head" and self.command == "HEAD":
            status, headers = 405, [("Allow", "GET")]
        elif b == "redirect":
            status, headers = 302, [("Location", "/elsewhere")]
        else:
            status, headers = 200, []
        self.send_response_only(status)
        if b != "no_date":
            self.send_header("Date", formatdate(usegmt=True))
        if b == "cached":
            self.send_header("Age", "12")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = _answer
    do_GET = _answer


def _serve(behaviour: str) -> Any:
    handler = type("H", (_Handler,), {"behaviour": behaviour, "seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    return httpd, handler, f"http://127.0.0.1:{httpd.server_address[1]}/probe?x=1"


@pytest.fixture
def serve() -> Iterator[Any]:
    started: List[Any] = []

    def start(behaviour: str) -> Any:
        httpd, handler, url = _serve(behaviour)
        started.append(httpd)
        return handler, url

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def test_head_with_no_cache_and_the_path_as_given(serve: Any) -> None:
    handler, url = serve("ok")
    rc, doc = skew_json(url, "--samples", "3")
    assert rc == 0
    assert doc["origins"][0]["samples"] == 3
    assert handler.seen == ["HEAD /probe?x=1 no-cache"] * 3


def test_head_refused_falls_back_to_get(serve: Any) -> None:
    handler, url = serve("no_head")
    rc, doc = skew_json(url, "--samples", "3")
    assert rc == 0, doc
    assert doc["origins"][0]["samples"] == 3
    # One HEAD (405), then GET for the rest of the measurement.
    assert handler.seen == ["HEAD /probe?x=1 no-cache"] + ["GET /probe?x=1 no-cache"] * 3


def test_cached_responses_are_discarded(serve: Any) -> None:
    handler, url = serve("cached")
    rc, doc = skew_json(url, "--samples", "4")
    assert rc == 2
    (o,) = doc["origins"]
    assert o["discarded"] == 4 and o["samples"] == 0
    assert o["error"]["code"] == "all_samples_discarded"


def test_a_response_without_date_ends_the_measurement(serve: Any) -> None:
    handler, url = serve("no_date")
    rc, doc = skew_json(url)
    assert rc == 2
    assert doc["origins"][0]["error"] == {
        "code": "no_date_header",
        "message": "the response has no Date header",
    }
    assert len(handler.seen) == 1


def test_redirects_are_not_followed(serve: Any) -> None:
    handler, url = serve("redirect")
    rc, doc = skew_json(url, "--samples", "2")
    assert rc == 0
    assert doc["origins"][0]["samples"] == 2
    assert all(s.startswith("HEAD /probe?x=1") for s in handler.seen)


# ----- inspect --server ---------------------------------------------------------------------


def test_inspect_on_the_servers_clock(srv: Servers) -> None:
    srv.config(api_offset_s=-600)
    now = int(time.time())
    tok = fake_token({"sub": "svc", "iat": now, "nbf": now, "exp": now + 3600})
    url = srv.api_base + "/health"
    p = run_cli(["inspect", tok, "--server", url, "--json"], timeout=60)
    assert p.returncode == 0, p.stdout
    doc = json.loads(p.stdout)
    s = doc["server"]
    assert s["origin"] == url
    assert s["low_ms"] - SLACK_MS <= -600_000 <= s["high_ms"] + SLACK_MS
    assert s["high_ms"] - s["low_ms"] < 300
    # On the server's clock the token was issued about 10 minutes in the future.
    codes = [w["code"] for w in doc["warnings"]]
    assert "iat_in_future" in codes and "nbf_ahead" in codes
    # (now is read after the measurement, a few seconds after the token was made)
    assert 585_000 <= doc["times"]["iat"]["server_delta_ms"] <= 601_000
    text = run_cli(["inspect", tok, "--server", url], timeout=60).stdout.decode()
    assert f"\nserver  {url}: offset -" in text
    assert f"'s clock (±" in text


def test_inspect_with_an_unreachable_server_prints_the_skew_report() -> None:
    url = f"http://127.0.0.1:{_closed_tcp_port()}/"
    tok = fake_token({"sub": "svc", "iat": 1_700_000_000})
    p = run_cli(["inspect", tok, "--server", url])
    assert p.returncode == 2 and p.stderr == b""
    out = p.stdout.decode()
    assert out.startswith("origin ")
    assert out.endswith("result  origin_unmeasured (limit ±1.000 s)\n")
    p = run_cli(["inspect", tok, "--server", url, "--json"])
    assert json.loads(p.stdout)["command"] == "skew"


def test_usage_errors_come_before_any_measurement() -> None:
    start = time.monotonic()
    p = run_cli(["skew", "http://127.0.0.1:9/", "--max-offset", "x"])
    assert one_error_line(p, "skew").startswith("--max-offset: expected")
    assert time.monotonic() - start < 5


def test_inspect_reports_a_bad_token_before_measuring_the_server(black_hole_url: str) -> None:
    # The server never answers: had it been measured first, this would take 5 s and end in
    # the skew report.
    start = time.monotonic()
    p = run_cli(["inspect", "hunter2", "--server", black_hole_url])
    assert one_error_line(p, "inspect").startswith("cannot read the token: ")
    assert time.monotonic() - start < 4


@pytest.fixture
def black_hole_url() -> Iterator[str]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/"
    srv.close()
