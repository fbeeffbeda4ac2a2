"""Progress from TFX's per-node log records, its printing, the run's lock and clean-up of a killed
run, and the run summary's wording."""

import io
import logging
import os

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.ingest.span_selection import SpanError
from pipeline.config import load_config
from pipeline.local import metadata
from pipeline.local.runner import (
    HomeInUse,
    NodeProgress,
    ProgressHandler,
    ProgressPrinter,
    elapsed_text,
    home_lock,
    run_local,
)
from pipeline.local.summary import RunSummary, render


def _record(msg, *args):
    return logging.LogRecord("absl", logging.INFO, __file__, 1, msg, args, None)


def test_progress_reports_running_cached_and_done():
    events = []
    handler = ProgressHandler(lambda node: events.append((node.node_id, node.status)))
    handler.emit(_record("Component %s is running.", "IngestImpressions"))
    handler.emit(_record("Component %s is finished.", "IngestImpressions"))
    handler.emit(_record("Component %s is running.", "TrainModel"))
    handler.emit(_record("A cached execution %d is used.", 7))
    handler.emit(_record("Component %s is finished.", "TrainModel"))
    assert events == [
        ("IngestImpressions", "running"),
        ("IngestImpressions", "done"),
        ("TrainModel", "running"),
        ("TrainModel", "cached"),
    ]
    assert {n: p.status for n, p in handler.nodes.items()} == {"IngestImpressions": "done", "TrainModel": "cached"}


def test_a_failure_marks_the_running_component():
    handler = ProgressHandler(lambda node: None)
    handler.emit(_record("Component %s is running.", "TransformFeatures"))
    assert handler.fail_current() == "TransformFeatures"
    assert handler.nodes["TransformFeatures"].status == "failed"
    assert handler.fail_current() == ""


def test_summary_names_each_failing_threshold_and_pushes_nothing():
    summary = RunSummary(
        span="2026-10",
        months=["2026-10"],
        succeeded=True,
        rows={"read": 100, "written": 98, "quarantined": 2},
        quarantined_by_reason={"missing_creative": 2},
        metrics={"auc": 0.71, "binary_crossentropy": 0.14},
        baseline_metrics={"auc": 0.75},
        has_baseline=True,
        blessed=False,
        failures=["auc overall: 0.7100 < baseline 0.7500 - 0.002"],
        log_path="x.log",
    )
    text = render(summary)
    assert summary.exit_state == "not-blessed"
    assert "NOT blessed" in text and "auc overall: 0.7100" in text
    assert "quarantined 2 (missing_creative 2)" in text
    assert "pushed" not in text.split("blessing")[-1].replace("nothing pushed", "")


def test_summary_of_a_failed_run_names_the_component():
    summary = RunSummary(span="2026-10", months=["2026-10"], succeeded=False, error="ValueError: boom",
                         failed_node="TransformFeatures", log_path="x.log")
    assert summary.exit_state == "failed"
    assert "failed in TransformFeatures: ValueError: boom" in render(summary)


def test_summary_puts_each_metric_beside_its_best_achievable_value_and_their_ratio():
    summary = RunSummary(span="2026-10", months=["2026-10"], succeeded=True,
                         metrics={"auc": 0.78, "binary_crossentropy": 0.1155},
                         limits={"auc": 0.8, "log_loss": 0.11}, log_path="x.log")
    text = render(summary)
    assert "AUC 0.7800 (0.975 x best achievable 0.8000)" in text
    assert "log-loss 0.1155 (1.050 x best achievable 0.1100)" in text


def test_a_terminal_sees_the_running_line_count_up_and_close():
    stream, now = io.StringIO(), [100.0]
    printer = ProgressPrinter(stream, live=True, interval=3600, clock=lambda: now[0])

    printer(NodeProgress("TrainModel", "running"))
    now[0] += 65
    printer.tick()
    now[0] += 600
    printer.tick()
    printer(NodeProgress("TrainModel", "done", seconds=665.2))
    printer.close()

    frames = stream.getvalue().split("\r")[1:]
    assert [frame.split()[-1].removesuffix("\x1b[K") for frame in frames[:3]] == ["0:00", "1:05", "11:05"]
    assert frames[3] == f"  {'TrainModel':<22} done     665.2 s\x1b[K\n"


