"""The ``tokenclock`` command as a user runs it: real subprocesses of ``python -m tokenclock``
and of the installed console script. Arguments, usage errors, unreadable inputs, bad tokens and
keys, the injected clock, colour, Ctrl-C and broken pipes, and ``ages`` over generated logs with
a known skew. (Golden files: test_cli_golden.py; network measurements: test_cli_skew.py; a
fresh ``pip install``: test_cli_pip.py.) Where it says more, the output is compared with the
core's machine (``_CliRun``) driven in this process by :func:`drive`.

The helpers at the top are shared by the other ``test_cli_*`` modules.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Union

import pytest

from tokenclock import _native as n

REPO = Path(__file__).resolve().parents[2]
FAKE_NOW_ENV = "TOKENCLOCK_FAKE_NOW_MS"
T0_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z
SECRET = b"tokenclock-golden-secret-0123456789abcdef"
BIDI = {0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}

Arg = Union[str, bytes]


def console_script() -> str:
    """The ``tokenclock`` console script installed beside this interpreter."""
    found = shutil.which("tokenclock", path=str(Path(sys.executable).parent))
    assert found is not None, "the tokenclock console script is not installed (make python)"
    return found


def cli_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (FAKE_NOW_ENV, "NO_COLOR")}
    env.update(extra or {})
    return env


def run_cli(
    args: Sequence[Arg],
    *,
    stdin: bytes = b"",
    env: Optional[Dict[str, str]] = None,
    console: bool = False,
    timeout: float = 60.0,
    cwd: Optional[str] = None,
) -> subprocess.CompletedProcess[bytes]:
    """Runs ``tokenclock ARGS`` (``python -m tokenclock``, or the console script) outside the
    source tree, so the installed package is the one imported."""
    cmd: List[Arg] = [console_script()] if console else [sys.executable, "-m", "tokenclock"]
    return subprocess.run(
        [*cmd, *args],
        input=stdin,
        capture_output=True,
        env=cli_env(env),
        timeout=timeout,
        cwd=cwd or tempfile.gettempdir(),
        check=False,
    )


class Ran(NamedTuple):
    """What a run printed (``text`` on ``stream``) and its exit code."""

    text: str
    stream: str
    exit_code: int


def drive(
    args: Sequence[str],
    *,
    stdin: Union[bytes, Sequence[bytes]] = b"",
    files: Optional[Mapping[str, bytes]] = None,
    env: Optional[Mapping[str, str]] = None,
    terminal: bool = False,
    now: Optional[n.Reading] = None,
) -> Ran:
    """Runs ``tokenclock ARGS`` through the core's machine (``_CliRun``, what
    ``tokenclock.cli`` executes) in this process, with scripted I/O: ``stdin`` (bytes, or a list
    of chunks: one per read, each cut to the read's size), ``files`` (path -> bytes; any other
    path is ``not_found``), ``env``, whether stdout is a ``terminal``, and ``now`` for every
    poll (default the real clocks). No network: an exchange or a wait is a test failure (drive
    ``_CliRun`` directly for those)."""
    run = n._CliRun(list(args), dict(env or {}), terminal)
    pending = [c for c in ([stdin] if isinstance(stdin, bytes) else list(stdin)) if c]
    offsets: Dict[str, int] = {}
    text, stream = "", "stdout"
    for _ in range(1_000_000):
        a = run.poll(now or n.Reading.now())
        if a.kind == "read":
            size = int(a.max_bytes or 0)
            if a.path is None:
                chunk = pending[0][:size] if pending else b""
                if pending:
                    pending[0] = pending[0][len(chunk) :]
                    if not pending[0]:
                        pending.pop(0)
                run.on_read(chunk)
            elif files is not None and a.path in files:
                at = offsets.get(a.path, 0)
                chunk = files[a.path][at : at + size]
                offsets[a.path] = at + len(chunk)
                run.on_read(chunk)
            else:
                run.on_read_error("not_found")
        elif a.kind == "write":
            text += a.text or ""
            stream = a.stream or "stdout"
        elif a.kind == "exit":
            return Ran(text, stream, int(a.code or 0))
        else:
            raise AssertionError(f"tokenclock {' '.join(args)}: unexpected {a.kind} action")
    raise AssertionError(f"tokenclock {' '.join(args)}: no exit")


def json_text(value: Any) -> str:
    """``Rendered::json_text`` as docs/cli.md defines it, independently of the core: Python's
    sorted, two-space ``json.dumps`` without ASCII escaping, then DEL, C1 and bidirectional
    controls as ``\\uXXXX``, and a final newline."""
    s = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    out = "".join(
        f"\\u{ord(c):04x}" if 0x7F <= ord(c) <= 0x9F or ord(c) in BIDI else c for c in s
    )
    return out + "\n"


def one_error_line(p: subprocess.CompletedProcess[bytes], command: Optional[str]) -> str:
    """Asserts the run failed with exit 2 and exactly one ``tokenclock CMD: error: ...`` line on
    stderr (and nothing on stdout); returns the message."""
    err = p.stderr.decode("utf-8")
    prefix = f"tokenclock {command}: error: " if command else "tokenclock: error: "
    assert p.returncode == 2, (p.returncode, err, p.stdout)
    assert p.stdout == b""
    assert err.startswith(prefix), err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err[len(prefix) : -1]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def fake_token(claims: Dict[str, Any], header: Optional[Dict[str, Any]] = None) -> str:
    """A JWT with the given claims and a fake 9-byte signature (never verified)."""
    h = header or {"alg": "RS256", "typ": "JWT"}
    return (
        b64url(json.dumps(h, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
        + ".c2lnbmF0dXJl"
    )


def hs256(secret: bytes, claims: Dict[str, Any]) -> str:
    signing_input = (
        b64url(b'{"alg":"HS256","typ":"JWT"}')
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    sig = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


# ----- help and usage -------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["inspect", "skew", "ages", "simulate"])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_per_subcommand_is_the_cores(command: str, flag: str) -> None:
    p = run_cli([command, flag])
    assert p.returncode == 0 and p.stderr == b""
    help_text = drive([command, "--help"])
    assert help_text == (p.stdout.decode(), "stdout", 0)
    assert p.stdout.decode().startswith(f"usage: tokenclock {command} ")
    # --help wins over anything else on the line, even a bad value.
    p = run_cli([command, "--bogus", flag, "--json"])
    assert p.returncode == 0
    assert p.stdout.decode() == drive([command, "--help", "--json"]).text
    assert json.loads(p.stdout)["help"] == help_text.text


def test_help_through_the_console_script() -> None:
    p = run_cli(["--help"], console=True)
    assert (p.returncode, p.stderr) == (0, b"")
    assert drive(["--help"]) == (p.stdout.decode(), "stdout", 0)
    assert p.stdout.decode().startswith("usage: tokenclock ")


def test_no_command_is_a_usage_error() -> None:
    msg = one_error_line(run_cli([]), None)
    assert msg == "missing command (commands: inspect, skew, ages, simulate)"


@pytest.mark.parametrize(
    ("args", "command", "message"),
    [
        (["frobnicate"], None, "unknown command 'frobnicate' (commands: inspect, skew, ages, simulate)"),
        (["--verbose", "inspect", "x"], "inspect", "unknown option '--verbose'"),
        (["--verbose", "frobnicate"], None, "unknown option '--verbose'"),
        (["--json=1", "inspect", "x"], "inspect", "option --json takes no value"),
        (["inspect", "x", "--frob=1"], "inspect", "unknown option '--frob'"),
        (["inspect", "x", "--prometheus"], "inspect", "unknown option '--prometheus'"),
        (["inspect", "x", "--key"], "inspect", "option --key needs a value"),
        (["simulate", "--timeline=yes"], "simulate", "option --timeline takes no value"),
        (["simulate", "--timeline", "--timeline"], "simulate", "option --timeline given more than once"),
        (["simulate", "--ttl", "30", "--ttl", "90"], "simulate", "option --ttl given more than once"),
        (["inspect", "x", "--iss", "a", "--iss=b"], "inspect", "option --iss given more than once"),
        (["ages", "--json=1"], "ages", "option --json takes no value"),
        (["ages", "--frob", "--json=1"], "ages", "unknown option '--frob'"),
        (["inspect", "a.b.c", "d.e.f"], "inspect", "unexpected extra argument 'd.e.f'"),
        (["simulate", "extra"], "simulate", "unexpected extra argument 'extra'"),
        (["ages", "a.log", "b.log"], "ages", "unexpected extra argument 'b.log'"),
        (["inspect"], "inspect", "missing TOKEN (give the token, or - to read it from standard input)"),
        (["inspect", "x", "--key", "k", "--jwks", "j", "--alg", "HS256"], "inspect", "give --key or --jwks, not both"),
        (["inspect", "x", "--alg", "HS256"], "inspect", "--alg needs --key or --jwks"),
        (["inspect", "x", "--aud", "api", "--iss", "i"], "inspect", "--aud needs --key or --jwks"),
        (["inspect", "x", "--server", "ftp://example.com/"], "inspect", "expected an http:// or https:// URL, got 'ftp://example.com/'"),
        (["inspect", "--server", "x", "--leeway", "1e3"], "inspect", "expected an http:// or https:// URL, got 'x'"),
        (["skew", "example.com"], "skew", "expected an http:// or https:// URL, got 'example.com'"),
        (["skew", "example.com", "--samples", "0"], "skew", "expected an http:// or https:// URL, got 'example.com'"),
        (["skew"], "skew", "give at least one URL or --ntp HOST"),
    ],
)
def test_usage_errors_are_one_line_on_stderr_exit_2(
    args: List[str], command: Optional[str], message: str
) -> None:
    assert one_error_line(run_cli(args), command) == message
    # With --json (first: `--key --json` would make it --key's value): the same error as
    # JSON on stdout, nothing on stderr.
    p = run_cli(["--json", *args])
    assert p.returncode == 2 and p.stderr == b""
    doc = json.loads(p.stdout)
    assert doc["command"] == command
    assert doc["error"]["message"] == message
    assert doc["exit_code"] == 2 and doc["findings"] == [] and doc["schema_version"] == 1


@pytest.mark.parametrize(
    ("args", "command", "message"),
    [
        (["skew", "http://127.0.0.1:9/", "--samples", "0"], "skew", "--samples: expected an integer from 1 to 64"),
        (["skew", "http://127.0.0.1:9/", "--samples", "65"], "skew", "--samples: expected an integer from 1 to 64"),
        (["skew", "http://127.0.0.1:9/", "--samples", "1e1"], "skew", "--samples: expected a non-negative integer in range"),
        (["skew", "http://127.0.0.1:9/", "--max-offset", "1e3"], "skew", "--max-offset: expected a number of seconds with at most 3 decimals"),
        (["skew", "http://127.0.0.1:9/", "--max-offset", "-1"], "skew", "--max-offset: expected a non-negative number of seconds"),
        (["skew", "--ntp", "host:0"], "skew", "--ntp: expected HOST or HOST:PORT (IPv6 as [ADDR]:PORT)"),
        (["skew", "--ntp", "[::1]:x"], "skew", "--ntp: expected HOST or HOST:PORT (IPv6 as [ADDR]:PORT)"),
        (["inspect", "x", "--key", "k", "--alg", "HS256", "--leeway", " 1"], "inspect", "--leeway: expected a number of seconds with at most 3 decimals"),
        (["simulate", "--seed", "9007199254740992"], "simulate", "--seed: expected a non-negative integer in range"),
        (["simulate", "--client-offset", "1_000"], "simulate", "--client-offset: expected a number of seconds with at most 3 decimals"),
        (["simulate", "--step", "0.5"], "simulate", "--step: expected a whole number of seconds"),
        (["ages", "--time-field", "a b"], "ages", "--time-field: expected a column number or a key without spaces"),
    ],
)
def test_bad_values_are_rejected_by_the_core_parsers(
    args: List[str], command: str, message: str
) -> None:
    assert one_error_line(run_cli(args), command) == message
    doc = json.loads(run_cli([*args, "--json"]).stdout)
    assert doc["error"] == {"code": "invalid_argument", "message": message}


def test_a_token_in_a_usage_message_is_redacted() -> None:
    tok = fake_token({"sub": "x", "iat": 1_700_000_000})
    msg = one_error_line(run_cli(["inspect", tok, tok]), "inspect")
    assert msg == "unexpected extra argument '<token>'"


def test_arguments_that_are_not_utf8_print_as_replacement_characters() -> None:
    p = run_cli(["ages", b"/nonexistent/caf\xe9.log"])
    assert one_error_line(p, "ages") == "cannot read /nonexistent/caf\ufffd.log: no such file"


def test_option_values_may_start_with_a_dash_and_use_equals() -> None:
    a = run_cli(["simulate", "--client-offset", "-30", "--hours=0.01", "--json"])
    b = run_cli(["simulate", "--hours", "0.01", "--client-offset=-30", "--json"])
    assert a.returncode == 0 and a.stdout == b.stdout
    assert json.loads(a.stdout)["cell"]["client_offset_ms"] == -30_000


def test_values_are_checked_in_argument_order() -> None:
    p = run_cli(["skew", "--max-offset", "x", "--samples", "0", "http://127.0.0.1:9/"])
    assert one_error_line(p, "skew").startswith("--max-offset: expected")
    p = run_cli(["skew", "--samples", "0", "--max-offset", "x", "http://127.0.0.1:9/"])
    assert one_error_line(p, "skew") == "--samples: expected an integer from 1 to 64"
    p = run_cli(["simulate", "--hours", "0", "--ttl", "x"])
    assert one_error_line(p, "simulate").startswith("--ttl: expected")  # parsed before ranges
    # Usage problems of the scan come before any value check.
    p = run_cli(["simulate", "--ttl", "x", "--frob"])
    assert one_error_line(p, "simulate") == "unknown option '--frob'"


def test_a_url_that_is_not_usable_fails_its_exchange() -> None:
    p = run_cli(["skew", "http://127.0.0.1:99999/", "HTTP://", "--json"])
    assert p.returncode == 2
    doc = json.loads(p.stdout)
    assert [o["error"]["code"] for o in doc["origins"]] == ["io_error", "io_error"]


def test_double_dash_ends_options() -> None:
    # After `--`, `-x.y.z` is the TOKEN, not an option: the core says it cannot be read.
    msg = one_error_line(run_cli(["inspect", "--", "--frob"]), "inspect")
    assert msg.startswith("cannot read the token: ")


# ----- inspect: tokens and keys ---------------------------------------------------------------


def test_inspect_reads_the_token_from_stdin_with_bearer_prefix() -> None:
    tok = fake_token({"sub": "svc", "iat": 1_700_000_000, "exp": 1_700_000_300})
    env = {FAKE_NOW_ENV: str(T0_MS + 60_000)}
    a = run_cli(["inspect", "-", "--json"], stdin=f"  Bearer {tok}\r\n".encode(), env=env)
    b = run_cli(["inspect", tok, "--json"], env=env)
    assert a.returncode == 0 and a.stdout == b.stdout
    doc = json.loads(a.stdout)
    assert doc["now_ms"] == T0_MS + 60_000
    assert doc["times"]["exp"]["delta_ms"] == 240_000
    assert doc["state"]["name"] == "fresh"


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("hunter2", "malformed_token"),
        ("eyJhbGciOiJub25lIn0.!!!.", "invalid_base64"),
        (b64url(b"{not json") + ".e30.", "invalid_json"),
        ("eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn", "encrypted_token"),
    ],
)
def test_malformed_tokens_exit_2_with_one_line(token: str, code: str) -> None:
    p = run_cli(["inspect", token])
    msg = one_error_line(p, "inspect")
    assert msg.startswith("cannot read the token: ")
    assert token not in msg
    doc = json.loads(run_cli(["inspect", token, "--json"]).stdout)
    assert doc["error"]["code"] == code


def test_inspect_stdin_over_64_kib_is_token_too_large() -> None:
    p = run_cli(["inspect", "-"], stdin=b"eyJ" + b"a" * (64 * 1024))
    msg = one_error_line(p, "inspect")
    assert "more than the limit of 65536" in msg
    doc = json.loads(run_cli(["inspect", "-", "--json"], stdin=b"a" * 100_000).stdout)
    assert doc["error"]["code"] == "token_too_large"


def test_wrong_key_is_a_finding_exit_1_on_stdout(tmp_path: Path) -> None:
    tok = hs256(SECRET, {"sub": "svc", "iat": 1_700_000_000, "exp": 1_700_000_600})
    key = tmp_path / "other.key"
    key.write_bytes(b"another-secret-that-is-long-enough-0123456789")
    env = {FAKE_NOW_ENV: str(T0_MS + 10_000)}
    p = run_cli(["inspect", tok, "--key", str(key), "--alg", "HS256"], env=env)
    assert p.returncode == 1 and p.stderr == b""
    out = p.stdout.decode()
    assert "verification  invalid_signature: " in out
    assert out.endswith("result  invalid_signature\n")
    assert SECRET.decode() not in out and tok.split(".")[2] not in out
    # The right key verifies.
    key.write_bytes(SECRET)
    p = run_cli(["inspect", tok, "--key", str(key), "--alg", "HS256", "--json"], env=env)
    assert p.returncode == 0
    assert json.loads(p.stdout)["verification"]["valid"] is True


def test_jwk_and_jwks_keys(tmp_path: Path) -> None:
    tok = hs256(SECRET, {"sub": "svc", "iat": 1_700_000_000, "exp": 1_700_000_600})
    jwk = {"kty": "oct", "k": b64url(SECRET), "alg": "HS256"}
    (tmp_path / "k.jwk").write_text(json.dumps(jwk))
    (tmp_path / "k.jwks").write_text(json.dumps({"keys": [jwk]}))
    env = {FAKE_NOW_ENV: str(T0_MS + 10_000)}
    for flag, name in (("--key", "k.jwk"), ("--jwks", "k.jwks")):
        p = run_cli(["inspect", tok, flag, str(tmp_path / name), "--alg", "HS256", "--json"], env=env)
        assert p.returncode == 0, p.stdout
        assert json.loads(p.stdout)["verification"]["valid"] is True
    (tmp_path / "bad.jwks").write_text('{"keys": 3}')
    p = run_cli(["inspect", tok, "--jwks", str(tmp_path / "bad.jwks"), "--alg", "HS256"], env=env)
    assert one_error_line(p, "inspect").startswith("cannot use the key: ")
    doc = json.loads(run_cli(["inspect", tok, "--jwks", str(tmp_path / "bad.jwks"), "--alg", "HS256", "--json"], env=env).stdout)
    assert doc["error"]["code"] == "invalid_jwks"


def test_verifier_options_reach_the_core(tmp_path: Path) -> None:
    tok = hs256(SECRET, {"sub": "svc", "iss": "https://issuer.example", "aud": ["api"], "iat": 1_700_000_000, "exp": 1_700_000_600})
    key = tmp_path / "k"
    key.write_bytes(SECRET)
    env = {FAKE_NOW_ENV: str(T0_MS - 8_000)}  # iat 8 s in the future
    base = ["inspect", tok, "--key", str(key), "--alg", "HS256", "--json"]
    doc = json.loads(run_cli(base, env=env).stdout)
    assert doc["verification"]["code"] == "issued_in_future"
    doc = json.loads(run_cli([*base, "--leeway", "10"], env=env).stdout)
    assert doc["verification"]["valid"] is True and doc["verification"]["leeway_ms"] == 10_000
    doc = json.loads(run_cli([*base, "--leeway", "10", "--aud", "other", "--aud", "api"], env=env).stdout)
    assert doc["verification"]["valid"] is True
    doc = json.loads(run_cli([*base, "--leeway", "10", "--aud", "other"], env=env).stdout)
    assert doc["verification"]["code"] == "invalid_audience"
    doc = json.loads(run_cli([*base, "--leeway", "10", "--iss", "https://x.example"], env=env).stdout)
    assert doc["verification"]["code"] == "invalid_issuer"
    p = run_cli([*base, "--leeway", "31"], env=env)
    assert p.returncode == 2 and json.loads(p.stdout)["error"]["code"] == "leeway_too_large"
    p = run_cli([*base[:-3], "--alg", "HS256,RS256,", "--json"], env=env)
    assert json.loads(p.stdout)["error"]["code"] == "invalid_argument"


def test_key_file_problems_are_input_errors(tmp_path: Path) -> None:
    tok = hs256(SECRET, {"sub": "svc", "iat": 1_700_000_000, "exp": 1_700_000_600})
    missing = tmp_path / "nope.key"
    p = run_cli(["inspect", tok, "--key", str(missing), "--alg", "HS256"])
    assert one_error_line(p, "inspect") == f"cannot read {missing}: no such file"
    p = run_cli(["inspect", tok, "--key", str(tmp_path), "--alg", "HS256", "--json"])
    assert json.loads(p.stdout)["error"]["code"] == "is_a_directory"
    big = tmp_path / "big.jwks"
    big.write_bytes(b" " * (1024 * 1024 + 1))
    p = run_cli(["inspect", tok, "--jwks", str(big), "--alg", "HS256"])
    assert one_error_line(p, "inspect") == f"cannot read {big}: too large"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        locked = tmp_path / "locked.key"
        locked.write_bytes(SECRET)
        locked.chmod(0)
        p = run_cli(["inspect", tok, "--key", str(locked), "--alg", "HS256"])
        assert one_error_line(p, "inspect") == f"cannot read {locked}: permission denied"


@pytest.mark.parametrize("value", ["soon", "-1", "1.5", "253402300800000"])
def test_a_bad_injected_clock_is_a_usage_error(value: str) -> None:
    tok = fake_token({"iat": 1_700_000_000})
    for args, cmd in ((["inspect", tok], "inspect"), (["ages", "-"], "ages"), (["simulate"], "simulate")):
        p = run_cli(args, env={FAKE_NOW_ENV: value})
        assert one_error_line(p, cmd) == "TOKENCLOCK_FAKE_NOW_MS: expected a non-negative integer in range"
    # --help does not need a clock.
    assert run_cli(["simulate", "--help"], env={FAKE_NOW_ENV: value}).returncode == 0


def test_without_the_injected_clock_now_is_the_system_clock() -> None:
    tok = fake_token({"iat": 1_700_000_000})
    before = time.time_ns() // 1_000_000
    doc = json.loads(run_cli(["inspect", tok, "--json"]).stdout)
    after = time.time_ns() // 1_000_000
    assert before <= doc["now_ms"] <= after


# ----- ages -----------------------------------------------------------------------------------


def _log_lines(ages_ms: List[int], *, now_ms: int, style: str) -> List[str]:
    """Log lines, one token each, whose age (line time or now, minus iat) is the given one.

    ``iat`` is whole seconds, so the line time is placed ``age`` after it."""
    lines = []
    for i, age in enumerate(ages_ms):
        line_ms = now_ms - 1000 * i  # lines in the past, one a second
        iat_ms = line_ms - age
        assert iat_ms % 1000 == 0
        tok = fake_token({"sub": f"client-{i}", "iat": iat_ms // 1000, "exp": iat_ms // 1000 + 300})
        assert line_ms % 1000 == 0
        stamp = datetime.fromtimestamp(line_ms // 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if style == "logfmt":
            lines.append(f'ts={stamp} level=info msg="accepted" auth="Bearer {tok}"')
        elif style == "json":
            lines.append(json.dumps({"req": {"time": stamp, "path": "/api"}, "authorization": f"Bearer {tok}"}))
        else:
            lines.append(f"GET /api token={tok} ok")
    return lines


def _ages_with(offset_ms: int, count: int = 200) -> List[int]:
    """True ages 0..4 s (a token is used for a few seconds) plus the offset of the verifier's
    clock from the issuer's; whole seconds, as `iat` is."""
    return [offset_ms + 1000 * (i % 5) for i in range(count)]


