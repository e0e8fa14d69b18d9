#!/usr/bin/env python3
"""Loopback test servers for tokenclock's end-to-end suites (Python and JavaScript).

One process starts, all on 127.0.0.1:

* a token endpoint (RFC 6749 client credentials and refresh token grants) that mints HS256 JWTs,
* an API (resource) server that verifies those JWTs with its own clock and leeway,
* a control server (runtime configuration, counters, shutdown) so tests share no Python state,
* optionally a loopback SNTP server (UDP, RFC 4330 server side),
* optionally N plain "Date origin" HTTP servers, each with its own clock offset.

Every server has its own clock: real time (or ``frozen_time_s``) plus its configured offset, and
every HTTP response carries a ``Date`` header that is the floor of that clock to the second, as
real servers do (the token endpoint's only while ``token_send_date`` is true). After start-up the process prints exactly one line of JSON to stdout and never
writes to stdout again; diagnostics go to stderr and never contain tokens or secrets.

Python 3.9+ standard library only. See README.md beside this file for every setting.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import hashlib
import hmac
import json
import math
import os
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import zlib
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

HOST = "127.0.0.1"
MAX_BODY = 1 << 20  # bytes; larger request bodies get 413
NTP_UNIX_DELTA = 2208988800  # seconds from 1900-01-01 to 1970-01-01 (RFC 5905 figure 4 era 0)

CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Headers", "authorization, content-type"),
    ("Access-Control-Allow-Methods", "GET, POST, HEAD, OPTIONS"),
    ("Access-Control-Expose-Headers", "date, retry-after, www-authenticate"),
)

STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".map": "application/json",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ts": "text/plain; charset=utf-8",
}

_VERBOSE = False


def log(msg: str) -> None:
    """Write one diagnostic line to stderr (never stdout; never a token or secret)."""
    try:
        sys.stderr.write("tcserver: " + msg + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

DEFAULT_CONFIG: Dict[str, Any] = {
    # clocks
    "frozen_time_s": None,
    "issuer_offset_s": 0.0,
    "api_offset_s": 0.0,
    "api_leeway_s": 0.0,
    "origin_offsets_s": [],
    "sntp_offset_s": 0.0,
    # token endpoint
    "client_id": "demo-client",
    "client_secret": "demo-secret",
    "client_auth_methods": ["client_secret_basic", "client_secret_post"],
    "basic_auth_decoding": "rfc6749",
    "signing_key": "tokenclock-test-key",
    "issuer": "tokenclock-test-issuer",
    "audience": "tokenclock-test-api",
    "default_scope": "read",
    "token_ttl_s": 3600,
    "include_expires_in": True,
    "expires_in_as_string": False,
    "include_nbf": True,
    "nbf_delta_s": 0,
    "token_type": "Bearer",
    "cached_token_age_s": 0,
    "cache_min_remaining_fraction": 0.3,
    "issue_refresh_token": False,
    "rotate_refresh_tokens": False,
    "revoke_family_on_reuse": False,
    "token_send_date": True,
    "opaque_tokens": False,
    "failures": [],
    "fail_all_token_requests_with": None,
    # API server
    "api_always_401": False,
    "api_expected_audience": None,
    "api_redirect_location": None,
    "api_redirect_status": 302,
    # Date origins
    "origin_status": 200,
    # SNTP server
    "sntp_mode": "normal",
    "sntp_kiss_code": "RATE",
    "sntp_stratum": 2,
    "sntp_processing_s": 0.0,
}

SECRET_KEYS = ("client_secret", "signing_key")
# settings that change what a minted token looks like: changing one empties the token cache
CACHE_SHAPING_KEYS = frozenset({
    "client_id", "signing_key", "issuer", "audience", "token_ttl_s", "include_nbf",
    "nbf_delta_s", "cached_token_age_s", "opaque_tokens",
})
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "client_secret_jwt")
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# client_secret_jwt: an assertion may be issued at most this far in the future on the token
# server's clock (a client that does not correct for skew writes its own clock's time).
ASSERTION_IAT_LEEWAY_S = 5
SNTP_MODES = ("normal", "kiss_rate", "garbage", "wrong_origin", "unsynchronized", "silent")

# failure kind -> allowed fields besides "kind"
FAILURE_FIELDS: Dict[str, Tuple[str, ...]] = {
    "status": ("status", "retry_after", "retry_after_date_s", "body", "content_type",
               "after_processing"),
    "oauth_error": ("status", "error", "error_description", "retry_after", "retry_after_date_s",
                    "after_processing"),
    "slow": ("delay_s",),
    "invalid_json": ("status", "after_processing"),
    "html": ("status", "after_processing"),
    "empty_body": ("status", "after_processing"),
    "missing_field": ("field",),
    "close": ("after_processing",),
    "reset": ("after_processing",),
    "override": ("set", "remove", "claims"),
    "trickle": ("interval_s", "chunk_bytes"),
    "gzip_bomb": ("size_mb", "after_processing"),
}
# kinds that change the normal response instead of replacing it
SOFT_FAILURES = ("slow", "missing_field", "override", "trickle")


class ConfigError(ValueError):
    """A control request carried an invalid setting (message names the key, never the value)."""


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _num(key: str, v: Any, lo: float = -1e11, hi: float = 1e11) -> float:
    if not _is_num(v):
        raise ConfigError(f"{key} must be a finite number")
    if v < lo or v > hi:
        raise ConfigError(f"{key} must be between {lo:g} and {hi:g}")
    return float(v)


def _int(key: str, v: Any, lo: int = -(10**10), hi: int = 10**10) -> int:
    if not _is_num(v) or float(v) != math.floor(v):
        raise ConfigError(f"{key} must be an integer")
    v = int(v)
    if v < lo or v > hi:
        raise ConfigError(f"{key} must be between {lo} and {hi}")
    return v


def _bool(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(f"{key} must be true or false")
    return v


def _str(key: str, v: Any, nonempty: bool = False) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"{key} must be a string")
    if nonempty and not v:
        raise ConfigError(f"{key} must not be empty")
    return v


def _opt(fn: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda k, v: None if v is None else fn(k, v)


def _num_list(key: str, v: Any) -> List[float]:
    if not isinstance(v, list):
        raise ConfigError(f"{key} must be a list of numbers")
    return [_num(f"{key}[{i}]", x) for i, x in enumerate(v)]


def _auth_methods(key: str, v: Any) -> List[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ConfigError(f"{key} must be a list of strings")
    for x in v:
        if x not in CLIENT_AUTH_METHODS:
            raise ConfigError(f"{key} entries must be one of {', '.join(CLIENT_AUTH_METHODS)}")
    return list(v)


def _enum(*allowed: str) -> Callable[[str, Any], str]:
    def check(key: str, v: Any) -> str:
        if v not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}")
        return v
    return check


def _kiss_code(key: str, v: Any) -> str:
    if not isinstance(v, str) or len(v) != 4 or not all(0x20 <= ord(c) < 0x7F for c in v):
        raise ConfigError(f"{key} must be 4 printable ASCII characters")
    return v


def validate_failure(key: str, v: Any) -> Dict[str, Any]:
    """Check one injected-failure object and fill its defaults."""
    if not isinstance(v, dict):
        raise ConfigError(f"{key} must be an object")
    kind = v.get("kind")
    if kind not in FAILURE_FIELDS:
        raise ConfigError(f"{key}.kind must be one of {', '.join(sorted(FAILURE_FIELDS))}")
    extra = set(v) - set(FAILURE_FIELDS[kind]) - {"kind"}
    if extra:
        raise ConfigError(f"{key}: unknown field(s) for kind {kind}: {', '.join(sorted(extra))}")
    out: Dict[str, Any] = {"kind": kind}
    if "status" in FAILURE_FIELDS[kind]:
        default = {"status": 500, "oauth_error": 400}.get(kind, 200)
        out["status"] = _int(f"{key}.status", v.get("status", default), 200, 599)
    if "after_processing" in FAILURE_FIELDS[kind]:
        out["after_processing"] = _bool(f"{key}.after_processing",
                                        v.get("after_processing", False))
    if "retry_after" in v:
        ra = v["retry_after"]
        if _is_num(ra):
            ra = str(int(ra)) if float(ra) == math.floor(ra) else str(ra)
        out["retry_after"] = _str(f"{key}.retry_after", ra, nonempty=True)
    if "retry_after_date_s" in v:
        out["retry_after_date_s"] = _num(f"{key}.retry_after_date_s", v["retry_after_date_s"])
    if "retry_after" in out and "retry_after_date_s" in out:
        raise ConfigError(f"{key}: give retry_after or retry_after_date_s, not both")
    if kind == "status":
        if "body" in v:
            out["body"] = _str(f"{key}.body", v["body"])
        if "content_type" in v:
            out["content_type"] = _str(f"{key}.content_type", v["content_type"], nonempty=True)
    elif kind == "oauth_error":
        out["error"] = _str(f"{key}.error", v.get("error"), nonempty=True)
        if "error_description" in v:
            out["error_description"] = _str(f"{key}.error_description", v["error_description"])
    elif kind == "slow":
        out["delay_s"] = _num(f"{key}.delay_s", v.get("delay_s", 1.0), 0, 600)
    elif kind == "trickle":
        out["interval_s"] = _num(f"{key}.interval_s", v.get("interval_s", 0.2), 0.001, 60)
        out["chunk_bytes"] = _int(f"{key}.chunk_bytes", v.get("chunk_bytes", 1), 1, 1 << 20)
    elif kind == "gzip_bomb":
        out["size_mb"] = _int(f"{key}.size_mb", v.get("size_mb", 64), 1, 1024)
    elif kind == "missing_field":
        out["field"] = _str(f"{key}.field", v.get("field"), nonempty=True)
    elif kind == "override":
        for name in ("set", "claims"):
            val = v.get(name, {})
            if not isinstance(val, dict):
                raise ConfigError(f"{key}.{name} must be an object")
            out[name] = copy.deepcopy(val)
        rem = v.get("remove", [])
        if not isinstance(rem, list) or not all(isinstance(x, str) for x in rem):
            raise ConfigError(f"{key}.remove must be a list of strings")
        out["remove"] = list(rem)
    return out


def _failure_list(key: str, v: Any) -> List[Dict[str, Any]]:
    if not isinstance(v, list):
        raise ConfigError(f"{key} must be a list of failure objects")
    return [validate_failure(f"{key}[{i}]", x) for i, x in enumerate(v)]


VALIDATORS: Dict[str, Callable[[str, Any], Any]] = {
    "frozen_time_s": _opt(lambda k, v: _num(k, v, 0, 1e11)),
    "issuer_offset_s": _num,
    "api_offset_s": _num,
    "api_leeway_s": lambda k, v: _num(k, v, 0, 1e9),
    "origin_offsets_s": _num_list,
    "sntp_offset_s": _num,
    "client_id": lambda k, v: _str(k, v, nonempty=True),
    "client_secret": _str,
    "client_auth_methods": _auth_methods,
    "basic_auth_decoding": _enum("rfc6749", "raw"),
    "signing_key": lambda k, v: _str(k, v, nonempty=True),
    "issuer": _str,
    "audience": _str,
    "default_scope": _opt(_str),
    "token_ttl_s": _int,
    "include_expires_in": _bool,
    "expires_in_as_string": _bool,
    "include_nbf": _bool,
    "nbf_delta_s": _int,
    "token_type": _str,
    "cached_token_age_s": lambda k, v: _num(k, v, 0, 1e10),
    "cache_min_remaining_fraction": lambda k, v: _num(k, v, 0, 1),
    "issue_refresh_token": _bool,
    "rotate_refresh_tokens": _bool,
    "revoke_family_on_reuse": _bool,
    "token_send_date": _bool,
    "opaque_tokens": _bool,
    "failures": _failure_list,
    "fail_all_token_requests_with": _opt(validate_failure),
    "api_always_401": _bool,
    "api_expected_audience": _opt(_str),
    "api_redirect_location": _opt(lambda k, v: _str(k, v, nonempty=True)),
    "api_redirect_status": lambda k, v: _int(k, v, 300, 399),
    "origin_status": lambda k, v: _int(k, v, 200, 599),
    "sntp_mode": _enum(*SNTP_MODES),
    "sntp_kiss_code": _kiss_code,
    "sntp_stratum": lambda k, v: _int(k, v, 1, 15),
    "sntp_processing_s": lambda k, v: _num(k, v, 0, 10),
}
assert set(VALIDATORS) == set(DEFAULT_CONFIG)


def validate_config_update(update: Any) -> Dict[str, Any]:
    """Validate a partial config update as a whole (all keys or none are applied)."""
    if not isinstance(update, dict):
        raise ConfigError("config must be a JSON object")
    unknown = sorted(k for k in update if k not in VALIDATORS)
    if unknown:
        raise ConfigError("unknown config key(s): " + ", ".join(unknown))
    return {k: VALIDATORS[k](k, v) for k, v in update.items()}


def redact_config(cfg: Dict[str, Any]) -> Dict[str, Any]:
    out = copy.deepcopy(cfg)
    for k in SECRET_KEYS:
        out[k] = "<redacted>"
    return out


# --------------------------------------------------------------------------------------------
# Shared state (config, counters, refresh tokens, issuer-side token cache)
# --------------------------------------------------------------------------------------------


def _new_stats(n_origins: int) -> Dict[str, Any]:
    return {
        "token": {
            "requests": 0,
            "by_grant_type": {"client_credentials": 0, "refresh_token": 0, "other": 0,
                              "missing": 0},
            "by_client_auth": {"client_secret_basic": 0, "client_secret_post": 0, "none": 0},
            "issued": 0,
            "cached_reused": 0,
            "refresh_tokens_issued": 0,
            "errors": {},
            "failures_served": 0,
            "failures_by_kind": {},
        },
        "api": {
            "requests": 0,
            "responses_200": 0,
            "responses_401": 0,
            "responses_401_by_reason": {},
        },
        # "redirects" (api) and "with_authorization" (origins) appear once counted
        "origins": [{"requests": 0} for _ in range(n_origins)],
        "sntp": {"requests": 0, "replies": 0, "ignored": 0, "by_mode": {}},
        "static": {"requests": 0, "not_found": 0},
        # counters; the by-state counts of refresh tokens are added by stats_snapshot
        "refresh_tokens": {"reused": 0, "families_revoked": 0},
    }


class State:
    """Everything the servers share. All access goes through ``lock``."""

    def __init__(self, initial: Dict[str, Any], n_origins: int, static_dir: Optional[str]):
        self.lock = threading.RLock()
        self.stop = threading.Event()
        self.n_origins = n_origins
        self.static_dir = static_dir
        self.initial = copy.deepcopy(initial)
        self.config: Dict[str, Any] = copy.deepcopy(initial)
        self.stats = _new_stats(n_origins)
        # refresh token -> {"client_id", "scope", "active", "state", "family"}; state is
        # "active", "used" (rotated away) or "revoked" (its family was revoked)
        self.refresh_tokens: Dict[str, Dict[str, Any]] = {}
        # family id -> {"revoked": bool}; a family is the chain of refresh tokens rotated from
        # one issued refresh token
        self.families: Dict[str, Dict[str, Any]] = {}
        # opaque access token -> the claims a JWT would have carried (on the token clock)
        self.opaque_tokens: Dict[str, Dict[str, Any]] = {}
        # (client_id, scope) -> (access_token, claims)
        self.token_cache: Dict[Tuple[str, Optional[str]], Tuple[str, Dict[str, Any]]] = {}

    # clocks ---------------------------------------------------------------------------------
    def real_now(self) -> float:
        frozen = self.config["frozen_time_s"]
        return time.time() if frozen is None else frozen

    def clock(self, role: str, index: int = 0) -> float:
        """The given server's own clock: real time (or frozen time) plus its offset."""
        with self.lock:
            base = self.real_now()
            if role == "token":
                return base + self.config["issuer_offset_s"]
            if role == "api":
                return base + self.config["api_offset_s"]
            if role == "origin":
                offs = self.config["origin_offsets_s"]
                return base + (offs[index] if index < len(offs) else 0.0)
            if role == "sntp":
                return base + self.config["sntp_offset_s"]
            return base

    # config ---------------------------------------------------------------------------------
    def snapshot(self) -> Dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.config)

    def update_config(self, update: Dict[str, Any]) -> None:
        with self.lock:
            self.config.update(copy.deepcopy(update))
            # The issuer-side cache survives clock changes (moving the clock is how tests age
            # it) but not a change of what a token looks like.
            if any(k in CACHE_SHAPING_KEYS for k in update):
                self.token_cache.clear()

    def reset(self, config_too: bool) -> None:
        with self.lock:
            self.stats = _new_stats(self.n_origins)
            if config_too:
                self.config = copy.deepcopy(self.initial)
                self.refresh_tokens.clear()
                self.families.clear()
                self.opaque_tokens.clear()
                self.token_cache.clear()

    def take_failure(self) -> Optional[Dict[str, Any]]:
        """Queued failures first (one per token request), then the sticky one, if any."""
        with self.lock:
            queue = self.config["failures"]
            if queue:
                return queue.pop(0)
            sticky = self.config["fail_all_token_requests_with"]
            return copy.deepcopy(sticky) if sticky is not None else None

    # counters -------------------------------------------------------------------------------
    def bump(self, *path: Any, by: int = 1) -> None:
        with self.lock:
            node: Any = self.stats
            for p in path[:-1]:
                node = node[p]
            last = path[-1]
            if isinstance(node, dict):
                node[last] = node.get(last, 0) + by
            else:
                node[last] += by

    def stats_snapshot(self) -> Dict[str, Any]:
        with self.lock:
            out = copy.deepcopy(self.stats)
            out["token"]["failures_pending"] = len(self.config["failures"])
            out["token"]["sticky_failure"] = self.config["fail_all_token_requests_with"] is not None
            states = [r["state"] for r in self.refresh_tokens.values()]
            out["refresh_tokens"] = {
                "active": states.count("active"),
                "used": states.count("used"),
                "revoked": states.count("revoked"),
                "families": len(self.families),
                **out["refresh_tokens"],
            }
            return out

    # refresh tokens -------------------------------------------------------------------------
    def new_refresh_token(self, client_id: str, scope: Optional[str],
                          family: Optional[str] = None) -> str:
        """A new active refresh token; ``family`` None starts a new family."""
        rt = "rt-" + secrets.token_urlsafe(24)
        with self.lock:
            if family is None:
                family = "f-" + secrets.token_hex(6)
                self.families[family] = {"revoked": False, "generation": -1}
            # generation: the token's place in its family's chain (0 = the issued one)
            fam = self.families[family]
            fam["generation"] += 1
            self.refresh_tokens[rt] = {"client_id": client_id, "scope": scope, "active": True,
                                       "state": "active", "family": family,
                                       "generation": fam["generation"]}
            self.stats["token"]["refresh_tokens_issued"] += 1
        return rt

    def revoke_family(self, family: str) -> int:
        """Every still-active refresh token of the family becomes invalid; returns how many.
        Used (rotated-away) ones stay "used", so presenting one again is still a reuse."""
        with self.lock:
            fam = self.families.get(family)
            if fam is None:
                return 0
            if not fam["revoked"]:
                fam["revoked"] = True
                self.stats["refresh_tokens"]["families_revoked"] += 1
            n = 0
            for rec in self.refresh_tokens.values():
                if rec["family"] == family and rec["state"] == "active":
                    rec["state"] = "revoked"
                    rec["active"] = False
                    n += 1
            return n

    def register_opaque(self, token: str, claims: Dict[str, Any]) -> None:
        with self.lock:
            self.opaque_tokens[token] = {k: v for k, v in claims.items() if k != "_fresh"}

    def opaque_claims(self, token: str) -> Optional[Dict[str, Any]]:
        with self.lock:
            c = self.opaque_tokens.get(token)
            return dict(c) if c is not None else None


