"""The ``tokenclock`` command (console script, and ``python -m tokenclock``).

The contract is ``docs/cli.md``. Every report, usage text and error message is rendered by the
Rust core (``tokenclock::report``, through ``tokenclock._native``), so this front-end and
``npx tokenclock`` print the same bytes. This module only:

* parses the arguments, with the core's value parsers (``parse_seconds_arg``,
  ``parse_count_arg``, ``parse_host_port``, ``parse_cell_arg``, ``AgesCollector``'s
  ``--time-field``), so every value means the same in both front-ends;
* reads files and standard input, and maps OS errors to the core's input problems;
* sends the HTTP ``HEAD`` requests (``http.client``; ``GET`` when a server answers 405 or
  501) and the SNTP packets (a UDP socket) that a :class:`SkewProbe` asks for, at the moments
  it asks for them;
* reads the clocks, and prints what the core returns with the core's exit code.

Clock injection for tests: ``TOKENCLOCK_FAKE_NOW_MS`` (Unix milliseconds, digits only, checked
with the core's ``parse_count_arg`` for every command) fixes the wall clock that ``inspect``
and ``ages`` use as "now". Measurements (``skew``, and ``inspect --server``) always use the
real clocks: they time real exchanges.

Exit codes are the core's (0, 1 a finding, 2 usage or unreadable input), also when the reader
of standard output went away (``| head``); 130 after Ctrl-C. Nothing here lets a traceback
reach the terminal: an unexpected error is one ``internal error (Name)`` usage line.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from functools import partial

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

    from tokenclock._native import Rendered, SkewOrigin, SkewProbe

COMMANDS = ("inspect", "skew", "ages", "simulate")
#: The injected wall clock (Unix milliseconds) for ``inspect`` and ``ages``.
FAKE_NOW_ENV = "TOKENCLOCK_FAKE_NOW_MS"
#: Core's largest wall time (9999-12-31T23:59:59.999Z).
MAX_UNIX_MILLIS = 253_402_300_799_999
#: ``inspect -`` reads at most this much: one byte over the core's 64 KiB token limit, so an
#: oversized token is reported by the core as ``token_too_large``.
TOKEN_READ_LIMIT = 64 * 1024 + 1
#: Largest ``--key``/``--jwks`` file read; a bigger one is ``too_large``.
KEY_FILE_LIMIT = 1024 * 1024
#: ``--samples`` is read as an unsigned 32-bit count; the probe then checks 1..=64.
SAMPLES_PARSE_MAX = 2**32 - 1
#: Chunk size for ``ages`` input.
READ_CHUNK = 64 * 1024
#: ``User-Agent`` of the ``skew`` requests (followed by the version).
USER_AGENT_PREFIX = "tokenclock/"

# Flags per command: those taking a value, and the boolean ones. ``--json`` and ``--help``
# (``-h``) are accepted everywhere. A value flag takes the next argument whatever it looks
# like (``--client-offset -30``) or ``--flag=value``.
_VALUE_FLAGS: Dict[str, Tuple[str, ...]] = {
    "inspect": ("--server", "--key", "--jwks", "--alg", "--leeway", "--iss", "--aud"),
    "skew": ("--ntp", "--samples", "--max-offset"),
    "ages": ("--time-field",),
    "simulate": (
        "--client-offset",
        "--rs-offset",
        "--ttl",
        "--leeway",
        "--cached-age",
        "--step",
        "--hours",
        "--seed",
    ),
}
_BOOL_FLAGS: Dict[str, Tuple[str, ...]] = {
    "inspect": (),
    "skew": (),
    "ages": ("--prometheus",),
    "simulate": ("--timeline",),
}
# Most positional arguments (None: any number).
_MAX_POSITIONAL: Dict[str, Optional[int]] = {"inspect": 1, "skew": None, "ages": 1, "simulate": 0}


class _Finish(Exception):
    """Unwinds to :func:`main` with the core's output for this run."""

    def __init__(self, rendered: Rendered) -> None:
        super().__init__("finish")
        self.rendered = rendered


