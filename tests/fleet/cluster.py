"""A throwaway Redis Cluster on 127.0.0.1 for the fleet tests: 6 Debian ``redis-server`` nodes
(3 masters, 3 replicas, no persistence), joined with ``redis-cli --cluster create``.

::

    c = LocalCluster()            # started; cluster_state:ok on every node
    c.urls                        # ["redis://127.0.0.1:P", ...] (every node)
    c.master_of(key)              # port of the master that owns the key's slot
    c.failover(key)               # CLUSTER FAILOVER on that master's replica; waits for it
    c.kill_master(key)            # SIGKILL that master; waits until its replica is promoted
    c.stop_all(); c.start_all()   # the whole cluster down and back (data lost, topology kept)
    c.close()                     # every node stopped, temp dir deleted

Every node also listens on its cluster bus port (port + 10000): ports are chosen so that both
are free. ``--cluster-node-timeout`` is 1 s, so a killed master's replica is promoted within a
few seconds.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

import redis
import redis.cluster

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pairs(n: int) -> List[int]:
    """``n`` ports P with P and P + 10000 (the cluster bus) both free."""
    out: List[int] = []
    tried = set()
    while len(out) < n:
        if len(tried) > 5000:
            raise RuntimeError("no free port pairs for a Redis Cluster")
        p = random.randint(20000, 45000)
        if p in tried:
            continue
        tried.add(p)
        if any(abs(p - q) in (0, 10000) for q in out):
            continue
        if _port_free(p) and _port_free(p + 10000):
            out.append(p)
    return out


class Node:
    """One line of ``CLUSTER NODES``."""

    def __init__(self, line: str) -> None:
        f = line.split()
        self.id = f[0]
        self.port = int(f[1].split("@")[0].rsplit(":", 1)[1])
        self.flags = set(f[2].split(","))
        self.master_id = f[3]
        self.slots: List[Tuple[int, int]] = []
        for s in f[8:]:
            if s.startswith("["):
                continue  # a slot being migrated
            a, _, b = s.partition("-")
            self.slots.append((int(a), int(b or a)))

    @property
    def is_master(self) -> bool:
        return "master" in self.flags and not (self.flags & {"fail", "fail?", "noaddr"})

    def owns(self, slot: int) -> bool:
        return any(a <= slot <= b for a, b in self.slots)


class LocalCluster:
    def __init__(self, nodes: int = 6, replicas: int = 1, node_timeout_ms: int = 1000) -> None:
        for tool in (REDIS_SERVER, REDIS_CLI):
            if not os.path.exists(tool):
                raise RuntimeError(f"{tool} is not installed (make test installs Debian's redis-server and redis-tools)")
        self.node_timeout_ms = node_timeout_ms
        self.dir = tempfile.mkdtemp(prefix="tc-redis-cluster-")
        self.ports = free_port_pairs(nodes)
        self.procs: Dict[int, Optional[subprocess.Popen]] = {p: None for p in self.ports}
        self.urls = [f"redis://127.0.0.1:{p}" for p in self.ports]
        #: The workers' ``--redis`` value for this cluster.
        self.url = ",".join(self.urls)
        try:
            for p in self.ports:
                self._start_node(p)
            for p in self.ports:
                self._wait_ping(p)
            out = subprocess.run(
                [REDIS_CLI, "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                 "--cluster-replicas", str(replicas), "--cluster-yes"],
                capture_output=True, text=True, timeout=60,
            )
            if out.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed: {out.stdout[-2000:]} {out.stderr[-2000:]}")
            self.wait_ok()
        except BaseException:
            self.close()
            raise

    # ----- processes ------------------------------------------------------------------

    def _start_node(self, port: int) -> None:
        self.procs[port] = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
             "--cluster-node-timeout", str(self.node_timeout_ms),
             # A replica that needs a full sync (after a switch) gets it at once, not in 5 s.
             "--repl-diskless-sync-delay", "0",
             "--save", "", "--appendonly", "no", "--dir", self.dir, "--loglevel", "warning",
             "--logfile", os.path.join(self.dir, f"redis-{port}.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _wait_ping(self, port: int, timeout: float = 10.0) -> None:
        c = redis.Redis(port=port, socket_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    if c.ping():
                        return
                except redis.RedisError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server on port {port} did not start")
                    time.sleep(0.025)
        finally:
            c.close()

    def alive(self) -> List[int]:
        return [p for p, pr in self.procs.items() if pr is not None and pr.poll() is None]

    def stop_all(self) -> None:
        """Stops every node (SIGTERM): the cluster is unreachable. Its topology (the
        ``nodes-P.conf`` files) survives; its data does not (no persistence)."""
        for p in self.alive():
            self._stop(p, signal.SIGTERM)

    def start_all(self) -> None:
        """Starts every stopped node again (same ports, same node ids); waits for
        ``cluster_state:ok``."""
        for p, pr in self.procs.items():
            if pr is None or pr.poll() is not None:
                self._start_node(p)
        for p in self.ports:
            self._wait_ping(p)
        self.wait_ok()

    def _stop(self, port: int, sig: int) -> None:
        pr = self.procs.get(port)
        if pr is not None and pr.poll() is None:
            pr.send_signal(sig)
            try:
                pr.wait(15)
            except subprocess.TimeoutExpired:
                pr.kill()
                pr.wait(10)

    def close(self) -> None:
        for p in list(self.procs):
            self._stop(p, signal.SIGKILL)
            self.procs[p] = None
        shutil.rmtree(self.dir, ignore_errors=True)

    # ----- views ----------------------------------------------------------------------

    def node(self, port: int) -> "redis.Redis[str]":
        """A plain connection to one node (not cluster-aware)."""
        return redis.Redis(port=port, decode_responses=True, socket_timeout=2)

    def client(self) -> "redis.cluster.RedisCluster":
        """A cluster client (follows MOVED, default retries) for the tests' own reads."""
        return redis.cluster.RedisCluster(
            startup_nodes=[redis.cluster.ClusterNode("127.0.0.1", p) for p in self.alive()],
            decode_responses=True,
            socket_timeout=2,
        )

    def flush(self) -> None:
        """Deletes every key: ``FLUSHALL`` on every live node that accepts it (the masters). A
        node's own answer decides, not one node's view of the others, which can lag right
        after a failover (a restarted old master rejoins as a replica)."""
        for port in self.alive():
            try:
                self.on(port, "FLUSHALL")
            except redis.exceptions.ReadOnlyError:
                pass  # a replica: its master is flushed

    def on(self, port: int, *cmd: Any) -> Any:
        """One command on one node (its own connection, closed after)."""
        c = self.node(port)
        try:
            return c.execute_command(*cmd)
        finally:
            c.close()

    def nodes(self, port: Optional[int] = None) -> List[Node]:
        """``CLUSTER NODES`` as seen by ``port`` (default: the first live node)."""
        text = self.on(port if port is not None else self.alive()[0], "CLUSTER", "NODES")
        return [Node(line) for line in str(text).splitlines() if line.strip()]

    def keyslot(self, key: str) -> int:
        return int(self.on(self.alive()[0], "CLUSTER", "KEYSLOT", key))

    def master_of(self, key: str, port: Optional[int] = None) -> int:
        """Port of the (non-failed) master that owns ``key``'s slot, as ``port`` sees it."""
        slot = self.keyslot(key)
        owners = [n.port for n in self.nodes(port) if n.is_master and n.owns(slot)]
        if len(owners) != 1:
            raise RuntimeError(f"slot {slot} has masters {owners}")
        return owners[0]

    def replicas_of(self, master_port: int) -> List[int]:
        """The live nodes replicating ``master_port`` (each node's own ``ROLE``: gossip may
        lag behind a switch)."""
        out = []
        for p in self.alive():
            role = self.on(p, "ROLE")
            if str(role[0]) == "slave" and int(role[2]) == master_port:
                out.append(p)
        return out

    def role(self, port: int) -> str:
        return str(self.on(port, "ROLE")[0])

    def _info(self, port: int, section: str) -> Dict[str, str]:
        c = self.node(port)
        try:
            text = c.execute_command("INFO", section) if section != "cluster" else c.execute_command("CLUSTER", "INFO")
        finally:
            c.close()
        if isinstance(text, dict):
            return {k: str(v) for k, v in text.items()}
        return dict(line.split(":", 1) for line in str(text).splitlines() if ":" in line)

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every live node says ``cluster_state:ok``, agrees on one master per slot
        (all 16384 covered), and every replica's link to its master is up."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                if self._settled():
                    return
            except (redis.RedisError, RuntimeError, ValueError) as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise RuntimeError(f"the cluster did not settle in {timeout} s ({last})")

    def _settled(self) -> bool:
        views = []
        for p in self.alive():
            if self._info(p, "cluster").get("cluster_state") != "ok":
                return False
            owners = {}
            for n in self.nodes(p):
                if n.is_master:
                    for a, b in n.slots:
                        owners[(a, b)] = n.port
            views.append(owners)
            if sum(b - a + 1 for a, b in owners) != 16384:
                return False
            if self.role(p) == "slave" and self._info(p, "replication").get("master_link_status") != "up":
                return False
        return all(v == views[0] for v in views)

    def wait_replicated(self, key: str, timeout: float = 10.0) -> None:
        """Until every replica of ``key``'s master has all of the master's writes."""
        m = self.master_of(key)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.on(m, "INFO", "replication")  # redis-py parses slaveN into dicts
            offset = int(info["master_repl_offset"])
            replicas = [v for k, v in info.items() if k.startswith("slave") and k[5:].isdigit()]
            if replicas and all(int(r["offset"]) >= offset for r in replicas):
                return
            time.sleep(0.02)
        raise RuntimeError(f"the replicas of {m} did not catch up")

    # ----- faults ---------------------------------------------------------------------

    def failover(self, key: str, timeout: float = 30.0) -> Tuple[int, int]:
        """``CLUSTER FAILOVER`` on a replica of the master that owns ``key``'s slot (a
        coordinated switch: the replica first catches up, no acknowledged write is lost);
        returns ``(old master, new master)`` once every node agrees."""
        old = self.master_of(key)
        deadline = time.monotonic() + timeout

        def agreed_replica() -> Optional[int]:
            # The master ignores a failover request from a node that its own view does not
            # list as its replica yet (right after an earlier switch): wait for both views.
            ns = self.nodes(old)
            (m,) = [n for n in ns if n.port == old]
            listed = {n.port for n in ns if n.master_id == m.id and "slave" in n.flags}
            return next((p for p in self.replicas_of(old) if p in listed), None)

        new = agreed_replica()
        while new is None and time.monotonic() < deadline:
            time.sleep(0.05)
            new = agreed_replica()
        if new is None:
            raise RuntimeError(f"CLUSTER FAILOVER: no replica of {old}")
        while time.monotonic() < deadline:
            self.on(new, "CLUSTER", "FAILOVER")
            # Right after an earlier switch a request can stall (Redis abandons it after 5 s);
            # one completes in well under a second: ask again after 2 s.
            attempt = min(deadline, time.monotonic() + 2)
            while time.monotonic() < attempt:
                try:
                    if self.role(new) == "master" and all(self.master_of(key, p) == new for p in self.alive()):
                        self.wait_ok(max(1.0, deadline - time.monotonic()))
                        return old, new
                except (redis.RedisError, RuntimeError):
                    pass
                time.sleep(0.05)
        raise RuntimeError(f"CLUSTER FAILOVER: {new} did not become master")

    def kill_master(self, key: str, timeout: float = 30.0) -> Tuple[int, int]:
        """SIGKILL the master that owns ``key``'s slot; returns ``(killed, promoted)`` once
        its replica is master on every live node and ``cluster_state:ok``. The killed node
        stays down."""
        old = self.master_of(key)
        replicas = self.replicas_of(old)
        self._stop(old, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                owners = {self.master_of(key, p) for p in self.alive()}
                if len(owners) == 1 and owners <= set(replicas):
                    break
            except (redis.RedisError, RuntimeError):
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError(f"no replica of {old} was promoted")
        self.wait_ok(timeout)
        return old, owners.pop()
