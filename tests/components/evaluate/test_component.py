"""FindProductionModel -> EvaluateModel -> PushModel -> CompareModels on TFX's LocalDagRunner.

A first run has no model in production: only the floor applies and the report says so. A better
candidate is pushed; a worse one is not and the explanation names the rule; the model already
in production is not evaluated again and not pushed twice; a production version that cannot be
loaded stops the run, named, before anything is pushed.
"""

import json
import shutil
from pathlib import Path

import pytest

from components import evaluation_results, push_records
from components.compare.component import CompareModels
from components.compare.html import NO_BASELINE
from components.evaluate.component import EvaluateModel
from components.production_model.component import FindProductionModel
from components.push.component import PushModel
from pipeline import blessing, eval_config
from pipeline.config import load_config
from pipeline.local import metadata
from tests.pipeline import evaluation_fixtures as fx

pytestmark = pytest.mark.integration

PIPELINE = "gate-test"
NODES = ("FindProductionModel", "EvaluateModel", "PushModel", "CompareModels")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    fx.write_examples(root / "examples" / "Split-eval", rows=1500)
    fx.write_examples(root / "examples" / "Split-train", rows=3000, seed=1, ads=fx.TRAINED_ADS)
    return {
        "root": root,
        "examples": root / "examples",
        "broken": fx.save_model(root / "broken" / "Format-Serving", **fx.BROKEN_FEATURE).parent,
        "good": fx.save_model(root / "good" / "Format-Serving", **fx.GOOD).parent,
    }


def run(world, candidate: Path, home: Path):
    """One run of the gate's nodes on `candidate`, serving under `home`; returns the records."""
    from tfx import v1 as tfx

    config = load_config().with_overrides(dataset={"slices": [["device_type"]]})
    base = str(home / "serving")
    examples = tfx.dsl.Importer(
        source_uri=str(world["examples"]),
        artifact_type=tfx.types.standard_artifacts.Examples,
        properties={"split_names": '["train", "eval"]'},
    ).with_id("ImportExamples")
    model = tfx.dsl.Importer(source_uri=str(candidate), artifact_type=tfx.types.standard_artifacts.Model).with_id(
        "ImportCandidate"
    )
    baseline = FindProductionModel(model_base_path=base, fingerprint=push_records.fingerprint(base)).with_id(
        "FindProductionModel"
    )
    evaluator = EvaluateModel(
        examples=examples.outputs["result"],
        model=model.outputs["result"],
        baseline_model=baseline.outputs["model"],
        gate=eval_config.build(config).to_json(),
    ).with_id("EvaluateModel")
    pusher = PushModel(
        model=model.outputs["result"],
        model_blessing=evaluator.outputs["blessing"],
        model_base_path=base,
        evaluation=evaluator.outputs["evaluation"],
    ).with_id("PushModel")
    report = CompareModels(
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        model=model.outputs["result"],
        baseline_model=baseline.outputs["model"],
        examples=examples.outputs["result"],
        span="2026-10",
    ).with_id("CompareModels")
    tfx.orchestration.LocalDagRunner().run(
        tfx.dsl.Pipeline(
            pipeline_name=PIPELINE,
            pipeline_root=str(home / "root"),
            components=[examples, model, baseline, evaluator, pusher, report],
            enable_cache=True,
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
                str(home / "metadata.sqlite")
            ),
        )
    )
    store = metadata.open_store(str(home / "metadata.sqlite"))
    return {node: metadata.latest_node_record(store, PIPELINE, node) for node in NODES}


def blessed(result) -> int:
    return metadata.custom_property(result["EvaluateModel"].output("blessing"), "blessed")


def pushed(result) -> int:
    return metadata.custom_property(result["PushModel"].output("pushed_model"), "pushed")


