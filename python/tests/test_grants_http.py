"""client_secret_jwt (RFC 7523 §2.2, OIDC Core §9) and the plain-http opt-in
(``allow_insecure_http=True``), at the grant/request level and end to end against the loopback
token server (tests/servers/tcserver.py), whose clock can be offset."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any, Dict

import httpx
import pytest
from conftest import ADAPTERS, get_once, run_bounded

import tokenclock
import tokenclock._driver
import tokenclock.httpx
import tokenclock.requests

SECRET32 = "0123456789abcdef0123456789abcdef"
URL = "https://as.example.com/token"


def _seg(s: str) -> Dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))


def _assertion(req: Any) -> str:
    return dict(req.form)["client_assertion"]


# ----- client_secret_jwt at the request level --------------------------------------------------


def test_client_secret_jwt_request_shape_and_hmac() -> None:
    g = tokenclock.client_credentials(URL, "cid", SECRET32, auth_method="client_secret_jwt")
    assert g.auth_method == "client_secret_jwt"
    # The issuer's clock 60 s ahead of ours: the claims are written on the issuer's clock.
    now = 1_700_000_060.0
    req = tokenclock.build_token_request(g, issuer_now=(now, now + 0.5), seed=3)
    form = dict(req.form)
    assert form["client_id"] == "cid"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_secret" not in form
    assert [n for n, _ in req.headers if n.lower() == "authorization"] == []
    h, p, s = _assertion(req).split(".")
    assert _seg(h) == {"alg": "HS256", "typ": "JWT"}
    claims = _seg(p)
    assert (claims["iss"], claims["sub"], claims["aud"]) == ("cid", "cid", URL)
    assert claims["iat"] == 1_700_000_060 and claims["exp"] == 1_700_000_060 + 300
    mac = hmac.new(SECRET32.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(mac).rstrip(b"=").decode() == s
    # jti from the RNG: another draw, another jti.
    other = tokenclock.build_token_request(g, issuer_now=now)
    assert _seg(_assertion(other).split(".")[1])["jti"] != claims["jti"]
    # The secret shows nowhere.
    assert SECRET32 not in repr(g) + repr(req)


def test_client_secret_jwt_refuses_a_short_secret() -> None:
    with pytest.raises(tokenclock.GrantError) as e:
        tokenclock.client_credentials(URL, "cid", SECRET32[:31], auth_method="client_secret_jwt")
    assert e.value.code == "weak_secret"
    assert SECRET32[:31] not in str(e.value)
    with pytest.raises(tokenclock.InvalidArgument):
        tokenclock.client_credentials(URL, "cid", auth_method="client_secret_jwt")


# ----- allow_insecure_http at the grant/request level ----------------------------------------------

IN_CLUSTER = "http://keycloak.identity.svc:8080/realms/r/protocol/openid-connect/token"


def test_plain_http_needs_the_opt_in() -> None:
    g = tokenclock.client_credentials(IN_CLUSTER, "c", "s")
    assert g.allow_insecure_http is False
    with pytest.raises(tokenclock.GrantError) as e:
        tokenclock.build_token_request(g)
    assert e.value.code == "insecure_url"
    with pytest.raises(tokenclock.GrantError):
        tokenclock.Session(g)
    g = tokenclock.client_credentials(IN_CLUSTER, "c", "s", allow_insecure_http=True)
    assert g.allow_insecure_http is True
    assert tokenclock.build_token_request(g).url == IN_CLUSTER
    tokenclock.Session(g)
    for builder in (
        lambda **kw: tokenclock.refresh_token_grant(IN_CLUSTER, "c", "rt", **kw),
        lambda **kw: tokenclock.authorization_code_grant(IN_CLUSTER, "c", "code", "https://c/cb", "v" * 43, **kw),
    ):
        with pytest.raises(tokenclock.GrantError):
            tokenclock.build_token_request(builder())
        assert tokenclock.build_token_request(builder(allow_insecure_http=True)).url == IN_CLUSTER
    # The opt-in lifts the loopback rule only.
    bad = tokenclock.client_credentials("http://u:p@keycloak/token", "c", "s", allow_insecure_http=True)
    with pytest.raises(tokenclock.GrantError) as e2:
        tokenclock.build_token_request(bad)
    assert e2.value.code == "invalid_url"


def test_insecure_warning_once_per_origin(caplog: pytest.LogCaptureFixture) -> None:
    tokenclock._driver._insecure_warned.clear()
    with caplog.at_level(logging.WARNING, logger="tokenclock"):
        for _ in range(3):
            tokenclock._driver.warn_insecure_http("http://idp.a:8080/token?x=secret-looking")
        tokenclock._driver.warn_insecure_http("http://idp.b/token")
        tokenclock._driver.warn_insecure_http("http://127.0.0.1:9/token")
        tokenclock._driver.warn_insecure_http("https://idp.c/token")
    msgs = [r.getMessage() for r in caplog.records if r.name == "tokenclock"]
    assert len(msgs) == 2, msgs
    assert "http://idp.a:8080" in msgs[0] and "http://idp.b:80" in msgs[1]
    assert all("secret-looking" not in m and "/token" not in m for m in msgs)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_insecure_http_end_to_end(tc: Any, adapter: str, caplog: pytest.LogCaptureFixture) -> None:
    """A non-loopback http token URL, carried to the loopback token server by the token client
    (no DNS name for 127.0.0.1 without root): the request is built, sent and warned about once."""
    tokenclock._driver._insecure_warned.clear()
    fake = "http://idp.cluster.internal:8080/token"
    seen = []

    def headers_of(request: httpx.Request) -> Any:
        return [(k, v) for k, v in request.headers.items() if k.lower() != "host"]

    if adapter.startswith("httpx"):

        def forward(request: httpx.Request) -> httpx.Response:
            seen.append(str(request.url))
            r = httpx.request(request.method, tc.token_url, headers=headers_of(request), content=request.content)
            return httpx.Response(r.status_code, headers=r.headers, content=r.content)

        async def aforward(request: httpx.Request) -> httpx.Response:
            seen.append(str(request.url))
            async with httpx.AsyncClient() as c:
                r = await c.request(request.method, tc.token_url, headers=headers_of(request),
                                    content=request.content)
            return httpx.Response(r.status_code, headers=r.headers, content=r.content)

        auth: Any = tokenclock.httpx.OAuth2Auth(
            fake, tc.client_id, tc.client_secret, allow_insecure_http=True,
            token_client=httpx.Client(transport=httpx.MockTransport(forward)),
            async_token_client=httpx.AsyncClient(transport=httpx.MockTransport(aforward)),
        )
    else:
        import requests
        import requests.adapters

        class Forward(requests.adapters.HTTPAdapter):
            def send(self, request: Any, **kw: Any) -> Any:  # type: ignore[override]
                seen.append(request.url)
                request.url = tc.token_url
                request.headers.pop("Host", None)
                return super().send(request, **kw)

        token_session = requests.Session()
        token_session.mount("http://idp.cluster.internal:8080/", Forward())
        auth = tokenclock.requests.OAuth2Auth(fake, tc.client_id, tc.client_secret, allow_insecure_http=True,
                                              token_session=token_session)
    with caplog.at_level(logging.WARNING, logger="tokenclock"):
        for _ in range(2):
            assert run_bounded(lambda: get_once(adapter, auth, tc.api_url), 20) == ("ok", 200)
    assert seen and all(u.startswith(fake) for u in seen)
    warnings = [r.getMessage() for r in caplog.records if "allow_insecure_http" in r.getMessage()]
    assert len(warnings) == 1 and "idp.cluster.internal:8080" in warnings[0]
    assert tc.client_secret not in warnings[0]
    # Without the opt-in the adapter refuses at construction.
    with pytest.raises(tokenclock.GrantError):
        cls = tokenclock.requests.OAuth2Auth if adapter == "requests" else tokenclock.httpx.OAuth2Auth
        cls(fake, tc.client_id, tc.client_secret)


# ----- client_secret_jwt end to end -------------------------------------------------------------


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_client_secret_jwt_end_to_end_issuer_ahead(tc: Any, adapter: str) -> None:
    # The token server checks the HMAC, aud = its URL, and exp/iat on ITS clock, 60 s ahead (the
    # API server's clock too, so the token's own times are not what this test is about).
    tc.config(client_secret=SECRET32, client_auth_methods=["client_secret_jwt"], issuer_offset_s=60.0,
              api_offset_s=60.0)
    cls = tokenclock.requests.OAuth2Auth if adapter == "requests" else tokenclock.httpx.OAuth2Auth
    auth = cls(tc.token_url, tc.client_id, SECRET32, auth_method="client_secret_jwt")
    assert run_bounded(lambda: get_once(adapter, auth, tc.api_url), 20) == ("ok", 200)
    assert tc.stats()["token"]["by_client_auth"]["client_secret_jwt"] == 1


def test_token_server_checks_the_assertion_on_its_own_clock(tc: Any) -> None:
    """The server's checks can fail: a wrong secret, and an iat in its future (its clock 60 s
    behind ours, the assertion written on our clock), are refused; the same assertion written on
    the server's clock is accepted."""
    tc.config(client_secret=SECRET32, client_auth_methods=["client_secret_jwt"], issuer_offset_s=-60.0)

    def post(secret: str, issuer_now: float) -> int:
        g = tokenclock.client_credentials(tc.token_url, tc.client_id, secret, auth_method="client_secret_jwt")
        req = tokenclock.build_token_request(g, issuer_now=issuer_now)
        return httpx.post(req.url, headers=req.headers, content=req.body.encode()).status_code

    assert post(SECRET32[::-1], time.time() - 60) == 401
    assert post(SECRET32, time.time()) == 401
    assert post(SECRET32, time.time() - 60) == 200
