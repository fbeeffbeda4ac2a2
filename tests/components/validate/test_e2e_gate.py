"""The full pipeline on a bad month: the gate stops it before Transform and nothing is pushed."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.e2e

MONTH = "2026-06"
GATE, TRANSFORM = "ValidateImpressions", "TransformFeatures"


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    from datagen.generator import Drift, GeneratorSettings, generate
    from pipeline.config import load_config
    from pipeline.local.runner import run_local

    work = tmp_path_factory.mktemp("e2e-gate")
    generate(work / "data", [MONTH], GeneratorSettings(impressions=3000, seed=13),
             {MONTH: Drift(new_value_column="ad_category", new_value_fraction=0.08)})
    config = load_config().with_overrides(
        pipeline={"home": str(work / "home")},
        dataset={"source": str(work / "data"), "span": MONTH},
        training={"epochs": 1},
    )
    return config, run_local(config, on_event=lambda node: None)


def test_anomalous_month_fails_at_the_gate_with_the_summary(bad_run):
    _, outcome = bad_run

    assert not outcome.succeeded
    assert outcome.failed_node == GATE
    assert outcome.error.startswith(f"ValidationFailed: span {MONTH} failed validation")
    assert "ad_category" in outcome.error and "crypto" in outcome.error


def test_anomalous_month_trains_and_pushes_nothing(bad_run):
    config, outcome = bad_run

    assert TRANSFORM not in outcome.nodes
    base = config.model_base_path
    pushed = [name for name in os.listdir(base) if name.isdigit()] if os.path.isdir(base) else []
    assert pushed == []