def test_ages_finds_a_verifier_clock_behind_the_issuer(tmp_path: Path) -> None:
    """Verifier clock 6 s behind the issuer's: every token looks issued 6 s in the future
    (minus its few seconds of real age). Exit 1, clock_behind_issuer."""
    ages = _ages_with(-6_000)
    log = tmp_path / "api.log"
    log.write_text("\n".join(_log_lines(ages, now_ms=T0_MS, style="logfmt")) + "\n")
    p = run_cli(["ages", str(log), "--time-field", "ts", "--json"])
    assert p.returncode == 1, p.stdout
    doc = json.loads(p.stdout)
    assert doc["tokens"] == 200 and doc["recorded"] == 200 and doc["lines"] == 200
    assert doc["age_basis"] == "line_time"
    assert doc["assessment"]["verdict"] == "behind"
    assert [f["code"] for f in doc["findings"]] == ["clock_behind_issuer"]
    # True ages are -6, -5, -4, -3, -2 s (40 each); quantiles are within a quarter.
    q = doc["quantiles_ms"]
    assert -6_000 * 1.25 <= q["p01"] <= -6_000 * 0.75
    assert -4_000 * 1.25 <= q["p50"] <= -4_000 * 0.75
    assert doc["monitor"]["sum_ms"] == sum(ages)
    text = run_cli(["ages", str(log), "--time-field", "ts"])
    assert text.returncode == 1
    assert text.stdout.decode().endswith("result  clock_behind_issuer\n")


