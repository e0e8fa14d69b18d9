"""Token responses a transport builds in memory (``httpx.MockTransport`` with ``json=`` or
``content=``, a requests transport adapter setting ``_content``, as users write in their own tests) have no stream left to read: the adapter takes
the held content, still capped (``body_too_large``), in the sync and asyncio paths."""

from __future__ import annotations

import json
from typing import List

import httpx
import pytest

import tokenclock
from tokenclock.httpx import OAuth2Auth

TOKEN_URL = "https://issuer.example/token"
API_URL = "https://api.example/things"


def _token_endpoint(seen: List[httpx.Request], body: bytes) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/token":
            return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
        return httpx.Response(200, text=request.headers.get("Authorization", ""))

    return httpx.MockTransport(handle)


def _token(access_token: str = "opaque-in-memory") -> bytes:
    return json.dumps({"access_token": access_token, "token_type": "Bearer", "expires_in": 300}).encode()


def test_sync_in_memory_token_response() -> None:
    seen: List[httpx.Request] = []
    transport = _token_endpoint(seen, _token())
    auth = OAuth2Auth(TOKEN_URL, "app", "s3cret", token_client=httpx.Client(transport=transport))
    with httpx.Client(auth=auth, transport=transport) as client:
        assert client.get(API_URL).text == "Bearer opaque-in-memory"
        assert client.get(API_URL).text == "Bearer opaque-in-memory"
    assert [r.url.path for r in seen] == ["/token", "/things", "/things"]


async def test_async_in_memory_token_response() -> None:
    seen: List[httpx.Request] = []
    transport = _token_endpoint(seen, _token())
    auth = OAuth2Auth(TOKEN_URL, "app", "s3cret", async_token_client=httpx.AsyncClient(transport=transport))
    async with httpx.AsyncClient(auth=auth, transport=transport) as client:
        assert (await client.get(API_URL)).text == "Bearer opaque-in-memory"
    assert [r.url.path for r in seen] == ["/token", "/things"]


def test_in_memory_body_is_still_capped() -> None:
    seen: List[httpx.Request] = []
    huge = _token("x" * (2 << 20))  # 2 MiB: over the 1 MiB cap
    transport = _token_endpoint(seen, huge)
    auth = OAuth2Auth(TOKEN_URL, "app", "s3cret", token_client=httpx.Client(transport=transport))
    with httpx.Client(auth=auth, transport=transport) as client:
        with pytest.raises(tokenclock.TokenClockError) as e:
            client.get(API_URL)
    assert e.value.code == "body_too_large", repr(e.value)
    assert [r.url.path for r in seen] == ["/token"]


def test_requests_adapter_with_an_in_memory_transport_adapter() -> None:
    """The requests adapter, its token session mounted with a transport adapter that builds
    responses in memory (no ``raw`` stream), as test doubles do."""
    import requests

    from tokenclock.requests import OAuth2Auth as RequestsAuth

    bodies = [_token(), _token("y" * (2 << 20))]

    class InMemory(requests.adapters.BaseAdapter):
        def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:  # type: ignore[override]
            r = requests.Response()
            r.status_code = 200
            r.headers["Content-Type"] = "application/json"
            r._content = bodies.pop(0)
            r.url = request.url or ""
            r.request = request
            return r

        def close(self) -> None:
            pass

    for expect in ("ok", "body_too_large"):
        token_session = requests.Session()
        token_session.mount("https://", InMemory())
        auth = RequestsAuth(TOKEN_URL, "app", "s3cret", token_session=token_session)
        prepared = requests.Request("GET", API_URL).prepare()
        if expect == "ok":
            assert auth(prepared).headers["Authorization"] == "Bearer opaque-in-memory"
        else:
            with pytest.raises(tokenclock.TokenClockError) as e:
                auth(prepared)
            assert e.value.code == "body_too_large", repr(e.value)