def _text(arg: str) -> str:
    """An argument as text for the core: bytes that were not UTF-8 (kept by Python as lone
    surrogates) become U+FFFD, as Node's ``process.argv`` gives them."""
    try:
        arg.encode("utf-8")
        return arg
    except UnicodeEncodeError:
        return arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# ----- arguments ------------------------------------------------------------------------------
#
# The grammar, shared with `npx tokenclock` (npm/cli/args.js) so that both print the same
# usage messages:
#
# * `tokenclock [--json] [--help|-h] COMMAND [ARGS...]`. Before COMMAND only --json, --help and
#   -h are accepted. No COMMAND: `missing command (commands: inspect, skew, ages, simulate)`;
#   an unknown one: `unknown command 'X' (commands: ...)`; any other option there:
#   `unknown option '-x'`.
# * After COMMAND: `--NAME VALUE` or `--NAME=VALUE` for a value option (the next argument is the
#   value whatever it looks like, so `--client-offset -30` works); `--NAME` for a flag; `-` is a
#   positional (standard input); `--` ends the options; any other argument starting with `-`
#   is an option.
# * `--help`/`-h` anywhere before `--` prints the help (exit 0), whatever else is wrong.
#   `--json` anywhere before `--` selects JSON output, for errors too.
# * The first problem in argument order is reported, as a `usage` error:
#     `unknown option '--NAME'`            (for `--NAME=VALUE` only the name is shown)
#     `option --NAME needs a value`        (a value option at the end)
#     `option --NAME takes no value`       (`--json=1`)
#     `option --NAME given more than once` (options other than --aud and --ntp)
#     `unexpected extra argument 'ARG'`    (more positionals than the command takes)
# * Then the command checks, in this order: each value, in argument order, with the core's
#   parsers (`invalid_argument`); missing positionals; combinations of options.

_COMMON_FLAGS = ("--json", "--help", "-h")
_REPEATABLE: Dict[str, Tuple[str, ...]] = {
    "inspect": ("--aud",),
    "skew": ("--ntp",),
    "ages": (),
    "simulate": (),
}
_COMMAND_LIST = "inspect, skew, ages, simulate"


class _Args:
    """The scanned command line: ``command`` (a known one, or None), ``json``, ``help``,
    ``error`` (the first usage message, or None) and ``items`` in argument order:
    ``("", value)`` for a positional, ``(name, value)`` for an option (``value`` None for a
    flag)."""

    def __init__(self) -> None:
        self.command: Optional[str] = None
        self.json = False
        self.help = False
        self.error: Optional[str] = None
        self.items: List[Tuple[str, Optional[str]]] = []

    def fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def positional(self) -> List[str]:
        return [v for f, v in self.items if f == "" and v is not None]

    def option(self, name: str) -> Optional[str]:
        for f, v in self.items:
            if f == name:
                return v
        return None

    def options(self, name: str) -> List[str]:
        return [v for f, v in self.items if f == name and v is not None]

    def flag(self, name: str) -> bool:
        return any(f == name for f, _ in self.items)


def _option_name(arg: str) -> str:
    """The option name of ``--name=value`` (never the value: it may be a secret)."""
    return arg.split("=", 1)[0] if arg.startswith("--") else arg