def test_first_run_floor_only_then_gated_by_the_pushed_model(world, tmp_path):
    first = run(world, world["good"], tmp_path)

    assert metadata.custom_property(first["FindProductionModel"].output("model"), "found") == 0
    evaluation = first["EvaluateModel"].output("evaluation").uri
    assert blessed(first) == 1 and pushed(first) == 1
    assert blessing.headline(evaluation).startswith("blessed against absolute thresholds only")
    assert (Path(first["EvaluateModel"].output("blessing").uri) / "BLESSED").is_file()
    report_folder = Path(first["CompareModels"].output("report").uri)
    assert NO_BASELINE in (report_folder / "report.html").read_text()
    assert json.loads((report_folder / "comparison.json").read_text())["evaluation"]["has_baseline"] is False
    [version] = push_records.pushed_versions(str(tmp_path / "serving"))

    second = run(world, world["broken"], tmp_path)

    found = second["FindProductionModel"].output("model")
    assert second["FindProductionModel"].state == "COMPLETE"  # not a stale cached lookup
    assert metadata.custom_property(found, "production_version") == version.version
    assert blessed(second) == 0 and pushed(second) == 0
    assert (Path(second["EvaluateModel"].output("blessing").uri) / "NOT_BLESSED").is_file()
    failures = blessing.explain(second["EvaluateModel"].output("evaluation").uri)
    assert {(f.metric, f.slice) for f in failures} >= {("auc", "overall")}
    page = (Path(second["CompareModels"].output("report").uri) / "report.html").read_text()
    assert f"version {version.version}" in page and "NOT BLESSED" in page
    assert [r.version for r in push_records.pushed_versions(str(tmp_path / "serving"))] == [version.version]


def test_a_better_model_is_pushed_and_records_its_digest(world, tmp_path):
    run(world, world["broken"], tmp_path)

    better = run(world, world["good"], tmp_path)

    assert blessed(better) == 1 and pushed(better) == 1
    evaluation = evaluation_results.load(better["EvaluateModel"].output("evaluation").uri)
    assert evaluation.slice("overall").auc_change.low > 0
    newest = push_records.pushed_versions(str(tmp_path / "serving"))[-1]
    assert newest.model_digest == push_records.model_digest(str(world["good"] / "Format-Serving"))
    assert newest.metrics["auc"] == pytest.approx(evaluation.value("overall", "candidate", "auc"))


def test_the_new_ads_slice_holds_the_ads_absent_from_the_train_split(world, tmp_path):
    result = run(world, world["good"], tmp_path)

    evaluation = evaluation_results.load(result["EvaluateModel"].output("evaluation").uri)
    new = evaluation.slice(evaluation.new_slice)
    rows = fx.impressions(1500)
    expected = [r for r in rows if int(r["ad_id"].removeprefix("ad-")) >= fx.TRAINED_ADS]
    assert evaluation.new_slice == "new ad_id (absent from training)"
    assert (new.examples, new.clicks) == (len(expected), sum(r["clicked"] for r in expected))


def test_the_model_in_production_is_not_evaluated_again_nor_pushed_twice(world, tmp_path):
    first = run(world, world["good"], tmp_path)
    assert pushed(first) == 1

    again = run(world, world["good"], tmp_path)

    assert again["EvaluateModel"].state == "COMPLETE"  # the production lookup changed, so it ran
    assert blessed(again) == 1 and pushed(again) == 0
    version = push_records.pushed_versions(str(tmp_path / "serving"))
    assert len(version) == 1
    evaluation = evaluation_results.load(again["EvaluateModel"].output("evaluation").uri)
    assert evaluation.already_pushed.version == version[0].version and evaluation.already_pushed.serving
    assert evaluation.slices == []  # nothing was scored
    assert blessing.headline(again["EvaluateModel"].output("evaluation").uri) == (
        f"not evaluated again: already serving version {version[0].version}"
    )
    assert metadata.custom_property(again["PushModel"].output("pushed_model"), "already_pushed_version") == (
        version[0].version
    )
    assert "ALREADY SERVING" in (Path(again["CompareModels"].output("report").uri) / "report.html").read_text()


def test_a_production_version_that_cannot_be_loaded_stops_the_run_before_pushing(world, tmp_path):
    run(world, world["good"], tmp_path)
    [version] = push_records.pushed_versions(str(tmp_path / "serving"))
    shutil.rmtree(Path(version.path) / "variables")

    with pytest.raises(Exception, match=f"version {version.version}.*cannot be loaded"):
        run(world, world["broken"], tmp_path)

    store = metadata.open_store(str(tmp_path / "metadata.sqlite"))
    assert metadata.latest_node_record(store, PIPELINE, "EvaluateModel").state == "FAILED"
    assert len(push_records.pushed_versions(str(tmp_path / "serving"))) == 1
