"""The compiled spec executed as open-source KFP 2.x runs it: two months, task by task.

`tests.kubeflow.kfp_backend` reproduces the KFP 2.4 driver and launcher (upstream artifacts
arrive untyped, metadata numbers as doubles); each task runs its real container command in
this environment laid out as kubeflow/Dockerfile lays out the image. The spans are read from a
GCS emulator over HTTP. The pipeline root and the model base path are local folders: TFX's
artifacts and the pushed models are written with TensorFlow's GCS filesystem, whose endpoint is
hard-coded and cannot reach an emulator, so the spec is compiled here with
`require_buckets=False` (`clickpipe kfp compile` refuses local paths).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from kubeflow.compile import compile_pipeline
from pipeline import nodes
from tests.kubeflow.conftest import IMAGE
from tests.kubeflow.image import lay_out
from tests.kubeflow.kfp_backend import KfpBackend, load_spec

pytestmark = pytest.mark.e2e

MONTHS = ["2026-09", "2026-10"]
BUCKET = "clickpipe-kfp-e2e"


@pytest.fixture(scope="module")
def kfp(tmp_path_factory):
    """Both months run; a failing task fails every test with its name and log tail."""
    from datagen.generator import GeneratorSettings, generate
    from pipeline.config import load_config
    from pipeline.local import gcs

    work = tmp_path_factory.mktemp("kfp-e2e")
    generate(str(work / "data"), MONTHS, GeneratorSettings(impressions=3000, seed=11))
    pipeline_root = str(work / "pipeline-root")
    config = load_config().with_overrides(
        dataset={"source": f"gs://{BUCKET}/ads"},
        training={"epochs": 2},
        serving={"model_base_path": str(work / "serving" / "clickpipe")},
        kubeflow={"image": IMAGE, "pipeline_root": pipeline_root},
    )
    compiled = compile_pipeline(config, work / "clickpipe.yaml", require_buckets=False)
    image = lay_out(work / "image")
    with gcs.emulator() as host:
        gcs.upload_dir(work / "data", f"gs://{BUCKET}/ads")
        backend = KfpBackend(image, work / "mlmd.sqlite", work / "sandbox", env={"STORAGE_EMULATOR_HOST": host})
        spec = load_spec(compiled.path)
        runs = []
        for month in MONTHS:
            run_id = str(uuid.uuid4())
            runs.append(backend.run(spec, run_id, pipeline_root, parameters={"span": month}))
    return config, backend, runs


def _custom(backend: KfpBackend, run, task: str, output: str) -> dict:
    """The custom properties ML Metadata recorded for a task's output, as Python values."""
    [artifact] = backend.metadata.store.get_artifacts_by_uri(run.tasks[task].outputs[output].uri)
    return {key: getattr(value, value.WhichOneof("value")) for key, value in artifact.custom_properties.items()}


def test_every_task_of_both_months_ran(kfp):
    _, _, runs = kfp

    for run in runs:
        assert set(run.tasks) == set(nodes.KUBEFLOW)


def test_the_first_month_trains_and_pushes_without_a_production_model(kfp):
    config, backend, (first, _) = kfp

    assert _custom(backend, first, nodes.PRODUCTION_MODEL, "model")["found"] == 0.0
    assert _custom(backend, first, nodes.PUSH, "pushed_model")["pushed"] == 1.0


def test_the_second_month_is_evaluated_against_the_first_months_model_and_pushed(kfp):
    from components import push_records

    config, backend, (first, second) = kfp
    versions = push_records.pushed_versions(config.model_base_path)
    assert len(versions) == 2
    baseline = _custom(backend, second, nodes.PRODUCTION_MODEL, "model")
    assert baseline["production_version"] == float(versions[0].version)
    report = json.loads((_report_dir(second) / "comparison.json").read_text())
    assert report["evaluation"]["has_baseline"] is True
    assert report["context"]["baseline"].startswith(f"version {versions[0].version}")
    assert versions[1].span == MONTHS[1]


def test_push_records_carry_the_kfp_run(kfp):
    from components import push_records

    config, _, runs = kfp
    assert [r.run_id for r in push_records.pushed_versions(config.model_base_path)] == [run.run_id for run in runs]


def test_counts_stay_integers_through_ml_metadata(kfp):
    _, _, (_, second) = kfp
    report = json.loads((_report_dir(second) / "comparison.json").read_text())
    facts = report["context"]["data"]

    assert facts["span"] == MONTHS[1]
    for label in ("eval split rows", "rows read", "rows written", "rows quarantined"):
        assert facts[label].isdigit(), (label, facts[label])


def test_outputs_follow_the_kfp_layout(kfp):
    _, _, runs = kfp
    for run in runs:
        for task in run.tasks.values():
            for name, artifact in task.outputs.items():
                relative = artifact.uri.removeprefix(run.run_root + "/").split("/")
                assert relative[0] == task.name and relative[2] == name
                assert uuid.UUID(relative[1])


def test_the_report_is_published_for_the_kfp_ui(kfp):
    _, _, (_, second) = kfp
    outputs = second.tasks[nodes.SHOW_REPORT].outputs

    assert "<html" in Path(outputs["html"].uri).read_text().lower()
    assert Path(outputs["markdown"].uri).read_text().strip()


def _report_dir(run) -> Path:
    return Path(run.tasks[nodes.COMPARE].outputs["report"].uri)
