"""The Flink session cluster the project installs and starts itself (benchmarks/flink_cluster.py)."""

import time

import pytest

from benchmarks.flink_cluster import FLINK_VERSION, TASKMANAGERS, start_cluster

pytestmark = pytest.mark.integration


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


def test_a_jobmanager_and_two_taskmanagers_on_loopback_and_a_killed_one_is_noticed(tmp_path):
    cluster = start_cluster(tmp_path / "flink")
    try:
        assert cluster.rest("/config")["flink-version"] == FLINK_VERSION
        taskmanagers = cluster.taskmanagers()
        assert sorted(tm["id"] for tm in taskmanagers) == [f"taskmanager-{n}" for n in range(1, TASKMANAGERS + 1)]
        assert all("@localhost:" in tm["path"] for tm in taskmanagers)
        assert sum(tm["slotsNumber"] for tm in taskmanagers) == TASKMANAGERS

        # As a crashed machine: the JobManager drops it, the other one stays.
        cluster.kill("taskmanager-1")
        assert wait_for(lambda: [tm["id"] for tm in cluster.taskmanagers()] == ["taskmanager-2"], 60)
    finally:
        cluster.stop()
    assert not (tmp_path / "flink" / "cluster.json").exists()
