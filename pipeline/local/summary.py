"""The run summary a person reads in ten seconds, built from ML Metadata after a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from components import artifacts
from pipeline import nodes
from pipeline.local import metadata
from pipeline.local.runner import RunOutcome
from trainer.rows import SPLITS

# Ingestion's row counts, by the word the summary shows them under.
_ROW_COUNTS = {
    "read": artifacts.ROWS_READ,
    "written": artifacts.ROWS_WRITTEN,
    "quarantined": artifacts.ROWS_QUARANTINED,
}


@dataclass
class RunSummary:
    """Everything the summary prints, as plain values (also used by tests)."""

    span: str
    months: list[str]
    succeeded: bool
    error: str = ""
    failed_node: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    split_rows: dict[str, int] = field(default_factory=dict)
    anomalies: dict[str, list[str]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    baseline_metrics: dict[str, float] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    has_baseline: bool = False
    blessed: bool | None = None
    failures: list[str] = field(default_factory=list)
    bad_rows: dict[str, str] = field(default_factory=dict)
    baseline_ignored: str = ""
    worst_slice: str = ""
    new_slice: str = ""
    new_counts: tuple[int, int] = (0, 0)
    new_auc: float | None = None
    already_pushed: str = ""
    already_serving: bool = False
    validation_pages: list[str] = field(default_factory=list)
    quarantine_path: str = ""
    seconds: float = 0.0
    node_states: dict[str, str] = field(default_factory=dict)
    pushed_version: str = ""
    pushed_path: str = ""
    report_path: str = ""
    model_path: str = ""
    examples_uri: str = ""
    log_path: str = ""

    @property
    def exit_state(self) -> str:
        """'failed', 'not-blessed', 'pushed' or 'already-serving' (the candidate is the served model)."""
        if not self.succeeded:
            return "failed"
        if self.pushed_version:
            return "pushed"
        return "already-serving" if self.already_serving else "not-blessed"


def _anomalies(anomalies_uri: str) -> dict[str, list[str]]:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    found = {}
    for split_dir in sorted(Path(anomalies_uri).glob("Split-*")):
        anomalies = anomalies_pb2.Anomalies.FromString((split_dir / "SchemaDiff.pb").read_bytes())
        for name, info in anomalies.anomaly_info.items():
            found.setdefault(name, []).append(f"{split_dir.name.removeprefix('Split-')}: {info.short_description}")
    return found


def _validation_pages(config, month: str) -> list[str]:
    """The span's statistics and anomalies pages, written by the validation gate pass or fail."""
    from components.validate.report import ANOMALIES_PAGE, STATISTICS_PAGE
    from components.validate.store import StatisticsStore
    from pipeline import validation

    folder = StatisticsStore(validation.store_root(config, config.pipeline.pipeline_root)).report_dir(month)
    return [f"{folder}/{page}" for page in (STATISTICS_PAGE, ANOMALIES_PAGE) if Path(f"{folder}/{page}").is_file()]


def _evaluation_lines(summary: RunSummary, evaluation) -> None:
    """Fills the summary's gate fields from EvaluateModel's evaluation."""
    from components import evaluation_results

    overall = evaluation.metrics.get(evaluation_results.OVERALL, {})
    summary.metrics = overall.get(evaluation_results.CANDIDATE, {})
    summary.baseline_metrics = overall.get(evaluation_results.BASELINE, {})
    summary.has_baseline = evaluation.has_baseline
    summary.failures = [str(failure) for failure in evaluation.failures]
    summary.bad_rows = {model: str(bad) for model, bad in evaluation.bad_rows.items()}
    summary.baseline_ignored = evaluation.baseline_ignored
    if evaluation.already_pushed is not None:
        summary.already_pushed = str(evaluation.already_pushed)
        summary.already_serving = evaluation.already_pushed.serving
    judged = [s for s in evaluation.regressions_first() if s.judged and s.auc_change is not None]
    if judged:
        worst = judged[0]
        change = worst.auc_change
        verdict = "FAILED" if worst.failed else ("worse" if change.high < 0 else "within noise")
        summary.worst_slice = (
            f"{worst.name} ({worst.examples:,} rows, {worst.clicks:,} clicks): AUC {change.estimate:+.4f} "
            f"[{change.low:+.4f}, {change.high:+.4f}], {verdict}"
        )
    new = evaluation.slice(evaluation.new_slice) if evaluation.new_slice else None
    if new is not None:
        summary.new_slice, summary.new_counts = new.name, (new.examples, new.clicks)
        candidate = new.metrics.get(evaluation_results.CANDIDATE, {})
        summary.new_auc = candidate.get(evaluation_results.AUC) if new.judged else None


