"""The ``tokenclock`` command (console script, and ``python -m tokenclock``).

The contract is ``docs/cli.md``. The whole run is the core's sans-I/O machine
(``tokenclock::cli::CliRun``, here ``tokenclock._native._CliRun``): it parses the arguments,
decides what to read, which requests to send and when, renders every report and message, and
says what to print and the exit code. This module is its executor, in Python's idioms:

* reads files and standard input, writes the file of ``simulate --html`` (created or
  replaced, never into a directory), and maps OS errors to the core's input problems;
* sends the HTTP requests (``http.client``, one kept-alive connection per origin) and the SNTP
  packets (a connected UDP socket), each on a worker thread, so origins are measured
  concurrently, and maps failures to the core's transport codes;
* reads the clocks, writes what the core says to write, and exits with its code — also when
  the reader of standard output went away (``| head``); 130 after Ctrl-C. No traceback reaches
  the terminal: an unexpected error becomes the core's ``internal error (Name)`` line.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from functools import partial

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable, Dict, List, Optional, Sequence

    from tokenclock._native import _CliAction, _CliRun


def _text(arg: str) -> str:
    """An argument as text for the core: bytes that were not UTF-8 (kept by Python as lone
    surrogates) become U+FFFD, as Node's ``process.argv`` gives them."""
    try:
        arg.encode("utf-8")
        return arg
    except UnicodeEncodeError:
        return arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _problem(exc: OSError) -> str:
    """The core's input problem for an OS error."""
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return "not_found"
    if isinstance(exc, PermissionError):
        return "permission_denied"
    if isinstance(exc, IsADirectoryError):
        return "is_a_directory"
    return "io_error"


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
    if isinstance(exc, OSError) and phase == "connect":
        return "connect_error"
    if isinstance(exc, ConnectionError):
        return "http_error"
    return "io_error"


# ----- input ----------------------------------------------------------------------------------


class _Inputs:
    """Standard input and the files the core reads, kept open between reads."""

    def __init__(self, raw_args: Dict[str, str]) -> None:
        self.raw_args = raw_args  # text the core sees -> the argument as given (for open())
        self.files: Dict[str, BinaryIO] = {}

    def read(self, run: _CliRun, path: Optional[str], max_bytes: int) -> None:
        try:
            if path is None:
                stdin = getattr(sys.stdin, "buffer", None) if sys.stdin is not None else None
                if stdin is None:
                    run.on_read_error("io_error")
                    return
                stream: Any = stdin
            else:
                stream = self.files.get(path)
                if stream is None:
                    stream = open(self.raw_args.get(path, path), "rb")  # noqa: SIM115
                    self.files[path] = stream
            read: Callable[[int], bytes] = getattr(stream, "read1", None) or stream.read
            data = read(max_bytes)
        except OSError as exc:
            run.on_read_error(_problem(exc))
            return
        run.on_read(data)

    def close(self) -> None:
        for f in self.files.values():
            f.close()
        self.files.clear()


def _write_file(run: _CliRun, path: str, data: bytes, raw_args: Dict[str, str]) -> None:
    """Creates or replaces the file ``path`` with ``data`` (``open(..., "wb")``: a directory
    at ``path`` is ``is_a_directory``, a missing one on the way ``not_found``)."""
    try:
        with open(raw_args.get(path, path), "wb") as f:
            f.write(data)
    except OSError as exc:
        run.on_write_error(_problem(exc))
        return
    run.on_written()


# ----- exchanges ------------------------------------------------------------------------------


class _Http:
    """One origin's HTTP connection, kept alive between its requests."""

    def __init__(self) -> None:
        self.conn: Any = None

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
            self.conn = None

    def _connect(self, url: str, timeout: float) -> None:
        import http.client
        import urllib.parse

        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        if not host:
            raise ValueError("no host")
        self.close()
        if parts.scheme.lower() == "https":
            import ssl

            context = ssl.create_default_context()
            conn: Any = http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
        self.conn = conn
        conn.connect()

    def exchange(self, run: _CliRun, a: _CliAction) -> Callable[[], None]:
        """Performs one request; returns how to answer the machine."""
        import http.client
        import urllib.parse

        from tokenclock import _native as n

        assert a.url is not None and a.timeout is not None and a.id is not None
        ident = a.id
        phase = "connect"
        try:
            parts = urllib.parse.urlsplit(a.url)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            for attempt in range(2):
                reused = self.conn is not None and self.conn.sock is not None
                if not reused:
                    phase = "connect"
                    self._connect(a.url, a.timeout)
                phase = "request"
                try:
                    self.conn.sock.settimeout(a.timeout)
                    sent = n.Reading.now()
                    self.conn.request(a.method, target, headers=dict(a.headers))
                    response = self.conn.getresponse()
                    received = n.Reading.now()
                except (ConnectionError, http.client.RemoteDisconnected):
                    # The server closed the kept-alive connection meanwhile: once more on a
                    # new one.
                    self.close()
                    if not reused or attempt:
                        raise
                    continue
                break
            date = response.msg.get("Date")
            age = response.msg.get("Age")
            if a.method == "HEAD" and not response.will_close:
                response.read()
            else:
                response.close()
                self.close()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a transport code
            self.close()
            code = _transport_code(exc, phase)  # a URL without a usable host: io_error
            return lambda: run.on_transport_error(ident, code)
        status = response.status
        return lambda: run.on_http_response(ident, status, date, age, sent, received)


