"""The gate in a real TFX pipeline (LocalDagRunner): publishes good months, stops bad ones.

The pipeline is the production wiring up to the gate (ingestion, ImportSchemaGen,
StatisticsGen with the schema, ValidateImpressions) plus one downstream node that consumes the
validated schema, standing for Transform.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

GOOD, BAD = "2026-04", "2026-05"


def _ingest(config, span: str):
    from components.ingest.component import IngestImpressions

    dataset = config.dataset
    return IngestImpressions(
        source=dataset.source,
        impressions_pattern=dataset.impressions_pattern,
        span=span,
        window=1,
        eval_percent=dataset.eval_percent,
        max_quarantined_fraction=dataset.max_quarantined_fraction,
        registry=json.dumps(config.registry().to_dict()),
    ).with_id("IngestImpressions")


def _pipeline(config, root: Path, examples_node, output_key: str = "examples"):
    from tfx import v1 as tfx

    from components.validate.comparators import comparators_to_json
    from components.validate.component import ValidateImpressions
    from pipeline import validation
    from tests.components.validate.downstream import AfterGate

    ingest = examples_node
    schema = tfx.components.ImportSchemaGen(schema_file=validation.schema_file(config)).with_id("ImportSchema")
    statistics = tfx.components.StatisticsGen(
        examples=ingest.outputs[output_key], schema=schema.outputs["schema"]
    ).with_id("ComputeStatistics")
    gate = ValidateImpressions(
        statistics=statistics.outputs["statistics"],
        schema=schema.outputs["schema"],
        store=validation.store_root(config, str(root / "pipeline-root")),
        drift_comparators=comparators_to_json(validation.drift_comparators(config)),
    ).with_id("ValidateImpressions")
    after = AfterGate(schema=gate.outputs["validated_schema"], marker=str(root / "downstream-ran")).with_id(
        "AfterGate"
    )
    return tfx.dsl.Pipeline(
        pipeline_name="validate-gate",
        pipeline_root=str(root / "pipeline-root"),
        components=[ingest, schema, statistics, gate, after],
        enable_cache=False,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(root / "metadata.sqlite")
        ),
        beam_pipeline_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from tfx import v1 as tfx

    from datagen.generator import Drift, GeneratorSettings, generate
    from pipeline.config import load_config

    root = tmp_path_factory.mktemp("gate")
    generate(root / "data", [GOOD, BAD], GeneratorSettings(impressions=4000, seed=5),
             {BAD: Drift(numeric_column="bid_price", numeric_scale=2.0)})
    config = load_config().with_overrides(dataset={"source": str(root / "data")})
    tfx.orchestration.LocalDagRunner().run(_pipeline(config, root, _ingest(config, GOOD)))
    good_ran = (root / "downstream-ran").exists()
    (root / "downstream-ran").unlink()
    with pytest.raises(Exception) as failure:
        tfx.orchestration.LocalDagRunner().run(_pipeline(config, root, _ingest(config, BAD)))
    return root, good_ran, failure.value


def test_good_month_passes_and_is_published(runs):
    root, good_ran, _ = runs
    store = root / "pipeline-root" / "validation"

    assert good_ran
    assert (store / "statistics" / GOOD / "_VALIDATED").is_file()
    assert (store / "statistics" / GOOD / "Split-train" / "FeatureStats.pb").is_file()
    assert (store / "reports" / GOOD / "statistics.html").is_file()
    anomalies = list((root / "pipeline-root" / "ValidateImpressions" / "anomalies").glob("*/Split-train/SchemaDiff.pb"))
    assert len(anomalies) == 1


def test_bad_month_fails_with_the_readable_summary(runs):
    from components.validate.executor import ValidationFailed

    _, _, error = runs

    assert isinstance(error, ValidationFailed)
    first, *lines = str(error).splitlines()
    assert first.startswith(f"span {BAD} failed validation: 1 problem (report: ")
    assert lines[0].split()[0] == "bid_price"
    assert f"drift vs {GOOD}" in lines[0]


def test_bad_month_stops_downstream_and_is_not_published(runs):
    root, _, _ = runs
    store = root / "pipeline-root" / "validation"

    assert not (root / "downstream-ran").exists()
    assert not (store / "statistics" / BAD).exists()
    page = (store / "reports" / BAD / "anomalies.html").read_text()
    assert "FAILED" in page and "bid_price" in page


def test_kubeflow_v2_spec_runs_downstream_after_the_gate(tmp_path, runs):
    from tfx import v1 as tfx

    from pipeline.config import load_config

    root, _, _ = runs
    examples = tfx.dsl.Importer(
        source_uri=str(root / "examples"), artifact_type=tfx.types.standard_artifacts.Examples
    ).with_id("IngestImpressions")
    pipeline = _pipeline(load_config(), tmp_path, examples, output_key="result")
    pipeline.metadata_connection_config = None
    output = tmp_path / "spec.json"
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image="clickpipe:test"),
        output_filename=str(output),
    )
    runner.run(pipeline, write_out=True)

    tasks = json.loads(output.read_text())["pipelineSpec"]["root"]["dag"]["tasks"]
    assert "ValidateImpressions" in tasks["AfterGate"]["dependentTasks"]
    assert "ComputeStatistics" in tasks["ValidateImpressions"]["dependentTasks"]
