"""A month's Beam stages in out-of-process SDK workers (Beam's portable runner, EXTERNAL
environment: the worker pool Flink's TaskManagers use) give exactly the DirectRunner's
artifacts, and the run blesses and pushes its model."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from benchmarks.flink_cluster import free_port, start_worker_pool
from pipeline import nodes
from pipeline.config import load_config
from pipeline.local import metadata

pytestmark = pytest.mark.e2e

MONTH = "2026-09"


def wait_listening(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("localhost", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"no worker pool on port {port}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from datagen.generator import GeneratorSettings, generate
    from pipeline.local.runner import run_local

    work = tmp_path_factory.mktemp("sdk-workers")
    generate(str(work / "data"), [MONTH], GeneratorSettings(impressions=3000, seed=11))
    port = free_port()
    pool = start_worker_pool(work / "worker-pool.log", port)
    try:
        wait_listening(port)
        outcomes = {}
        for name, beam_args in {
            "direct": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
            "workers": ["--runner=PortableRunner", "--job_endpoint=embed",
                        "--environment_type=EXTERNAL", f"--environment_config=localhost:{port}"],
        }.items():
            config = load_config().with_overrides(
                pipeline={"home": str(work / name), "beam_args": beam_args},
                dataset={"source": str(work / "data"), "span": MONTH},
                training={"epochs": 2},
            )
            outcomes[name] = (config, run_local(config, on_event=lambda node: None))
    finally:
        os.killpg(pool, signal.SIGTERM)
    return outcomes, (work / "worker-pool.log").read_text()


def output_uri(config, node: str, key: str) -> Path:
    store = metadata.open_store(config.pipeline.metadata_path)
    [artifact] = metadata.latest_node_record(store, config.pipeline.name, node).outputs[key]
    return Path(artifact.uri)


def examples_by_key(folder: Path) -> dict[str, dict[str, tf.train.Example]]:
    found = {}
    for split in sorted(folder.glob("Split-*")):
        records = tf.data.TFRecordDataset([str(p) for p in sorted(split.iterdir())], compression_type="GZIP")
        examples = [tf.train.Example.FromString(r.numpy()) for r in records]
        found[split.name] = {e.features.feature["impression_id"].bytes_list.value[0]: e for e in examples}
    return found


def transformed_rows(folder: Path) -> dict[str, list[dict]]:
    """Each split's transformed rows as {feature: (kind, values)}, in an order that does not
    depend on the runner's (rows land in files in the runner's order)."""
    found = {}
    for split in sorted(folder.glob("Split-*")):
        records = tf.data.TFRecordDataset([str(p) for p in sorted(split.iterdir())], compression_type="GZIP")
        rows = []
        for record in records:
            features = tf.train.Example.FromString(record.numpy()).features.feature
            rows.append({name: (f.WhichOneof("kind"), list(getattr(f, f.WhichOneof("kind")).value))
                         for name, f in features.items()})
        found[split.name] = sorted(rows, key=lambda row: repr(sorted(
            (name, [float(f"{v:.4g}") for v in values] if kind == "float_list" else values)
            for name, (kind, values) in row.items()
        )))
    return found


def assert_same_rows(first: list[dict], second: list[dict]) -> None:
    """Equal rows, floats within float32 rounding: TF Transform's analyzers (a mean, a variance)
    sum in the runner's order, which can move a scaled value by its last bit."""
    assert len(first) == len(second)
    for one, other in zip(first, second, strict=True):
        assert one.keys() == other.keys()
        for name, (kind, values) in one.items():
            assert other[name][0] == kind, name
            if kind == "float_list":
                assert np.allclose(values, other[name][1], rtol=1e-5, atol=1e-6), name
            else:
                assert values == other[name][1], name


def rounded(message) -> dict:
    """A message as a dict, its floats to 12 significant digits."""
    from google.protobuf import json_format

    def walk(value):
        if isinstance(value, float):
            return float(f"{value:.12g}")
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(json_format.MessageToDict(message))


def test_both_runs_push_a_blessed_model(runs):
    from components import push_records

    outcomes, pool_log = runs
    for name, (config, outcome) in outcomes.items():
        assert outcome.succeeded, f"{name}: {outcome.error} (log {outcome.log_path})"
        assert outcome.nodes[nodes.PUSH].status == "done", name
        assert len(push_records.pushed_versions(config.model_base_path)) == 1, name
    # Beam's stages ran in workers the pool started, not in the client (no LOOPBACK here).
    assert "Starting worker with command" in pool_log


def test_the_workers_write_the_direct_runners_examples_quarantine_statistics_and_transform(runs):
    from tensorflow_metadata.proto.v0 import statistics_pb2

    outcomes, _ = runs
    (direct, _), (workers, _) = outcomes["direct"], outcomes["workers"]

    examples = [examples_by_key(output_uri(c, nodes.INGEST, "examples")) for c in (direct, workers)]
    assert examples[0] == examples[1]
    assert sum(len(split) for split in examples[0].values()) > 2500

    quarantine = [
        sorted(line for p in output_uri(c, nodes.INGEST, "quarantine").glob("quarantined_rows*")
               for line in p.read_text().splitlines())
        for c in (direct, workers)
    ]
    assert quarantine[0] == quarantine[1]

    statistics = []
    for config in (direct, workers):
        folder = output_uri(config, nodes.STATISTICS, "statistics")
        by_split = {}
        for path in sorted(folder.glob("Split-*/FeatureStats.pb")):
            stats = statistics_pb2.DatasetFeatureStatisticsList.FromString(path.read_bytes())
            by_split[path.parent.name] = stats
        statistics.append(by_split)
    assert statistics[0].keys() == statistics[1].keys() and statistics[0]
    for split in statistics[0]:
        # Identical but for float sums combined in another order (a std_dev's last bit).
        assert rounded(statistics[0][split]) == rounded(statistics[1][split]), split

    transformed = [transformed_rows(output_uri(c, nodes.TRANSFORM, "transformed_examples")) for c in (direct, workers)]
    assert transformed[0].keys() == transformed[1].keys() and transformed[0]
    for split in transformed[0]:
        assert_same_rows(transformed[0][split], transformed[1][split])
