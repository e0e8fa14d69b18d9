"""Per-request auth overhead with a fresh token, in one process and one run: tokenclock's
``OAuth2Auth`` against (i) the tutorial's approach (PyJWT ``jwt.decode(token,
options={"verify_signature": False})`` on every request plus the expiry comparison) and (ii)
Authlib's ``OAuth2Token.is_expired()``. No network: tokenclock's one token request goes to an
``httpx.MockTransport`` before timing starts.

Two levels, each a ratio against tokenclock:

* ``decision`` — only "may I use the token, and with which header": tokenclock's session under
  its lock (what every request of both adapters does first); the tutorial's decode + compare;
  Authlib's ``is_expired()``.
* ``httpx flow`` — an ``httpx.Auth`` flow driven to the point where the request carries its
  ``Authorization`` header (what ``httpx.Client.send`` does before any I/O): tokenclock's
  ``sync_auth_flow``; the tutorial's check in an ``httpx.Auth``; ``is_expired()`` in an
  ``httpx.Auth``; and Authlib's own per-request path (``OAuth2Client`` calls
  ``ensure_active_token`` → ``is_expired``, then its ``OAuth2Auth`` flow rebuilds the request).
  Plus tokenclock's ``requests`` adapter (``auth(prepared_request)``), for reference.

Timing: each case runs ``--number`` calls per sample, samples interleaved round-robin across
cases (``--repeat`` rounds) so drift hits every case alike; the reported figure is the best
sample's time per call (the usual ``timeit`` practice), with the median beside it.

    .venv/bin/python python/bench/auth_overhead.py [--number N] [--repeat R] [--json]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import platform
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

import warnings

import httpx
import jwt  # PyJWT
import requests

with warnings.catch_warnings():
    # Authlib 1.9 warns that its httpx integration moves to "httpx2"; irrelevant here.
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Auth as AuthlibOAuth2Auth
from authlib.oauth2.rfc6749 import OAuth2Token

import tokenclock
import tokenclock.httpx
import tokenclock.requests

TOKEN_URL = "https://issuer.invalid/token"
API_URL = "https://api.invalid/things"
LIFETIME_S = 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_token(now: float) -> str:
    """A typical HS256 access token (iss, sub, aud, iat, nbf, exp, jti, scope)."""
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {
        "iss": "https://issuer.invalid/", "sub": "demo-client", "aud": "https://api.invalid/",
        "iat": int(now), "nbf": int(now), "exp": int(now) + LIFETIME_S,
        "jti": "0123456789abcdef01234567", "scope": "read write",
    }
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    sig = hmac.new(b"bench-key", signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


# ----- tokenclock -------------------------------------------------------------------------


def tokenclock_auths(token: str) -> Tuple[Any, Any]:
    """httpx and requests adapters, each holding a fresh token (got through MockTransport)."""

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"access_token": token, "token_type": "Bearer", "expires_in": LIFETIME_S},
            headers={"Cache-Control": "no-store"},
        )

    mock = httpx.Client(transport=httpx.MockTransport(token_endpoint))
    hx = tokenclock.httpx.OAuth2Auth(TOKEN_URL, "demo-client", "demo-secret", token_client=mock)
    rq = tokenclock.requests.OAuth2Auth(TOKEN_URL, "demo-client", "demo-secret")
    # requests adapter: its one token request through a fake transport adapter.
    session = requests.Session()

    class FakeAdapter(requests.adapters.BaseAdapter):
        def send(self, request: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
            r = requests.Response()
            r.status_code = 200
            r.headers["Content-Type"] = "application/json"
            r._content = json.dumps(
                {"access_token": token, "token_type": "Bearer", "expires_in": LIFETIME_S}
            ).encode()
            r.url = request.url
            r.request = request
            return r

        def close(self) -> None:
            pass

    session.mount("https://", FakeAdapter())
    rq._token_session = session
    # Take the token now, outside the timing.
    next(hx.sync_auth_flow(httpx.Request("GET", API_URL)))
    rq(requests.Request("GET", API_URL).prepare())
    assert hx.stats()["token_requests"] == 1 and rq.stats()["token_requests"] == 1
    return hx, rq


# ----- the tutorial (PyJWT) ---------------------------------------------------------------


class TutorialAuth(httpx.Auth):
    """The tutorial's client: decode the cached token (no verification) on every request and
    compare its ``exp`` with local time (60 s early); refresh when past it."""

    def __init__(self, token: str) -> None:
        self.token = token

    def is_expired(self) -> bool:
        claims = jwt.decode(self.token, options={"verify_signature": False})
        return bool(time.time() >= claims["exp"] - 60)

    def auth_flow(self, request: httpx.Request) -> Any:
        if self.is_expired():
            raise RuntimeError("the benchmark's token never expires")
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


# ----- Authlib ----------------------------------------------------------------------------


class IsExpiredAuth(httpx.Auth):
    """``OAuth2Token.is_expired()`` in an ``httpx.Auth``, header set the same way as ours."""

    def __init__(self, token: OAuth2Token) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Any:
        if self.token.is_expired():
            raise RuntimeError("the benchmark's token never expires")
        request.headers["Authorization"] = f"Bearer {self.token['access_token']}"
        yield request


def authlib_client_path(token: OAuth2Token, auth: AuthlibOAuth2Auth) -> Callable[[httpx.Request], Any]:
    """Authlib's ``OAuth2Client`` per request: ``ensure_active_token`` (``is_expired``), then
    its ``OAuth2Auth`` flow up to the request it yields."""

    def call(request: httpx.Request) -> Any:
        if token.is_expired(leeway=60):
            raise RuntimeError("the benchmark's token never expires")
        return next(auth.auth_flow(request))

    return call


# ----- timing -----------------------------------------------------------------------------


def sample(fn: Callable[[], Any], number: int) -> float:
    """Seconds per call over ``number`` calls."""
    t0 = time.perf_counter_ns()
    for _ in range(number):
        fn()
    return (time.perf_counter_ns() - t0) / number / 1e9


def run(cases: Dict[str, Callable[[], Any]], number: int, repeat: int) -> Dict[str, List[float]]:
    for fn in cases.values():  # warm up (and check every case works)
        sample(fn, max(1, number // 10))
    out: Dict[str, List[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            out[name].append(sample(fn, number))
    return out


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--number", type=int, default=5_000, help="calls per sample")
    ap.add_argument("--repeat", type=int, default=30, help="samples per case")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)

    now = time.time()
    token_str = mint_token(now)
    hx, rq = tokenclock_auths(token_str)
    tutorial = TutorialAuth(token_str)
    al_token = OAuth2Token({"access_token": token_str, "token_type": "Bearer", "expires_in": LIFETIME_S})
    assert al_token.is_expired() is False and tutorial.is_expired() is False
    al_auth = AuthlibOAuth2Auth(al_token)
    is_expired_auth = IsExpiredAuth(al_token)
    authlib_path = authlib_client_path(al_token, al_auth)
    driver = hx._driver

    def api_request() -> httpx.Request:
        return httpx.Request("GET", API_URL)

    req = api_request()
    prepared = requests.Request("GET", API_URL).prepare()

    # Every case gets the same, reused request object: only the auth work differs.
    decision = {
        "tokenclock session (acquire)": driver.acquire,
        "(i) tutorial: PyJWT decode + compare": tutorial.is_expired,
        "(ii) Authlib OAuth2Token.is_expired()": al_token.is_expired,
    }
    flow = {
        "tokenclock httpx OAuth2Auth": lambda: next(hx.sync_auth_flow(req)),
        "(i) tutorial in an httpx.Auth": lambda: next(tutorial.sync_auth_flow(req)),
        "(ii) is_expired() in an httpx.Auth": lambda: next(is_expired_auth.sync_auth_flow(req)),
        "(ii') Authlib OAuth2Client path": lambda: authlib_path(req),
    }

    def requests_auth() -> None:
        rq(prepared)
        # The hooks list grows with every call on the same prepared request: reset it.
        prepared.hooks["response"].clear()

    flow["tokenclock requests OAuth2Auth"] = requests_auth

    results = {
        "decision": run(decision, args.number, args.repeat),
        "httpx flow": run(flow, args.number, args.repeat),
    }
    stats = hx.stats()
    assert stats["token_requests"] == 1, "the benchmark must not refresh"

    env = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "tokenclock": tokenclock.__version__,
        "httpx": httpx.__version__,
        "requests": requests.__version__,  # type: ignore[attr-defined]
        "PyJWT": jwt.__version__,
        "Authlib": __import__("authlib").__version__,
        "number": args.number,
        "repeat": args.repeat,
    }
    report: Dict[str, Any] = {"env": env, "levels": {}}
    for level, res in results.items():
        ours_name = next(iter(res))
        ours = min(res[ours_name])
        rows = []
        for name, samples in res.items():
            best = min(samples)
            rows.append({
                "case": name,
                "best_us": best * 1e6,
                "median_us": statistics.median(samples) * 1e6,
                "peer_over_tokenclock": best / ours,
            })
        report["levels"][level] = rows

    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("per-request auth overhead, fresh token, no network")
    print("  " + ", ".join(f"{k} {v}" for k, v in env.items()))
    for level, rows in report["levels"].items():
        print(f"\n{level}:")
        print(f"  {'case':40} {'best µs':>9} {'median µs':>10} {'÷ tokenclock':>13}")
        for row in rows:
            print(
                f"  {row['case']:40} {row['best_us']:9.3f} {row['median_us']:10.3f}"
                f" {row['peer_over_tokenclock']:12.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