def _scan(argv: Sequence[str]) -> _Args:
    args = _Args()
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--json":
            args.json = True
        elif a in ("--help", "-h"):
            args.help = True
        elif a.startswith("-") and a != "-":
            if a.startswith("--json=") or a.startswith("--help="):
                args.fail(f"option {_option_name(a)} takes no value")
            else:
                args.fail(f"unknown option '{_text(_option_name(a))}'")
        else:
            break
        i += 1
    if i >= len(argv):
        if not args.help:
            args.fail(f"missing command (commands: {_COMMAND_LIST})")
        return args
    name = argv[i]
    i += 1
    if name not in COMMANDS:
        args.fail(f"unknown command '{_text(name)}' (commands: {_COMMAND_LIST})")
        # Keep looking for --json/--help so the error is printed the way the user asked.
        while i < len(argv) and argv[i] != "--":
            args.json = args.json or argv[i] == "--json"
            args.help = args.help or argv[i] in ("--help", "-h")
            i += 1
        return args
    args.command = name
    value_opts = _VALUE_FLAGS[name]
    flag_opts = _BOOL_FLAGS[name]
    repeatable = _REPEATABLE[name]
    max_pos = _MAX_POSITIONAL[name]
    seen: set[str] = set()
    n_pos = 0
    ended = False
    while i < len(argv):
        a = argv[i]
        i += 1
        if ended or a == "-" or not a.startswith("-"):
            n_pos += 1
            if max_pos is not None and n_pos > max_pos:
                args.fail(f"unexpected extra argument '{_text(a)}'")
            else:
                args.items.append(("", a))
            continue
        if a == "--":
            ended = True
            continue
        opt, eq, inline = a.partition("=") if a.startswith("--") else (a, "", "")
        if opt in _COMMON_FLAGS:
            if eq:
                args.fail(f"option {opt} takes no value")
            elif opt == "--json":
                args.json = True
            else:
                args.help = True
        elif opt in flag_opts:
            if eq:
                args.fail(f"option {opt} takes no value")
            elif opt in seen:
                args.fail(f"option {opt} given more than once")
            else:
                seen.add(opt)
                args.items.append((opt, None))
        elif opt in value_opts:
            if eq:
                value = inline
            elif i < len(argv):
                value = argv[i]
                i += 1
            else:
                args.fail(f"option {opt} needs a value")
                continue
            if opt in seen and opt not in repeatable:
                args.fail(f"option {opt} given more than once")
            else:
                seen.add(opt)
                args.items.append((opt, value))
        else:
            args.fail(f"unknown option '{_text(opt)}'")
    return args


# ----- clocks ---------------------------------------------------------------------------------


class _Clock:
    """The wall clock "now" of ``inspect`` and ``ages``: ``TOKENCLOCK_FAKE_NOW_MS`` (checked
    with the core's ``parse_count_arg`` before the command runs) or the system clock."""

    def __init__(self, command: Optional[str]) -> None:
        from tokenclock import _native as n

        self.fake: Optional[int] = None
        text = os.environ.get(FAKE_NOW_ENV)
        if text:
            try:
                self.fake = int(n.parse_count_arg(FAKE_NOW_ENV, _text(text), MAX_UNIX_MILLIS))
            except n.InvalidArgument as exc:
                raise _Finish(n.argument_error(command, exc)) from None

    def wall_ms(self) -> int:
        if self.fake is not None:
            return self.fake
        return time.time_ns() // 1_000_000


def _sleep_until(mono_s: float) -> None:
    """Sleeps until ``time.monotonic()`` reaches ``mono_s`` (the probe's ``send_at.mono``)."""
    while True:
        remaining = mono_s - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(remaining)


# ----- input ----------------------------------------------------------------------------------


def _problem(exc: OSError) -> str:
    """The core's input problem for an OS error."""
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return "not_found"
    if isinstance(exc, PermissionError):
        return "permission_denied"
    if isinstance(exc, IsADirectoryError):
        return "is_a_directory"
    return "io_error"


def _read_limited(path: str, limit: int, command: str) -> bytes:
    """A whole file of at most ``limit`` bytes (else ``too_large``)."""
    from tokenclock import _native as n

    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise _Finish(n.input_error(command, _text(path), _problem(exc))) from None
    if len(data) > limit:
        raise _Finish(n.input_error(command, _text(path), "too_large"))
    return data


def _stdin() -> Optional[BinaryIO]:
    stream = sys.stdin
    if stream is None:
        return None
    return getattr(stream, "buffer", None)


# ----- HTTP Date exchanges --------------------------------------------------------------------


