"""IngestImpressions in a real LocalDagRunner pipeline, read back from ML Metadata."""

import json
from pathlib import Path

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from components.ingest.component import IngestImpressions, QuarantinedRows
from components.ingest.span_selection import resolve_spans
from pipeline.local.gcs import upload_dir
from tests.components.ingest import dataset as ds
from trainer import rows

pytestmark = pytest.mark.integration

PATTERN = "impressions/{span}/*.csv"


LOCAL_BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
# Beam's portable runner with its embedded job service: the Job API that Flink's and Spark's job
# servers expose, so what runs here runs there with --job_endpoint=HOST:PORT.
PORTABLE_BEAM = ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"]


def build(source, home, span, fingerprint, beam_args=tuple(LOCAL_BEAM)):
    ingest = IngestImpressions(
        source=source,
        impressions_pattern=PATTERN,
        span=span,
        window=1,
        eval_percent=25,
        max_quarantined_fraction=0.2,
        registry=json.dumps(ds.registry().to_dict()),
        fingerprint=fingerprint,
    ).with_id("IngestImpressions")
    # TFX's own reader of Examples must accept what we write.
    statistics = tfx.components.StatisticsGen(examples=ingest.outputs["examples"]).with_id("ComputeStatistics")
    return tfx.dsl.Pipeline(
        pipeline_name="ingest-test",
        pipeline_root=str(home / "root"),
        components=[ingest, statistics],
        enable_cache=True,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(home / "metadata.sqlite")
        ),
        beam_pipeline_args=list(beam_args),
    )


def run_latest(source, home):
    selection = resolve_spans(source, PATTERN, "latest", 1)
    tfx.orchestration.LocalDagRunner().run(build(source, home, selection.months[-1], selection.fingerprint))
    return selection


def store(home):
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(home / "metadata.sqlite")
    return metadata_store.MetadataStore(config)


def ingest_states(home):
    mlmd = store(home)
    context = mlmd.get_context_by_type_and_name("node", "ingest-test.IngestImpressions")
    executions = sorted(mlmd.get_executions_by_context(context.id), key=lambda e: e.id)
    return [metadata_store_pb2.Execution.State.Name(e.last_known_state) for e in executions]


def custom(artifact, name):
    value = artifact.custom_properties[name]
    return getattr(value, value.WhichOneof("value"))


def test_records_span_version_splits_and_counts_and_caches_by_fingerprint(tmp_path, upload):
    root = tmp_path / "data"
    ds.write_months(root, {"2026-09": 6})
    ds.write_span(root, "2026-10", ds.good_lines("2026-10", 20) + [ds.csv_line(ds.row("bad", hour="x"))])
    url = upload(root)
    home = tmp_path / "home"

    selection = run_latest(url, home)
    mlmd = store(home)
    [examples] = mlmd.get_artifacts_by_type("Examples")
    assert examples.properties["span"].int_value == 202610
    assert examples.properties["version"].int_value == selection.version > 0
    assert json.loads(examples.properties["split_names"].string_value) == ["train", "eval"]
    assert custom(examples, "span_months") == "2026-10"
    assert custom(examples, "input_fingerprint") == selection.fingerprint
    assert custom(examples, "rows_read") == 21
    assert custom(examples, "rows_written") == 20
    assert custom(examples, "rows_quarantined") == custom(examples, "quarantined_bad_value_type") == 1
    assert custom(examples, "rows_train") + custom(examples, "rows_eval") == 20
    reasons = {n for n in examples.custom_properties if n.startswith("quarantined_")}
    assert reasons == {f"quarantined_{reason}" for reason in rows.REASONS}
    [quarantine] = mlmd.get_artifacts_by_type(QuarantinedRows.TYPE_NAME)
    assert custom(quarantine, "rows_quarantined") == 1
    assert len(mlmd.get_artifacts_by_type("ExampleStatistics")) == 1

    # Same files: the cached examples are reused.
    run_latest(url, home)
    assert ingest_states(home) == ["COMPLETE", "CACHED"]

    # A new month lands: "latest" now resolves to it and the cache misses.
    ds.write_span(root, "2026-11", ds.good_lines("2026-11", 8))
    upload_dir(root, url)
    newer = run_latest(url, home)
    assert newer.months == ("2026-11",)
    assert ingest_states(home) == ["COMPLETE", "CACHED", "COMPLETE"]
    spans = sorted(a.properties["span"].int_value for a in store(home).get_artifacts_by_type("Examples"))
    assert spans == [202610, 202611]


def test_ingestion_and_statistics_run_on_beams_portable_runner(tmp_path):
    root = tmp_path / "data"
    ds.write_months(root, {"2026-10": 40})
    selection = resolve_spans(str(root), PATTERN, "latest", 1)
    home = tmp_path / "home"

    tfx.orchestration.LocalDagRunner().run(
        build(str(root), home, selection.months[-1], selection.fingerprint, beam_args=PORTABLE_BEAM)
    )

    mlmd = store(home)
    [examples] = mlmd.get_artifacts_by_type("Examples")
    assert examples.custom_properties["rows_written"].int_value == 40
    [statistics] = mlmd.get_artifacts_by_type("ExampleStatistics")
    assert (Path(statistics.uri) / "Split-train" / "FeatureStats.pb").is_file()
