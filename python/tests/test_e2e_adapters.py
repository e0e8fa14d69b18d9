"""End to end, real sockets: the adapters' own surface — construction rules, ``repr`` without
secrets, ``stats()``, client authentication methods, a ready ``Session`` passed in, and requests
whose body cannot be sent twice (a 401 is then handed back, never half-retried)."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator, List

import httpx
import pytest
import requests
from conftest import ADAPTERS, get_once, make_auth, run_bounded

import tokenclock
import tokenclock.httpx
import tokenclock.requests

CLASSES = [tokenclock.httpx.OAuth2Auth, tokenclock.requests.OAuth2Auth]


@pytest.mark.parametrize("cls", CLASSES)
def test_constructor_takes_credentials_or_a_session_not_both(cls: Any) -> None:
    grant = tokenclock.client_credentials("http://127.0.0.1:1/token", "id", "secret")
    session = tokenclock.Session(grant)
    with pytest.raises(tokenclock.InvalidArgument):
        cls("http://127.0.0.1:1/token", "id", "secret", session=session)
    with pytest.raises(tokenclock.InvalidArgument):
        cls(session=session, margin_cap=5)  # policy belongs to the session given
    with pytest.raises(tokenclock.InvalidArgument):
        cls(client_id="id", client_secret="secret")  # no token_url
    with pytest.raises(tokenclock.InvalidArgument):
        cls("http://127.0.0.1:1/token", "id", "secret", token_timeout=0)
    with pytest.raises(tokenclock.InvalidArgument):
        cls("http://127.0.0.1:1/token", "id", "secret", refresh_window=(0.9, 0.5))


@pytest.mark.parametrize("cls", CLASSES)
def test_repr_shows_no_secret(cls: Any) -> None:
    auth = cls("http://127.0.0.1:1/token", "the-id", "s3cr3t-value")
    text = repr(auth)
    assert "the-id" in text and "s3cr3t-value" not in text


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_stats_count_what_happened(tc: Any, adapter: str) -> None:
    auth = make_auth(adapter, tc)
    for _ in range(3):
        assert run_bounded(lambda: get_once(adapter, auth, tc.api_url), 20) == ("ok", 200)
    stats = auth.stats()
    assert {k: stats[k] for k in ("token_requests", "refreshes", "failures", "unauthorized", "retries")} == {
        "token_requests": 1, "refreshes": 1, "failures": 0, "unauthorized": 0, "retries": 0,
    }
    assert stats["adapter"]["requests"] == 3
    assert stats["adapter"]["retries_sent"] == 0
    # One token response and three API responses measured the two clocks (both are real
    # time here, so the offsets are small).
    assert stats["offsets"]["issuer"]["samples"] >= 1
    assert stats["offsets"]["resource"]["samples"] == 3
    for origin in ("issuer", "resource"):
        assert abs(stats["offsets"][origin]["offset"]) < 1.5


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_authentication_methods(tc: Any, adapter: str, method: str) -> None:
    # A secret that needs RFC 6749 §2.3.1 form-encoding in the Basic header.
    tc.config(client_secret="p@ss:w0rd+ é%", client_auth_methods=[method])
    cls = tokenclock.requests.OAuth2Auth if adapter == "requests" else tokenclock.httpx.OAuth2Auth
    auth = cls(tc.token_url, tc.client_id, "p@ss:w0rd+ é%", auth_method=method)
    assert run_bounded(lambda: get_once(adapter, auth, tc.api_url), 20) == ("ok", 200)
    assert tc.stats()["token"]["by_client_auth"][method] == 1


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_ready_session_can_be_given(tc: Any, adapter: str) -> None:
    grant = tokenclock.client_credentials(tc.token_url, tc.client_id, tc.client_secret, scope="read")
    session = tokenclock.Session(grant, margin_cap=5)
    cls = tokenclock.requests.OAuth2Auth if adapter == "requests" else tokenclock.httpx.OAuth2Auth
    auth = cls(session=session)
    assert run_bounded(lambda: get_once(adapter, auth, tc.api_url), 20) == ("ok", 200)
    assert session.stats()["refreshes"] == 1


def _chunks() -> Iterator[bytes]:
    yield b"part one, "
    yield b"part two"


def test_httpx_streamed_body_is_not_retried(tc: Any) -> None:
    tc.config(api_always_401=True, api_offset_s=5.0)
    auth = make_auth("httpx", tc)
    with httpx.Client(auth=auth, timeout=10) as client:
        r = client.post(tc.api_url, content=_chunks())
    assert r.status_code == 401
    assert tc.stats()["api"]["requests"] == 1
    assert auth.stats()["adapter"] == {**auth.stats()["adapter"], "retries_sent": 0, "unauthorized_returned": 1}


async def test_httpx_async_streamed_body_is_not_retried(tc: Any) -> None:
    tc.config(api_always_401=True, api_offset_s=5.0)
    auth = make_auth("httpx-async", tc)

    async def chunks() -> Any:
        yield b"part one, "
        await asyncio.sleep(0)
        yield b"part two"

    async with httpx.AsyncClient(auth=auth, timeout=10) as client:
        r = await client.post(tc.api_url, content=chunks())
    assert r.status_code == 401
    assert tc.stats()["api"]["requests"] == 1


def test_requests_streamed_body_is_not_retried_but_a_bytes_body_is(tc: Any) -> None:
    tc.config(api_always_401=True, api_offset_s=5.0)
    auth = make_auth("requests", tc)
    with requests.Session() as s:
        r = s.post(tc.api_url, data=_chunks(), auth=auth, timeout=10)
        assert r.status_code == 401
        assert tc.stats()["api"]["requests"] == 1
        # A fresh auth (the first one's session has already refreshed after a 401, so its
        # next 401 is final): the in-memory body is sent again once.
        r = s.post(tc.api_url, data=b"in memory", auth=make_auth("requests", tc), timeout=10)
        assert r.status_code == 401
        assert [h.status_code for h in r.history] == [401]  # the first answer, then the retry
    assert tc.stats()["api"]["requests"] == 3


def test_token_requests_can_go_through_the_callers_clients(tc: Any) -> None:
    # Token requests through clients the caller configured (proxies, certificates, mounts):
    # an event hook on each proves the request went through it.
    seen: List[str] = []
    token_client = httpx.Client(event_hooks={"request": [lambda r: seen.append("sync")]})
    with token_client, httpx.Client(timeout=10) as client:
        auth = make_auth("httpx", tc, token_client=token_client)
        assert client.get(tc.api_url, auth=auth).status_code == 200

    async def go() -> None:
        async def hook(r: httpx.Request) -> None:
            seen.append("async")

        async with httpx.AsyncClient(event_hooks={"request": [hook]}) as token_client:
            auth = make_auth("httpx-async", tc, async_token_client=token_client)
            async with httpx.AsyncClient(timeout=10) as client:
                assert (await client.get(tc.api_url, auth=auth)).status_code == 200

    asyncio.run(go())
    with requests.Session() as token_session, requests.Session() as s:
        token_session.hooks["response"].append(lambda r, **kw: seen.append("requests"))
        auth = make_auth("requests", tc, token_session=token_session)
        assert s.get(tc.api_url, auth=auth, timeout=10).status_code == 200
    assert seen == ["sync", "async", "requests"]
    assert tc.token_requests() == 3
