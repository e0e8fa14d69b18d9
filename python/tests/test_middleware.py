"""The bearer middleware through real servers on 127.0.0.1: FastAPI on uvicorn (ASGI, the
middleware and the dependency) and Flask on werkzeug (WSGI, the middleware and the decorator),
with keys from a loopback issuer (``Verifier.from_issuer``)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable, Dict, Iterator, Tuple

import flask
import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from loopback_issuer import Issuer, Key

import tokenclock
from tokenclock.middleware import (
    BearerAuth,
    BearerAuthWSGI,
    bearer_dependency,
    bearer_token,
    require_bearer,
    www_authenticate,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    iss = Issuer()
    iss.keys = [Key("k1")]
    try:
        yield iss
    finally:
        iss.close()


def verifier(iss: Issuer) -> Any:
    return tokenclock.Verifier.from_issuer(
        iss.url, algorithms=["RS256"], audience="api://orders", allow_plain_http=True
    )


def serve_asgi(app: Any) -> Tuple[str, Callable[[], None]]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started

    def stop() -> None:
        server.should_exit = True
        t.join(5)

    return f"http://127.0.0.1:{port}", stop


def serve_wsgi(app: Any) -> Tuple[str, Callable[[], None]]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()

    def stop() -> None:
        server.shutdown()
        t.join(5)

    return f"http://127.0.0.1:{server.server_port}", stop


def check_answers(base: str, iss: Issuer, path: str = "/orders") -> None:
    """The same answers from every front-end."""
    good = iss.token(iss.keys[0])
    r = httpx.get(base + path)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = httpx.get(base + path, headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = httpx.get(base + path, headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 200, r.text
    assert r.json() == {"sub": "user-1"}
    expired = iss.token(iss.keys[0], iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    r = httpx.get(base + path, headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token", error_description="expired"'
    assert expired.split(".")[1] not in r.text
    forged = iss.token(Key("k1"))  # the right kid, another key
    r = httpx.get(base + path, headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and 'error_description="invalid_signature"' in r.headers["www-authenticate"]
    other_aud = iss.token(iss.keys[0], aud="api://billing")
    r = httpx.get(base + path, headers={"Authorization": f"Bearer {other_aud}"})
    assert r.status_code == 401 and 'error_description="invalid_audience"' in r.headers["www-authenticate"]
    r = httpx.get(base + path, headers={"Authorization": "Bearer not-a-jwt"})
    assert r.status_code == 401 and 'error_description="malformed_token"' in r.headers["www-authenticate"]


def fastapi_app(iss: Issuer, *, dependency: bool) -> Any:
    v = verifier(iss)
    app = FastAPI()
    if dependency:
        @app.get("/orders")
        async def orders_dep(token: Dict[str, Any] = Depends(bearer_dependency(v))) -> Dict[str, Any]:
            return {"sub": token["claims"]["sub"]}
    else:
        app.add_middleware(BearerAuth, verifier=v, exempt=["/health"])

        @app.get("/orders")
        async def orders(request: Request) -> Dict[str, Any]:
            return {"sub": request.state.token["claims"]["sub"]}

        @app.get("/health")
        async def health() -> Dict[str, str]:
            return {"ok": "yes"}

    return app


def test_asgi_middleware_on_uvicorn(issuer: Issuer) -> None:
    base, stop = serve_asgi(fastapi_app(issuer, dependency=False))
    try:
        check_answers(base, issuer)
        assert httpx.get(base + "/health").status_code == 200  # exempt
        # Concurrent requests share one key fetch.
        assert (issuer.discovery_requests, issuer.jwks_requests) == (1, 1)
    finally:
        stop()


def test_fastapi_dependency_on_uvicorn(issuer: Issuer) -> None:
    base, stop = serve_asgi(fastapi_app(issuer, dependency=True))
    try:
        check_answers(base, issuer)
    finally:
        stop()


def test_asgi_503_while_the_issuer_is_down() -> None:
    iss = Issuer()
    iss.keys = [Key("k1")]
    token = iss.token(iss.keys[0])
    app = fastapi_app(iss, dependency=False)
    iss.close()
    base, stop = serve_asgi(app)
    try:
        r = httpx.get(base + "/orders", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 503
        assert int(r.headers["retry-after"]) >= 1
        assert "www-authenticate" not in r.headers  # not the client's fault
    finally:
        stop()


def flask_app(iss: Issuer) -> Any:
    v = verifier(iss)
    app = flask.Flask("orders")

    @app.get("/orders")
    @require_bearer(v)
    def orders() -> Dict[str, Any]:
        return {"sub": flask.g.token["claims"]["sub"]}

    return app


def test_flask_decorator_on_werkzeug(issuer: Issuer) -> None:
    base, stop = serve_wsgi(flask_app(issuer))
    try:
        check_answers(base, issuer)
    finally:
        stop()


def test_wsgi_middleware_on_werkzeug(issuer: Issuer) -> None:
    def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Any:
        import json

        body = json.dumps({"sub": environ["tokenclock.token"]["claims"]["sub"]}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    base, stop = serve_wsgi(BearerAuthWSGI(app, verifier(issuer)))
    try:
        check_answers(base, issuer)
    finally:
        stop()


def test_header_parsing_and_formatting() -> None:
    assert bearer_token("Bearer abc.def-_~+/=") == "abc.def-_~+/="
    assert bearer_token("bearer  x ") == "x"
    for bad in (None, "", "Bearer", "Bearer ", "Bearer a b", "Basic abc", "Bearer a\u00e9", "Bearer a\r\nX: y"):
        assert bearer_token(bad) is None, bad
    assert www_authenticate() == "Bearer"
    assert www_authenticate("invalid_token", 'say "hi"\\\n', realm="api") == (
        'Bearer realm="api", error="invalid_token", error_description="say hi"'
    )
