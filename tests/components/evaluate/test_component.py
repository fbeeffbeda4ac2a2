"""FindProductionModel -> EvaluateModel -> CompareModels on TFX's LocalDagRunner.

A first run has no model in production: the Evaluator runs with absolute thresholds only and
the report says so. After a version is pushed, the next run evaluates against it.
"""

import json
import shutil
from pathlib import Path

import pytest

from components.compare.component import CompareModels
from components.compare.html import NO_BASELINE
from components.evaluate.component import EvaluateModel
from components.production_model.component import FindProductionModel
from components.push import records
from pipeline import blessing, eval_config
from pipeline.config import load_config
from pipeline.local import metadata
from tests.pipeline import evaluation_fixtures as fx

pytestmark = pytest.mark.integration

PIPELINE = "baseline-test"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    fx.write_examples(root / "examples" / "Split-eval", rows=600)
    return {
        "root": root,
        "examples": root / "examples",
        "broken": fx.save_model(root / "broken" / "Format-Serving", **fx.BROKEN_FEATURE).parent,
        "good": fx.save_model(root / "good" / "Format-Serving", **fx.GOOD).parent,
        "serving": root / "serving",
    }


def run(world, candidate: Path):
    from tfx import v1 as tfx

    config = load_config().with_overrides(dataset={"slices": [["device_type"]]})
    base = str(world["serving"])
    examples = tfx.dsl.Importer(
        source_uri=str(world["examples"]),
        artifact_type=tfx.types.standard_artifacts.Examples,
        properties={"split_names": '["eval"]'},
    ).with_id("ImportExamples")
    model = tfx.dsl.Importer(source_uri=str(candidate), artifact_type=tfx.types.standard_artifacts.Model).with_id(
        "ImportCandidate"
    )
    baseline = FindProductionModel(model_base_path=base, fingerprint=records.fingerprint(base)).with_id(
        "FindProductionModel"
    )
    evaluator = EvaluateModel(
        examples=examples.outputs["result"],
        model=model.outputs["result"],
        baseline_model=baseline.outputs["model"],
        eval_config=eval_config.build(config, has_baseline=True),
    ).with_id("EvaluateModel")
    report = CompareModels(
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        model=model.outputs["result"],
        baseline_model=baseline.outputs["model"],
        examples=examples.outputs["result"],
        span="2026-10",
    ).with_id("CompareModels")
    home = world["root"] / "home"
    tfx.orchestration.LocalDagRunner().run(
        tfx.dsl.Pipeline(
            pipeline_name=PIPELINE,
            pipeline_root=str(home / "root"),
            components=[examples, model, baseline, evaluator, report],
            enable_cache=True,
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
                str(home / "metadata.sqlite")
            ),
            beam_pipeline_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"],
        )
    )
    store = metadata.open_store(str(home / "metadata.sqlite"))
    return {
        node: metadata.latest_node_record(store, PIPELINE, node)
        for node in ("FindProductionModel", "EvaluateModel", "CompareModels")
    }


def push(world, model_folder: Path, version: int) -> None:
    target = world["serving"] / str(version)
    shutil.copytree(model_folder / "Format-Serving", target)
    records.write_record(str(target), records.PushRecord(version=version, span="2026-09", run_id="earlier-run"))


def test_first_run_absolute_only_then_gated_by_the_pushed_model(world):
    first = run(world, world["broken"])

    found = first["FindProductionModel"].output("model")
    assert metadata.custom_property(found, "found") == 0
    evaluation = first["EvaluateModel"].output("evaluation").uri
    assert metadata.custom_property(first["EvaluateModel"].output("blessing"), "blessed") == 1
    assert blessing.headline(evaluation).startswith("blessed against absolute thresholds only")
    report_folder = Path(first["CompareModels"].output("report").uri)
    page = (report_folder / "report.html").read_text()
    assert NO_BASELINE in page
    assert json.loads((report_folder / "comparison.json").read_text())["evaluation"]["has_baseline"] is False

    push(world, world["good"], 1_700_000_000)
    second = run(world, world["broken"])

    found = second["FindProductionModel"].output("model")
    assert second["FindProductionModel"].state == "COMPLETE"  # not a stale cached lookup
    assert metadata.custom_property(found, "found") == 1
    assert metadata.custom_property(found, "production_version") == 1_700_000_000
    assert (Path(found.uri) / "Format-Serving" / "saved_model.pb").is_file()
    evaluation = second["EvaluateModel"].output("evaluation").uri
    assert metadata.custom_property(second["EvaluateModel"].output("blessing"), "blessed") == 0
    failures = blessing.explain(evaluation)
    assert {(f.metric, f.slice) for f in failures} >= {("auc", "overall")}
    page = (Path(second["CompareModels"].output("report").uri) / "report.html").read_text()
    assert "version 1700000000 (span 2026-09, run_id earlier-run)" in page
    assert NO_BASELINE not in page
    assert "NOT BLESSED" in page
