"""The gate's rule: may the candidate replace the model in production?

Both models are scored on the same eval rows, so every comparison is paired. A candidate is
blocked when

- the eval split has fewer than `min_clicks` clicks or non-clicks (too small to judge);
- its overall AUC is below the floor `min_auc` (or a slice's AUC below that slice's floor);
- it is *significantly* worse than production, overall or on a guarded slice with enough
  clicks: the whole interval of its AUC change lies below ``-max_auc_drop``, or the whole
  interval of its log-loss change lies above ``max_log_loss_increase``.

Intervals are simultaneous at `confidence` over every comparison made (Bonferroni), so two
equally good models are not told apart by noise however many slices there are. A slice with
fewer than `min_clicks` clicks or non-clicks is reported as too small to judge, not failed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import asdict, dataclass, field

import numpy as np

from components.evaluate import statistics
from components.evaluation_results import (
    AUC,
    AUC_PR,
    BASELINE,
    CALIBRATION,
    CANDIDATE,
    CLICKS,
    EXAMPLE_COUNT,
    LOG_LOSS,
    MEAN_LABEL,
    MEAN_PREDICTION,
    OVERALL,
    Check,
    Curves,
    Evaluation,
    Failure,
    SliceResult,
)

METHOD = (
    "exact AUC; DeLong's paired test for AUC changes, a paired normal interval for log-loss changes; "
    "intervals simultaneous over every comparison (Bonferroni)"
)
# Points kept per curve in the report: enough for a smooth line, few enough for a small file.
CURVE_POINTS = 200
CALIBRATION_BUCKETS = 10


@dataclass(frozen=True)
class SliceRule:
    """Limits for every value of one slicing, overriding the overall ones.

    Attributes:
        columns: the slicing, e.g. ``("device_type",)``.
        min_auc: a floor on each value's AUC.
        max_auc_drop: the AUC loss against production tolerated on each value.
    """

    columns: tuple[str, ...]
    min_auc: float | None = None
    max_auc_drop: float | None = None


@dataclass(frozen=True)
class GateSettings:
    """What the gate reads and how it decides; built by `pipeline.eval_config.build`.

    Attributes:
        label: the label column (0/1).
        column_kinds: the columns the gate reads from the examples besides the label, with
            their tf.Example kind (``bytes``, ``float`` or ``int``).
        slices: the slicings, e.g. ``(("device_type",), ("device_type", "slot_position"))``.
        new_column: rows whose value of this column is absent from the training split form
            the new-values slice (e.g. new ads); "" for none.
        min_auc: the floor on the candidate's overall AUC.
        max_auc_drop: the AUC loss against production tolerated, overall and per slice.
        max_log_loss_increase: the log-loss increase against production tolerated, likewise.
        confidence: the simultaneous confidence of the intervals.
        min_clicks: clicks and non-clicks a slice (and the whole split) needs to be judged.
        guard_slices: every judged slice can block the push; otherwise only `slice_rules`'
            slicings, the new-values slice never.
        slice_rules: per-slicing floors and tolerances.
    """

    label: str
    column_kinds: dict[str, str] = field(default_factory=dict)
    slices: tuple[tuple[str, ...], ...] = ()
    new_column: str = ""
    min_auc: float | None = 0.6
    max_auc_drop: float = 0.002
    max_log_loss_increase: float = 0.01
    confidence: float = 0.95
    min_clicks: int = 10
    guard_slices: bool = True
    slice_rules: tuple[SliceRule, ...] = ()

    def to_json(self) -> str:
        """The settings as a JSON string (a component parameter)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GateSettings:
        """Settings from `to_json`'s output."""
        data = json.loads(text)
        data["slices"] = tuple(tuple(s) for s in data.get("slices", ()))
        data["slice_rules"] = tuple(
            SliceRule(**{**r, "columns": tuple(r["columns"])}) for r in data.get("slice_rules", ())
        )
        return cls(**data)

    @property
    def new_slice(self) -> str:
        """The name of the new-values slice."""
        return f"new {self.new_column} (absent from training)" if self.new_column else ""

    def rule(self, columns: tuple[str, ...]) -> SliceRule | None:
        """The rule for one slicing, if configured."""
        return next((r for r in self.slice_rules if r.columns == tuple(columns)), None)


