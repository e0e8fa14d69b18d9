"""End to end, real sockets: a resource server whose clock disagrees with the issuer's.

(a) The resource server runs 2 s ahead of the issuer with zero leeway and 4 s tokens, so a
token dies there ~2 s before its ``expires_in`` says. Steady requests for ~10 s through
tokenclock and, in the same run, through a naive client that trusts its local ``expires_in``
(and refreshes + retries once on 401): tokenclock must end every request in a 200 and see fewer
401s than the naive client.

Then the 401 paths: a resource server far behind the issuer (every fresh token "not yet
valid" there) makes the repeated 401 a ``ClockSkewError`` with evidence; a server that rejects
every token makes it an ``unauthorized`` 401 returned as is; a server a little behind makes
the session ask for a short wait, after which the one retry succeeds.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List

import httpx
import pytest
from conftest import ADAPTERS, get_once, make_auth, run_bounded

import tokenclock
import tokenclock.httpx

RUN_S = 10.0
PAUSE_S = 0.05


class NaiveClient:
    """The usual hand-written client: caches the token until local ``now + expires_in``; on a
    401 fetches a new token and retries once. No margin, no skew handling."""

    def __init__(self, tc: Any, client: httpx.Client) -> None:
        self.tc = tc
        self.client = client
        self.token = ""
        self.expires_at = 0.0
        self.unauthorized = 0
        self.failures = 0
        self.requests = 0

    def fetch(self) -> None:
        r = self.client.post(
            self.tc.token_url,
            data={"grant_type": "client_credentials"},
            auth=(self.tc.client_id, self.tc.client_secret),
        )
        r.raise_for_status()
        body = r.json()
        self.token = body["access_token"]
        self.expires_at = time.monotonic() + float(body["expires_in"])

    def get(self) -> None:
        if not self.token or time.monotonic() >= self.expires_at:
            self.fetch()
        self.requests += 1
        r = self.client.get(self.tc.api_url, headers={"Authorization": f"Bearer {self.token}"})
        if r.status_code == 401:
            self.unauthorized += 1
            self.fetch()
            r = self.client.get(self.tc.api_url, headers={"Authorization": f"Bearer {self.token}"})
            if r.status_code == 401:
                self.unauthorized += 1
        if r.status_code != 200:
            self.failures += 1


def test_resource_server_ahead_no_failures_and_fewer_401s_than_naive(tc: Any) -> None:
    tc.config(api_offset_s=2.0, api_leeway_s=0, token_ttl_s=4)
    results: Dict[str, Any] = {}
    errors: List[BaseException] = []
    start = threading.Barrier(2)

    def run_tokenclock() -> None:
        auth = tokenclock.httpx.OAuth2Auth(tc.token_url, tc.client_id, tc.client_secret)
        seen = {"requests": 0, "unauthorized": 0, "failures": 0}

        def on_response(r: httpx.Response) -> None:
            if r.request.url.path.startswith("/api"):
                seen["unauthorized"] += r.status_code == 401

        with httpx.Client(auth=auth, timeout=10, event_hooks={"response": [on_response]}) as c:
            start.wait()
            end = time.monotonic() + RUN_S
            while time.monotonic() < end:
                seen["requests"] += 1
                if c.get(tc.api_url).status_code != 200:
                    seen["failures"] += 1
                time.sleep(PAUSE_S)
        results["tokenclock"] = seen
        results["stats"] = auth.stats()

    def run_naive() -> None:
        with httpx.Client(timeout=10) as c:
            naive = NaiveClient(tc, c)
            start.wait()
            end = time.monotonic() + RUN_S
            while time.monotonic() < end:
                naive.get()
                time.sleep(PAUSE_S)
        results["naive"] = naive

    def guarded(fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(f), daemon=True) for f in (run_tokenclock, run_naive)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(RUN_S + 30)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert errors == []

    ours, naive = results["tokenclock"], results["naive"]
    print(
        f"\nRS +2 s, leeway 0, 4 s tokens, {RUN_S:.0f} s: tokenclock {ours['requests']} requests,"
        f" {ours['unauthorized']} 401s, {ours['failures']} failures, {results['stats']['token_requests']}"
        f" token requests; naive {naive.requests} requests, {naive.unauthorized} 401s,"
        f" {naive.failures} failures"
    )
    assert ours["requests"] > 50 and naive.requests > 50
    # Zero requests fail after the one allowed retry.
    assert ours["failures"] == 0
    # The scenario really hurts a client without skew handling (a 401 every token or so)...
    assert naive.unauthorized >= 3
    # ...and tokenclock sees fewer.
    assert ours["unauthorized"] < naive.unauthorized
    # What the clients counted is what the resource server sent.
    api = tc.stats()["api"]
    assert api["responses_401"] == ours["unauthorized"] + naive.unauthorized
    assert set(api["responses_401_by_reason"]) <= {"expired"}
    stats = results["stats"]
    assert stats["unauthorized"] == ours["unauthorized"]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_repeated_401_explained_by_skew_raises_clock_skew_error(tc: Any, adapter: str) -> None:
    # Every token is "not yet valid" on a resource server 30 s behind the issuer (more than the
    # session's longest 401 wait): the retry with a fresh token fails again.
    tc.config(api_offset_s=-30.0, api_leeway_s=0)
    auth = make_auth(adapter, tc)
    kind, value = run_bounded(lambda: get_once(adapter, auth, tc.api_url), 20)
    assert kind == "error", value
    assert isinstance(value, tokenclock.ClockSkewError)
    assert value.code == "clock_skew"
    assert isinstance(value.evidence, dict)
    assert value.evidence["finding"] in {"not_yet_valid", "issued_in_future"}
    assert tc.client_secret not in str(value) and "eyJ" not in str(value)
    stats = tc.stats()
    assert stats["token"]["requests"] == 2  # the first token, and one refresh after the 401
    assert stats["api"]["responses_401"] == 2  # the request and its one retry
    assert auth.stats()["adapter"]["clock_skew_errors"] == 1


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_repeated_401_not_explained_by_time_is_returned(tc: Any, adapter: str) -> None:
    # The resource server's clock is 5 s ahead, so the token is surely valid there by time:
    # the 401 is not a "wait for nbf" case; the session refreshes once, and the fresh token's
    # 401 is handed back as is (diagnosis `unauthorized`).
    tc.config(api_always_401=True, api_offset_s=5.0)
    auth = make_auth(adapter, tc)
    kind, value = run_bounded(lambda: get_once(adapter, auth, tc.api_url), 20)
    assert (kind, value) == ("ok", 401)
    stats = tc.stats()
    assert stats["token"]["requests"] == 2
    assert stats["api"]["responses_401"] == 2
    ours = auth.stats()
    assert ours["adapter"]["retries_sent"] == 1
    assert ours["adapter"]["unauthorized_returned"] == 1


def test_short_not_yet_valid_is_waited_out_then_retried(tc: Any) -> None:
    # 1.5 s behind: a fresh token is refused as not yet valid; the session asks for a wait
    # (within its 10 s limit) instead of a refresh, and the one retry succeeds.
    tc.config(api_offset_s=-1.5, api_leeway_s=0)
    auth = make_auth("httpx", tc)
    kind, value = run_bounded(lambda: get_once("httpx", auth, tc.api_url), 20)
    assert (kind, value) == ("ok", 200)
    stats = tc.stats()
    assert stats["token"]["requests"] == 1  # waited, did not refresh
    assert stats["api"]["responses_401_by_reason"] == {"not_yet_valid": 1}
    assert stats["api"]["responses_200"] == 1
    assert auth.stats()["adapter"]["retries_sent"] == 1
