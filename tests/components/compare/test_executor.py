"""The facts the report executor reads from artifacts: verdict, production model, data."""

from tfx.types import standard_artifacts

from components import push_records
from components.compare import executor
from components.production_model import executor as production_executor


def test_blessed_reads_the_evaluator_property():
    blessing = standard_artifacts.ModelBlessing()
    assert executor.blessed(None) is None
    assert executor.blessed(blessing) is None
    blessing.set_int_custom_property("blessed", 0)
    assert executor.blessed(blessing) is False
    blessing.set_int_custom_property("blessed", 1)
    assert executor.blessed(blessing) is True


def test_baseline_text_names_the_production_version():
    model = standard_artifacts.Model()
    production_executor.describe(model, None)
    assert executor.baseline_text(model) == ""

    record = push_records.PushRecord(version=1700, span="2026-09", run_id="r1", pushed_at="t", rollback_of=1500)
    production_executor.describe(model, record)

    expected = "version 1700 (span 2026-09, run_id r1, pushed_at t, rollback of version 1500)"
    assert executor.baseline_text(model) == expected


def test_data_facts_use_the_ingest_properties():
    examples = standard_artifacts.Examples()
    examples.uri = "/root/IngestImpressions/examples/7"
    examples.set_string_custom_property("span_months", "2026-09,2026-10")
    examples.set_int_custom_property("rows_eval", 412)

    facts = executor.data_facts(examples, span="")

    assert facts == {
        "examples": "/root/IngestImpressions/examples/7/Split-eval",
        "span": "2026-09,2026-10",
        "eval split rows": "412",
    }
    assert executor.data_facts(examples, span="2026-10")["span"] == "2026-10"
    assert executor.data_facts(None, span="") == {}


def _as_kubeflow_hands_it_over(artifact_type: str, metadata: dict):
    """An input artifact parsed by TFX's Kubeflow entrypoint from KFP's metadata (numbers as doubles)."""
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils

    runtime = pipeline_spec_pb2.RuntimeArtifact(name="12", uri="/root/x")
    runtime.type.instance_schema = f"title: {artifact_type}\ntype: object\n"
    runtime.metadata.update(metadata)
    artifacts = pipeline_spec_pb2.ArtifactList(artifacts=[runtime])
    return kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict({"in": artifacts})["in"][0]


def test_counts_from_kubeflow_metadata_stay_integers():
    examples = _as_kubeflow_hands_it_over("tfx.Examples", {"rows_eval": 1006.0, "rows_quarantined": 0.0})

    facts = executor.data_facts(examples, span="2026-10")

    assert facts["eval split rows"] == "1006"
    assert facts["rows quarantined"] == "0"


def test_verdict_and_production_model_from_kubeflow_metadata():
    not_blessed = _as_kubeflow_hands_it_over("tfx.ModelBlessing", {"blessed": 0.0})
    baseline = _as_kubeflow_hands_it_over("tfx.Model", {"found": 1.0, "production_version": 1700.0, "span": "2026-09"})

    assert executor.blessed(not_blessed) is False
    assert executor.baseline_text(baseline) == "version 1700 (span 2026-09)"