@dataclass(frozen=True)
class Scored:
    """The eval split as the gate sees it: labels, each model's predictions, slice columns.

    Attributes:
        labels: 0/1 per row.
        predictions: model (candidate, and baseline when there is one) -> probability per row.
        columns: column -> its value per row, as text.
        new: per row, whether its `new_column` value is absent from training (None: no slice).
    """

    labels: np.ndarray
    predictions: dict[str, np.ndarray]
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    new: np.ndarray | None = None


def _slices(scored: Scored, settings: GateSettings) -> list[tuple[str, tuple[str, ...], np.ndarray]]:
    """(name, columns, row mask) of overall, every value of every slicing, and new values."""
    found = [(OVERALL, (), np.ones(scored.labels.size, dtype=bool))]
    for columns in settings.slices:
        keys = np.char.add(f"{columns[0]}=", scored.columns[columns[0]].astype(str))
        for column in columns[1:]:
            keys = np.char.add(np.char.add(keys, f", {column}="), scored.columns[column].astype(str))
        names, rows = np.unique(keys, return_inverse=True)
        found.extend((str(name), tuple(columns), rows == i) for i, name in enumerate(names))
    if scored.new is not None and settings.new_column:
        found.append((settings.new_slice, (settings.new_column,), scored.new))
    return found


def _model_metrics(labels: np.ndarray, scores: np.ndarray, overall: bool) -> dict[str, float]:
    mean_prediction, mean_label = float(scores.mean()), float(labels.mean())
    metrics = {
        EXAMPLE_COUNT: float(labels.size),
        CLICKS: float(labels.sum()),
        AUC: statistics.auc(labels, scores),
        LOG_LOSS: statistics.log_loss(labels, scores),
        MEAN_PREDICTION: mean_prediction,
        MEAN_LABEL: mean_label,
        CALIBRATION: mean_prediction / mean_label if mean_label else math.nan,
    }
    if overall:
        metrics[AUC_PR] = statistics.average_precision(labels, scores)
    return metrics


def _thin(xs: np.ndarray, ys: np.ndarray) -> list[tuple[float, float]]:
    keep = np.unique(np.linspace(0, xs.size - 1, min(xs.size, CURVE_POINTS)).round().astype(int))
    return [(float(xs[i]), float(ys[i])) for i in keep]


def curves(labels: np.ndarray, scores: np.ndarray) -> Curves:
    """ROC, precision-recall and calibration points of one model, for the report."""
    fpr, tpr = statistics.roc_points(labels, scores)
    recall, precision = statistics.precision_recall_points(labels, scores)
    return Curves(
        roc=_thin(fpr, tpr),
        precision_recall=_thin(recall, precision),
        calibration=[tuple(b) for b in statistics.calibration_buckets(labels, scores, CALIBRATION_BUCKETS)],
    )


def _guarded(name: str, columns: tuple[str, ...], settings: GateSettings) -> bool:
    if name == OVERALL:
        return True
    if name == settings.new_slice:
        return settings.guard_slices
    return settings.guard_slices or settings.rule(columns) is not None


def _too_small(overall: SliceResult, min_clicks: int) -> Failure:
    return Failure(
        EXAMPLE_COUNT,
        OVERALL,
        float(overall.examples),
        f"at least {min_clicks} clicks and {min_clicks} non-clicks to judge (evaluation.min_clicks); "
        f"the eval split has {overall.clicks} clicks and {overall.examples - overall.clicks} non-clicks",
    )