# --------------------------------------------------------------------------------------------
# JWT (HS256), RFC 7515 / RFC 7519
# --------------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64url_decode(text: str) -> bytes:
    if not text or any(c not in _B64URL_CHARS for c in text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_jwt(claims: Dict[str, Any], key: str) -> str:
    head = b64url(_json_bytes({"alg": "HS256", "typ": "JWT"}))
    body = b64url(_json_bytes(claims))
    signing_input = (head + "." + body).encode("ascii")
    sig = hmac.new(key.encode("utf-8"), signing_input, hashlib.sha256).digest()
    return head + "." + body + "." + b64url(sig)


def verify_jwt(token: str, key: str) -> Tuple[Optional[str], Optional[Dict[str, Any]]]:
    """Return (reason, claims): reason is None, "malformed" or "bad_signature"."""
    parts = token.split(".")
    if len(parts) != 3:
        return "malformed", None
    try:
        header = json.loads(b64url_decode(parts[0]).decode("utf-8"))
        claims = json.loads(b64url_decode(parts[1]).decode("utf-8"))
        sig = b64url_decode(parts[2]) if parts[2] else b""
    except (ValueError, UnicodeDecodeError):
        return "malformed", None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return "malformed", None
    if header.get("alg") != "HS256":  # pinned: "none" and every other algorithm are refused
        return "bad_signature", None
    expected = hmac.new(key.encode("utf-8"), (parts[0] + "." + parts[1]).encode("ascii"),
                        hashlib.sha256).digest()
    if not hmac.compare_digest(sig, expected):
        return "bad_signature", None
    return None, claims


def check_time_claims(claims: Dict[str, Any], now: float, leeway: float) -> Optional[str]:
    """The comparisons the product contract names (RFC 7519: invalid at now == exp)."""
    for name in ("exp", "nbf", "iat"):
        if name in claims and not _is_num(claims[name]):
            return "malformed"
    if "exp" in claims and now - leeway >= claims["exp"]:
        return "expired"
    if "nbf" in claims and now + leeway < claims["nbf"]:
        return "not_yet_valid"
    if "iat" in claims and now + leeway < claims["iat"]:
        return "issued_in_future"
    return None


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


def http_date(ts: float) -> str:
    """IMF-fixdate of the floor of ``ts`` (what a server with a 1-second clock reading sends)."""
    # clamped to years 1970..9999 so an absurd offset cannot break the response
    return formatdate(min(max(math.floor(ts), 0), 253402300799), usegmt=True)


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str):
        super().__init__(error)
        self.status = status
        self.error = error
        self.description = description


class TCHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # refresh-storm tests open many connections at once

    def __init__(self, port: int, state: State, role: str, index: int = 0):
        self.state = state
        self.role = role
        self.index = index
        self._reset: set = set()
        self._reset_lock = threading.Lock()
        super().__init__((HOST, port), Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), which can stall on a machine without DNS.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        log(f"{self.role}: connection error {type(exc).__name__}")

    def mark_reset(self, sock: socket.socket) -> None:
        """Close this connection abortively (RST) instead of with a FIN."""
        with self._reset_lock:
            self._reset.add(id(sock))

    def shutdown_request(self, request: Any) -> None:
        with self._reset_lock:
            abort = id(request) in self._reset
            self._reset.discard(id(request))
        if abort:
            try:  # SO_LINGER on with 0 s: close() sends RST; no shutdown(SHUT_WR) FIN first
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close_request(request)
            return
        super().shutdown_request(request)

    @property
    def port(self) -> int:
        return self.server_address[1]


class Handler(BaseHTTPRequestHandler):
    server: TCHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "tcserver/1"
    sys_version = ""
    timeout = 30  # idle keep-alive connections release their thread after this

    # ---- plumbing -------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self._headers_sent = False

    def version_string(self) -> str:
        return self.server_version

    def date_time_string(self, timestamp: Optional[float] = None) -> str:
        if timestamp is None:
            timestamp = self.server.state.clock(self.server.role, self.server.index)
        return http_date(timestamp)

    def send_response(self, code: int, message: Optional[str] = None) -> None:
        """As the stdlib's (status line, Server, Date), but the token endpoint leaves Date out
        while ``token_send_date`` is false (an issuer whose clock nobody can read)."""
        state = self.server.state
        if self.server.role == "token":
            with state.lock:
                send_date = state.config["token_send_date"]
            if not send_date:
                self.log_request(code)
                self.send_response_only(code, message)
                self.send_header("Server", self.version_string())
                return
        super().send_response(code, message)

    def end_headers(self) -> None:
        for k, v in CORS_HEADERS:
            self.send_header(k, v)
        self._headers_sent = True
        super().end_headers()

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        if _VERBOSE:
            raw = getattr(self, "path", None)
            path = urlsplit(raw).path if isinstance(raw, str) else "?"
            log(f"{self.server.role} {self.command} {path} {code}")

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        if _VERBOSE:
            log(f"{self.server.role}: request error")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def send_error(self, code: int, message: Optional[str] = None,
                   explain: Optional[str] = None) -> None:
        """JSON errors, never echoing the request (the stdlib puts input in the reason)."""
        if not self.request_version or self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        err = "invalid_request" if code < 500 or code == 505 else "server_error"
        self.send_json(code, {"error": err, "error_description": phrase},
                       [("Connection", "close")])

    def send_body(self, status: int, body: bytes, content_type: str,
                  headers: Optional[List[Tuple[str, str]]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers or []:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.log_request(status)

    def send_json(self, status: int, obj: Any,
                  headers: Optional[List[Tuple[str, str]]] = None) -> None:
        self.send_body(status, _json_bytes(obj), "application/json", headers)

    def _read_body(self) -> Optional[bytes]:
        te = self.headers.get("Transfer-Encoding")
        if te is not None:
            if te.strip().lower() != "chunked":
                self.send_error(400)
                return None
            return self._read_chunked()
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        cl = cl.strip()
        if not cl.isdigit() or len(cl) > 12:
            self.send_error(400)
            return None
        n = int(cl)
        if n > MAX_BODY:
            self.send_error(413)
            return None
        data = self.rfile.read(n) if n else b""
        if len(data) != n:
            self.close_connection = True
            return None
        return data

    def _read_chunked(self) -> Optional[bytes]:
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                self.send_error(400)
                return None
            if size < 0 or len(out) + size > MAX_BODY:
                self.send_error(413)
                return None
            if size == 0:
                while True:  # trailers up to the empty line
                    t = self.rfile.readline(8192)
                    if t in (b"\r\n", b"\n", b""):
                        return bytes(out)
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                self.close_connection = True
                return None
            out += chunk
            self.rfile.readline(8)  # CRLF after the chunk

    def _dispatch(self) -> None:
        try:
            if self.request_version == "HTTP/0.9":
                self.send_error(400)
                return
            body = self._read_body()
            if body is None:
                return
            raw_path = self.path
            if not raw_path.startswith("/") and not raw_path.startswith("http://"):
                self.send_error(400)
                return
            path = urlsplit(raw_path).path or "/"
            if self.command == "OPTIONS":  # CORS preflight; headers come from end_headers
                self.send_response(204)
                self.send_header("Access-Control-Max-Age", "600")
                self.end_headers()
                self.log_request(204)
                return
            route = {
                "token": self.route_token,
                "api": self.route_api,
                "control": self.route_control,
                "origin": self.route_origin,
            }[self.server.role]
            route(path, body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout):
            self.close_connection = True
        except Exception as exc:  # never a traceback to the client
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f"line {tb.tb_lineno}" if tb is not None else "?"
            log(f"{self.server.role}: internal error {type(exc).__name__} at {where}")
            self.close_connection = True
            if not self._headers_sent:
                try:
                    self.send_json(500, {"error": "server_error",
                                         "error_description": "internal error"},
                                   [("Connection", "close")])
                except OSError:
                    pass

    do_GET = do_POST = do_HEAD = do_OPTIONS = _dispatch
    do_PUT = do_DELETE = do_PATCH = _dispatch

    def method_not_allowed(self, allow: str) -> None:
        self.send_json(405, {"error": "invalid_request",
                             "error_description": "method not allowed"},
                       [("Allow", allow)])

    def not_found(self) -> None:
        self.send_json(404, {"error": "not_found", "error_description": "no such path"})

    # ---- token endpoint -------------------------------------------------------------------
    def route_token(self, path: str, body: bytes) -> None:
        if path != "/token":
            self.not_found()
            return
        if self.command != "POST":
            self.method_not_allowed("POST, OPTIONS")
            return
        state = self.server.state
        form, form_error = parse_form(self.headers.get("Content-Type"), body)
        grant = form.get("grant_type") if form is not None else None
        if grant is None:
            grant_key = "missing"
        elif grant in ("client_credentials", "refresh_token"):
            grant_key = grant
        else:
            grant_key = "other"
        state.bump("token", "requests")
        state.bump("token", "by_grant_type", grant_key)

        failure = state.take_failure()
        if failure is not None:
            state.bump("token", "failures_served")
            state.bump("token", "failures_by_kind", failure["kind"])
            if failure["kind"] == "slow":
                if state.stop.wait(failure["delay_s"]):
                    self.close_connection = True  # shutting down
                    return
                failure = None
            elif failure["kind"] not in SOFT_FAILURES and not failure["after_processing"]:
                self.serve_failure(failure)
                return

        cfg = state.snapshot()
        try:
            if form is None:
                raise OAuthError(400, "invalid_request", form_error or "bad form body")
            payload = self.token_grant(form, cfg, failure)
            status, headers = 200, []
        except OAuthError as e:
            state.bump("token", "errors", e.error)
            payload = {"error": e.error, "error_description": e.description}
            status = e.status
            headers = [("WWW-Authenticate", 'Basic realm="tokenclock"')] \
                if e.error == "invalid_client" else []
        if failure is not None and failure["kind"] not in SOFT_FAILURES:
            self.serve_failure(failure)  # after_processing: the grant took effect, reply lost
            return
        if failure is not None and failure["kind"] == "missing_field" and status == 200:
            payload.pop(failure["field"], None)
        headers += [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
        if failure is not None and failure["kind"] == "trickle":
            self.send_trickle(status, _json_bytes(payload), headers, failure)
            return
        self.send_json(status, payload, headers)

    def send_trickle(self, status: int, body: bytes, headers: List[Tuple[str, str]],
                     f: Dict[str, Any]) -> None:
        """The response, its body written ``chunk_bytes`` at a time every ``interval_s``
        (a slow-loris server: each read is quick, the whole takes long)."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()
        n = f["chunk_bytes"]
        for i in range(0, len(body), n):
            if self.server.state.stop.wait(f["interval_s"]):
                self.close_connection = True
                return
            self.wfile.write(body[i:i + n])
            self.wfile.flush()
        self.log_request(status)

    def authenticate_client(self, form: Dict[str, str], cfg: Dict[str, Any]) -> str:
        """RFC 6749 §2.3.1; returns the client_id. Raises OAuthError."""
        state = self.server.state
        auth = self.headers.get("Authorization")
        basic = None
        if auth is not None:
            scheme, _, rest = auth.strip().partition(" ")
            if scheme.lower() == "basic":
                basic = rest.strip()
        if sum((basic is not None, "client_secret" in form, "client_assertion" in form)) > 1:
            raise OAuthError(400, "invalid_request",
                             "more than one client authentication method")
        if "client_assertion" in form:
            state.bump("token", "by_client_auth", "client_secret_jwt")
            if "client_secret_jwt" not in cfg["client_auth_methods"]:
                raise OAuthError(401, "invalid_client", "client authentication method not allowed")
            return self.check_client_secret_jwt(form, cfg)
        if basic is not None:
            method = "client_secret_basic"
            try:
                text = base64.b64decode(basic, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                state.bump("token", "by_client_auth", method)
                raise OAuthError(401, "invalid_client", "malformed Basic credentials")
            if ":" not in text:
                state.bump("token", "by_client_auth", method)
                raise OAuthError(401, "invalid_client", "malformed Basic credentials")
            raw_id, _, raw_secret = text.partition(":")
            if cfg["basic_auth_decoding"] == "rfc6749":
                try:
                    cid = unquote_plus(raw_id, encoding="utf-8", errors="strict")
                    csecret = unquote_plus(raw_secret, encoding="utf-8", errors="strict")
                except UnicodeDecodeError:
                    state.bump("token", "by_client_auth", method)
                    raise OAuthError(401, "invalid_client", "malformed Basic credentials")
            else:
                cid, csecret = raw_id, raw_secret
            if "client_id" in form and form["client_id"] != cid:
                state.bump("token", "by_client_auth", method)
                raise OAuthError(400, "invalid_request", "client_id does not match Basic")
        elif "client_secret" in form:
            method = "client_secret_post"
            if "client_id" not in form:
                state.bump("token", "by_client_auth", method)
                raise OAuthError(400, "invalid_request", "client_id is missing")
            cid, csecret = form["client_id"], form["client_secret"]
        else:
            state.bump("token", "by_client_auth", "none")
            raise OAuthError(401, "invalid_client", "client authentication required")
        state.bump("token", "by_client_auth", method)
        if method not in cfg["client_auth_methods"]:
            raise OAuthError(401, "invalid_client", "client authentication method not allowed")
        ok_id = hmac.compare_digest(cid.encode("utf-8"), cfg["client_id"].encode("utf-8"))
        ok_secret = hmac.compare_digest(csecret.encode("utf-8"),
                                        cfg["client_secret"].encode("utf-8"))
        if not (ok_id and ok_secret):
            raise OAuthError(401, "invalid_client", "client authentication failed")
        return cid

    def check_client_secret_jwt(self, form: Dict[str, str], cfg: Dict[str, Any]) -> str:
        """RFC 7523 §2.2 / §3 with HS256 keyed by the client secret (OIDC Core §9): signature,
        ``iss = sub = client_id``, ``aud`` = this token endpoint's URL, and the times on THIS
        server's token clock (which may be offset): ``exp`` in the future, ``iat`` not more than
        ``ASSERTION_IAT_LEEWAY_S`` ahead of it, at most 10 minutes between them."""
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise OAuthError(400, "invalid_request", "client_assertion_type is missing or wrong")
        parts = form["client_assertion"].split(".")
        if len(parts) != 3:
            raise OAuthError(401, "invalid_client", "client_assertion is not a compact JWS")

        def seg(x: str) -> bytes:
            return base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))

        try:
            header = json.loads(seg(parts[0]))
            claims = json.loads(seg(parts[1]))
            signature = seg(parts[2])
        except (ValueError, binascii.Error):
            raise OAuthError(401, "invalid_client", "client_assertion cannot be decoded")
        if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
            raise OAuthError(401, "invalid_client", "client_assertion must be HS256")
        want = hmac.new(cfg["client_secret"].encode("utf-8"),
                        (parts[0] + "." + parts[1]).encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(want, signature):
            raise OAuthError(401, "invalid_client", "client_assertion signature is wrong")
        cid = cfg["client_id"]
        if claims.get("iss") != cid or claims.get("sub") != cid:
            raise OAuthError(401, "invalid_client", "client_assertion iss/sub is not the client")
        if "client_id" in form and form["client_id"] != cid:
            raise OAuthError(400, "invalid_request", "client_id does not match the assertion")
        endpoint = "http://%s%s" % (self.headers.get("Host", ""), self.path.split("?", 1)[0])
        aud = claims.get("aud")
        if not (aud == endpoint or (isinstance(aud, list) and endpoint in aud)):
            raise OAuthError(401, "invalid_client", "client_assertion aud is not this endpoint")
        if not isinstance(claims.get("jti"), str) or not claims["jti"]:
            raise OAuthError(401, "invalid_client", "client_assertion has no jti")
        now = self.server.state.clock("token")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp)):
            raise OAuthError(401, "invalid_client", "client_assertion iat/exp missing")
        if exp <= now:
            raise OAuthError(401, "invalid_client", "client_assertion expired")
        if iat > now + ASSERTION_IAT_LEEWAY_S:
            raise OAuthError(401, "invalid_client", "client_assertion issued in the future")
        if exp - iat > 600:
            raise OAuthError(401, "invalid_client", "client_assertion lives too long")
        return cid

    def token_grant(self, form: Dict[str, str], cfg: Dict[str, Any],
                    failure: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        state = self.server.state
        client_id = self.authenticate_client(form, cfg)
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError(400, "invalid_request", "grant_type is missing")
        override = failure if failure is not None and failure["kind"] == "override" else None
        refresh_token: Optional[str] = None
        if grant == "client_credentials":
            scope = form.get("scope") or cfg["default_scope"]
            token, claims = self.mint_or_reuse(cfg, client_id, scope, override)
            if cfg["issue_refresh_token"]:
                refresh_token = state.new_refresh_token(client_id, scope)
        elif grant == "refresh_token":
            presented = form.get("refresh_token")
            if not presented:
                raise OAuthError(400, "invalid_request", "refresh_token is missing")
            with state.lock:
                rec = state.refresh_tokens.get(presented)
                if rec is not None and rec["client_id"] == client_id and rec["state"] == "used":
                    # A rotated-away refresh token presented again: the chain has forked (a
                    # copy leaked, or two holders refreshed with one token).
                    state.stats["refresh_tokens"]["reused"] += 1
                    where = (f"generation {rec['generation']} presented, family at generation "
                             f"{state.families[rec['family']]['generation']}")
                    if cfg["revoke_family_on_reuse"]:
                        n = state.revoke_family(rec["family"])
                        log(f"token: refresh token reuse detected ({where}), family revoked "
                            f"({n} active)")
                    else:
                        log(f"token: refresh token reuse detected ({where})")
                if rec is None or not rec["active"] or rec["client_id"] != client_id:
                    raise OAuthError(400, "invalid_grant", "refresh token is invalid or used")
                granted = rec["scope"]
                scope = form.get("scope") or granted
                if scope and set(scope.split()) - set((granted or "").split()):
                    raise OAuthError(400, "invalid_scope", "scope exceeds the original grant")
                family = rec["family"]
                if cfg["rotate_refresh_tokens"]:
                    rec["active"] = False
                    rec["state"] = "used"
            if cfg["rotate_refresh_tokens"]:
                refresh_token = state.new_refresh_token(client_id, granted, family)
            now = state.clock("token")
            token, claims = mint(cfg, client_id, scope, now, 0, override)
        else:
            raise OAuthError(400, "unsupported_grant_type", "grant type not supported")
        if is_opaque(token):
            state.register_opaque(token, claims)
        state.bump("token", "issued")
        now = state.clock("token")
        resp: Dict[str, Any] = {"access_token": token, "token_type": cfg["token_type"]}
        if cfg["include_expires_in"]:
            remaining = max(0, math.floor(claims["exp"] - now)) \
                if _is_num(claims.get("exp")) else cfg["token_ttl_s"]
            # a freshly minted token states its full TTL; a cached one states what is left
            expires_in = cfg["token_ttl_s"] if claims.get("_fresh") else remaining
            resp["expires_in"] = str(expires_in) if cfg["expires_in_as_string"] else expires_in
        if refresh_token is not None:
            resp["refresh_token"] = refresh_token
        if scope:
            resp["scope"] = scope
        if override is not None:
            resp.update(copy.deepcopy(override["set"]))
            for name in override["remove"]:
                resp.pop(name, None)
        return resp

    def mint_or_reuse(self, cfg: Dict[str, Any], client_id: str, scope: Optional[str],
                      override: Optional[Dict[str, Any]]) -> Tuple[str, Dict[str, Any]]:
        """Mint a token; with cached_token_age_s > 0 behave like an issuer-side cache."""
        state = self.server.state
        age = cfg["cached_token_age_s"]
        if age <= 0 or override is not None:
            return mint(cfg, client_id, scope, state.clock("token"), 0, override)
        ttl = cfg["token_ttl_s"]
        with state.lock:
            now = state.clock("token")
            hit = state.token_cache.get((client_id, scope))
            if hit is not None and hit[1]["exp"] - now > cfg["cache_min_remaining_fraction"] * ttl:
                state.stats["token"]["cached_reused"] += 1
                return hit[0], dict(hit[1], _fresh=False)
            token, claims = mint(cfg, client_id, scope, now, age, None)
            claims["_fresh"] = False
            state.token_cache[(client_id, scope)] = (token, dict(claims))
            return token, claims

    def serve_failure(self, f: Dict[str, Any]) -> None:
        kind = f["kind"]
        state = self.server.state
        if kind in ("close", "reset"):
            self.close_connection = True
            if kind == "reset":
                self.server.mark_reset(self.connection)
            return
        headers: List[Tuple[str, str]] = [("Cache-Control", "no-store")]
        if "retry_after" in f:
            headers.append(("Retry-After", f["retry_after"]))
        elif "retry_after_date_s" in f:
            headers.append(("Retry-After",
                            http_date(state.clock("token") + f["retry_after_date_s"])))
        status = f.get("status", 200)
        if kind == "status":
            body = f.get("body", f"injected failure: HTTP {status}\n").encode("utf-8")
            self.send_body(status, body, f.get("content_type", "text/plain; charset=utf-8"),
                           headers)
        elif kind == "oauth_error":
            payload = {"error": f["error"]}
            if "error_description" in f:
                payload["error_description"] = f["error_description"]
            if f["error"] == "invalid_client":
                headers.append(("WWW-Authenticate", 'Basic realm="tokenclock"'))
            self.send_json(status, payload, headers)
        elif kind == "invalid_json":
            self.send_body(status, b'{"access_token": "eyJ', "application/json", headers)
        elif kind == "html":
            body = (b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
                    b"<body><p>Please sign in to continue.</p></body></html>")
            self.send_body(status, body, "text/html; charset=utf-8", headers)
        elif kind == "empty_body":
            self.send_body(status, b"", "application/json", headers)
        elif kind == "gzip_bomb":
            self.send_body(200, gzip_bomb(f["size_mb"]), "application/json",
                           headers + [("Content-Encoding", "gzip")])
        else:  # validated kinds only reach here
            self.send_error(500)

    # ---- API server -----------------------------------------------------------------------
    def route_api(self, path: str, body: bytes) -> None:
        if path == "/health":
            if self.command not in ("GET", "HEAD"):
                self.method_not_allowed("GET, HEAD, OPTIONS")
                return
            self.send_json(200, {"ok": True})
            return
        if path == "/static" or path.startswith("/static/"):
            self.serve_static(path)
            return
        if path != "/api" and not path.startswith("/api/"):
            self.not_found()
            return
        if self.command not in ("GET", "POST", "HEAD"):
            self.method_not_allowed("GET, POST, HEAD, OPTIONS")
            return
        state = self.server.state
        state.bump("api", "requests")
        cfg = state.snapshot()
        now = state.clock("api")
        location = cfg["api_redirect_location"]
        if location is not None and (path == "/api/redirect" or
                                     path.startswith("/api/redirect/")):
            state.bump("api", "redirects")
            self.send_json(cfg["api_redirect_status"], {"ok": False, "redirect": True},
                           [("Location", location)])
            return
        reason, claims = self.check_bearer(cfg, now)
        if reason is not None:
            state.bump("api", "responses_401")
            state.bump("api", "responses_401_by_reason", reason)
            challenge = f'Bearer error="invalid_token", error_description="{reason}"'
            self.send_json(401, {"ok": False, "error": "invalid_token",
                                 "error_description": reason, "api_now_s": now},
                           [("WWW-Authenticate", challenge)])
            return
        assert claims is not None
        state.bump("api", "responses_200")
        self.send_json(200, {"ok": True, "sub": claims.get("sub"), "scope": claims.get("scope"),
                             "method": self.command, "path": path})

    def check_bearer(self, cfg: Dict[str, Any],
                     now: float) -> Tuple[Optional[str], Optional[Dict[str, Any]]]:
        auth = self.headers.get("Authorization")
        if auth is None:
            return "missing", None
        scheme, _, token = auth.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return "missing", None
        if cfg["api_always_401"]:
            return "revoked", None
        if is_opaque(token):
            claims = self.server.state.opaque_claims(token)
            if claims is None:
                return "unknown_token", None
        else:
            reason, claims = verify_jwt(token, cfg["signing_key"])
            if reason is not None or claims is None:
                return reason or "malformed", None
        reason = check_time_claims(claims, now, cfg["api_leeway_s"])
        if reason is not None:
            return reason, None
        want = cfg["api_expected_audience"]
        if want is not None:
            aud = claims.get("aud")
            auds = aud if isinstance(aud, list) else [aud]
            if want not in auds:
                return "bad_audience", None
        return None, claims

    def serve_static(self, path: str) -> None:
        state = self.server.state
        state.bump("static", "requests")
        root = state.static_dir
        if self.command not in ("GET", "HEAD"):
            self.method_not_allowed("GET, HEAD, OPTIONS")
            return
        if root is None:
            state.bump("static", "not_found")
            self.not_found()
            return
        try:
            rel = unquote(path[len("/static"):].lstrip("/"), errors="strict")
        except UnicodeDecodeError:
            rel = "\x00"
        full = "" if "\x00" in rel else os.path.realpath(os.path.join(root, rel))
        if not full or not (full == root or full.startswith(root + os.sep)):
            state.bump("static", "not_found")
            self.not_found()
            return
        if os.path.isdir(full):
            full = os.path.join(full, "index.html")
        try:
            with open(full, "rb") as fh:
                data = fh.read()
        except OSError:
            state.bump("static", "not_found")
            self.not_found()
            return
        ctype = STATIC_TYPES.get(os.path.splitext(full)[1].lower(), "application/octet-stream")
        self.send_body(200, data, ctype, [("Cache-Control", "no-store")])

    # ---- Date origins ---------------------------------------------------------------------
    def route_origin(self, path: str, body: bytes) -> None:
        if self.command not in ("GET", "HEAD"):
            self.method_not_allowed("GET, HEAD, OPTIONS")
            return
        state = self.server.state
        state.bump("origins", self.server.index, "requests")
        if self.headers.get("Authorization") is not None:
            state.bump("origins", self.server.index, "with_authorization")
        status = state.snapshot()["origin_status"]
        headers: List[Tuple[str, str]] = []
        if status == 401:
            headers.append(("WWW-Authenticate", 'Bearer error="invalid_token"'))
        self.send_json(status, {"ok": status == 200, "origin": self.server.index}, headers)

    # ---- control --------------------------------------------------------------------------
    def route_control(self, path: str, body: bytes) -> None:
        state = self.server.state
        routes = {
            "/control/config": ("GET", "POST"),
            "/control/stats": ("GET",),
            "/control/reset": ("POST",),
            "/control/refresh_token": ("POST",),
            "/control/revoke_refresh_tokens": ("POST",),
            "/control/time": ("GET",),
            "/control/shutdown": ("POST",),
        }
        if path not in routes:
            self.not_found()
            return
        allowed = routes[path]
        if self.command not in allowed and not (self.command == "HEAD" and "GET" in allowed):
            self.method_not_allowed(", ".join(allowed + ("OPTIONS",)))
            return
        data: Any = None
        if self.command == "POST" and body.strip():
            try:
                data = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                self.send_json(400, {"error": "invalid_request",
                                     "error_description": "body is not JSON"})
                return
        if path == "/control/config":
            if self.command == "POST":
                try:
                    update = validate_config_update(data if data is not None else {})
                except ConfigError as e:
                    self.send_json(400, {"error": "invalid_config", "error_description": str(e)})
                    return
                state.update_config(update)
            self.send_json(200, {"ok": True, "config": redact_config(state.snapshot())})
        elif path == "/control/stats":
            self.send_json(200, state.stats_snapshot())
        elif path == "/control/reset":
            if data is not None and not isinstance(data, dict):
                self.send_json(400, {"error": "invalid_request",
                                     "error_description": "body must be a JSON object"})
                return
            config_too = bool((data or {}).get("config", False))
            state.reset(config_too)
            self.send_json(200, {"ok": True, "config_reset": config_too})
        elif path == "/control/refresh_token":
            cfg = state.snapshot()
            scope = (data or {}).get("scope", cfg["default_scope"]) \
                if isinstance(data, dict) else cfg["default_scope"]
            if scope is not None and not isinstance(scope, str):
                self.send_json(400, {"error": "invalid_request",
                                     "error_description": "scope must be a string"})
                return
            rt = state.new_refresh_token(cfg["client_id"], scope)
            self.send_json(200, {"refresh_token": rt, "scope": scope})
        elif path == "/control/revoke_refresh_tokens":
            body_ok = isinstance(data, dict) and (
                (set(data) == {"refresh_token"} and isinstance(data["refresh_token"], str))
                or data == {"all": True})
            if not body_ok:
                self.send_json(400, {"error": "invalid_request", "error_description":
                                     'body must be {"refresh_token": "..."} or {"all": true}'})
                return
            with state.lock:
                if "all" in data:
                    families = [f for f, v in state.families.items() if not v["revoked"]]
                else:
                    rec = state.refresh_tokens.get(data["refresh_token"])
                    if rec is None:
                        self.send_json(400, {"error": "invalid_request",
                                             "error_description": "unknown refresh token"})
                        return
                    families = [rec["family"]] if not state.families[rec["family"]]["revoked"] \
                        else []
                tokens = sum(state.revoke_family(f) for f in families)
            self.send_json(200, {"ok": True, "families_revoked": len(families),
                                 "tokens_revoked": tokens})
        elif path == "/control/time":
            with state.lock:
                out = {
                    "real_s": state.real_now(),
                    "frozen": state.config["frozen_time_s"] is not None,
                    "issuer_s": state.clock("token"),
                    "api_s": state.clock("api"),
                    "sntp_s": state.clock("sntp"),
                    "origins_s": [state.clock("origin", i) for i in range(state.n_origins)],
                }
            self.send_json(200, out)
        elif path == "/control/shutdown":
            self.close_connection = True
            self.send_json(200, {"ok": True}, [("Connection", "close")])
            self.wfile.flush()
            state.stop.set()


def parse_form(content_type: Optional[str],
               body: bytes) -> Tuple[Optional[Dict[str, str]], Optional[str]]:
    """application/x-www-form-urlencoded body -> dict; (None, reason) when unusable."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime != "application/x-www-form-urlencoded":
        return None, "content type must be application/x-www-form-urlencoded"
    try:
        text = body.decode("ascii")  # percent-encoded: anything else is not a form body
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False,
                          encoding="utf-8", errors="strict", max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        return None, "form body is not valid UTF-8 form encoding"
    form: Dict[str, str] = {}
    for k, v in pairs:
        if k in form:  # RFC 6749 §3.2: parameters must not be repeated
            return None, "repeated parameter"
        form[k] = v
    return form, None


_GZIP_BOMBS: Dict[int, bytes] = {}


def gzip_bomb(size_mb: int) -> bytes:
    """gzip of ``size_mb`` MiB of spaces (about 1000:1), built once per size."""
    out = _GZIP_BOMBS.get(size_mb)
    if out is None:
        z = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
        block = b" " * (1 << 20)
        parts = [z.compress(block) for _ in range(size_mb)]
        parts.append(z.flush())
        out = _GZIP_BOMBS[size_mb] = b"".join(parts)
    return out


OPAQUE_PREFIX = "tco-"


def is_opaque(token: str) -> bool:
    return token.startswith(OPAQUE_PREFIX)


def mint(cfg: Dict[str, Any], client_id: str, scope: Optional[str], now: float, age: float,
         override: Optional[Dict[str, Any]]) -> Tuple[str, Dict[str, Any]]:
    """Sign an access token. iat = floor(now - age) on the issuer's clock, exp = iat + ttl."""
    iat = math.floor(now - age)
    claims: Dict[str, Any] = {
        "iss": cfg["issuer"],
        "sub": client_id,
        "aud": cfg["audience"],
        "iat": iat,
        "exp": iat + cfg["token_ttl_s"],
        "jti": secrets.token_hex(12),
    }
    if cfg["include_nbf"]:
        claims["nbf"] = iat + cfg["nbf_delta_s"]
    if scope:
        claims["scope"] = scope
    if override is not None:
        for k, v in override["claims"].items():
            if v is None:
                claims.pop(k, None)
            else:
                claims[k] = copy.deepcopy(v)
    if cfg["opaque_tokens"]:
        # random, no structure: a client can read no iat/exp from it; the server keeps the
        # claims (register_opaque) and the API checks them as it checks a JWT's
        token = OPAQUE_PREFIX + secrets.token_urlsafe(32)
    else:
        token = sign_jwt(claims, cfg["signing_key"])
    out = dict(claims)
    out["_fresh"] = age == 0
    return token, out


# --------------------------------------------------------------------------------------------
# SNTP (RFC 4330 server side)
# --------------------------------------------------------------------------------------------


def ntp_timestamp(t: float) -> int:
    """Unix seconds -> 64-bit NTP timestamp (32.32 fixed point, era wraps modulo 2^32)."""
    secs = math.floor(t)
    frac = int((t - secs) * 4294967296.0)
    frac = min(max(frac, 0), 0xFFFFFFFF)
    return (((secs + NTP_UNIX_DELTA) & 0xFFFFFFFF) << 32) | frac


class SntpServer:
    def __init__(self, port: int, state: State):
        self.state = state
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, port))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.run, name="sntp", daemon=True)

    def run(self) -> None:
        while not self.state.stop.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                if self.state.stop.is_set():
                    return
                continue
            try:
                self.handle(data, addr)
            except Exception as exc:  # keep serving
                log(f"sntp: internal error {type(exc).__name__}")

    def handle(self, data: bytes, addr: Any) -> None:
        state = self.state
        rx_time = state.clock("sntp")
        if len(data) < 48 or (data[0] & 0x07) != 3:  # only client-mode requests get answers
            state.bump("sntp", "ignored")
            return
        state.bump("sntp", "requests")
        cfg = state.snapshot()
        mode = cfg["sntp_mode"]
        state.bump("sntp", "by_mode", mode)
        if mode == "silent":
            return
        if mode == "garbage":
            self.sock.sendto(os.urandom(48), addr)
            state.bump("sntp", "replies")
            return
        version = (data[0] >> 3) & 0x07
        poll = data[2] - 256 if data[2] >= 128 else data[2]  # signed log2 seconds
        origin = data[40:48]
        li, stratum, refid = 0, cfg["sntp_stratum"], bytes([127, 0, 0, 1])
        if mode == "kiss_rate":
            # as ntpd's kiss-o'-death: LI=3 (alarm), stratum 0, refid is the ASCII kiss code
            li, stratum, refid = 3, 0, cfg["sntp_kiss_code"].encode("ascii")
        elif mode == "unsynchronized":
            li = 3
        elif mode == "wrong_origin":
            origin = struct.pack("!Q", struct.unpack("!Q", origin)[0] ^ (1 << 32))
        if cfg["sntp_processing_s"] > 0:
            if cfg["frozen_time_s"] is None:
                state.stop.wait(cfg["sntp_processing_s"])
                tx_time = state.clock("sntp")
            else:
                tx_time = rx_time + cfg["sntp_processing_s"]
        else:
            tx_time = state.clock("sntp")
        reply = struct.pack(
            "!BBbbII4sQ8sQQ",
            (li << 6) | (version << 3) | 4,
            stratum,
            poll,
            -20,  # precision: about a microsecond
            0x00000080,  # root delay ~2 ms (16.16)
            0x00000100,  # root dispersion ~4 ms (16.16)
            refid,
            ntp_timestamp(rx_time - 64.0),  # reference: last set a minute ago
            origin,
            ntp_timestamp(rx_time),
            ntp_timestamp(tx_time),
        )
        self.sock.sendto(reply, addr)
        state.bump("sntp", "replies")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# Launcher