class _DateExchanger:
    """``HEAD`` requests (``GET`` after a 405/501) to one URL over one kept-alive connection;
    ``Cache-Control: no-cache``, redirects never followed, any status accepted."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.method = "HEAD"
        self.conn: Any = None

    def _parse_url(self) -> None:
        """Host, port and request target; ``ValueError`` for a URL that has none usable."""
        import urllib.parse

        parts = urllib.parse.urlsplit(self.url)
        self.https = parts.scheme.lower() == "https"
        self.host = parts.hostname or ""
        self.port = parts.port  # ValueError when out of range
        if not self.host:
            raise ValueError("no host")
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def _new_connection(self, timeout: float) -> Any:
        import http.client

        if self.https:
            import ssl

            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
            self.conn = None

    def _connect(self, timeout: float) -> None:
        self.close()
        self.conn = self._new_connection(timeout)
        try:
            self.conn.connect()
        except BaseException:
            self.close()
            raise

    def _request(self, deadline: float) -> Tuple[Any, Any, Any]:
        """One request on the open connection: ``(response, sent, received)``."""
        from tokenclock import _native as n
        from tokenclock import version

        self.conn.sock.settimeout(max(0.001, deadline - time.monotonic()))
        headers = {"Cache-Control": "no-cache", "User-Agent": USER_AGENT_PREFIX + version()}
        sent = n.Reading.now()
        self.conn.request(self.method, self.target, headers=headers)
        response = self.conn.getresponse()
        received = n.Reading.now()
        return response, sent, received

    def exchange(self, probe: SkewProbe, timeout: float) -> None:
        """One exchange for ``probe``: its ``on_date_response`` or ``on_error``."""
        import http.client

        start = time.monotonic()
        deadline = start + timeout
        phase = "connect"
        try:
            self._parse_url()
        except ValueError:
            probe.on_error("io_error")
            return
        try:
            for _ in range(2):  # HEAD, then GET once if the server refuses HEAD
                reused = self.conn is not None and self.conn.sock is not None
                if not reused:
                    phase = "connect"
                    self._connect(timeout)
                phase = "request"
                try:
                    response, sent, received = self._request(deadline)
                except (ConnectionError, http.client.RemoteDisconnected):
                    if not reused:
                        raise
                    # The server closed the kept-alive connection meanwhile: once more on a
                    # new one (the readings are taken again).
                    phase = "connect"
                    self._connect(max(0.001, deadline - time.monotonic()))
                    phase = "request"
                    response, sent, received = self._request(deadline)
                date = response.msg.get_all("Date")
                age = response.msg.get_all("Age")
                status = response.status
                if self.method == "HEAD" and not response.will_close:
                    response.read()
                else:
                    response.close()
                    self.close()
                if self.method == "HEAD" and status in (405, 501):
                    self.method = "GET"
                    self.close()
                    continue
                break
        except Exception as exc:  # noqa: BLE001 - every failure becomes a transport code
            self.close()
            probe.on_error(_transport_code(exc, phase))
            return
        if time.monotonic() - start > timeout:
            self.close()
            probe.on_error("timeout")
            return
        probe.on_date_response(
            date[0] if date else None, age[0] if age else None, sent, received
        )


def _transport_code(exc: BaseException, phase: str) -> str:
    """The core's transport code for an exception raised during ``phase``."""
    import http.client
    import socket
    import ssl

    if isinstance(exc, socket.gaierror):
        return "dns_error"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timeout"
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return "tls_error"
    if isinstance(exc, http.client.HTTPException):
        return "http_error"
    if phase == "connect" and isinstance(exc, OSError):
        return "connect_error"
    if isinstance(exc, ConnectionError):
        return "http_error"
    return "io_error"


# ----- SNTP exchanges -------------------------------------------------------------------------