def _checks(item: SliceResult, settings: GateSettings, has_baseline: bool) -> list[Check]:
    """Every rule that applies to one judged slice."""
    rule = settings.rule(tuple(item.columns)) if item.name != OVERALL else None
    candidate = item.metrics[CANDIDATE]
    baseline = item.metrics.get(BASELINE, {})
    checks = []
    floor = settings.min_auc if item.name == OVERALL else (rule.min_auc if rule else None)
    if floor is not None:
        checks.append(
            Check(AUC, item.name, f">= {floor:.4f}", candidate[AUC], None, candidate[AUC] >= floor, limit=floor)
        )
    if has_baseline and item.guarded:
        drop = rule.max_auc_drop if rule and rule.max_auc_drop is not None else settings.max_auc_drop
        checks.append(Check(
            AUC, item.name, f"not significantly more than {drop:.4f} below production",
            candidate[AUC], baseline[AUC], item.auc_change.high >= -drop, item.auc_change, -drop,
        ))
        increase = settings.max_log_loss_increase
        checks.append(Check(
            LOG_LOSS, item.name, f"not significantly more than {increase:.4f} above production",
            candidate[LOG_LOSS], baseline[LOG_LOSS], item.log_loss_change.low <= increase, item.log_loss_change,
            increase,
        ))
    return checks


def judge(scored: Scored, settings: GateSettings) -> Evaluation:
    """Evaluates the candidate (against the baseline, when scored) and applies the rule.

    Args:
        scored: labels, predictions and slice columns of the eval split.
        settings: the rule.

    Returns:
        Metrics and intervals per slice, every check, the failures and the verdict.
    """
    has_baseline = BASELINE in scored.predictions
    models = [CANDIDATE, BASELINE] if has_baseline else [CANDIDATE]
    labels = np.asarray(scored.labels, dtype=np.int64)
    results = []
    for name, columns, mask in _slices(scored, settings):
        rows = labels[mask]
        item = SliceResult(name, list(columns), int(rows.size), int(rows.sum()))
        if rows.size:
            item.metrics = {m: _model_metrics(rows, scored.predictions[m][mask], name == OVERALL) for m in models}
        item.judged = min(item.clicks, item.examples - item.clicks) >= max(2, settings.min_clicks)
        item.guarded = _guarded(name, columns, settings)
        results.append((item, mask))
    evaluation = Evaluation(
        has_baseline=has_baseline,
        validated=True,
        validation_ok=False,
        slices=[item for item, _ in results],
        method=METHOD,
        confidence=settings.confidence,
        min_clicks=settings.min_clicks,
        new_slice=settings.new_slice if scored.new is not None else "",
    )
    overall = results[0][0]
    if overall.examples:
        evaluation.curves = {m: curves(labels, scored.predictions[m]) for m in models}
    if not overall.judged:
        evaluation.failures = [_too_small(overall, settings.min_clicks)]
        return evaluation
    judged = [(item, mask) for item, mask in results if item.judged]
    evaluation.comparisons = len(judged) * (2 if has_baseline else 1)
    z = statistics.simultaneous_z(settings.confidence, evaluation.comparisons)
    for item, mask in judged:
        rows, candidate = labels[mask], scored.predictions[CANDIDATE][mask]
        item.auc_interval = statistics.auc_interval(rows, candidate, z)
        if has_baseline:
            baseline = scored.predictions[BASELINE][mask]
            item.auc_change = statistics.auc_change(rows, candidate, baseline, z)
            item.log_loss_change = statistics.log_loss_change(rows, candidate, baseline, z)
        checks = _checks(item, settings, has_baseline)
        item.failed = not all(c.passed for c in checks)
        evaluation.checks.extend(checks)
    evaluation.failures = [
        Failure(c.metric, c.slice, c.value, c.threshold, c.baseline, c.change)
        for c in evaluation.checks
        if not c.passed
    ]
    evaluation.validation_ok = not evaluation.failures
    return evaluation


def new_value_mask(values: np.ndarray, training_values: Collection[str]) -> np.ndarray:
    """Per row, whether its value never occurs in the training split."""
    return ~np.isin(np.asarray(values, dtype=str), np.array(sorted(training_values), dtype=str))
