"""Self-tests for tcserver.py: each test starts the launcher as a subprocess on 127.0.0.1,
reads its JSON line, talks to it over HTTP/UDP only, and stops it (fixtures clean up).

Run: python3 -m pytest tests/servers -q
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote_plus, urlencode, urlsplit

import pytest

SERVER = Path(__file__).resolve().parent / "tcserver.py"
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z, used with frozen_time_s
NTP_DELTA = 2208988800
KEY = "tokenclock-test-key"


# ------------------------------------------------------------------------------------------
# harness
# ------------------------------------------------------------------------------------------


class Server:
    def __init__(self, *args: str, stdin: Any = subprocess.DEVNULL):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), *args],
            stdin=stdin, stdout=subprocess.PIPE, stderr=self.stderr,
        )
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout=10)
        sel.close()
        if not ready:
            self.stop()
            raise RuntimeError("server did not print its JSON line in time")
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("server exited before printing: " + self.stderr_text())
        self.info: Dict[str, Any] = json.loads(line)
        self.token_url = self.info["token_url"]
        self.api_url = self.info["api_url"]
        self.control_url = self.info["control_url"]

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def stop(self) -> Optional[int]:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (self.proc.stdout, self.proc.stdin):
            if f is not None:
                f.close()
        return self.proc.returncode

    # control helpers
    def config(self, **kw: Any) -> Dict[str, Any]:
        r = post_json(self.control_url + "/config", kw)
        assert r.status == 200, r.body
        return r.json()["config"]

    def stats(self) -> Dict[str, Any]:
        r = request("GET", self.control_url + "/stats")
        assert r.status == 200
        return r.json()


@pytest.fixture
def launch():
    started: List[Server] = []

    def start(*args: str, **kw: Any) -> Server:
        s = Server(*args, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
        s.stderr.close()


@pytest.fixture
def srv(launch):
    return launch()


class Resp:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def request(method: str, url: str, body: Optional[bytes] = None,
            headers: Optional[Dict[str, str]] = None, timeout: float = 5) -> Resp:
    u = urlsplit(url)
    assert u.hostname == "127.0.0.1"
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        target = u.path + ("?" + u.query if u.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        return Resp(r.status, r.headers, r.read())
    finally:
        conn.close()


def post_json(url: str, obj: Any) -> Resp:
    return request("POST", url, json.dumps(obj).encode(),
                   {"Content-Type": "application/json"})


def basic(cid: str, secret: str) -> str:
    """RFC 6749 §2.3.1: form-urlencode id and secret, then base64 "id:secret"."""
    raw = quote_plus(cid, safe="") + ":" + quote_plus(secret, safe="")
    return "Basic " + base64.b64encode(raw.encode("ascii")).decode("ascii")


def token_request(s: Server, form: Dict[str, str], cid: str = "demo-client",
                  secret: str = "demo-secret", auth: str = "basic",
                  timeout: float = 5) -> Resp:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    form = dict(form)
    if auth == "basic":
        headers["Authorization"] = basic(cid, secret)
    elif auth == "post":
        form.update(client_id=cid, client_secret=secret)
    return request("POST", s.token_url, urlencode(form).encode("ascii"), headers, timeout)


def cc(s: Server, **kw: Any) -> Resp:
    return token_request(s, {"grant_type": "client_credentials"}, **kw)


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def decode_jwt(token: str, key: str = KEY) -> Dict[str, Any]:
    """Independent HS256 check (not the server's code)."""
    h, p, sig = token.split(".")
    assert json.loads(b64url_decode(h)) == {"alg": "HS256", "typ": "JWT"}
    mac = hmac.new(key.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(mac, b64url_decode(sig))
    return json.loads(b64url_decode(p))


def api(s: Server, token: Optional[str], method: str = "GET", path: str = "/x") -> Resp:
    headers = {} if token is None else {"Authorization": "Bearer " + token}
    return request(method, s.api_url + path, headers=headers)


def www_reason(r: Resp) -> str:
    assert r.status == 401
    prefix = 'Bearer error="invalid_token", error_description="'
    value = r.headers["WWW-Authenticate"]
    assert value.startswith(prefix) and value.endswith('"'), value
    return value[len(prefix):-1]


def date_of(r: Resp) -> int:
    return int(parsedate_to_datetime(r.headers["Date"]).timestamp())


# ------------------------------------------------------------------------------------------
# launcher
# ------------------------------------------------------------------------------------------


def test_json_line_and_clean_shutdown_via_control(launch):
    s = launch("--sntp", "--origins", "2")
    info = s.info
    assert set(info) == {"token_url", "api_url", "api_base", "health_url", "static_url",
                         "control_url", "origins", "sntp_host", "sntp_port", "pid"}
    assert info["pid"] == s.proc.pid
    for url in [info["token_url"], info["api_url"], info["control_url"], *info["origins"]]:
        assert urlsplit(url).hostname == "127.0.0.1"
    assert info["token_url"].endswith("/token") and info["api_url"].endswith("/api")
    assert info["control_url"].endswith("/control")
    assert len(info["origins"]) == 2 and info["static_url"] is None
    assert isinstance(info["sntp_port"], int) and info["sntp_host"] == "127.0.0.1"
    r = request("POST", s.control_url + "/shutdown")
    assert r.status == 200 and r.json() == {"ok": True}
    assert s.proc.wait(5) == 0
    assert s.proc.stdout.read() == b""  # nothing after the JSON line


def test_sigterm_and_sigint_exit_cleanly(launch):
    for sig in (signal.SIGTERM, signal.SIGINT):
        s = launch()
        assert s.info["sntp_port"] is None
        assert request("GET", s.info["health_url"]).status == 200
        s.proc.send_signal(sig)
        assert s.proc.wait(5) == 0


def test_exit_on_stdin_eof(launch):
    s = launch("--exit-on-stdin-eof", stdin=subprocess.PIPE)
    assert s.proc.poll() is None
    s.proc.stdin.close()
    assert s.proc.wait(5) == 0


def test_bad_initial_config_exits_2():
    p = subprocess.run([sys.executable, str(SERVER), "--config", '{"nope": 1}'],
                       capture_output=True, timeout=10)
    assert p.returncode == 2 and p.stdout == b""
    assert b"unknown config key(s): nope" in p.stderr


# ------------------------------------------------------------------------------------------
# token endpoint
# ------------------------------------------------------------------------------------------

SPECIAL_ID = "svc:client 1"
SPECIAL_SECRET = "p:a%ss+w rd/é€ü=&"


def test_client_credentials_basic_with_special_secret(launch):
    s = launch("--config", json.dumps({"client_id": SPECIAL_ID, "client_secret": SPECIAL_SECRET,
                                       "frozen_time_s": T0 + 0.75, "token_ttl_s": 600}))
    r = cc(s, cid=SPECIAL_ID, secret=SPECIAL_SECRET)
    assert r.status == 200, r.body
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["scope"] == "read"
    claims = decode_jwt(body["access_token"])
    assert set(claims) == {"iss", "sub", "aud", "iat", "nbf", "exp", "jti", "scope"}
    assert claims["sub"] == SPECIAL_ID
    assert claims["iss"] == "tokenclock-test-issuer" and claims["aud"] == "tokenclock-test-api"
    assert claims["iat"] == T0 and claims["nbf"] == T0 and claims["exp"] == T0 + 600
    assert claims["scope"] == "read" and len(claims["jti"]) == 24
    assert date_of(r) == T0
    # the same secret sent without the §2.3.1 form-encoding is a different secret
    raw = base64.b64encode(f"svc%3Aclient+1:{SPECIAL_SECRET}".encode()).decode()
    r = request("POST", s.token_url, b"grant_type=client_credentials",
                {"Content-Type": "application/x-www-form-urlencoded",
                 "Authorization": "Basic " + raw})
    assert r.status == 401 and r.json()["error"] == "invalid_client"
    assert r.headers["WWW-Authenticate"] == 'Basic realm="tokenclock"'
    # wrong secret, malformed base64
    assert cc(s, cid=SPECIAL_ID, secret=SPECIAL_SECRET + "x").status == 401
    r = request("POST", s.token_url, b"grant_type=client_credentials",
                {"Content-Type": "application/x-www-form-urlencoded",
                 "Authorization": "Basic !!!"})
    assert r.status == 401 and r.json()["error"] == "invalid_client"
    st = s.stats()["token"]
    assert st["requests"] == 4 and st["issued"] == 1
    assert st["by_client_auth"]["client_secret_basic"] == 4
    assert st["errors"] == {"invalid_client": 3}


def test_basic_raw_decoding_mode(srv):
    srv.config(client_secret="a+b c", basic_auth_decoding="raw")
    raw = base64.b64encode(b"demo-client:a+b c").decode()
    r = request("POST", srv.token_url, b"grant_type=client_credentials",
                {"Content-Type": "application/x-www-form-urlencoded",
                 "Authorization": "Basic " + raw})
    assert r.status == 200


def test_client_secret_post_and_auth_method_rules(srv):
    srv.config(client_secret=SPECIAL_SECRET)
    r = cc(srv, secret=SPECIAL_SECRET, auth="post")
    assert r.status == 200
    assert decode_jwt(r.json()["access_token"])["sub"] == "demo-client"
    # both methods at once
    form = urlencode({"grant_type": "client_credentials", "client_id": "demo-client",
                      "client_secret": SPECIAL_SECRET}).encode()
    r = request("POST", srv.token_url, form,
                {"Content-Type": "application/x-www-form-urlencoded",
                 "Authorization": basic("demo-client", SPECIAL_SECRET)})
    assert r.status == 400 and r.json()["error"] == "invalid_request"
    # no authentication
    assert cc(srv, auth="none").status == 401
    # method not allowed by config
    srv.config(client_auth_methods=["client_secret_basic"])
    r = cc(srv, secret=SPECIAL_SECRET, auth="post")
    assert r.status == 401 and r.json()["error"] == "invalid_client"
    st = srv.stats()["token"]["by_client_auth"]
    assert st == {"client_secret_basic": 0, "client_secret_post": 2, "none": 1}


def test_token_response_shape_options(srv):
    srv.config(include_expires_in=False, token_type="bearer", include_nbf=False)
    body = cc(srv).json()
    assert "expires_in" not in body and body["token_type"] == "bearer"
    assert "nbf" not in decode_jwt(body["access_token"])
    srv.config(include_expires_in=True, expires_in_as_string=True, token_ttl_s=90,
               include_nbf=True, nbf_delta_s=3, default_scope=None)
    body = cc(srv).json()
    assert body["expires_in"] == "90" and "scope" not in body
    claims = decode_jwt(body["access_token"])
    assert claims["nbf"] == claims["iat"] + 3 and claims["exp"] == claims["iat"] + 90
    assert "scope" not in claims
    body = token_request(srv, {"grant_type": "client_credentials", "scope": "a b"}).json()
    assert body["scope"] == "a b" and decode_jwt(body["access_token"])["scope"] == "a b"
    srv.config(signing_key="other-key", issuer="iss-x", audience="aud-y")
    claims = decode_jwt(cc(srv).json()["access_token"], key="other-key")
    assert claims["iss"] == "iss-x" and claims["aud"] == "aud-y"


def test_refresh_token_rotation(srv):
    srv.config(issue_refresh_token=True, rotate_refresh_tokens=True)
    rt1 = cc(srv).json()["refresh_token"]
    r = token_request(srv, {"grant_type": "refresh_token", "refresh_token": rt1})
    assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
    rt2 = r.json()["refresh_token"]
    assert rt2 != rt1 and decode_jwt(r.json()["access_token"])["sub"] == "demo-client"
    # the used one is rejected, the new one works, unknown ones are rejected
    r = token_request(srv, {"grant_type": "refresh_token", "refresh_token": rt1})
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    r = token_request(srv, {"grant_type": "refresh_token", "refresh_token": rt2}, auth="post")
    assert r.status == 200 and r.json()["refresh_token"] not in (rt1, rt2)
    r = token_request(srv, {"grant_type": "refresh_token", "refresh_token": "rt-unknown"})
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    # a wider scope than granted
    rt3 = token_request(srv, {"grant_type": "client_credentials", "scope": "a"}).json()
    r = token_request(srv, {"grant_type": "refresh_token", "refresh_token": rt3["refresh_token"],
                            "scope": "a b"})
    assert r.status == 400 and r.json()["error"] == "invalid_scope"
    # missing refresh_token parameter
    r = token_request(srv, {"grant_type": "refresh_token"})
    assert r.status == 400 and r.json()["error"] == "invalid_request"
    st = srv.stats()
    assert st["token"]["by_grant_type"] == {"client_credentials": 2, "refresh_token": 6,
                                            "other": 0, "missing": 0}
    assert st["token"]["errors"] == {"invalid_grant": 2, "invalid_scope": 1,
                                     "invalid_request": 1}
    assert st["refresh_tokens"] == {"active": 2, "used": 2, "revoked": 0, "families": 2,
                                    "reused": 1, "families_revoked": 0}


def test_refresh_without_rotation_keeps_old_token_valid(srv):
    rt = request("POST", srv.control_url + "/refresh_token").json()["refresh_token"]
    for _ in range(2):
        r = token_request(srv, {"grant_type": "refresh_token", "refresh_token": rt})
        assert r.status == 200 and "refresh_token" not in r.json()
    # a refresh token of another client is not honoured
    srv.config(client_id="other")
    r = token_request(srv, {"grant_type": "refresh_token", "refresh_token": rt}, cid="other")
    assert r.status == 400 and r.json()["error"] == "invalid_grant"


def test_bad_token_requests_get_400_json(srv):
    hdr = {"Content-Type": "application/x-www-form-urlencoded",
           "Authorization": basic("demo-client", "demo-secret")}
    cases = [
        (b"grant_type=password", hdr, 400, "unsupported_grant_type"),
        (b"scope=x", hdr, 400, "invalid_request"),
        (b"grant_type=client_credentials&grant_type=client_credentials", hdr, 400,
         "invalid_request"),
        (b"grant_type=client_credentials&x=%FF", hdr, 400, "invalid_request"),
        (b"grant_type=client_credentials\xff", hdr, 400, "invalid_request"),
        (b'{"grant_type": "client_credentials"}', dict(hdr, **{"Content-Type":
                                                               "application/json"}),
         400, "invalid_request"),
    ]
    for body, headers, status, error in cases:
        r = request("POST", srv.token_url, body, headers)
        assert (r.status, r.json()["error"]) == (status, error), body
        assert r.headers["Content-Type"] == "application/json"
    r = request("GET", srv.token_url)
    assert r.status == 405 and r.headers["Allow"] == "POST, OPTIONS"
    assert request("POST", srv.token_url.replace("/token", "/nope")).status == 404
    r = request("POST", srv.token_url, b"x", {"Content-Length": "abc"})
    assert r.status == 400 and r.json()["error"] == "invalid_request"
    r = request("POST", srv.token_url, b"", {"Content-Length": str(2 << 20)})
    assert r.status == 413
    st = srv.stats()["token"]["by_grant_type"]
    assert st == {"client_credentials": 0, "refresh_token": 0, "other": 1, "missing": 5}


def test_chunked_form_body(srv):
    conn = http.client.HTTPConnection("127.0.0.1", urlsplit(srv.token_url).port, timeout=5)
    try:
        conn.request("POST", "/token", body=iter([b"grant_type=client_", b"credentials"]),
                     headers={"Content-Type": "application/x-www-form-urlencoded",
                              "Authorization": basic("demo-client", "demo-secret")},
                     encode_chunked=True)
        r = conn.getresponse()
        assert r.status == 200 and "access_token" in json.loads(r.read())
    finally:
        conn.close()


def test_cached_token_age_rule(srv):
    # ttl 100, age 40: iat = now - 40; reused while more than 30 % (30 s) of the TTL remains
    srv.config(frozen_time_s=T0, token_ttl_s=100, cached_token_age_s=40)
    b1 = cc(srv).json()
    c1 = decode_jwt(b1["access_token"])
    assert (c1["iat"], c1["nbf"], c1["exp"], b1["expires_in"]) == (T0 - 40, T0 - 40, T0 + 60, 60)
    srv.config(frozen_time_s=T0 + 29.5)  # 30.5 s left: the same token, remaining time
    b2 = cc(srv).json()
    assert b2["access_token"] == b1["access_token"] and b2["expires_in"] == 30
    srv.config(frozen_time_s=T0 + 30)  # exactly 30 s left: a new one, again 40 s old
    b3 = cc(srv).json()
    c3 = decode_jwt(b3["access_token"])
    assert (c3["iat"], c3["exp"], b3["expires_in"]) == (T0 - 10, T0 + 90, 60)
    assert b3["access_token"] != b1["access_token"]
    # the cache is per scope, and a change of TTL empties it
    b4 = token_request(srv, {"grant_type": "client_credentials", "scope": "other"}).json()
    assert b4["access_token"] != b3["access_token"]
    srv.config(token_ttl_s=200)
    c5 = decode_jwt(cc(srv).json()["access_token"])
    assert (c5["iat"], c5["exp"]) == (T0 - 10, T0 + 190)
    # the refresh grant always mints a fresh token
    rt = request("POST", srv.control_url + "/refresh_token").json()["refresh_token"]
    b6 = token_request(srv, {"grant_type": "refresh_token", "refresh_token": rt}).json()
    assert decode_jwt(b6["access_token"])["iat"] == T0 + 30 and b6["expires_in"] == 200
    st = srv.stats()["token"]
    assert st["cached_reused"] == 1 and st["issued"] == 6


# ------------------------------------------------------------------------------------------
# injected failures
# ------------------------------------------------------------------------------------------

FAILURE_CASES = [
    ({"kind": "status", "status": 500}, 500, None, "text/plain; charset=utf-8"),
    ({"kind": "status", "status": 503, "retry_after": "2"}, 503, "2", None),
    ({"kind": "status", "status": 429, "retry_after": "1"}, 429, "1", None),
    ({"kind": "invalid_json"}, 200, None, "application/json"),
    ({"kind": "html"}, 200, None, "text/html; charset=utf-8"),
    ({"kind": "empty_body"}, 200, None, "application/json"),
    ({"kind": "oauth_error", "status": 400, "error": "invalid_grant"}, 400, None,
     "application/json"),
    ({"kind": "oauth_error", "status": 401, "error": "invalid_client"}, 401, None,
     "application/json"),
    ({"kind": "oauth_error", "status": 400, "error": "temporarily_unavailable",
      "retry_after": 3}, 400, "3", "application/json"),
]


@pytest.mark.parametrize("failure,status,retry_after,ctype", FAILURE_CASES,
                         ids=[f"{c[0]['kind']}-{c[1]}" for c in FAILURE_CASES])
def test_failure_kinds(srv, failure, status, retry_after, ctype):
    srv.config(failures=[failure])
    r = cc(srv)
    assert r.status == status
    assert r.headers.get("Retry-After") == retry_after
    if ctype is not None:
        assert r.headers["Content-Type"] == ctype
    assert r.headers["Access-Control-Allow-Origin"] == "*" and "Date" in r.headers
    kind = failure["kind"]
    if kind == "invalid_json":
        with pytest.raises(ValueError):
            json.loads(r.body)
    elif kind == "html":
        assert r.body.startswith(b"<!DOCTYPE html>")
    elif kind == "empty_body":
        assert r.body == b""
    elif kind == "oauth_error":
        assert r.json() == {"error": failure["error"]}
        if failure["error"] == "invalid_client":
            assert r.headers["WWW-Authenticate"] == 'Basic realm="tokenclock"'
    # consumed: the next request succeeds
    assert cc(srv).status == 200
    st = srv.stats()["token"]
    assert st["failures_served"] == 1 and st["failures_by_kind"] == {kind: 1}
    assert st["failures_pending"] == 0 and st["issued"] == 1


def test_failure_close_and_reset_drop_the_connection(srv):
    srv.config(failures=[{"kind": "close"}, {"kind": "reset"}])
    for _ in range(2):
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            cc(srv)
    assert cc(srv).status == 200
    assert srv.stats()["token"]["failures_by_kind"] == {"close": 1, "reset": 1}


def test_failure_missing_field_and_override(srv):
    srv.config(failures=[
        {"kind": "missing_field", "field": "access_token"},
        {"kind": "override", "set": {"expires_in": "soon", "extra": 1}, "remove": ["scope"],
         "claims": {"exp": 5, "scope": None}},
    ])
    body = cc(srv).json()
    assert "access_token" not in body and body["token_type"] == "Bearer"
    body = cc(srv).json()
    assert body["expires_in"] == "soon" and body["extra"] == 1 and "scope" not in body
    claims = decode_jwt(body["access_token"])
    assert claims["exp"] == 5 and "scope" not in claims


def test_failure_slow(srv):
    srv.config(failures=[{"kind": "slow", "delay_s": 0.3}])
    t = time.monotonic()
    r = cc(srv)
    assert r.status == 200 and time.monotonic() - t >= 0.3


def test_failure_queue_order_and_sticky(srv):
    srv.config(failures=[{"kind": "status", "status": 502}, {"kind": "html", "status": 200},
                         {"kind": "oauth_error", "error": "slow_down"}])
    assert [cc(srv).status for _ in range(4)] == [502, 200, 400, 200]
    srv.config(fail_all_token_requests_with={"kind": "status", "status": 503,
                                             "retry_after": "7"})
    for _ in range(3):
        r = cc(srv)
        assert r.status == 503 and r.headers["Retry-After"] == "7"
    assert srv.stats()["token"]["sticky_failure"] is True
    # queued failures come before the sticky one
    srv.config(failures=[{"kind": "status", "status": 500}])
    assert [cc(srv).status for _ in range(2)] == [500, 503]
    srv.config(fail_all_token_requests_with=None)
    assert cc(srv).status == 200
    st = srv.stats()["token"]
    assert st["failures_served"] == 8 and st["failures_by_kind"] == {
        "status": 6, "html": 1, "oauth_error": 1}


def test_failure_after_processing_rotates_but_loses_reply(srv):
    srv.config(rotate_refresh_tokens=True)
    rt = request("POST", srv.control_url + "/refresh_token",
                 json.dumps({"scope": "s"}).encode()).json()["refresh_token"]
    srv.config(failures=[{"kind": "close", "after_processing": True}])
    with pytest.raises(http.client.RemoteDisconnected):
        token_request(srv, {"grant_type": "refresh_token", "refresh_token": rt})
    r = token_request(srv, {"grant_type": "refresh_token", "refresh_token": rt})
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    assert srv.stats()["refresh_tokens"] == {"active": 1, "used": 1, "revoked": 0,
                                             "families": 1, "reused": 1,
                                             "families_revoked": 0}


def test_retry_after_http_date(srv):
    srv.config(frozen_time_s=T0 + 0.5, issuer_offset_s=10,
               failures=[{"kind": "status", "status": 503, "retry_after_date_s": 30}])
    r = cc(srv)
    assert r.headers["Retry-After"] == "Tue, 14 Nov 2023 22:14:00 GMT"  # T0 + 40
    assert date_of(r) == T0 + 10


def test_invalid_config_is_rejected_whole(srv):
    bad = [
        {"nope": 1},
        {"token_ttl_s": "60"},
        {"token_ttl_s": 1.5},
        {"include_nbf": 1},
        {"api_offset_s": None},
        {"failures": [{"kind": "boom"}]},
        {"failures": [{"kind": "status", "status": 500, "colour": "red"}]},
        {"failures": {"kind": "html"}},
        {"sntp_mode": "loud"},
        {"sntp_kiss_code": "TOOLONG"},
        {"client_auth_methods": ["private_key_jwt"]},
        {"token_type": "x", "api_leeway_s": -1},
    ]
    for update in bad:
        r = post_json(srv.control_url + "/config", update)
        assert r.status == 400 and r.json()["error"] == "invalid_config", update
    r = request("POST", srv.control_url + "/config", b'{"api_offset_s": Infinity}')
    assert r.status == 400 and r.json()["error"] == "invalid_config"
    r = request("POST", srv.control_url + "/config", b"{nope", {})
    assert r.status == 400 and r.json()["error"] == "invalid_request"
    cfg = request("GET", srv.control_url + "/config").json()["config"]
    assert cfg["token_type"] == "Bearer" and cfg["failures"] == []
    assert cfg["client_secret"] == "<redacted>" and cfg["signing_key"] == "<redacted>"


def test_reset_counters_and_config(srv):
    srv.config(token_ttl_s=5, failures=[{"kind": "html"}])
    cc(srv)
    api(srv, None)
    assert srv.stats()["token"]["requests"] == 1
    assert request("POST", srv.control_url + "/reset").json() == {"ok": True,
                                                                 "config_reset": False}
    st = srv.stats()
    assert st["token"]["requests"] == 0 and st["api"]["requests"] == 0
    assert st["api"]["responses_401_by_reason"] == {}
    assert request("GET", srv.control_url + "/config").json()["config"]["token_ttl_s"] == 5
    post_json(srv.control_url + "/reset", {"config": True})
    assert request("GET", srv.control_url + "/config").json()["config"]["token_ttl_s"] == 3600


# ------------------------------------------------------------------------------------------
# API server
# ------------------------------------------------------------------------------------------


def test_api_accepts_valid_and_rejects_bad_tokens(srv):
    tok = cc(srv).json()["access_token"]
    r = api(srv, tok, path="/things/1")
    assert r.status == 200
    assert r.json() == {"ok": True, "sub": "demo-client", "scope": "read", "method": "GET",
                        "path": "/api/things/1"}
    assert api(srv, tok, method="POST").status == 200
    r = api(srv, tok, method="HEAD")
    assert r.status == 200 and r.body == b"" and "Date" in r.headers
    assert www_reason(api(srv, None)) == "missing"
    assert www_reason(request("GET", srv.api_url, headers={"Authorization": "Basic eA=="})) \
        == "missing"
    h, p, sig = tok.split(".")
    tampered = f"{h}.{p}.{'B' if sig[0] == 'A' else 'A'}{sig[1:]}"
    assert www_reason(api(srv, tampered)) == "bad_signature"
    none_alg = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    assert www_reason(api(srv, f"{none_alg}.{p}.")) == "bad_signature"
    assert www_reason(api(srv, "not-a-jwt")) == "malformed"
    r = api(srv, "a.b.c")
    assert www_reason(r) == "malformed" and r.json()["error"] == "invalid_token"
    srv.config(api_always_401=True)
    assert www_reason(api(srv, tok)) == "revoked"
    srv.config(api_always_401=False, api_expected_audience="someone-else")
    assert www_reason(api(srv, tok)) == "bad_audience"
    st = srv.stats()["api"]
    assert st == {"requests": 11, "responses_200": 3, "responses_401": 8,
                  "responses_401_by_reason": {"missing": 2, "bad_signature": 2,
                                              "malformed": 2, "revoked": 1,
                                              "bad_audience": 1}}
    assert request("GET", srv.info["health_url"]).json() == {"ok": True}
    assert request("GET", srv.info["api_base"] + "/elsewhere").status == 404


def _frozen_token(s: Server, **cfg: Any) -> str:
    s.config(frozen_time_s=T0, token_ttl_s=60, **cfg)
    tok = cc(s).json()["access_token"]
    c = decode_jwt(tok)
    assert (c["iat"], c.get("nbf", c["iat"]), c["exp"]) == (T0, T0, T0 + 60)
    return tok


@pytest.mark.parametrize("leeway", [0, 5])
def test_api_expiry_boundary(srv, leeway):
    tok = _frozen_token(srv)
    srv.config(api_leeway_s=leeway)
    # expired exactly when now - leeway >= exp
    srv.config(api_offset_s=60 + leeway - 0.001)
    assert api(srv, tok).status == 200
    srv.config(api_offset_s=60 + leeway)
    r = api(srv, tok)
    assert www_reason(r) == "expired" and r.json()["api_now_s"] == T0 + 60 + leeway
    assert date_of(r) == T0 + 60 + leeway
    # not yet valid when now + leeway < nbf
    srv.config(api_offset_s=-leeway)
    assert api(srv, tok).status == 200
    srv.config(api_offset_s=-leeway - 0.001)
    assert www_reason(api(srv, tok)) == "not_yet_valid"
    st = srv.stats()["api"]
    assert st["responses_401_by_reason"] == {"expired": 1, "not_yet_valid": 1}


@pytest.mark.parametrize("leeway", [0, 5])
def test_api_issued_in_future_boundary(srv, leeway):
    tok = _frozen_token(srv, include_nbf=False)
    srv.config(api_leeway_s=leeway, api_offset_s=-leeway)
    assert api(srv, tok).status == 200
    srv.config(api_offset_s=-leeway - 0.001)
    assert www_reason(api(srv, tok)) == "issued_in_future"


def test_api_skewed_issuer(srv):
    # issuer 30 s ahead: its tokens are issued in the API's future
    srv.config(frozen_time_s=T0, issuer_offset_s=30, token_ttl_s=60)
    tok = cc(srv).json()["access_token"]
    assert decode_jwt(tok)["iat"] == T0 + 30
    assert www_reason(api(srv, tok)) == "not_yet_valid"
    srv.config(api_leeway_s=30)
    assert api(srv, tok).status == 200


def test_api_expiry_with_real_clock(srv):
    srv.config(token_ttl_s=2)
    tok = cc(srv).json()["access_token"]
    exp = decode_jwt(tok)["exp"]
    assert api(srv, tok).status == 200  # at least 1 s left
    time.sleep(max(0.0, exp - time.time()) + 0.05)  # at most ~2.05 s
    assert www_reason(api(srv, tok)) == "expired"


# ------------------------------------------------------------------------------------------
# Date, CORS, static, origins
# ------------------------------------------------------------------------------------------


def test_date_header_is_floor_of_each_servers_clock(launch):
    s = launch("--origins", "2")
    s.config(frozen_time_s=T0 + 0.9, api_offset_s=3600.2, origin_offsets_s=[-5, 7.5])
    r = cc(s)
    assert r.headers["Date"] == "Tue, 14 Nov 2023 22:13:20 GMT"  # floor(T0 + 0.9)
    assert date_of(request("GET", s.info["health_url"])) == T0 + 3601  # floor(T0 + 3601.1)
    o0, o1 = s.info["origins"]
    r = request("HEAD", o0)
    assert r.status == 200 and r.body == b"" and date_of(r) == T0 - 5
    r = request("GET", o1 + "anything")
    assert r.json() == {"ok": True, "origin": 1} and date_of(r) == T0 + 8
    assert date_of(request("GET", s.control_url + "/stats")) == T0
    st = s.stats()["origins"]
    assert st == [{"requests": 1}, {"requests": 1}]
    t = request("GET", s.control_url + "/time").json()
    assert t["frozen"] is True and t["origins_s"] == [T0 + 0.9 - 5, T0 + 0.9 + 7.5]
    # real clock with an offset
    s.config(frozen_time_s=None, issuer_offset_s=-86400)
    before = time.time()
    d = date_of(cc(s))
    after = time.time()
    assert int(before - 86400) <= d <= after - 86400


def _assert_cors(r: Resp) -> None:
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, POST, HEAD, OPTIONS"
    assert r.headers["Access-Control-Expose-Headers"] == "date, retry-after, www-authenticate"
    assert "Date" in r.headers


def test_cors_everywhere(launch):
    s = launch("--origins", "1")
    pre = {"Origin": "http://example.test", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "authorization"}
    responses = [
        cc(s),
        cc(s, secret="wrong"),
        api(s, None),
        request("OPTIONS", s.api_url + "/x", headers=pre),
        request("OPTIONS", s.token_url, headers=pre),
        request("OPTIONS", s.control_url + "/config", headers=pre),
        request("GET", s.control_url + "/stats"),
        request("GET", s.info["origins"][0]),
        request("GET", s.info["api_base"] + "/nope"),
        request("PUT", s.api_url),
    ]
    for r in responses:
        _assert_cors(r)
    assert responses[3].status == 204 and responses[3].body == b""
    assert responses[9].status == 405


def test_malformed_http_gets_400_json_without_traceback(srv):
    port = urlsplit(srv.api_url).port
    # each request is sent whole and read whole by the server (no unread bytes -> no RST)
    for raw in (b"GARBAGE\r\n", b"GET / HTTP/9.9\r\n", b"GET /\r\n\r\n",
                b"GET /api HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                b"POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(raw)
            data = b""
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.split(b" ")[1] in (b"400", b"505"), head
        assert b"Access-Control-Allow-Origin: *" in head and b"Date: " in head
        assert json.loads(body)["error"] == "invalid_request"
        assert b"Traceback" not in data and b"GARBAGE" not in data
    assert request("GET", srv.info["health_url"]).status == 200


def test_static_files(launch, tmp_path):
    files = {
        "index.html": (b"<!doctype html><p>hi</p>", "text/html; charset=utf-8"),
        "app.js": (b"console.log(1)", "text/javascript; charset=utf-8"),
        "pkg/mod.mjs": (b"export const a = 1;", "text/javascript; charset=utf-8"),
        "pkg/tokenclock_bg.wasm": (b"\x00asm\x01\x00\x00\x00", "application/wasm"),
        "data.json": (b'{"a": 1}', "application/json"),
    }
    for name, (data, _) in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    (tmp_path.parent / "secret.txt").write_bytes(b"outside")
    s = launch("--static", str(tmp_path))
    assert s.info["static_url"] == s.info["api_base"] + "/static/"
    for name, (data, ctype) in files.items():
        r = request("GET", s.info["static_url"] + name)
        assert (r.status, r.headers["Content-Type"], r.body) == (200, ctype, data), name
        _assert_cors(r)
    assert request("GET", s.info["static_url"]).body == files["index.html"][0]
    r = request("HEAD", s.info["static_url"] + "app.js")
    assert r.status == 200 and r.body == b"" and r.headers["Content-Length"] == "14"
    for bad in ("../secret.txt", "..%2Fsecret.txt", "%2e%2e/secret.txt", "nope.js", "%ff"):
        assert request("GET", s.info["static_url"] + bad).status == 404, bad
    assert s.stats()["static"] == {"requests": 12, "not_found": 5}


# ------------------------------------------------------------------------------------------
# SNTP
# ------------------------------------------------------------------------------------------

NTP_FMT = "!BBbbII4sQQQQ"


def sntp_query(port: int, version: int = 4, timeout: float = 2,
               mode: int = 3) -> Tuple[Optional[bytes], int]:
    t1 = time.time()
    xmt = (((int(t1) + NTP_DELTA) & 0xFFFFFFFF) << 32) | 0x12345678
    pkt = struct.pack(NTP_FMT, (0 << 6) | (version << 3) | mode, 0, 6, 0, 0, 0, b"\0" * 4,
                      0, 0, 0, xmt)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(pkt, ("127.0.0.1", port))
        try:
            data, _ = sock.recvfrom(1024)
        except socket.timeout:
            return None, xmt
    return data, xmt


def ntp_to_unix(ts: int) -> float:
    return (ts >> 32) - NTP_DELTA + (ts & 0xFFFFFFFF) / 2 ** 32


@pytest.mark.parametrize("version", [3, 4])
def test_sntp_normal_frozen(launch, version):
    s = launch("--sntp", "--config", json.dumps({"frozen_time_s": T0 + 0.25,
                                                 "sntp_offset_s": 12.5}))
    data, xmt = sntp_query(s.info["sntp_port"], version)
    assert data is not None and len(data) == 48
    (lvm, stratum, poll, precision, _rd, _rdisp, refid, ref, org, rec,
     xmt_s) = struct.unpack(NTP_FMT, data)
    assert (lvm >> 6, (lvm >> 3) & 7, lvm & 7) == (0, version, 4)
    assert stratum == 2 and poll == 6 and precision == -20
    assert refid == bytes([127, 0, 0, 1])
    assert org == xmt
    assert rec >> 32 == T0 + 12 + NTP_DELTA and (rec & 0xFFFFFFFF) == 3 << 30  # .75
    assert ntp_to_unix(rec) == T0 + 12.75 and xmt_s == rec
    assert ntp_to_unix(ref) == T0 + 12.75 - 64


def test_sntp_real_clock_offset(launch):
    s = launch("--sntp", "--config", '{"sntp_offset_s": -3.25, "sntp_processing_s": 0.01}')
    t1 = time.time()
    data, _ = sntp_query(s.info["sntp_port"])
    t4 = time.time()
    assert data is not None
    f = struct.unpack(NTP_FMT, data)
    t2, t3 = ntp_to_unix(f[9]), ntp_to_unix(f[10])
    assert t1 - 3.25 - 0.001 <= t2 < t3 <= t4 - 3.25 + 0.001
    assert t3 - t2 >= 0.009
    offset = ((t2 - t1) + (t3 - t4)) / 2
    assert abs(offset + 3.25) <= (t4 - t1) / 2 + 0.001


def test_sntp_kiss_and_other_modes(launch):
    s = launch("--sntp")
    port = s.info["sntp_port"]
    s.config(sntp_mode="kiss_rate")
    data, xmt = sntp_query(port)
    lvm, stratum, *_rest = f = struct.unpack(NTP_FMT, data)
    assert (lvm >> 6, (lvm >> 3) & 7, lvm & 7) == (3, 4, 4)
    assert stratum == 0 and f[6] == b"RATE" and f[8] == xmt
    s.config(sntp_kiss_code="DENY")
    assert struct.unpack(NTP_FMT, sntp_query(port)[0])[6] == b"DENY"

    s.config(sntp_mode="unsynchronized")
    f = struct.unpack(NTP_FMT, sntp_query(port, version=3)[0])
    assert (f[0] >> 6, (f[0] >> 3) & 7, f[0] & 7, f[1]) == (3, 3, 4, 2)

    s.config(sntp_mode="wrong_origin")
    data, xmt = sntp_query(port)
    f = struct.unpack(NTP_FMT, data)
    assert f[0] & 7 == 4 and f[8] != xmt and f[8] ^ xmt == 1 << 32

    s.config(sntp_mode="garbage")
    data, xmt = sntp_query(port)
    assert len(data) == 48 and struct.unpack(NTP_FMT, data)[8] != xmt

    s.config(sntp_mode="silent")
    assert sntp_query(port, timeout=0.2)[0] is None

    s.config(sntp_mode="normal")
    assert sntp_query(port, mode=4, timeout=0.2)[0] is None  # not a client request: ignored
    st = s.stats()["sntp"]
    assert st == {"requests": 6, "replies": 5, "ignored": 1,
                  "by_mode": {"kiss_rate": 2, "unsynchronized": 1, "wrong_origin": 1,
                              "garbage": 1, "silent": 1}}


# ------------------------------------------------------------------------------------------
# robustness
# ------------------------------------------------------------------------------------------


def test_concurrent_token_requests(srv):
    results: List[int] = []
    lock = threading.Lock()

    def one() -> None:
        st = cc(srv).status
        with lock:
            results.append(st)

    threads = [threading.Thread(target=one) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [200] * 30
    assert srv.stats()["token"]["issued"] == 30


def test_keep_alive_connection_reuse(srv):
    u = urlsplit(srv.token_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    try:
        for _ in range(3):
            conn.request("POST", "/token", body=b"grant_type=client_credentials",
                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                  "Authorization": basic("demo-client", "demo-secret")})
            r = conn.getresponse()
            assert r.status == 200 and json.loads(r.read())["access_token"]
    finally:
        conn.close()


def test_no_secrets_or_tokens_in_logs(launch):
    s = launch("--verbose", "--config", json.dumps({"client_secret": SPECIAL_SECRET,
                                                    "issue_refresh_token": True}))
    body = cc(s, secret=SPECIAL_SECRET).json()
    api(s, body["access_token"], path="/x?access_token=" + body["access_token"])
    token_request(s, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                  secret=SPECIAL_SECRET)
    cc(s, secret="wrong-secret-value")
    assert s.stop() == 0
    log = s.stderr_text()
    assert "POST /token 200" in log and "GET /api/x 200" in log
    for secret in (SPECIAL_SECRET, body["access_token"], body["refresh_token"],
                   "wrong-secret-value", "demo-secret"):
        assert secret not in log


# ------------------------------------------------------------------------------------------
# refresh token families, token endpoint without Date, opaque access tokens
# ------------------------------------------------------------------------------------------


def control_rt(s: Server, **body: Any) -> str:
    r = post_json(s.control_url + "/refresh_token", body)
    assert r.status == 200
    return r.json()["refresh_token"]


def refresh(s: Server, rt: str) -> Resp:
    return token_request(s, {"grant_type": "refresh_token", "refresh_token": rt})


def test_refresh_token_reuse_revokes_the_whole_family(srv):
    srv.config(rotate_refresh_tokens=True, revoke_family_on_reuse=True,
               issue_refresh_token=True)
    rt0 = control_rt(srv)
    rt1 = refresh(srv, rt0).json()["refresh_token"]
    rt2 = refresh(srv, rt1).json()["refresh_token"]
    other = cc(srv).json()["refresh_token"]  # a family of its own (client credentials)
    st = srv.stats()["refresh_tokens"]
    assert st == {"active": 2, "used": 2, "revoked": 0, "families": 2, "reused": 0,
                  "families_revoked": 0}
    # rt0 again: a reuse; the family (rt0 -> rt1 -> rt2) is revoked, rt2 included
    r = refresh(srv, rt0)
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    r = refresh(srv, rt2)
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    st = srv.stats()["refresh_tokens"]
    assert st == {"active": 1, "used": 2, "revoked": 1, "families": 2, "reused": 1,
                  "families_revoked": 1}
    # a second reuse in a revoked family counts as a reuse, not as a second revocation;
    # presenting the revoked rt2 was not a reuse
    assert refresh(srv, rt1).status == 400
    st = srv.stats()["refresh_tokens"]
    assert st["reused"] == 2 and st["families_revoked"] == 1
    # the other family is untouched
    r = refresh(srv, other)
    assert r.status == 200 and r.json()["refresh_token"]
    assert srv.stats()["token"]["errors"] == {"invalid_grant": 3}
    # counters are zeroed by a reset, the token states stay
    request("POST", srv.control_url + "/reset")
    st = srv.stats()["refresh_tokens"]
    assert st == {"active": 1, "used": 3, "revoked": 1, "families": 2, "reused": 0,
                  "families_revoked": 0}


def test_reuse_without_revoke_family_on_reuse_is_counted_only(srv):
    srv.config(rotate_refresh_tokens=True)
    rt0 = control_rt(srv)
    rt1 = refresh(srv, rt0).json()["refresh_token"]
    assert refresh(srv, rt0).json()["error"] == "invalid_grant"
    r = refresh(srv, rt1)  # the family lives on
    assert r.status == 200
    st = srv.stats()["refresh_tokens"]
    assert st["reused"] == 1 and st["families_revoked"] == 0 and st["revoked"] == 0
    # without rotation nothing is ever used, so nothing is a reuse
    srv.config(rotate_refresh_tokens=False, revoke_family_on_reuse=True)
    rt = control_rt(srv)
    assert refresh(srv, rt).status == 200 and refresh(srv, rt).status == 200
    assert srv.stats()["refresh_tokens"]["reused"] == 1


def test_control_revoke_refresh_tokens(srv):
    srv.config(rotate_refresh_tokens=True, revoke_family_on_reuse=True)
    rt0 = control_rt(srv)
    rt1 = refresh(srv, rt0).json()["refresh_token"]
    b0 = control_rt(srv)
    c0 = control_rt(srv)
    # by any member of the family (here its first, already used, token)
    r = post_json(srv.control_url + "/revoke_refresh_tokens", {"refresh_token": rt0})
    assert r.status == 200 and r.json() == {"ok": True, "families_revoked": 1,
                                            "tokens_revoked": 1}
    r = refresh(srv, rt1)
    assert r.status == 400 and r.json()["error"] == "invalid_grant"
    st = srv.stats()["refresh_tokens"]
    assert st["reused"] == 0 and st["families_revoked"] == 1 and st["revoked"] == 1
    # again: nothing left to revoke
    r = post_json(srv.control_url + "/revoke_refresh_tokens", {"refresh_token": rt1})
    assert r.json() == {"ok": True, "families_revoked": 0, "tokens_revoked": 0}
    assert refresh(srv, b0).status == 200
    r = post_json(srv.control_url + "/revoke_refresh_tokens", {"all": True})
    assert r.json() == {"ok": True, "families_revoked": 2, "tokens_revoked": 2}
    assert refresh(srv, c0).json()["error"] == "invalid_grant"
    st = srv.stats()["refresh_tokens"]
    assert st["active"] == 0 and st["families_revoked"] == 3 and st["reused"] == 0
    for bad in ({}, {"refresh_token": 1}, {"all": False}, {"all": True, "refresh_token": rt0}):
        r = post_json(srv.control_url + "/revoke_refresh_tokens", bad)
        assert r.status == 400 and r.json()["error"] == "invalid_request", bad
    r = post_json(srv.control_url + "/revoke_refresh_tokens", {"refresh_token": "rt-nope"})
    assert r.status == 400 and r.json()["error_description"] == "unknown refresh token"
    assert request("GET", srv.control_url + "/revoke_refresh_tokens").status == 405
    # reset with config forgets every token and family
    post_json(srv.control_url + "/reset", {"config": True})
    assert srv.stats()["refresh_tokens"] == {"active": 0, "used": 0, "revoked": 0,
                                             "families": 0, "reused": 0,
                                             "families_revoked": 0}


def test_token_endpoint_without_date(launch):
    s = launch("--origins", "1")
    s.config(token_send_date=False, issuer_offset_s=-90)
    hdr = {"Content-Type": "application/x-www-form-urlencoded"}
    responses = [
        cc(s),                                                   # 200
        cc(s, secret="wrong"),                                   # 401
        token_request(s, {"grant_type": "password"}),            # 400
        request("HEAD", s.token_url),                            # 405 (a Date probe)
        request("GET", s.token_url.replace("/token", "/other")),  # 404
        request("OPTIONS", s.token_url),                         # 204 preflight
        request("POST", s.token_url, b"x", hdr),                 # no client auth: 401
    ]
    assert [r.status for r in responses] == [200, 401, 400, 405, 404, 204, 401]
    for r in responses:
        assert "Date" not in r.headers, r.status
        assert r.headers["Server"] == "tcserver/1"
        assert r.headers["Access-Control-Allow-Origin"] == "*"
    # the other servers still send theirs
    tok = responses[0].json()["access_token"]
    assert "Date" in api(s, tok).headers
    assert "Date" in request("GET", s.control_url + "/stats").headers
    assert "Date" in request("GET", s.info["origins"][0]).headers
    # and the token endpoint's clock is still the one its tokens are stamped with
    assert abs(decode_jwt(tok)["iat"] - (time.time() - 90)) < 3
    s.config(token_send_date=True)
    assert "Date" in cc(s).headers and "Date" in request("HEAD", s.token_url).headers


def test_opaque_tokens_are_checked_by_the_api_on_its_own_clock(srv):
    srv.config(opaque_tokens=True, frozen_time_s=T0, token_ttl_s=60, nbf_delta_s=5)
    r = cc(srv)
    body = r.json()
    tok = body["access_token"]
    assert tok.startswith("tco-") and "." not in tok and len(tok) > 40
    assert body["expires_in"] == 60 and body["token_type"] == "Bearer"
    # nbf = T0 + 5, exp = T0 + 60 on the token clock, checked with the API's clock
    assert www_reason(api(srv, tok)) == "not_yet_valid"
    srv.config(api_offset_s=5)
    r = api(srv, tok)
    assert r.status == 200 and r.json()["sub"] == "demo-client" and r.json()["scope"] == "read"
    srv.config(api_offset_s=60 - 0.001)
    assert api(srv, tok).status == 200
    srv.config(api_offset_s=60)
    assert www_reason(api(srv, tok)) == "expired"
    srv.config(api_leeway_s=1)
    assert api(srv, tok).status == 200
    # an issuer clock 90 s behind stamps 90 s earlier claims, as for a JWT
    srv.config(api_leeway_s=0, api_offset_s=0, nbf_delta_s=0, issuer_offset_s=-90)
    tok2 = cc(srv).json()["access_token"]
    assert www_reason(api(srv, tok2)) == "expired"
    srv.config(api_offset_s=-90)
    assert api(srv, tok2).status == 200
    # unknown opaque tokens, audience check, overrides apply to the kept claims
    assert www_reason(api(srv, "tco-" + "A" * 43)) == "unknown_token"
    srv.config(api_expected_audience="someone-else")
    assert www_reason(api(srv, tok2)) == "bad_audience"
    srv.config(api_expected_audience=None,
               failures=[{"kind": "override", "claims": {"exp": T0 - 90 + 1}}])
    tok3 = cc(srv).json()["access_token"]
    assert tok3.startswith("tco-") and api(srv, tok3).status == 200
    srv.config(api_offset_s=-89)
    assert www_reason(api(srv, tok3)) == "expired"
    # refresh grants and the issuer-side cache mint opaque tokens too
    srv.config(api_offset_s=-90, rotate_refresh_tokens=True)
    r = refresh(srv, control_rt(srv))
    assert r.json()["access_token"].startswith("tco-")
    assert api(srv, r.json()["access_token"]).status == 200
    srv.config(cached_token_age_s=10)
    a, b = cc(srv).json(), cc(srv).json()
    assert a["access_token"] == b["access_token"] and a["expires_in"] == 50
    assert api(srv, a["access_token"]).status == 200
    # switching back to JWTs keeps the opaque ones valid; a reset with config forgets them
    srv.config(opaque_tokens=False, cached_token_age_s=0)
    assert decode_jwt(cc(srv).json()["access_token"])["sub"] == "demo-client"
    assert api(srv, tok2).status == 200
    post_json(srv.control_url + "/reset", {"config": True})
    srv.config(frozen_time_s=T0 - 90)
    assert www_reason(api(srv, tok2)) == "unknown_token"


def test_new_settings_are_validated(srv):
    for key in ("revoke_family_on_reuse", "token_send_date", "opaque_tokens"):
        r = post_json(srv.control_url + "/config", {key: 1})
        assert r.status == 400 and r.json()["error"] == "invalid_config", key
    cfg = request("GET", srv.control_url + "/config").json()["config"]
    assert (cfg["revoke_family_on_reuse"], cfg["token_send_date"], cfg["opaque_tokens"]) == (
        False, True, False)


def test_reuse_log_names_generations_never_tokens(launch):
    s = launch("--config", json.dumps({"rotate_refresh_tokens": True,
                                       "revoke_family_on_reuse": True}))
    rt0 = control_rt(s)
    rt1 = refresh(s, rt0).json()["refresh_token"]
    rt2 = refresh(s, rt1).json()["refresh_token"]
    assert refresh(s, rt0).status == 400
    assert s.stop() == 0
    log = s.stderr_text()
    assert ("token: refresh token reuse detected (generation 0 presented, family at generation "
            "2), family revoked (1 active)") in log
    for t in (rt0, rt1, rt2):
        assert t not in log