def test_ages_consistent_clock_exit_0_and_json_time_field() -> None:
    ages = _ages_with(1_000)  # 1..5 s old
    stdin = ("\r\n".join(_log_lines(ages, now_ms=T0_MS, style="json")) + "\r\n").encode()
    p = run_cli(["ages", "-", "--time-field", "req.time", "--json"], stdin=stdin)
    assert p.returncode == 0, p.stdout
    doc = json.loads(p.stdout)
    assert doc["assessment"]["verdict"] == "consistent" and doc["findings"] == []
    assert doc["monitor"]["sum_ms"] == sum(ages)


def test_ages_relative_to_now_finds_a_clock_ahead() -> None:
    """No --time-field: age = now − iat with the injected now. Tokens 5 minutes old on
    arrival mean this clock is ahead of the issuer's."""
    lines = _log_lines([300_000] * 60, now_ms=T0_MS, style="plain")
    stdin = ("\n".join(lines)).encode()  # no final newline: the last line still counts
    # now = T0: the first line's time; the others are older, so their age on "now" grows.
    p = run_cli(["ages", "--json"], stdin=stdin, env={FAKE_NOW_ENV: str(T0_MS)})
    doc = json.loads(p.stdout)
    assert doc["age_basis"] == "now" and doc["recorded"] == 60
    assert doc["monitor"]["sum_ms"] == sum(300_000 + 1000 * i for i in range(60))
    assert doc["assessment"]["verdict"] == "ahead"
    assert p.returncode == 1
    prom = run_cli(["ages", "--prometheus"], stdin=stdin, env={FAKE_NOW_ENV: str(T0_MS)})
    assert prom.returncode == 1
    out = prom.stdout.decode()
    assert "tokenclock_token_age_seconds_count 60\n" in out
    assert '# TYPE tokenclock_token_age_seconds histogram' in out


