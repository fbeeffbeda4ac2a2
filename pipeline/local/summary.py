"""The run summary a person reads in ten seconds, built from ML Metadata after a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline import nodes
from pipeline.local import metadata
from pipeline.local.runner import RunOutcome


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
    pushed_version: str = ""
    pushed_path: str = ""
    report_path: str = ""
    model_path: str = ""
    examples_uri: str = ""
    log_path: str = ""

    @property
    def exit_state(self) -> str:
        """'failed', 'not-blessed' or 'pushed'."""
        if not self.succeeded:
            return "failed"
        return "pushed" if self.pushed_version else "not-blessed"


def _anomalies(anomalies_uri: str) -> dict[str, list[str]]:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    found = {}
    for split_dir in sorted(Path(anomalies_uri).glob("Split-*")):
        anomalies = anomalies_pb2.Anomalies.FromString((split_dir / "SchemaDiff.pb").read_bytes())
        for name, info in anomalies.anomaly_info.items():
            found.setdefault(name, []).append(f"{split_dir.name.removeprefix('Split-')}: {info.short_description}")
    return found


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
    )
    store = metadata.open_store(config.pipeline.metadata_path)
    name = config.pipeline.name

    def record(node_id):
        found = metadata.latest_node_record(store, name, node_id)
        return found if found and found.state in ("COMPLETE", "CACHED") else None

    if ingest := record(nodes.INGEST):
        examples = ingest.output("examples")
        summary.examples_uri = examples.uri
        for key in ("rows_read", "rows_written", "rows_quarantined"):
            summary.rows[key.removeprefix("rows_")] = int(metadata.artifact_property(examples, key, 0))
        # Ingestion counts each split as it writes it.
        for split in ("train", "eval"):
            summary.split_rows[split] = int(metadata.artifact_property(examples, f"rows_{split}", 0))
        for prop_name in examples.custom_properties:
            if prop_name.startswith("quarantined_"):
                count = int(metadata.artifact_property(examples, prop_name, 0))
                if count:
                    summary.quarantined_by_reason[prop_name.removeprefix("quarantined_")] = count
    if validate := record(nodes.VALIDATE):
        summary.anomalies = _anomalies(validate.output("anomalies").uri)
    if train := record(nodes.TRAIN):
        summary.model_path = train.output("model").uri
    if evaluate := record(nodes.EVALUATE):
        from components.evaluate import results

        evaluation = results.load(evaluate.output("evaluation").uri)
        overall = evaluation.metrics.get(results.OVERALL, {})
        summary.metrics = overall.get(results.CANDIDATE, {})
        summary.baseline_metrics = overall.get(results.BASELINE, {})
        summary.has_baseline = evaluation.has_baseline
        summary.blessed = bool(metadata.artifact_property(evaluate.output("blessing"), "blessed", 0))
        summary.failures = [str(failure) for failure in evaluation.failures]
    if push := record(nodes.PUSH):
        pushed = push.output("pushed_model")
        if int(metadata.artifact_property(pushed, "pushed", 0)):
            summary.pushed_version = str(metadata.artifact_property(pushed, "pushed_version", ""))
            summary.pushed_path = str(metadata.artifact_property(pushed, "pushed_destination", ""))
    if report := record(nodes.COMPARE):
        summary.report_path = str(Path(report.output("report").uri) / "report.html")
    return summary


def render(summary: RunSummary) -> str:
    """The summary as a few lines of text."""
    state = {"failed": "FAILED", "not-blessed": "completed, NOT blessed", "pushed": "completed, blessed and pushed"}
    lines = [f"clickpipe run on span {summary.span} — {state[summary.exit_state]}"]
    if summary.error:
        where = f" in {summary.failed_node}" if summary.failed_node else ""
        lines.append(f"  error      failed{where}: {summary.error.splitlines()[0][:300]}")
    if summary.rows:
        rows = summary.rows
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary.quarantined_by_reason.items()))
        lines.append(
            f"  data       months {', '.join(summary.months)}: read {rows.get('read', 0)}, "
            f"written {rows.get('written', 0)}, quarantined {rows.get('quarantined', 0)}"
            + (f" ({reasons})" if reasons else "")
        )
    if summary.split_rows:
        lines.append("  splits     " + ", ".join(f"{k} {v}" for k, v in summary.split_rows.items()))
    if summary.rows or summary.anomalies:
        if summary.anomalies:
            described = "; ".join(f"{k} ({' / '.join(v)})" for k, v in sorted(summary.anomalies.items()))
            lines.append(f"  anomalies  {len(summary.anomalies)}: {described}")
        else:
            lines.append("  anomalies  none")
    if summary.metrics:
        lines.append("  model      " + _metric_line(summary.metrics, summary.limits))
        if summary.has_baseline:
            lines.append("  production " + _metric_line(summary.baseline_metrics, {}))
        else:
            lines.append("  production none yet: absolute thresholds only")
    if summary.blessed is not None:
        if summary.blessed:
            lines.append("  blessing   blessed")
        else:
            lines.append("  blessing   NOT blessed, nothing pushed:")
            lines.extend(f"               {failure}" for failure in summary.failures or ["(see the report)"])
    if summary.pushed_version:
        lines.append(f"  pushed     version {summary.pushed_version} -> {summary.pushed_path}")
    if summary.report_path:
        lines.append(f"  report     {summary.report_path}")
    lines.append(f"  log        {summary.log_path}")
    return "\n".join(lines)


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
