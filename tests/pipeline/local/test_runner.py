"""Progress from TFX's per-node log records, and the run summary's wording."""

import logging

from pipeline.local.runner import ProgressHandler
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
