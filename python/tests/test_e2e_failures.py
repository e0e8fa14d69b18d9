"""End to end, real sockets: every kind of token-endpoint failure tcserver can inject ends in a
typed ``tokenclock`` exception or in success — never an untyped crash, never a hang (each call
is bounded). Every adapter: ``httpx.Client``, ``httpx.AsyncClient``, ``requests``.

After a transient failure the same auth object recovers once the endpoint does (the backoff is
made short with the policy knob ``backoff_base=0.1``: full jitter under 0.1 s; no
``Retry-After`` here); after a permanent one it keeps failing with the same typed error and never
asks the endpoint again.
"""

from __future__ import annotations

import socket
from typing import Any, Dict, Optional, Tuple, Type

import pytest
from conftest import ADAPTERS, make_auth, outcome

import tokenclock

# name -> (failure object, expected exception class or None for success, permanent?)
FAILURES: Dict[str, Tuple[Dict[str, Any], Optional[Type[BaseException]], bool]] = {
    "500": ({"kind": "status", "status": 500}, tokenclock.RefreshError, False),
    "503": ({"kind": "status", "status": 503}, tokenclock.RefreshError, False),
    "429": ({"kind": "status", "status": 429}, tokenclock.RefreshError, False),
    "slow": ({"kind": "slow", "delay_s": 1}, None, False),
    "invalid_json": ({"kind": "invalid_json"}, tokenclock.RefreshError, False),
    "html": ({"kind": "html"}, tokenclock.RefreshError, False),
    "empty_body": ({"kind": "empty_body"}, tokenclock.RefreshError, False),
    # A readable answer without a token is not worth retrying (core: permanent).
    "missing_field": ({"kind": "missing_field", "field": "access_token"}, tokenclock.RefreshError, True),
    "temporarily_unavailable": (
        {"kind": "oauth_error", "error": "temporarily_unavailable", "status": 503},
        tokenclock.TemporarilyUnavailableError,
        False,
    ),
    "invalid_grant": (
        {"kind": "oauth_error", "error": "invalid_grant"},
        tokenclock.InvalidGrantError,
        True,
    ),
    "invalid_client": (
        {"kind": "oauth_error", "error": "invalid_client", "status": 401},
        tokenclock.InvalidClientError,
        True,
    ),
    "close": ({"kind": "close"}, tokenclock.RefreshError, False),
    "reset": ({"kind": "reset"}, tokenclock.RefreshError, False),
}


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("name", sorted(FAILURES))
def test_injected_token_endpoint_failure_is_typed_and_bounded(
    tc: Any, adapter: str, name: str
) -> None:
    failure, expected, permanent = FAILURES[name]
    tc.config(failures=[failure])
    auth = make_auth(adapter, tc, backoff_base=0.1)

    value: Any
    kind, value = outcome(adapter, auth, tc.api_url)
    assert kind != "hang", f"{name}: the request did not end"
    if expected is None:
        assert (kind, value) == ("ok", 200)
    else:
        assert kind == "error", f"{name}: {value!r}"
        assert isinstance(value, expected), f"{name}: {type(value).__name__}: {value}"
        err: Any = value
        assert isinstance(err.code, str) and err.code
        # Nothing secret in what the caller sees.
        for text in (str(value), repr(value)):
            assert tc.client_secret not in text
            assert "eyJ" not in text
        if permanent:
            assert err.retry_at is None
        else:
            assert isinstance(err.retry_at, float)
    assert tc.stats()["token"]["failures_served"] == 1

    # The endpoint has recovered (the queue held one failure). The same auth object recovers
    # from a transient failure, and keeps failing (typed, without asking again) after a
    # permanent one.
    kind, value = outcome(adapter, auth, tc.api_url)
    if permanent:
        assert expected is not None
        assert kind == "error" and isinstance(value, expected), repr(value)
        assert tc.token_requests() == 1
    else:
        assert (kind, value) == ("ok", 200)
        assert tc.token_requests() == (1 if expected is None else 2)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_token_request_timeout_is_a_typed_transport_error(tc: Any, adapter: str) -> None:
    tc.config(failures=[{"kind": "slow", "delay_s": 3}])
    auth = make_auth(adapter, tc, token_timeout=0.5)
    kind, value = outcome(adapter, auth, tc.api_url, bound=10)
    assert kind == "error" and isinstance(value, tokenclock.RefreshError), repr(value)
    assert value.code == "transport_error"
    assert isinstance(value.retry_at, float)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_unreachable_token_endpoint_is_a_typed_transport_error(tc: Any, adapter: str) -> None:
    # A port that is bound but not listening: connections are refused, and nobody else can
    # take the port while the test runs.
    cls = type(make_auth(adapter, tc))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        auth = cls(f"http://127.0.0.1:{port}/token", tc.client_id, tc.client_secret)
        kind, value = outcome(adapter, auth, tc.api_url, bound=10)
    assert kind == "error" and isinstance(value, tokenclock.RefreshError), repr(value)
    assert value.code == "transport_error"
    assert tc.token_requests() == 0