def test_ages_skips_unreadable_tokens_and_lines_without_a_timestamp() -> None:
    good = _log_lines([2_000], now_ms=T0_MS, style="logfmt")[0]
    no_ts = _log_lines([2_000], now_ms=T0_MS, style="plain")[0]
    broken = "x eyJhbGciOiJIUzI1NiJ9.eyJpYXQiOjE3MDAwMDAwMDA.c2ln y"  # claims not JSON
    no_iat = "auth=" + fake_token({"sub": "x"})
    stdin = "\n".join([good, no_ts, broken, no_iat, "nothing here", ""]).encode()
    doc = json.loads(run_cli(["ages", "-", "--time-field", "ts", "--json"], stdin=stdin).stdout)
    assert (doc["tokens"], doc["recorded"]) == (4, 1)
    assert doc["skipped"] == {"no_iat": 1, "no_timestamp": 1, "unreadable": 1}


def test_ages_input_errors(tmp_path: Path) -> None:
    p = run_cli(["ages", str(tmp_path)])
    assert one_error_line(p, "ages") == f"cannot read {tmp_path}: is a directory"
    p = run_cli(["ages", str(tmp_path / "none.log"), "--json"])
    assert p.returncode == 2 and p.stderr == b""
    assert json.loads(p.stdout)["error"] == {
        "code": "not_found",
        "message": f"cannot read {tmp_path / 'none.log'}: no such file",
    }