# --------------------------------------------------------------------------------------------


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="tokenclock loopback test servers (token endpoint, API, control, "
                    "optional SNTP and Date origins). Prints one JSON line, then serves.")
    p.add_argument("--token-port", type=int, default=0)
    p.add_argument("--api-port", type=int, default=0)
    p.add_argument("--control-port", type=int, default=0)
    p.add_argument("--sntp", action="store_true", help="start the SNTP server (UDP)")
    p.add_argument("--sntp-port", type=int, default=None, help="implies --sntp")
    p.add_argument("--origins", type=int, default=0, metavar="N",
                   help="start N extra Date-origin HTTP servers")
    p.add_argument("--static", metavar="DIR", default=None,
                   help="serve DIR at /static/ on the API server")
    p.add_argument("--config", metavar="JSON", default=None,
                   help="initial config (same keys as POST /control/config); reset restores it")
    p.add_argument("--exit-on-stdin-eof", action="store_true",
                   help="shut down when stdin closes (parent died)")
    p.add_argument("--max-lifetime-s", type=float, default=None,
                   help="shut down after this many seconds (safety net)")
    p.add_argument("--verbose", action="store_true",
                   help="log one line per request to stderr (method, path, status)")
    args = p.parse_args(argv)
    for name in ("token_port", "api_port", "control_port", "sntp_port"):
        v = getattr(args, name)
        if v is not None and not 0 <= v <= 65535:
            p.error(f"--{name.replace('_', '-')} must be 0..65535")
    if not 0 <= args.origins <= 64:
        p.error("--origins must be 0..64")
    if args.static is not None and not os.path.isdir(args.static):
        p.error("--static must be a directory")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    global _VERBOSE
    args = parse_args(argv)
    _VERBOSE = args.verbose
    initial = copy.deepcopy(DEFAULT_CONFIG)
    if args.config is not None:
        try:
            initial.update(validate_config_update(json.loads(args.config)))
        except (ValueError, ConfigError) as e:
            msg = str(e) if isinstance(e, ConfigError) else "not valid JSON"
            log(f"--config: {msg}")
            return 2
    static_dir = os.path.realpath(args.static) if args.static else None
    state = State(initial, args.origins, static_dir)

    http_servers: List[TCHTTPServer] = []
    sntp: Optional[SntpServer] = None
    try:
        token = TCHTTPServer(args.token_port, state, "token")
        http_servers.append(token)
        api = TCHTTPServer(args.api_port, state, "api")
        http_servers.append(api)
        control = TCHTTPServer(args.control_port, state, "control")
        http_servers.append(control)
        origins = []
        for i in range(args.origins):
            o = TCHTTPServer(0, state, "origin", i)
            http_servers.append(o)
            origins.append(o)
        if args.sntp or args.sntp_port is not None:
            sntp = SntpServer(args.sntp_port or 0, state)
    except OSError as e:
        log(f"cannot bind: {e.strerror or type(e).__name__}")
        for s in http_servers:
            s.server_close()
        return 1

    def on_signal(signum: int, frame: Any) -> None:
        state.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    threads = []
    for s in http_servers:
        t = threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                             name=f"http-{s.role}", daemon=True)
        t.start()
        threads.append(t)
    if sntp is not None:
        sntp.thread.start()

    base = f"http://{HOST}"
    info = {
        "token_url": f"{base}:{token.port}/token",
        "api_url": f"{base}:{api.port}/api",
        "api_base": f"{base}:{api.port}",
        "health_url": f"{base}:{api.port}/health",
        "static_url": f"{base}:{api.port}/static/" if static_dir else None,
        "control_url": f"{base}:{control.port}/control",
        "origins": [f"{base}:{o.port}/" for o in origins],
        "sntp_host": HOST if sntp is not None else None,
        "sntp_port": sntp.port if sntp is not None else None,
        "pid": os.getpid(),
    }
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()

    if args.exit_on_stdin_eof:
        def watch_stdin() -> None:
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except (OSError, ValueError):
                pass
            state.stop.set()
        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()

    deadline = None if args.max_lifetime_s is None else time.monotonic() + args.max_lifetime_s
    while not state.stop.wait(0.2):
        if deadline is not None and time.monotonic() >= deadline:
            log("max lifetime reached, shutting down")
            state.stop.set()

    # serve_forever notices a shutdown within its poll interval: stop all servers at once
    stoppers = [threading.Thread(target=s.shutdown, daemon=True) for s in http_servers]
    for t in stoppers:
        t.start()
    for t in stoppers:
        t.join(2.0)
    for s in http_servers:
        s.server_close()
    if sntp is not None:
        sntp.thread.join(1.0)
        sntp.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
