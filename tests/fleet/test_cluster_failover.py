"""A fleet on a Redis Cluster rides out a planned failover and a killed master.

4 worker processes (2 Python: threads and asyncio; 2 Node) share one token (TTL 10 s: a refresh
wave every ~7 s) through a 6-node cluster (``tests/fleet/cluster.py``, its own: this test kills a
node). While they run:

1. **planned failover**: the refresh of wave 2 takes the lease and hangs 2.5 s at the token
   endpoint; meanwhile ``CLUSTER FAILOVER`` on the replica of the master that owns the fleet's
   slot. The holder publishes through ``MOVED`` to the new master, where its lease (replicated
   before the switch) still holds: one token request in that wave, as without a failover.
2. **killed master**: right after wave 2, that (new) master is SIGKILLed; its replica is
   promoted ~2-3 s later. In the next wave a process whose first store command still goes to the
   dead master fails that command and refreshes locally (no client retries: redis-py re-reads
   the topology only after the failure; node-redis re-reads it in the background 1 s after a
   node starts reconnecting): at most one token request per process in that wave, and one in
   the wave after (sharing again).

Asserted: no API request fails; no two lease holders ever publish with overlapping leases (each
worker reports its leases and publishes on stderr); the token requests per wave above. The
token requests per wave are printed and written to ``target/fleet-cluster-failover.json``
(BENCHMARKS.md, "Fleet").
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Dict, List

import httpx
import pytest

import tokenclock
from cluster import LocalCluster
from test_fleet import REPO, ClusterRedis, TCServer, Worker, _session, assert_no_failures, run_fleet

TTL = 10
# Token requests more than this far apart belong to different refresh waves: within a wave
# they follow each other within ~1 s of refresh jitter (0.75-0.85 of the lifetime) plus a
# token request; waves are ~7 s apart.
WAVE_GAP_S = 3.0


@pytest.fixture
def tc() -> Any:
    s = TCServer()
    yield s
    s.stop()


class RequestLog(threading.Thread):
    """Polls the token endpoint's request counter (its own control connection); one
    timestamp per token request."""

    def __init__(self, tc: Any) -> None:
        super().__init__(daemon=True)
        self.url = f"{tc.control_url}/stats"
        self.times: List[float] = []
        self.halt = threading.Event()

    def run(self) -> None:
        last = 0
        with httpx.Client(timeout=5) as c:
            while not self.halt.is_set():
                n = int(c.get(self.url).json()["token"]["requests"])
                if n > last:
                    self.times.extend([time.time()] * (n - last))
                    last = n
                self.halt.wait(0.02)

    def waves(self) -> List[List[float]]:
        out: List[List[float]] = []
        for t in self.times:
            if out and t - out[-1][-1] <= WAVE_GAP_S:
                out[-1].append(t)
            else:
                out.append([t])
        return out


def _until(cond: Any, deadline: float, what: str) -> None:
    while time.time() < deadline:
        try:
            if cond():
                return
        except Exception:  # the test's own client during a failover: try again
            pass
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_fleet_rides_out_a_cluster_failover_and_a_killed_master(tc: Any) -> None:
    cluster = LocalCluster()
    log = RequestLog(tc)
    workers: List[Worker] = []
    watch = None
    try:
        rds = ClusterRedis(cluster)
        tc.config(token_ttl_s=TTL)
        record_key, lease_key, _ = tokenclock.store_keys(_session(tc))
        # Time to start all 4 workers first (a worker that starts late and finds the cluster
        # slow to answer its first, cold command would refresh on its own).
        start = time.time() + 6
        until = start + 29
        log.start()
        for lang, aio in (("python", False), ("python", True), ("node", False), ("node", False)):
            workers.append(Worker(lang, tc, rds, start=start, until=until, callers=5, lease=5.0,
                                  interval=0.1, asyncio_=aio))
        watch = cluster.client()

        # Wave 1: the first token, shared.
        _until(lambda: watch.get(record_key) is not None, start + 10, "the first record")
        first = watch.get(record_key)

        # Wave 2: the lease holder's token request hangs 2.5 s; CLUSTER FAILOVER meanwhile.
        tc.config(failures=[{"kind": "slow", "delay_s": 2.5}])
        _until(lambda: watch.get(lease_key) is not None, start + 20, "the wave-2 lease")
        held = watch.get(lease_key)
        t_fo = time.time()
        old, new = cluster.failover(record_key)
        t_fo_done = time.time()
        watch.close()
        watch = cluster.client()
        _until(lambda: watch.get(record_key) not in (None, first), start + 20, "the wave-2 record")

        # Then, once every process has adopted wave 2's token (its peers poll every 50 ms),
        # the master that owns the slot now is killed, mid-lifetime; its replica is promoted.
        time.sleep(1.0)
        t_kill = time.time()
        killed, promoted = cluster.kill_master(record_key)
        t_kill_done = time.time()
        assert killed == new and promoted == old

        watch.close()
        watch = None
        results = run_fleet(workers, until)
        log.halt.set()
        log.join(10)

        events = [e for w in workers for e in w.store_events()]
        taken = {e["lease"]: e for e in events if e["event"] == "lease"}
        published = sorted((taken[e["lease"]]["t"], e["t"], e["lease"]) for e in events
                           if e["event"] == "publish" and e["ok"] is True)
        by_lease = {lease: (t0, t1) for t0, t1, lease in published}
        waves = log.waves()
        counts = [len(w) for w in waves]
        kill_wave = next((i for i, w in enumerate(waves) if w[0] > t_kill), -1)
        figures: Dict[str, Any] = {
            "workers": [w.lang for w in workers],
            "token_ttl_s": TTL,
            "token_requests_per_wave": counts,
            "token_request_times_s": [round(t - start, 2) for t in log.times],
            "planned_failover": {
                "wave": 1,
                "at_s": round(t_fo - start, 2),
                "switch_s": round(t_fo_done - t_fo, 2),
                "holder_published_after_switch": held in by_lease and by_lease[held][1] > t_fo_done,
            },
            "killed_master": {
                "wave": kill_wave,
                "at_s": round(t_kill - start, 2),
                "promotion_s": round(t_kill_done - t_kill, 2),
                "token_requests_in_next_wave": counts[kill_wave] if kill_wave >= 0 else None,
                "store_outage_logged_by": sorted(
                    w.lang for w in workers if "unreachable or failing" in w.err()),
            },
            "successful_publishes": len(published),
            # What each process logged (store outages, ignored records; no secrets in these).
            "logs": {f"{w.lang} {w.pid}": [line for line in w.err().splitlines() if not line.startswith("tc-store ")]
                     for w in workers},
        }
        text = json.dumps(figures, indent=2)
        print("\nfleet on Redis Cluster, failover figures:\n" + text)
        out = REPO / "target"
        out.mkdir(exist_ok=True)
        (out / "fleet-cluster-failover.json").write_text(text + "\n")

        assert_no_failures(results, workers)
        # Mutual exclusion: the lease of every successful publish, from its take to the
        # publish, overlaps no other successful publish's.
        for (a0, a1, la), (b0, b1, lb) in zip(published, published[1:]):
            assert a1 <= b0, f"leases {la} and {lb} both published while held together"
        assert held in by_lease, "the wave-2 holder's publish (through the failover) did not succeed"

        # Wave 1 and the planned-failover wave: one token request each, as with no failover.
        assert counts[0] == 1 and counts[1] == 1, figures
        # The wave after the kill: at most one token request per process (local refreshes of
        # processes whose first store command hit the dead master), then sharing again.
        assert kill_wave == 2, figures
        assert 1 <= counts[2] <= len(workers), figures
        assert len(counts) >= 4 and counts[3] == 1, figures
    except BaseException:
        for w in workers:  # what each process logged, for the failure report
            print(f"---- {w.lang} worker {w.pid}:\n{w.err()[-3000:]}")
        raise
    finally:
        log.halt.set()
        if watch is not None:
            watch.close()
        for w in workers:
            if w.proc.poll() is None:
                w.kill()
            w.close()
        cluster.close()