def test_a_path_through_a_file_is_not_found(tmp_path: Path) -> None:
    f = tmp_path / "plain.log"
    f.write_text("x\n")
    p = run_cli(["ages", str(f / "inner.log")])
    assert one_error_line(p, "ages") == f"cannot read {f / 'inner.log'}: no such file"


def test_ages_with_no_input_is_fine() -> None:
    p = run_cli(["ages"], env={FAKE_NOW_ENV: str(T0_MS)})
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().startswith("tokens  0 found in 0 line(s)")


# ----- colour, interrupts, pipes --------------------------------------------------------------


def _run_on_a_tty(args: List[str], env: Dict[str, str]) -> bytes:
    """Runs the CLI with stdout on a pseudo-terminal; returns what it printed there."""
    import pty

    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(
            [sys.executable, "-m", "tokenclock", *args],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=cli_env(env),
            cwd=tempfile.gettempdir(),
        )
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert p.wait(30) in (0, 1)
        assert p.stderr is not None and p.stderr.read() == b""
        p.stderr.close()
        return b"".join(chunks)
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_colour_only_on_a_tty_and_without_no_color() -> None:
    tok = fake_token({"sub": "svc", "iat": 1_700_000_000, "exp": 1_700_000_300})
    env = {FAKE_NOW_ENV: str(T0_MS + 1000)}
    coloured = _run_on_a_tty(["inspect", tok], env)
    assert b"\x1b[1mheader\x1b[0m" in coloured
    assert b"\x1b[32mok\x1b[0m" in coloured
    # NO_COLOR set (to anything non-empty): plain, and the terminal gets the plain report.
    plain = _run_on_a_tty(["inspect", tok], {**env, "NO_COLOR": "1"})
    assert b"\x1b[" not in plain
    assert plain.replace(b"\r\n", b"\n").decode() == run_cli(["inspect", tok], env=env).stdout.decode()
    # NO_COLOR empty counts as unset.
    assert b"\x1b[" in _run_on_a_tty(["inspect", tok], {**env, "NO_COLOR": ""})
    # JSON is never coloured, even on a terminal.
    assert b"\x1b[" not in _run_on_a_tty(["inspect", tok, "--json"], env)
    # A pipe is not a terminal.
    assert b"\x1b[" not in run_cli(["inspect", tok], env=env).stdout