def collect(config, outcome: RunOutcome, limits: dict[str, float] | None = None) -> RunSummary:
    """Reads the run's artifacts from ML Metadata into a `RunSummary`.

    Args:
        config: the run's config.
        outcome: what `run_local` returned.
        limits: the best achievable metrics on the eval split, when known (e.g. from a data
            generator's ground truth); shown beside the model's.
    """
    summary = RunSummary(
        span=outcome.span,
        months=outcome.months,
        succeeded=outcome.succeeded,
        error=outcome.error,
        failed_node=outcome.failed_node,
        log_path=outcome.log_path,
        limits=dict(limits or {}),
        node_states={node: progress.status for node, progress in outcome.nodes.items()},
    )
    summary.validation_pages = _validation_pages(config, outcome.span)
    store = metadata.open_store(config.pipeline.metadata_path)
    name = config.pipeline.name

    def record(node_id):
        found = metadata.latest_node_record(store, name, node_id)
        return found if found and found.state in ("COMPLETE", "CACHED") else None

    if ingest := record(nodes.INGEST):
        examples = ingest.output("examples")
        summary.examples_uri = examples.uri
        for label, key in _ROW_COUNTS.items():
            summary.rows[label] = int(metadata.artifact_property(examples, key, 0))
        # Ingestion counts each split as it writes it.
        for split in SPLITS:
            summary.split_rows[split] = int(metadata.artifact_property(examples, artifacts.split_rows(split), 0))
        for prop_name in examples.custom_properties:
            if (reason := artifacts.quarantined_reason(prop_name)) is not None:
                count = int(metadata.artifact_property(examples, prop_name, 0))
                if count:
                    summary.quarantined_by_reason[reason] = count
        if summary.rows.get("quarantined") and (quarantine := ingest.output("quarantine")) is not None:
            summary.quarantine_path = quarantine.uri
    if validate := record(nodes.VALIDATE):
        summary.anomalies = _anomalies(validate.output("anomalies").uri)
    if train := record(nodes.TRAIN):
        summary.model_path = train.output("model").uri
    if evaluate := record(nodes.EVALUATE):
        from components import evaluation_results

        _evaluation_lines(summary, evaluation_results.load(evaluate.output("evaluation").uri))
        summary.blessed = bool(metadata.artifact_property(evaluate.output("blessing"), artifacts.BLESSED, 0))
    if push := record(nodes.PUSH):
        pushed = push.output("pushed_model")
        if int(metadata.artifact_property(pushed, artifacts.PUSHED, 0)):
            summary.pushed_version = str(metadata.artifact_property(pushed, artifacts.PUSHED_VERSION, ""))
            summary.pushed_path = str(metadata.artifact_property(pushed, artifacts.PUSHED_DESTINATION, ""))
    if report := record(nodes.COMPARE):
        summary.report_path = str(Path(report.output("report").uri) / "report.html")
    return summary


# An error message is shown whole (a validation failure lists every problem), up to this many lines.
ERROR_LINES = 60


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _time_line(summary: RunSummary) -> str:
    states = list(summary.node_states.values())
    counts = ", ".join(f"{states.count(s)} {s}" for s in ("done", "cached", "failed") if states.count(s))
    return f"  time       {_duration(summary.seconds)}" + (f" ({counts})" if counts else "")