def test_a_file_gets_one_plain_line_per_state_change():
    stream, now = io.StringIO(), [0.0]
    printer = ProgressPrinter(stream, live=False, clock=lambda: now[0])

    printer(NodeProgress("TrainModel", "running"))
    now[0] += 65
    printer.tick()
    printer(NodeProgress("TrainModel", "failed", seconds=65.0))
    printer.close()

    assert stream.getvalue() == f"  {'TrainModel':<22} running\n  {'TrainModel':<22} failed    65.0 s\n"


def test_an_interrupted_running_line_is_ended_on_close():
    stream = io.StringIO()
    printer = ProgressPrinter(stream, live=True, interval=3600)

    printer(NodeProgress("TrainModel", "running"))
    printer.close()

    assert stream.getvalue().endswith("\n")


@pytest.mark.parametrize(("seconds", "text"), [(7.9, "0:07"), (662, "11:02"), (3723, "1:02:03")])
def test_elapsed_time_reads_as_a_clock(seconds, text):
    assert elapsed_text(seconds) == text


def test_a_second_run_on_the_same_home_is_refused(tmp_path):
    config = load_config().with_overrides(pipeline={"home": str(tmp_path)}, dataset={"source": str(tmp_path)})

    with home_lock(str(tmp_path)), pytest.raises(HomeInUse, match=rf"pid {os.getpid()}\) is using {tmp_path}"):
        run_local(config)
    # Released: the next run gets past the lock (and stops at the empty source).
    with pytest.raises(SpanError):
        run_local(config)


def _store_with_a_killed_run(path: str):
    """ML Metadata as a run killed during TrainModel leaves it: Ingest COMPLETE, Train RUNNING."""
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = path
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(connection)
    node_type = store.put_context_type(metadata_store_pb2.ContextType(name="node"))
    execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name="tfx.Component"))
    ids = {}
    for pipeline, node_id, state in (
        ("clickpipe", "IngestImpressions", metadata_store_pb2.Execution.COMPLETE),
        ("clickpipe", "TrainModel", metadata_store_pb2.Execution.RUNNING),
        ("other", "TrainModel", metadata_store_pb2.Execution.RUNNING),
    ):
        [context_id] = store.put_contexts([metadata_store_pb2.Context(type_id=node_type, name=f"{pipeline}.{node_id}")])
        execution = metadata_store_pb2.Execution(type_id=execution_type, last_known_state=state)
        [execution_id] = store.put_executions([execution])
        store.put_attributions_and_associations(
            [], [metadata_store_pb2.Association(context_id=context_id, execution_id=execution_id)]
        )
        ids[(pipeline, node_id)] = execution_id
    return store, ids


def _state(store, execution_id: int) -> str:
    [execution] = store.get_executions_by_id([execution_id])
    return metadata_store_pb2.Execution.State.Name(execution.last_known_state)


def test_the_next_run_marks_what_a_killed_run_left_running_as_abandoned(tmp_path, capsys):
    store, ids = _store_with_a_killed_run(str(tmp_path / "metadata.sqlite"))
    config = load_config().with_overrides(pipeline={"home": str(tmp_path)}, dataset={"source": str(tmp_path / "x")})

    with pytest.raises(SpanError):
        run_local(config)

    assert _state(store, ids[("clickpipe", "TrainModel")]) == "CANCELED"
    [execution] = store.get_executions_by_id([ids[("clickpipe", "TrainModel")]])
    assert "killed" in execution.custom_properties[metadata.ABANDONED_PROPERTY].string_value
    assert _state(store, ids[("clickpipe", "IngestImpressions")]) == "COMPLETE"
    # Another pipeline's executions are not this run's business.
    assert _state(store, ids[("other", "TrainModel")]) == "RUNNING"
    assert "marked 1 unfinished execution(s) of an interrupted run as abandoned: TrainModel" in capsys.readouterr().out
