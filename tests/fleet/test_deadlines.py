"""A shared token's deadline is never optimistic, even when the writer cannot read the
issuer's clock.

The issuer's clock is 90 s behind real time. Its access tokens are opaque (``opaque_tokens``:
no ``iat``/``exp`` a client could read) and, for the second half of the fleet, its token endpoint
sends no ``Date`` (``token_send_date: false``), so a process that starts then has no way to learn
the issuer's clock: all it knows is ``expires_in``. The resource server judges tokens on the
issuer's clock (as a resource server that introspects opaque tokens does) with leeway 0, so it
answers 401 ``expired`` to any use at or after a token's real expiry.

Phase 1: four processes (Python threads, Python asyncio, two Node) start while the ``Date``
is still sent: they learn the issuer's offset (-90 s) and share the first token. Phase 2: the
``Date`` goes away and two fresh processes (Python, Node) join. A fresh process that publishes
the token it fetched with a deadline "on the issuer's clock" computed from offset 0 (it does
not know better) hands the informed processes a deadline 90 s too late: they map it through
their -90 s estimate and use the token 90 s past its expiry (401s). The writer must publish a
deadline that is pessimistic for every reader, or nothing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Dict

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import test_fleet as fleet  # noqa: E402
from test_rotation import RWorker, run_workers, summary  # noqa: E402


@pytest.fixture
def rds() -> Any:
    r = fleet.RedisServer()
    yield r
    r.close()


@pytest.fixture
def tc() -> Any:
    s = fleet.TCServer()
    yield s
    s.stop()


def test_a_writer_that_cannot_read_the_issuer_clock_never_publishes_an_optimistic_deadline(
    tc: Any, rds: Any
) -> None:
    tc.config(
        token_ttl_s=12,
        opaque_tokens=True,
        issuer_offset_s=-90,
        api_offset_s=-90,  # the resource server shares the issuer's clock
        api_leeway_s=0,
        token_send_date=True,
    )
    start = time.time() + 5
    until = start + 34
    common: Dict[str, Any] = dict(grant="client_credentials", partition=None, key_hex=fleet.KEY_HEX,
                                  callers=10, interval=0.2)
    informed = [RWorker(kind, tc, rds.url, start=start, until=until, **common)
                for kind in ("python", "python-asyncio", "node", "node")]
    # Phase 1: the informed processes fetch and share the first token (and the issuer's Date).
    while time.time() < start + 2.5:
        time.sleep(0.05)
    first = tc.stats()
    assert first["token"]["requests"] >= 1, first["token"]
    tc.config(token_send_date=False)
    # Phase 2: fresh processes that never see the issuer's clock.
    fresh = [RWorker(kind, tc, rds.url, start=start + 5, until=until, **common) for kind in ("python", "node")]
    workers = informed + fresh
    results = run_workers(workers, until)
    st = tc.stats()
    info = (st["token"], st["api"], summary(results, workers))
    # The scenario happened: the informed processes know the issuer is 90 s behind, the fresh
    # ones (no Date, opaque tokens) have no bound on its clock, and they got tokens anyway.
    assert st["token"]["issued"] >= 2, info
    for r in results[len(informed):]:
        assert r["tokens"], info
    for r in results:
        if r["lang"].startswith("python"):
            issuer = r["stats"]["offsets"]["issuer"]
            if r in results[:len(informed)]:
                assert issuer["high"] is not None and -92 < issuer["high"] < -88, issuer
            else:
                assert issuer["low"] is None and issuer["high"] is None, issuer
    # Nobody used a token at or after its real expiry, and no caller saw a failure.
    assert st["api"]["responses_401"] == 0, info
    for r in results:
        assert r["failures"] == [] and set(r["statuses"]) == {"200"}, info
        assert r["requests"] > 0