def render(summary: RunSummary) -> str:
    """The summary as a few lines of text."""
    state = {
        "failed": "FAILED",
        "not-blessed": "completed, NOT blessed",
        "pushed": "completed, blessed and pushed",
        "already-serving": f"completed, {summary.already_pushed} (nothing pushed)",
    }
    lines = [f"clickpipe run on span {summary.span} — {state[summary.exit_state]}"]
    if summary.error:
        where = f" in {summary.failed_node}" if summary.failed_node else ""
        message = summary.error.splitlines()
        lines.append(f"  error      failed{where}: {message[0][:300]}")
        lines.extend(f"             {line[:300]}" for line in message[1:ERROR_LINES])
        if len(message) > ERROR_LINES:
            lines.append(f"             ... {len(message) - ERROR_LINES} more lines in the log")
    if summary.rows:
        rows = summary.rows
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary.quarantined_by_reason.items()))
        lines.append(
            f"  data       months {', '.join(summary.months)}: read {rows.get('read', 0)}, "
            f"written {rows.get('written', 0)}, quarantined {rows.get('quarantined', 0)}"
            + (f" ({reasons})" if reasons else "")
        )
    if summary.quarantine_path:
        lines.append(f"  quarantine {summary.quarantine_path}")
    if summary.split_rows:
        lines.append("  splits     " + ", ".join(f"{k} {v}" for k, v in summary.split_rows.items()))
    validation_failed = summary.failed_node == nodes.VALIDATE
    if validation_failed:
        lines.append("  anomalies  the span failed validation: see the problems above")
    elif summary.anomalies:
        described = "; ".join(f"{k} ({' / '.join(v)})" for k, v in sorted(summary.anomalies.items()))
        lines.append(f"  anomalies  {len(summary.anomalies)}: {described}")
    elif summary.rows:
        lines.append("  anomalies  none")
    lines.extend(f"  {'pages' if i == 0 else '':<10} {page}" for i, page in enumerate(summary.validation_pages))
    if summary.metrics:
        lines.append("  model      " + _metric_line(summary.metrics, summary.limits))
        if summary.has_baseline:
            lines.append("  production " + _metric_line(summary.baseline_metrics, {}))
        elif summary.baseline_ignored:
            lines.append(f"  production not compared against, absolute thresholds only: {summary.baseline_ignored}")
        else:
            lines.append("  production none yet: absolute thresholds only")
    if "candidate" in summary.bad_rows:
        lines.append(f"  bad rows   the candidate gave {summary.bad_rows['candidate']}")
    if summary.worst_slice:
        lines.append(f"  worst      {summary.worst_slice}")
    if summary.new_slice:
        lines.append(f"  new        {_new_line(summary)}")
    if summary.already_pushed:
        lines.append(f"  blessing   not evaluated again: {summary.already_pushed}")
    elif summary.blessed is not None:
        if summary.blessed:
            lines.append("  blessing   blessed")
        else:
            lines.append("  blessing   NOT blessed, nothing pushed:")
            lines.extend(f"               {failure}" for failure in summary.failures or ["(see the report)"])
    if summary.pushed_version:
        lines.append(f"  pushed     version {summary.pushed_version} -> {summary.pushed_path}")
    elif summary.already_pushed:
        lines.append(f"  pushed     nothing: {summary.already_pushed}")
    if summary.report_path:
        lines.append(f"  report     {summary.report_path}")
    lines.append(f"  log        {summary.log_path}")
    if summary.seconds:
        lines.append(_time_line(summary))
    return "\n".join(lines)


def _new_line(summary: RunSummary) -> str:
    rows, clicks = summary.new_counts
    text = f"{summary.new_slice}: {rows:,} rows, {clicks:,} clicks, "
    if summary.new_auc is None:
        return text + "too small to judge"
    text += f"AUC {summary.new_auc:.4f}"
    limit = summary.limits.get("new_auc")
    return text + (f" ({summary.new_auc / limit:.3f} x best achievable {limit:.4f})" if limit else "")


def _metric_line(metrics: dict[str, float], limits: dict[str, float]) -> str:
    parts = []
    for name, label in (("auc", "AUC"), ("binary_crossentropy", "log-loss"), ("auc_pr", "AUC-PR")):
        if name in metrics:
            text = f"{label} {metrics[name]:.4f}"
            limit = limits.get({"auc": "auc", "binary_crossentropy": "log_loss"}.get(name, ""))
            if limit:
                text += f" ({metrics[name] / limit:.3f} x best achievable {limit:.4f})"
            parts.append(text)
    if "mean_prediction" in metrics and "mean_label" in metrics:
        parts.append(f"mean prediction {metrics['mean_prediction']:.4f} vs label {metrics['mean_label']:.4f}")
    return ", ".join(parts) or "no metrics"