def _sntp(run: _CliRun, a: _CliAction) -> Callable[[], None]:
    """One SNTP exchange on a fresh connected UDP socket (replies from elsewhere are not
    seen); returns how to answer the machine."""
    import secrets
    import socket

    from tokenclock import _native as n

    assert a.host is not None and a.port is not None and a.id is not None
    ident = a.id
    phase = "connect"
    sock: Any = None
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(a.host, a.port, type=socket.SOCK_DGRAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.settimeout(a.timeout)
        sock.connect(addr)
        phase = "exchange"
        packet = run.sntp_packet(ident, n.Reading.now(), secrets.randbits(32))
        if packet is None:
            return lambda: None
        sock.send(packet)
        reply = sock.recv(2048)
        received = n.Reading.now()
    except Exception as exc:  # noqa: BLE001 - every failure becomes a transport code
        # A connected UDP socket learns of an ICMP port-unreachable as ECONNREFUSED.
        code = "connect_error" if isinstance(exc, ConnectionRefusedError) else _transport_code(exc, phase)
        return lambda: run.on_transport_error(ident, code)
    finally:
        if sock is not None:
            sock.close()
    return lambda: run.on_sntp_reply(ident, reply, received)


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


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is
    silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, AttributeError, ValueError):
        pass


def _is_terminal() -> bool:
    try:
        return sys.stdout is not None and sys.stdout.isatty()
    except (AttributeError, ValueError, OSError):
        return False


# ----- the loop -------------------------------------------------------------------------------


def _execute(run: _CliRun, inputs: _Inputs, _color: Any = None) -> int:
    """Performs the machine's actions until it exits; returns the exit code."""
    from tokenclock import _native as n

    done: queue.Queue[Callable[[], None]] = queue.Queue()
    https: Dict[int, _Http] = {}

    def start(work: Callable[[], Callable[[], None]]) -> None:
        def body() -> None:
            try:
                done.put(work())
            except BaseException as exc:  # noqa: BLE001 - re-raised on the main thread
                def reraise(e: BaseException = exc) -> None:
                    raise e

                done.put(reraise)

        threading.Thread(target=body, daemon=True, name="tokenclock-exchange").start()

    try:
        while True:
            a = run.poll(n.Reading.now())
            kind = a.kind
            if kind == "write":
                try:
                    _write(sys.stdout if a.stream == "stdout" else sys.stderr, a.text or "")
                except BrokenPipeError:
                    _quiet_stdout()
            elif kind == "exit":
                return int(a.code or 0)
            elif kind == "read":
                inputs.read(run, a.path, int(a.max_bytes or 0))
            elif kind == "write_file":
                _write_file(run, a.path or "", a.data or b"", inputs.raw_args)
            elif kind == "http":
                http = https.setdefault(int(a.id or 0), _Http())
                start(partial(http.exchange, run, a))
            elif kind == "sntp":
                start(partial(_sntp, run, a))
            elif kind == "wait":
                deadline = None if a.wait is None else time.monotonic() + a.wait
                while True:
                    # Short waits keep the main thread responsive to Ctrl-C.
                    left = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
                    try:
                        done.get(timeout=max(0.0, left))()
                        break
                    except queue.Empty:
                        if deadline is not None and time.monotonic() >= deadline:
                            break
    finally:
        for http in https.values():
            http.close()


#: The executor of each command (all the same loop); tests replace one to inject failures.
_RUN: Dict[str, Callable[[Any, Any, Any], int]] = {
    c: _execute for c in ("inspect", "skew", "ages", "simulate")
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs ``tokenclock`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    if argv is None:
        argv = sys.argv[1:]
    try:
        from tokenclock import _native as n

        args: List[str] = [_text(a) for a in argv]
        env = {k: _text(v) for k, v in os.environ.items()}
        run = n._CliRun(args, env, _is_terminal())
        inputs = _Inputs(dict(zip(args, argv)))
        try:
            try:
                return _RUN.get(run.command or "", _execute)(run, inputs, None)
            except (KeyboardInterrupt, BrokenPipeError):
                raise
            except Exception as exc:  # noqa: BLE001 - never a traceback
                code = getattr(exc, "code", None)
                run.on_internal_error(code if isinstance(code, str) else None, type(exc).__name__)
                return _execute(run, inputs)
        finally:
            inputs.close()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except Exception as exc:  # noqa: BLE001 - e.g. the native module failed to load
        try:
            _write(sys.stderr, f"tokenclock: error: internal error ({type(exc).__name__})\n")
        except Exception:  # noqa: BLE001
            pass
        return 2
