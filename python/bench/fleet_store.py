"""Store hit vs in-process path vs token request (BENCHMARKS.md, "Fleet").

Needs a redis-server on PATH (Debian's) and starts tests/servers/tcserver.py; both loopback.

  .venv/bin/python python/bench/fleet_store.py [--n 2000]

Measures, per operation, median and p99 over N runs:
* in-process: `Session.authorize_token()` with a fresh token (the per-request path);
* store hit: a process without a token adopts the fleet's record: `authorize` (ticket) ->
  `RedisStore.get` -> `FleetRefresh.on_record` (decode + adopt) -> `authorize` (ready);
* token request: the same process asks the loopback token endpoint instead (POST + parse).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

import tokenclock
from tokenclock.store import RedisStore

REPO = Path(__file__).resolve().parents[2]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rs = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    srv = subprocess.Popen([sys.executable, str(REPO / "tests/servers/tcserver.py"), "--exit-on-stdin-eof"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    info = json.loads(srv.stdout.readline())
    try:
        time.sleep(0.3)
        store = RedisStore(f"redis://127.0.0.1:{port}/0", timeout=2.0)
        grant = tokenclock.client_credentials(info["token_url"], "demo-client", "demo-secret", scope="read")
        client = httpx.Client()

        def fetch(session):
            a = session.authorize()
            t = a.ticket
            sent = tokenclock.Reading.now()
            r = client.post(t.url, headers=list(t.headers), content=t.body)
            session.complete_refresh(t, r.status_code, list(r.headers.items()), r.content, sent)

        # The fleet's record: one writer publishes it.
        writer = tokenclock.Session(grant)
        keys = store.keys(writer)
        a = writer.authorize()
        f = store.fleet(a.ticket, keys[0])
        act = f.on_record(writer, store.get(keys[0]))
        lease = store.take_lease(keys, act.lease_ms)
        act = f.on_lease(writer, lease)
        act = f.on_record(writer, store.get(keys[0]))
        t = a.ticket
        sent = tokenclock.Reading.now()
        r = client.post(t.url, headers=list(t.headers), content=t.body)
        writer.complete_refresh(t, r.status_code, list(r.headers.items()), r.content, sent)
        act = f.on_fetched(writer, True)
        assert act.kind == "publish", (act, f.notes())
        assert store.publish(keys, act.fencing, act.value, act.ttl_ms)
        date = r.headers["date"]

        hot, hit, req = [], [], []
        s = tokenclock.Session(grant)
        fetch(s)
        for _ in range(args.n):
            t0 = time.perf_counter_ns()
            s.authorize_token()
            hot.append(time.perf_counter_ns() - t0)
        for _ in range(args.n):
            reader = tokenclock.Session(grant)
            now = tokenclock.Reading.now()
            reader.add_issuer_date(date, now, now)  # a reader that already knows the issuer's clock
            t0 = time.perf_counter_ns()
            a = reader.authorize()
            fl = store.fleet(a.ticket, keys[0])
            act = fl.on_record(reader, store.get(keys[0]))
            assert act.outcome == "adopted", act
            k = reader.authorize().kind
            assert k in ("ready", "wait"), k
            hit.append(time.perf_counter_ns() - t0)
        for _ in range(max(200, args.n // 10)):
            reader = tokenclock.Session(grant)
            t0 = time.perf_counter_ns()
            fetch(reader)
            k = reader.authorize().kind
            assert k in ("ready", "wait"), k
            req.append(time.perf_counter_ns() - t0)
        print("| path | median | p99 |")
        print("|---|---:|---:|")
        for name, xs in (("in-process (authorize_token, fresh token)", hot),
                         ("store hit (GET + decode + adopt + authorize)", hit),
                         ("token request (loopback POST + parse)", req)):
            print(f"| {name} | {statistics.median(xs)/1000:.1f} µs | {pct(xs, 0.99)/1000:.1f} µs |")
        print(f"\nstore hit / in-process: {statistics.median(hit)/statistics.median(hot):.0f}x; "
              f"token request / store hit: {statistics.median(req)/statistics.median(hit):.1f}x")
    finally:
        srv.stdin.close()
        srv.wait(10)
        srv.stdout.close()
        rs.terminate()
        rs.wait(10)


if __name__ == "__main__":
    main()