class _SntpExchanger:
    """SNTP over one connected UDP socket (replies from other addresses are not seen)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.sock: Any = None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def exchange(self, probe: SkewProbe, timeout: float) -> None:
        import secrets
        import socket

        from tokenclock import _native as n

        start = time.monotonic()
        phase = "connect"
        try:
            if self.sock is None:
                infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
                family, kind, proto, _, addr = infos[0]
                sock = socket.socket(family, kind, proto)
                try:
                    sock.connect(addr)
                except BaseException:
                    sock.close()
                    raise
                self.sock = sock
            self.sock.settimeout(timeout)
            phase = "exchange"
            now = n.Reading.now()
            packet = probe.sntp_request(now, secrets.randbits(32))
            self.sock.send(packet)
            reply = self.sock.recv(2048)
            received = n.Reading.now()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a transport code
            self.close()
            # A connected UDP socket learns of an ICMP port-unreachable as ECONNREFUSED.
            if isinstance(exc, ConnectionRefusedError):
                probe.on_error("connect_error")
            else:
                probe.on_error(_transport_code(exc, phase))
            return
        if time.monotonic() - start > timeout:
            self.close()
            probe.on_error("timeout")
            return
        probe.on_sntp_reply(reply, received)


# ----- measuring ------------------------------------------------------------------------------


def _drive(probe: SkewProbe, exchanger: Any) -> SkewOrigin:
    """The probe loop of docs/cli.md: poll, sleep until ``send_at``, exchange; until done."""
    from tokenclock import _native as n

    try:
        while True:
            action = probe.poll(n.Reading.now())
            if action.kind != "send":
                break
            assert action.send_at is not None and action.timeout is not None
            _sleep_until(action.send_at.mono)
            exchanger.exchange(probe, action.timeout)
    finally:
        exchanger.close()
    return probe.origin(n.Reading.now())


def _measure(jobs: List[Tuple[SkewProbe, Any]]) -> List[SkewOrigin]:
    """Drives every probe concurrently (one thread each); results in the given order."""
    results: List[Any] = [None] * len(jobs)
    errors: List[BaseException] = []

    def run(index: int, probe: SkewProbe, exchanger: Any) -> None:
        try:
            results[index] = _drive(probe, exchanger)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    if len(jobs) == 1:
        return [_drive(*jobs[0])]
    threads = [
        threading.Thread(target=run, args=(i, p, x), daemon=True, name=f"tokenclock-probe-{i}")
        for i, (p, x) in enumerate(jobs)
    ]
    for t in threads:
        t.start()
    for t in threads:
        # Short joins keep the main thread responsive to Ctrl-C.
        while t.is_alive():
            t.join(0.2)
    if errors:
        raise errors[0]
    return results


def _check_url(url: str) -> None:
    """``http://`` or ``https://`` (any case): what ``skew`` and ``--server`` accept. (A URL
    that is otherwise malformed fails its exchanges: ``io_error``.)"""
    if not url.lower().startswith(("http://", "https://")):
        raise _Usage(f"expected an http:// or https:// URL, got '{_text(url)}'")


class _Usage(Exception):
    """A usage problem found by a command (rendered with the core's ``usage_error``)."""


if TYPE_CHECKING:
    _T = TypeVar("_T")


def _parsed(command: str, fn: Callable[[], _T]) -> _T:
    """``fn()``; an ``InvalidArgument`` from a core parser becomes the core's rendering."""
    from tokenclock import _native as n

    try:
        return fn()
    except n.InvalidArgument as exc:
        if getattr(exc, "_report_error", None) is None:
            raise
        raise _Finish(n.argument_error(command, exc)) from None


# ----- commands -------------------------------------------------------------------------------

_KEY_OPTIONS = ("--alg", "--leeway", "--iss", "--aud")
_DEFAULT_MAX_OFFSET_S = 1.0


def _inspect(args: _Args, clock: _Clock, color: bool) -> Rendered:
    from tokenclock import _native as n

    cmd = "inspect"
    leeway: Optional[float] = None
    for name, value in args.items:
        if name == "--leeway" and value is not None:
            leeway = _parsed(cmd, partial(n.parse_seconds_arg, "--leeway", _text(value)))
        elif name == "--server" and value is not None:
            _check_url(value)
    pos = args.positional()
    if not pos:
        raise _Usage("missing TOKEN (give the token, or - to read it from standard input)")
    key_path = args.option("--key")
    jwks_path = args.option("--jwks")
    if key_path is not None and jwks_path is not None:
        raise _Usage("give --key or --jwks, not both")
    if key_path is None and jwks_path is None:
        stray = next((name for name, _ in args.items if name in _KEY_OPTIONS), None)
        if stray is not None:
            raise _Usage(f"{stray} needs --key or --jwks")
    server = args.option("--server")

    if pos[0] == "-":
        stdin = _stdin()
        if stdin is None:
            raise _Finish(n.input_error(cmd, "standard input", "io_error"))
        try:
            raw = stdin.read(TOKEN_READ_LIMIT)
        except OSError as exc:
            raise _Finish(n.input_error(cmd, "standard input", _problem(exc))) from None
        token = raw.decode("utf-8", "replace")
    else:
        token = _text(pos[0])

    key = None
    if key_path is not None or jwks_path is not None:
        path = key_path if key_path is not None else jwks_path
        assert path is not None
        contents = _read_limited(path, KEY_FILE_LIMIT, cmd)
        alg = args.option("--alg")
        issuer = args.option("--iss")
        key = n.KeyInput(
            "key" if key_path is not None else "jwks",
            contents,
            _text(alg).split(",") if alg is not None else [],
            leeway=leeway,
            issuer=_text(issuer) if issuer is not None else None,
            audience=[_text(a) for a in args.options("--aud")],
        )

    first = n.inspect(token, clock.wall_ms() / 1000, key=key, color=color)
    # A token, key or option the core refuses is refused whatever the server's clock says:
    # report it before measuring anything.
    if server is None or first.stream == "stderr":
        return first

    name = _text(server)
    origin = _measure([(n.SkewProbe(name, "date"), _DateExchanger(server))])[0]
    if origin.estimate.samples == 0:
        return n.skew([origin], _DEFAULT_MAX_OFFSET_S, color)
    server_clock = n.ServerClock(name, origin.estimate)
    return n.inspect(token, clock.wall_ms() / 1000, server=server_clock, key=key, color=color)


def _skew(args: _Args, clock: _Clock, color: bool) -> Rendered:
    from tokenclock import _native as n

    cmd = "skew"
    samples: Optional[int] = None
    max_offset = _DEFAULT_MAX_OFFSET_S
    wanted: List[Tuple[str, str, Any]] = []  # (name, source, target), in argument order
    for name, value in args.items:
        if value is None:
            continue
        if name == "":
            _check_url(value)
            wanted.append((_text(value), "date", value))
        elif name == "--ntp":
            host_port = _parsed(cmd, partial(n.parse_host_port, _text(value), 123))
            wanted.append(("ntp:" + _text(value), "sntp", host_port))
        elif name == "--samples":
            # Digits first, then the probe's own range (1 to 64): both in the core's words.
            def check(v: str = value) -> int:
                count = int(n.parse_count_arg("--samples", _text(v), SAMPLES_PARSE_MAX))
                n.SkewProbe("-", "date", count)
                return count

            samples = _parsed(cmd, check)
        elif name == "--max-offset":
            max_offset = _parsed(cmd, partial(n.parse_seconds_arg, "--max-offset", _text(value)))
    if not wanted:
        return n.skew([], max_offset, color)
    # The core checks --max-offset when it renders; ask it now, before minutes of measuring.
    check_render = n.skew([n.SkewOrigin("-", "date", n.Estimate())], max_offset, False)
    if check_render.stream == "stderr":
        return check_render

    jobs: List[Tuple[Any, Any]] = []
    for name, source, target in wanted:
        if source == "date":
            probe = _parsed(cmd, partial(n.SkewProbe, name, "date", samples))
            jobs.append((probe, _DateExchanger(target)))
        else:
            probe = _parsed(cmd, partial(n.SkewProbe, name, "sntp", samples))
            jobs.append((probe, _SntpExchanger(*target)))
    return n.skew(_measure(jobs), max_offset, color)


def _ages(args: _Args, clock: _Clock, color: bool) -> Rendered:
    from tokenclock import _native as n

    cmd = "ages"
    pos = args.positional()
    path = pos[0] if pos else "-"
    time_field = args.option("--time-field")
    collector = _parsed(
        cmd, lambda: n.AgesCollector(_text(time_field) if time_field is not None else None)
    )
    if path == "-":
        what = "standard input"
        stream = _stdin()
        if stream is None:
            raise _Finish(n.input_error(cmd, what, "io_error"))
        close = False
    else:
        what = _text(path)
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise _Finish(n.input_error(cmd, what, _problem(exc))) from None
        close = True
    try:
        read: Callable[[int], bytes] = getattr(stream, "read1", None) or stream.read
        while True:
            try:
                chunk = read(READ_CHUNK)
            except OSError as exc:
                raise _Finish(n.input_error(cmd, what, _problem(exc))) from None
            if not chunk:
                break
            collector.feed_bytes(chunk, clock.wall_ms() / 1000)
    finally:
        if close:
            stream.close()
    collector.finish(clock.wall_ms() / 1000)
    if args.flag("--prometheus"):
        return collector.render_prometheus()
    return collector.render(color)


def _simulate(args: _Args, clock: _Clock, color: bool) -> Rendered:
    from tokenclock import _native as n

    cell = n.SimCell()
    for name, value in args.items:
        if name in ("", "--timeline") or value is None:
            continue
        _parsed("simulate", partial(n.parse_cell_arg, cell, name, _text(value)))
    return n.simulate(cell, args.flag("--timeline"), color)


_RUN: Dict[str, Callable[[_Args, _Clock, bool], Any]] = {
    "inspect": _inspect,
    "skew": _skew,
    "ages": _ages,
    "simulate": _simulate,
}


# ----- output ---------------------------------------------------------------------------------


def _write(stream: Any, text: str) -> None:
    """UTF-8 bytes whatever the locale (the core's output is UTF-8, as Node prints it)."""
    if stream is None:
        return
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        stream.flush()
        data = memoryview(text.encode("utf-8"))
        # A large write to a pipe whose reader went away can return short without raising
        # (CPython's BufferedWriter); the next write raises BrokenPipeError.
        while data:
            written = buffer.write(data)
            data = data[written if written else len(data) :]
        buffer.flush()
    else:
        stream.write(text)
        stream.flush()


def _emit(rendered: Rendered, json_out: bool) -> int:
    """Prints ``rendered`` (its JSON with ``--json``) and returns its exit code. A reader that
    went away (``tokenclock ... | head``) is not an error: the exit code stays the report's."""
    try:
        if json_out:
            _write(sys.stdout, rendered.json)
        else:
            _write(sys.stdout if rendered.stream == "stdout" else sys.stderr, rendered.text)
    except BrokenPipeError:
        _quiet_stdout()
    return int(rendered.exit_code)


def _color() -> bool:
    """ANSI colour exactly when standard output is a terminal and ``NO_COLOR`` is unset or
    empty (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    out = sys.stdout
    try:
        return out is not None and out.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _describe(exc: BaseException) -> str:
    """An unexpected error in one word: its tokenclock code or its class name, never its
    message."""
    import re

    code = getattr(exc, "code", None)
    if isinstance(code, str) and re.fullmatch(r"[a-z][a-z0-9_]{0,40}", code):
        return code
    name = type(exc).__name__
    return name if re.fullmatch(r"[A-Za-z]{1,40}", name) else "error"


def _run(argv: Sequence[str]) -> int:
    from tokenclock import _native as n

    args = _scan(argv)
    command = args.command
    try:
        if args.help:
            return _emit(n.help(command), args.json)
        if args.error is not None:
            return _emit(n.usage_error(command, args.error), args.json)
        assert command is not None
        clock = _Clock(command)
        return _emit(_RUN[command](args, clock, _color()), args.json)
    except _Finish as done:
        return _emit(done.rendered, args.json)
    except _Usage as usage:
        return _emit(n.usage_error(command, str(usage)), args.json)
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as exc:  # noqa: BLE001 - never a traceback
        return _emit(n.usage_error(command, f"internal error ({_describe(exc)})"), args.json)


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is
    silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, AttributeError, ValueError):
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs ``tokenclock`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    if argv is None:
        argv = sys.argv[1:]
    try:
        return _run(list(argv))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except Exception as exc:  # noqa: BLE001 - e.g. the native module failed to load
        try:
            _write(sys.stderr, f"tokenclock: error: internal error ({_describe(exc)})\n")
        except Exception:  # noqa: BLE001
            pass
        return 2
