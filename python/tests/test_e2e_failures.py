"""End to end, real sockets: every kind of token-endpoint failure tcserver can inject ends in a
typed ``tokenclock`` exception or in success — never an untyped crash, never a hang (each call
is bounded). Every adapter: ``httpx.Client``, ``httpx.AsyncClient``, ``requests``.

After a transient failure (any HTTP error without an OAuth ``error``, any malformed response)
the same auth object recovers once the endpoint does (the backoff is made short with the policy
knob ``backoff_base=0.1``: full jitter under 0.1 s; no ``Retry-After`` here); after a
configuration error (``invalid_client``, ``invalid_grant`` on client credentials) it fails fast
with the same typed error and does not ask the endpoint again before ``config_retry`` (5 min by
default) has passed.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Dict, Optional, Tuple, Type

import pytest
from conftest import ADAPTERS, make_auth, outcome

import tokenclock

# name -> (failure object, expected exception class or None for success, configuration error?)
FAILURES: Dict[str, Tuple[Dict[str, Any], Optional[Type[BaseException]], bool]] = {
    "500": ({"kind": "status", "status": 500}, tokenclock.RefreshError, False),
    "503": ({"kind": "status", "status": 503}, tokenclock.RefreshError, False),
    "429": ({"kind": "status", "status": 429}, tokenclock.RefreshError, False),
    # HTTP errors without an OAuth error are not the authorization server's word: transient.
    "403_html": (
        {"kind": "status", "status": 403, "body": "<html><body>Request blocked</body></html>",
         "content_type": "text/html"},
        tokenclock.TemporarilyUnavailableError,
        False,
    ),
    "301": ({"kind": "status", "status": 301, "body": ""}, tokenclock.TemporarilyUnavailableError, False),
    "404": ({"kind": "status", "status": 404}, tokenclock.TemporarilyUnavailableError, False),
    "slow": ({"kind": "slow", "delay_s": 1}, None, False),
    "invalid_json": ({"kind": "invalid_json"}, tokenclock.RefreshError, False),
    "html": ({"kind": "html"}, tokenclock.RefreshError, False),
    "empty_body": ({"kind": "empty_body"}, tokenclock.RefreshError, False),
    # A 200 without a token (a half-deployed issuer) is transient like a 5xx.
    "missing_field": (
        {"kind": "missing_field", "field": "access_token"},
        tokenclock.TemporarilyUnavailableError,
        False,
    ),
    "token_type_dpop": (
        {"kind": "override", "set": {"token_type": "DPoP"}},
        tokenclock.TemporarilyUnavailableError,
        False,
    ),
    "temporarily_unavailable": (
        {"kind": "oauth_error", "error": "temporarily_unavailable", "status": 503},
        tokenclock.TemporarilyUnavailableError,
        False,
    ),
    # invalid_grant on the primary client-credentials grant: a configuration error.
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
    failure, expected, config_error = FAILURES[name]
    tc.config(failures=[failure])
    auth = make_auth(adapter, tc, backoff_base=0.1)
    started = time.time()

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
        assert isinstance(err.retry_at, float)
        if config_error:
            # Retried after config_retry (300 s by default), never "dead until restart".
            assert started + 290 <= err.retry_at <= time.time() + 300
        else:
            assert err.retry_at <= time.time() + 1
    assert tc.stats()["token"]["failures_served"] == 1

    # The endpoint has recovered (the queue held one failure). The same auth object recovers
    # from a transient failure, and fails fast (typed, without asking again before config_retry)
    # after a configuration error.
    kind, value = outcome(adapter, auth, tc.api_url)
    if config_error:
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


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_one_html_403_from_a_waf_does_not_end_the_session(tc: Any, adapter: str) -> None:
    """A WAF answers one token request with its HTML 403 page: the caller that made it gets a
    transient error, and the same auth object gets a token at the next request (after a short
    backoff) instead of failing until the process restarts."""
    tc.config(failures=[{"kind": "status", "status": 403, "content_type": "text/html",
                         "body": "<html><body><h1>403 Forbidden</h1>Request blocked.</body></html>"}])
    auth = make_auth(adapter, tc, backoff_base=0.05, backoff_cap=0.2)
    started = time.monotonic()
    kind, value = outcome(adapter, auth, tc.api_url, bound=10)
    assert kind == "error" and isinstance(value, tokenclock.TemporarilyUnavailableError), repr(value)
    assert (value.code, value.status, value.error_class) == ("http_error", 403, "transient")
    kind, value = outcome(adapter, auth, tc.api_url, bound=10)
    assert (kind, value) == ("ok", 200)
    assert tc.token_requests() == 2
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_invalid_client_is_retried_after_config_retry(tc: Any, adapter: str) -> None:
    """invalid_client fails fast, and after ``config_retry`` (1 s here) the next request asks
    the token endpoint again and picks up the fixed server."""
    tc.config(failures=[{"kind": "oauth_error", "error": "invalid_client", "status": 401}])
    auth = make_auth(adapter, tc, backoff_base=0.05, backoff_cap=0.2, config_retry=1)
    kind, value = outcome(adapter, auth, tc.api_url, bound=10)
    assert kind == "error" and isinstance(value, tokenclock.InvalidClientError), repr(value)
    assert value.error_class == "permanent"
    # Within config_retry: fails at once, without a token request (no waiting it out).
    t0 = time.monotonic()
    kind, value = outcome(adapter, auth, tc.api_url, bound=10)
    assert kind == "error" and isinstance(value, tokenclock.InvalidClientError), repr(value)
    assert time.monotonic() - t0 < 0.5
    assert tc.token_requests() == 1
    time.sleep(max(0.0, value.retry_at - time.time()) + 0.05)
    kind, value = outcome(adapter, auth, tc.api_url, bound=10)
    assert (kind, value) == ("ok", 200)
    assert tc.token_requests() == 2