@pytest.fixture
def black_hole() -> Any:
    """A TCP server that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: List[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/"
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    srv.close()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_exits_130_quietly(black_hole: str) -> None:
    for args in (["skew", black_hole], ["skew", black_hole, black_hole]):
        p = subprocess.Popen(
            [sys.executable, "-m", "tokenclock", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(),
            cwd=tempfile.gettempdir(),
            # As in a terminal: a test run started in the background (CI, `cmd &`) inherits
            # SIGINT ignored, and Python then keeps ignoring it (no KeyboardInterrupt).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        time.sleep(1.0)  # inside the HEAD exchange, waiting for an answer that never comes
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        assert p.returncode == 130, (out, err)
        assert out == b"" and err == b""


def test_a_silent_server_times_out_after_5_s(black_hole: str) -> None:
    start = time.monotonic()
    p = run_cli(["skew", black_hole, "--json"])
    elapsed = time.monotonic() - start
    assert 4.9 <= elapsed < 15
    doc = json.loads(p.stdout)
    assert p.returncode == 2
    assert doc["origins"][0]["error"]["code"] == "timeout"
    assert doc["origins"][0]["status"] == "unmeasured"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
def test_a_closed_pipe_ends_quietly() -> None:
    p = subprocess.Popen(
        [sys.executable, "-m", "tokenclock", "simulate", "--ttl", "5", "--hours", "24", "--timeline"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
        cwd=tempfile.gettempdir(),
    )
    assert p.stdout is not None and p.stderr is not None
    assert p.stdout.read(10) == b"simulate: "
    p.stdout.close()  # the reader goes away mid-report
    err = p.stderr.read()
    p.stderr.close()
    # The report's own exit code (simulate: 0), nothing on stderr, as `npx tokenclock` does.
    assert p.wait(60) == 0
    assert err == b""


def test_unexpected_errors_are_one_line_never_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tokenclock.cli as cli

    def boom(args: Any, clock: Any, color: bool) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setitem(cli._RUN, "simulate", boom)
    assert cli.main(["simulate"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "tokenclock simulate: error: internal error (RuntimeError)\n"
    assert cli.main(["simulate", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == {
        "code": "usage",
        "message": "internal error (RuntimeError)",
    }

    def interrupted(args: Any, clock: Any, color: bool) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli._RUN, "simulate", interrupted)
    assert cli.main(["simulate"]) == 130
    assert capsys.readouterr() == ("", "")


def test_cli_main_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    from tokenclock.cli import main

    assert main(["simulate", "--ttl", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "tokenclock simulate: error: --ttl: expected seconds from 5 to 86400\n"
