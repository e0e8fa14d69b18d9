"""Bearer-token checks for web apps: an ASGI middleware, a FastAPI dependency, a WSGI
middleware and a Flask decorator, over a :class:`tokenclock.Verifier` or a
:class:`tokenclock.remote.RemoteVerifier` (``Verifier.from_issuer``).

::

    app.add_middleware(BearerAuth, verifier=verifier)        # Starlette / FastAPI
    claims = request.state.token["claims"]

Every one of them answers as RFC 6750 §3 says:

* no ``Authorization: Bearer`` header → ``401`` with ``WWW-Authenticate: Bearer`` (no error
  code: the client did not try);
* a token the verifier rejects (any :class:`tokenclock.InvalidToken`: expired, bad signature,
  unknown ``kid``, wrong audience, malformed, ...) → ``401`` with ``WWW-Authenticate: Bearer
  error="invalid_token", error_description="<the error's code>"``;
* no keys yet because the issuer cannot be reached (:class:`tokenclock.KeysUnavailable`) →
  ``503`` with ``Retry-After`` — a server-side problem, never blamed on the client.

The result of ``verify`` (``{"alg", "kid", "claims", "iat", "nbf", "exp"}``) is handed to the
app: ASGI ``scope["state"]["token"]`` (Starlette's ``request.state.token``), WSGI
``environ["tokenclock.token"]``, Flask ``flask.g.token``. Responses never echo the token.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import re
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Tuple

from tokenclock.errors import InvalidToken, KeySetError, KeysUnavailable

__all__ = ["BearerAuth", "BearerAuthWSGI", "bearer_token", "require_bearer", "www_authenticate"]

_BEARER = re.compile(r"^[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*) *$")
# RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E.
_UNSAFE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


def bearer_token(header: Optional[str]) -> Optional[str]:
    """The token of an ``Authorization: Bearer <token>`` header value (RFC 6750 §2.1), or
    ``None`` when there is none or it is not one."""
    if not header:
        return None
    m = _BEARER.match(header)
    return m.group(1) if m else None


def www_authenticate(error: Optional[str] = None, description: Optional[str] = None,
                     realm: Optional[str] = None) -> str:
    """A ``WWW-Authenticate`` value for the Bearer scheme (RFC 6750 §3)."""
    params: List[str] = []
    if realm is not None:
        params.append(f'realm="{_UNSAFE.sub("", realm)}"')
    if error is not None:
        params.append(f'error="{_UNSAFE.sub("", error)}"')
    if description is not None:
        params.append(f'error_description="{_UNSAFE.sub("", description)}"')
    return "Bearer" + (" " + ", ".join(params) if params else "")


Outcome = Tuple[int, List[Tuple[str, str]], Optional[Dict[str, Any]]]


def _refusal(exc: BaseException, realm: Optional[str]) -> Outcome:
    """(status, headers, None) for a verification that failed."""
    if isinstance(exc, KeysUnavailable):
        retry = exc.retry_in if isinstance(exc.retry_in, (int, float)) else 1.0
        return 503, [("Retry-After", str(max(1, math.ceil(retry))))], None
    if isinstance(exc, KeySetError):
        return 503, [("Retry-After", "1")], None
    code = getattr(exc, "code", "invalid_token")
    return 401, [("WWW-Authenticate", www_authenticate("invalid_token", code, realm))], None


def _missing(realm: Optional[str]) -> Outcome:
    return 401, [("WWW-Authenticate", www_authenticate(realm=realm))], None


def _check(verifier: Any, header: Optional[str], realm: Optional[str]) -> Outcome:
    token = bearer_token(header)
    if token is None:
        return _missing(realm)
    try:
        return 200, [], verifier.verify(token)
    except (InvalidToken, KeySetError) as exc:
        return _refusal(exc, realm)


async def _acheck(verifier: Any, header: Optional[str], realm: Optional[str]) -> Outcome:
    token = bearer_token(header)
    if token is None:
        return _missing(realm)
    try:
        averify = getattr(verifier, "averify", None)
        result = await averify(token) if averify is not None else verifier.verify(token)
        return 200, [], result
    except (InvalidToken, KeySetError) as exc:
        return _refusal(exc, realm)


def _body(status: int) -> bytes:
    error = "invalid_token" if status == 401 else "temporarily_unavailable"
    return json.dumps({"error": error}).encode()


# ----- ASGI ----------------------------------------------------------------------------------

ASGIApp = Callable[[Dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


class BearerAuth:
    """ASGI middleware: every HTTP request must carry a valid bearer token (paths in
    ``exempt`` excepted). ``verifier``: a ``Verifier`` or a ``RemoteVerifier`` (verified with
    ``averify``: one key fetch is shared by all concurrent requests)."""

    def __init__(self, app: ASGIApp, verifier: Any, *, realm: Optional[str] = None,
                 exempt: Iterable[str] = ()) -> None:
        self.app = app
        self.verifier = verifier
        self.realm = realm
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Dict[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope.get("type") != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization":
                header = value.decode("latin-1")
                break
        status, headers, result = await _acheck(self.verifier, header, self.realm)
        if result is None:
            body = _body(status)
            await send({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *((k.lower().encode(), v.encode()) for k, v in headers),
            ]})
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["token"] = result
        await self.app(scope, receive, send)


def bearer_dependency(verifier: Any, *, realm: Optional[str] = None) -> Callable[..., Awaitable[Dict[str, Any]]]:
    """A FastAPI dependency returning ``verify``'s result, or raising ``HTTPException`` (401 /
    503 with the headers above)::

        token = Depends(bearer_dependency(verifier))
    """
    from fastapi import HTTPException, Request  # the caller uses FastAPI

    async def dependency(request: Request) -> Dict[str, Any]:
        status, headers, result = await _acheck(verifier, request.headers.get("authorization"), realm)
        if result is None:
            raise HTTPException(status_code=status,
                                detail="invalid_token" if status == 401 else "temporarily_unavailable",
                                headers=dict(headers))
        return result

    # This module's annotations are strings (PEP 563) that FastAPI would resolve in this
    # module's namespace, where `Request` is not: give it the class itself.
    dependency.__annotations__ = {"request": Request, "return": Dict[str, Any]}
    return dependency


__all__.append("bearer_dependency")


# ----- WSGI ----------------------------------------------------------------------------------

_REASONS = {401: "401 Unauthorized", 503: "503 Service Unavailable"}


class BearerAuthWSGI:
    """WSGI middleware: every request must carry a valid bearer token (paths in ``exempt``
    excepted); the result is ``environ["tokenclock.token"]``."""

    def __init__(self, app: Callable[..., Iterable[bytes]], verifier: Any, *,
                 realm: Optional[str] = None, exempt: Iterable[str] = ()) -> None:
        self.app = app
        self.verifier = verifier
        self.realm = realm
        self.exempt = frozenset(exempt)

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in self.exempt:
            return self.app(environ, start_response)
        status, headers, result = _check(self.verifier, environ.get("HTTP_AUTHORIZATION"), self.realm)
        if result is None:
            body = _body(status)
            start_response(_REASONS[status], [("Content-Type", "application/json"),
                                              ("Content-Length", str(len(body))), *headers])
            return [body]
        environ["tokenclock.token"] = result
        return self.app(environ, start_response)


def require_bearer(verifier: Any, *, realm: Optional[str] = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A Flask view decorator: the view runs with ``flask.g.token`` set, or the request is
    answered 401 / 503 as above."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(view):
            raise TypeError("require_bearer decorates synchronous Flask views")

        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            import flask

            status, headers, result = _check(verifier, flask.request.headers.get("Authorization"), realm)
            if result is None:
                return flask.Response(_body(status), status=status, headers=headers,
                                      content_type="application/json")
            flask.g.token = result
            return view(*args, **kwargs)

        return wrapped

    return decorate
