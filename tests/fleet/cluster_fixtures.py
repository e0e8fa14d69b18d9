"""Fixtures of the fleet tests: one 6-node Redis Cluster (``tests/fleet/cluster.py``), started on
first use, shared by the tests of each module that imports these fixtures. (Not a
``conftest.py``: the Python suites run in the same pytest session and import their own
``conftest`` module by name.) Tests that break it for good make their own
(test_cluster_failover.py); tests that stop or kill nodes leave it with every node running."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from cluster import LocalCluster


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    c = LocalCluster()
    yield c
    c.close()


@pytest.fixture
def cluster_clean(redis_cluster: LocalCluster) -> Any:
    """The shared cluster with every node running, settled, and no keys."""
    redis_cluster.start_all()  # a no-op unless a test left nodes down
    redis_cluster.flush()
    return redis_cluster
