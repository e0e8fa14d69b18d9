"""End to end, real sockets: the token endpoint answers 503 with ``Retry-After: 2`` while the
cached token is stale but still valid. Requests keep succeeding with that token, and no token
request comes before the 2 s have passed (then the session tries again).

The token is made stale early with the policy knob ``refresh_window=(0.1, 0.1)`` (refresh
after a tenth of its usable life) so the test need not wait most of a token's lifetime.
"""

from __future__ import annotations

import time
from typing import Any, List, Tuple

import httpx
from conftest import make_auth

RETRY_AFTER_S = 2.0
WINDOW_S = 3.0


def test_503_with_retry_after_keeps_serving_the_valid_token_and_waits(tc: Any) -> None:
    tc.config(token_ttl_s=8)
    auth = make_auth("httpx", tc, refresh_window=(0.1, 0.1))
    with httpx.Client(auth=auth, timeout=10) as client:
        assert client.get(tc.api_url).status_code == 200
        assert tc.token_requests() == 1
        tc.config(
            fail_all_token_requests_with={
                "kind": "status", "status": 503, "retry_after": str(int(RETRY_AFTER_S))
            }
        )
        time.sleep(1.0)  # past the refresh time (~0.7 s), far from hard expiry (>= 6.3 s)

        # (monotonic time before the request, status, time just before the count was read,
        #  token requests seen, time after that read)
        log: List[Tuple[float, int, float, int, float]] = []
        end = time.monotonic() + WINDOW_S
        while time.monotonic() < end:
            before = time.monotonic()
            status = client.get(tc.api_url).status_code
            pre_read = time.monotonic()
            seen = tc.token_requests()
            log.append((before, status, pre_read, seen, time.monotonic()))
            time.sleep(0.05)

    assert len(log) > 20
    assert [status for _, status, _, _, _ in log] == [200] * len(log)
    # The first stale request asked for a token once (the 503)...
    first = next(i for i, entry in enumerate(log) if entry[3] >= 2)
    assert log[first][3] == 2
    # A lower bound of the session's receipt of the 503: the server had not counted that token
    # request when the last entry that saw 1 started its read (the refresh runs in the
    # background, so that entry may come after the stale request that started it); with no
    # such entry, the request that made the token stale had not started yet.
    t0 = log[first - 1][2] if first > 0 else log[0][0]
    # ...and until 2 s after it, nobody asked again. (Each count was read before its `after`
    # time, and the backoff runs from the 503's receipt, which is after t0.)
    within = [seen for _, _, _, seen, after in log[first:] if after < t0 + RETRY_AFTER_S]
    assert within and set(within) == {2}
    # Once the Retry-After has passed, the session tries again (and gets another 503).
    assert log[-1][3] >= 3
    stats = tc.stats()["token"]
    assert stats["failures_served"] == stats["requests"] - 1
    ours = auth.stats()
    assert ours["failures"] == stats["failures_served"]
    assert ours["unauthorized"] == 0
