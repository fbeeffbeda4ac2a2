"""Compiled for Kubeflow: the report surfaces as system.HTML / system.Markdown artifacts."""

import json

from components.compare import kubeflow_view

IMAGE = "gcr.io/example/clickpipe:test"


def compile_spec(tmp_path) -> dict:
    from tfx import v1 as tfx

    from components.compare.component import CompareModels
    from components.evaluate.component import EvaluateModel
    from components.production_model.component import FindProductionModel
    from pipeline import eval_config
    from pipeline.config import load_config

    examples = tfx.dsl.Importer(
        source_uri="gs://bucket/examples",
        artifact_type=tfx.types.standard_artifacts.Examples,
        properties={"split_names": '["eval"]'},
    ).with_id("ImportExamples")
    model = tfx.dsl.Importer(source_uri="gs://bucket/model", artifact_type=tfx.types.standard_artifacts.Model).with_id(
        "ImportCandidate"
    )
    baseline = FindProductionModel(model_base_path="gs://bucket/serving").with_id("FindProductionModel")
    evaluator = EvaluateModel(
        examples=examples.outputs["result"],
        model=model.outputs["result"],
        baseline_model=baseline.outputs["model"],
        gate=eval_config.build(load_config()).to_json(),
    ).with_id("EvaluateModel")
    report = CompareModels(
        evaluation=evaluator.outputs["evaluation"], blessing=evaluator.outputs["blessing"]
    ).with_id("CompareModels")
    view = kubeflow_view.report_view_component(IMAGE)(report=report.outputs["report"]).with_id("ShowReport")
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="clickpipe-test",
        pipeline_root="gs://bucket/root",
        components=[examples, model, baseline, evaluator, report, view],
    )
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=IMAGE),
        output_dir=str(tmp_path),
        output_filename="pipeline.json",
    )
    runner.run(pipeline, write_out=True)
    spec = json.loads((tmp_path / "pipeline.json").read_text())
    return spec.get("pipelineSpec", spec)


def title(artifact_spec: dict) -> str:
    return artifact_spec["artifactType"]["instanceSchema"].splitlines()[0].removeprefix("title: ")


def test_compiles_for_kubeflow_with_html_and_markdown_outputs(tmp_path):
    spec = compile_spec(tmp_path)

    components = spec["components"]
    view_outputs = components["ShowReport"]["outputDefinitions"]["artifacts"]
    assert {name: title(a) for name, a in view_outputs.items()} == {
        "html": "system.HTML",
        "markdown": "system.Markdown",
    }
    # Every TFX-executor artifact has a title the TFX entrypoint can import.
    assert title(components["CompareModels"]["outputDefinitions"]["artifacts"]["report"]) == "tfx.File"
    assert title(components["FindProductionModel"]["outputDefinitions"]["artifacts"]["model"]) == "tfx.Model"
    executors = spec["deploymentSpec"]["executors"]
    assert executors["ShowReport_executor"]["container"]["command"] == [
        *kubeflow_view.COMMAND,
        "--report",
        "{{$.inputs.artifacts['report'].uri}}",
        "--html",
        "{{$.outputs.artifacts['html'].uri}}",
        "--markdown",
        "{{$.outputs.artifacts['markdown'].uri}}",
    ]
    assert executors["ShowReport_executor"]["container"]["image"] == IMAGE
    classes = {name: e["container"]["args"][1] for name, e in executors.items() if "args" in e.get("container", {})}
    assert classes["EvaluateModel_executor"] == "components.evaluate.executor.Executor"
    assert classes["FindProductionModel_executor"] == "components.production_model.executor.Executor"
    assert classes["CompareModels_executor"] == "components.compare.executor.Executor"


def test_container_entry_point_publishes_the_files_at_the_artifact_uris(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.html").write_text("<!DOCTYPE html><p>r</p>")
    (report / "summary.md").write_text("# s")
    html_uri, markdown_uri = tmp_path / "out" / "html", tmp_path / "out" / "markdown"

    code = kubeflow_view.main(["--report", str(report), "--html", str(html_uri), "--markdown", str(markdown_uri)])

    assert code == 0
    assert html_uri.read_text() == "<!DOCTYPE html><p>r</p>"
    assert markdown_uri.read_text() == "# s"
