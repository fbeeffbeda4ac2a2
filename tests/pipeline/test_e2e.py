"""The full pipeline on a small span with the real LocalDagRunner, checked in ML Metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipeline import nodes
from pipeline.config import load_config
from pipeline.local import metadata

pytestmark = pytest.mark.e2e

MONTHS = ["2026-09", "2026-10"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from datagen.generator import GeneratorSettings, generate
    from pipeline.local.runner import run_local

    work = tmp_path_factory.mktemp("e2e")
    generate(str(work / "data"), MONTHS, GeneratorSettings(impressions=3000, seed=11))
    config = load_config().with_overrides(
        pipeline={"home": str(work / "home")},
        dataset={"source": str(work / "data"), "span": MONTHS[0]},
        training={"epochs": 2},
    )
    first = run_local(config, on_event=lambda node: None)
    second = run_local(config, on_event=lambda node: None)
    return config, first, second


def _states(config) -> dict[str, str]:
    store = metadata.open_store(config.pipeline.metadata_path)
    return {
        node: getattr(metadata.latest_node_record(store, config.pipeline.name, node), "state", "NEVER")
        for node in nodes.LOCAL
    }


def test_every_component_executed(small_run):
    config, first, _ = small_run
    assert first.succeeded, f"{first.error} (log {first.log_path})"
    assert {node for node, progress in first.nodes.items() if progress.status == "done"} == set(nodes.LOCAL)
    assert set(_states(config).values()) <= {"COMPLETE", "CACHED"}


def test_unchanged_rerun_is_served_from_cache(small_run):
    config, _, second = small_run
    assert second.succeeded, second.error
    cached = {node for node, progress in second.nodes.items() if progress.status == "cached"}
    # The production-model lookup reads outside state (the model base path), so it re-runs
    # whenever a model was pushed since; everything fed by the unchanged span is cached.
    assert cached >= {
        nodes.INGEST,
        nodes.STATISTICS,
        nodes.IMPORT_SCHEMA,
        nodes.VALIDATE,
        nodes.TRANSFORM,
        nodes.TRAIN,
    }
    assert set(_states(config).values()) <= {"COMPLETE", "CACHED"}


def test_an_unchanged_rerun_pushes_nothing_and_says_the_model_is_already_serving(small_run):
    from components import evaluation_results, push_records
    from pipeline.local.summary import collect, render

    config, first, second = small_run
    [version] = push_records.pushed_versions(config.model_base_path)
    store = metadata.open_store(config.pipeline.metadata_path)

    def latest(node):
        return metadata.latest_node_record(store, config.pipeline.name, node)

    evaluation = evaluation_results.load(latest(nodes.EVALUATE).output("evaluation").uri)
    assert evaluation.already_pushed == evaluation_results.AlreadyPushed(version.version, version.version)
    assert evaluation.slices == []  # not scored again
    pushed = latest(nodes.PUSH).output("pushed_model")
    assert metadata.custom_property(pushed, "pushed") == 0
    assert metadata.custom_property(pushed, "already_pushed_version") == version.version
    summary = collect(config, second)
    assert summary.exit_state == "already-serving"
    assert f"already serving version {version.version}" in render(summary)


def test_pushed_model_loads_and_scores_a_raw_example(small_run, tmp_path):
    config, _, _ = small_run
    versions = sorted(p for p in os.listdir(config.model_base_path) if p.isdigit())
    assert versions, "nothing was pushed"
    model_dir = os.path.join(config.model_base_path, versions[-1])
    data_dir = config.dataset.source
    month_dir = os.path.join(data_dir, "impressions", MONTHS[0])
    csv_file = sorted(os.scandir(month_dir), key=lambda entry: entry.name)[0]
    # A fresh interpreter: the pushed SavedModel must be self-contained.
    script = f"""
import csv, json, os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tensorflow as tf
from pipeline.config import load_config
registry = load_config().registry()
row = next(csv.DictReader(open({csv_file.path!r})))
model = tf.saved_model.load({model_dir!r})
inputs = {{}}
for feature in registry.features:
    if feature.kind.value == "numeric":
        inputs[feature.name] = tf.constant([float(row[feature.name])])
    elif feature.kind.value == "image":
        path = os.path.join({data_dir!r}, feature.uri_template.format(**row))
        inputs[feature.name] = tf.constant([open(path, "rb").read()])
    else:
        inputs[feature.name] = tf.constant([row[feature.name].encode()])
out = model.signatures["predict_raw"](**inputs)
print(json.dumps({{"p": float(out["click_probability"].numpy().ravel()[0])}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    probability = json.loads(done.stdout.strip().splitlines()[-1])["p"]
    assert 0.0 < probability < 1.0
