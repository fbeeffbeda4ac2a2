"""The Flink session cluster the project installs and starts itself (benchmarks/flink_cluster.py)."""

import os
import time

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from benchmarks.flink_cluster import FLINK_VERSION, TASKMANAGERS, start_cluster

pytestmark = pytest.mark.integration


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    started = start_cluster(tmp_path_factory.mktemp("flink"))
    yield started
    started.stop()


def test_the_worker_pool_runs_beams_python_for_a_portable_job(cluster, tmp_path):
    # The SDK harness the TaskManagers reach through --environment_type=EXTERNAL, driven here by
    # Beam's own job service: every element is handled in a worker the pool started.
    args = ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{cluster.worker_pool_port}"]
    with beam.Pipeline(options=PipelineOptions(args)) as pipeline:
        _ = (
            pipeline
            | beam.Create(range(20))
            | beam.Map(lambda _: f"{os.getpid()} {os.getppid()}")
            | beam.Distinct()
            | beam.io.WriteToText(str(tmp_path / "pids"))
        )
    lines = [line for path in tmp_path.glob("pids*") for line in path.read_text().splitlines()]
    workers = {tuple(map(int, line.split())) for line in lines}
    # Each worker is a child of the pool, none is this process.
    assert workers and {parent for _, parent in workers} == {cluster.processes["worker-pool"]}
    assert os.getpid() not in {pid for pid, _ in workers}


def test_a_jobmanager_and_two_taskmanagers_on_loopback_and_a_killed_one_is_noticed(cluster):
    assert cluster.rest("/config")["flink-version"] == FLINK_VERSION
    taskmanagers = cluster.taskmanagers()
    assert sorted(tm["id"] for tm in taskmanagers) == [f"taskmanager-{n}" for n in range(1, TASKMANAGERS + 1)]
    assert all("@localhost:" in tm["path"] for tm in taskmanagers)
    assert sum(tm["slotsNumber"] for tm in taskmanagers) == TASKMANAGERS

    # As a crashed machine: the JobManager drops it, the other one stays.
    cluster.kill("taskmanager-1")
    assert wait_for(lambda: [tm["id"] for tm in cluster.taskmanagers()] == ["taskmanager-2"], 60)
