"""The gate's rule: may the candidate replace the model in production?

Both models are scored on the same eval rows, so every comparison is paired. A candidate is
blocked when

- it gives any row no usable prediction (NaN, infinite, outside [0, 1], not one value per row,
  or its signature fails on the row);
- the eval split has fewer than `min_clicks` clicks or non-clicks (too small to judge);
- its overall AUC is significantly below the floor `min_auc` (or a slice's AUC below that
  slice's floor): the whole interval lies below it;
- it is *significantly* worse than production, overall or on a guarded slice with enough
  clicks: the whole interval of its AUC change lies below ``-max_auc_drop``, the whole interval
  of its log-loss change above ``max_log_loss_increase``, or (`check_calibration`) the whole
  interval of how much further from calibrated it is than production above
  ``max_calibration_error``; without production, its overall calibration is judged against 1.

A production model with unusable predictions is reported and not compared against: the
candidate is judged on the absolute rules, as on a first run. Intervals are simultaneous at
`confidence` over the checks that can block (Bonferroni), so two equally good models are not
told apart by noise however many slices there are. A slice with fewer than `min_clicks` clicks
or non-clicks is reported as too small to judge, not failed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

from components.evaluate import statistics
from components.evaluation_results import (
    AUC,
    AUC_PR,
    BAD_PREDICTIONS,
    BASELINE,
    CALIBRATION,
    CANDIDATE,
    CLICKS,
    EXAMPLE_COUNT,
    LOG_LOSS,
    MEAN_LABEL,
    MEAN_PREDICTION,
    NEW_VALUE,
    OVERALL,
    BadRows,
    Check,
    Curves,
    Evaluation,
    Failure,
    Interval,
    SliceResult,
    slice_name,
)

METHOD = (
    "exact AUC; DeLong's paired test for AUC changes and AUC floors, a paired Student t interval for "
    "log-loss changes, delta-method intervals for calibration (mean prediction / mean label); "
    "intervals simultaneous over the checks that can block (Bonferroni)"
)
# Why a row has no usable prediction, in report order; scoring sets the first two.
SIGNATURE_FAILED = "signature failed"
WRONG_SHAPE = "wrong output shape"
_VALUE_REASONS = ("NaN", "infinite", "below 0", "above 1")
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
        check_calibration: judge calibration (mean prediction / mean label) too.
        max_calibration_error: how much further from calibrated than production the candidate
            may be, as ``|log(mean prediction / mean label)|`` (0.1: about 10%); without
            production, how far from 1 its overall calibration may be.
        key_column: the column naming each row (the dataset's example id), for reports of bad
            rows; "" names rows by their position in the eval split.
        prediction: the serving signature's output (`dataset.prediction`), for TFMA's config.
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
    check_calibration: bool = True
    max_calibration_error: float = 0.1
    key_column: str = ""
    prediction: str = ""

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
        columns: column -> its value per row (text, or numbers for int and float columns).
        new: per row, whether its `new_column` value is absent from training (None: no slice).
        failed: model -> per row, why scoring gave it no prediction ("" where it did), e.g.
            `SIGNATURE_FAILED`; models scored without trouble may be left out.
        keys: per row, its name for reports (e.g. ``impression_id=...``); None: its position.
    """

    labels: np.ndarray
    predictions: dict[str, np.ndarray]
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    new: np.ndarray | None = None
    failed: dict[str, np.ndarray] = field(default_factory=dict)
    keys: np.ndarray | None = None


def _typed(values: np.ndarray, kind: str) -> np.ndarray:
    """A column's values as the examples store them: text, int64 or float."""
    if kind == "int":
        return np.asarray(values).astype(np.int64)
    if kind == "float":
        return np.asarray(values).astype(np.float64)
    return np.asarray(values).astype(str)


def _plain(value):
    """A numpy scalar as the Python value a JSON file and TFMA's slice key hold."""
    return value.item() if isinstance(value, np.generic) else value


def _slicing(scored: Scored, settings: GateSettings, columns: tuple[str, ...]) -> Iterator[tuple[tuple, np.ndarray]]:
    """(typed key, row mask) of every combination of values of one slicing present in the rows."""
    uniques, codes = [], []
    for column in columns:
        values, rows = np.unique(_typed(scored.columns[column], settings.column_kinds.get(column, "bytes")),
                                 return_inverse=True)
        uniques.append(values)
        codes.append(rows.reshape(-1))
    if not scored.labels.size:
        return
    combinations, rows = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    rows = rows.reshape(-1)
    for i, combination in enumerate(combinations):
        key = tuple((c, _plain(values[j])) for c, values, j in zip(columns, uniques, combination, strict=True))
        yield key, rows == i


def _slices(scored: Scored, settings: GateSettings) -> list[tuple[str, tuple, tuple[str, ...], np.ndarray]]:
    """(name, typed key, columns, row mask) of overall, every value of every slicing, and new values."""
    found = [(OVERALL, (), (), np.ones(scored.labels.size, dtype=bool))]
    for columns in settings.slices:
        found.extend((slice_name(key), key, tuple(columns), mask)
                     for key, mask in _slicing(scored, settings, tuple(columns)))
    if scored.new is not None and settings.new_column:
        found.append((settings.new_slice, ((settings.new_column, NEW_VALUE),), (settings.new_column,),
                      np.asarray(scored.new, bool)))
    return found


def bad_rows(scored: Scored, model: str) -> tuple[np.ndarray, BadRows | None]:
    """Per row, whether `model` gave it no usable probability, and those rows described.

    A usable prediction is one finite value in [0, 1] per row; scoring marks rows whose
    signature failed or whose output had the wrong shape (`Scored.failed`).
    """
    predictions = np.asarray(scored.predictions[model], dtype=np.float64)
    failed = scored.failed.get(model)
    reasons = np.full(predictions.size, "", dtype=object) if failed is None else np.asarray(failed, dtype=object)
    with np.errstate(invalid="ignore"):
        checks = {"NaN": np.isnan(predictions), "infinite": np.isinf(predictions),
                  "below 0": predictions < 0, "above 1": predictions > 1}
    for reason in _VALUE_REASONS:
        reasons = np.where((reasons == "") & checks[reason], reason, reasons)
    bad = reasons != ""
    if not bad.any():
        return bad, None
    first = int(np.flatnonzero(bad)[0])
    key = str(scored.keys[first]) if scored.keys is not None else f"row {first} of the eval split"
    counts = {reason: int(np.sum(reasons == reason)) for reason in (SIGNATURE_FAILED, WRONG_SHAPE, *_VALUE_REASONS)}
    return bad, BadRows(model, int(bad.sum()), int(bad.size), key, {r: n for r, n in counts.items() if n})


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


def _guarded(item: SliceResult, settings: GateSettings) -> bool:
    if item.name == OVERALL:
        return True
    if item.name == settings.new_slice:
        return settings.guard_slices
    return settings.guard_slices or settings.rule(tuple(item.columns)) is not None


def _bad_predictions(bad: BadRows) -> Failure:
    return Failure(BAD_PREDICTIONS, OVERALL, float(bad.count), f"one probability in [0, 1] on every row; {bad}")


def _too_small(overall: SliceResult, min_clicks: int) -> Failure:
    return Failure(
        EXAMPLE_COUNT,
        OVERALL,
        float(overall.examples),
        f"at least {min_clicks} clicks and {min_clicks} non-clicks to judge (evaluation.min_clicks); "
        f"the eval split has {overall.clicks} clicks and {overall.examples - overall.clicks} non-clicks",
    )


def _floor(item: SliceResult, settings: GateSettings) -> float | None:
    if item.name == OVERALL:
        return settings.min_auc
    rule = settings.rule(tuple(item.columns))
    return rule.min_auc if rule and item.name != settings.new_slice else None


def _blocking(item: SliceResult, settings: GateSettings, has_baseline: bool) -> int:
    """How many interval checks on one judged slice can block the push."""
    count = _floor(item, settings) is not None
    if has_baseline and item.guarded:
        count += 2 + settings.check_calibration
    elif not has_baseline and item.name == OVERALL:
        count += settings.check_calibration
    return int(count)


def _checks(item: SliceResult, settings: GateSettings, has_baseline: bool) -> list[Check]:
    """Every rule that applies to one judged slice, each judged on its interval."""
    rule = settings.rule(tuple(item.columns)) if item.name != OVERALL else None
    candidate = item.metrics[CANDIDATE]
    baseline = item.metrics.get(BASELINE, {})
    checks = []
    floor = _floor(item, settings)
    if floor is not None:
        checks.append(Check(AUC, item.name, f"not significantly below {floor:.4f}", candidate[AUC], None,
                            item.auc_interval.high >= floor, limit=floor, interval=item.auc_interval))
    tolerance = settings.max_calibration_error
    band = (math.exp(-tolerance), math.exp(tolerance))
    # A candidate that may be calibrated within the band is never blocked for calibration: next to
    # production's, its |log ratio| shares the labels' mean, which the paired interval cancels.
    plausibly_calibrated = item.calibration_interval is not None and (
        item.calibration_interval.low <= band[1] and item.calibration_interval.high >= band[0])
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
        if settings.check_calibration:
            checks.append(Check(
                CALIBRATION, item.name,
                f"not significantly further from 1 than production's by more than {tolerance:.4f} "
                f"in |log(mean prediction / mean label)|, or not significantly outside {band[0]:.4f} to {band[1]:.4f}",
                candidate[CALIBRATION], baseline[CALIBRATION],
                item.calibration_change.low <= tolerance or plausibly_calibrated,
                item.calibration_change, tolerance, item.calibration_interval,
            ))
    elif not has_baseline and item.name == OVERALL and settings.check_calibration:
        checks.append(Check(
            CALIBRATION, item.name,
            f"mean prediction / mean label not significantly outside {band[0]:.4f} to {band[1]:.4f}",
            candidate[CALIBRATION], None, plausibly_calibrated, limit=tolerance, interval=item.calibration_interval,
        ))
    return checks


def _intervals(labels: np.ndarray, candidate: np.ndarray, baseline: np.ndarray | None, z: float,
               calibration: bool) -> dict[str, Interval]:
    """Every interval of one judged slice at the level of normal quantile `z`, by TFMA metric name."""
    found = {AUC: statistics.auc_interval(labels, candidate, z)}
    if calibration:
        found[CALIBRATION] = statistics.calibration_interval(labels, candidate, z)
    if baseline is not None:
        found[f"{AUC}_diff"] = statistics.auc_change(labels, candidate, baseline, z)
        found[f"{LOG_LOSS}_diff"] = statistics.log_loss_change(labels, candidate, baseline, z)
        if calibration:
            found[f"{CALIBRATION}_change"] = statistics.calibration_change(labels, candidate, baseline, z)
    return found


def _rescaled(intervals: dict[str, Interval], z: float, z_new: float, rows: int) -> dict[str, Interval]:
    """The same (symmetric) intervals at the level of normal quantile `z_new` instead of `z`."""
    def widen(name: str, interval: Interval) -> Interval:
        factor = z_new / z
        if name == f"{LOG_LOSS}_diff":
            factor = statistics.student_quantile(z_new, rows) / statistics.student_quantile(z, rows)
        # The calibration ratio's interval is symmetric on the log scale.
        scale = (np.log, np.exp) if name == CALIBRATION and interval.estimate > 0 else (float, float)
        centre, spread = scale[0](interval.estimate), scale[0](interval.high) - scale[0](interval.estimate)
        return Interval(interval.estimate, float(scale[1](centre - factor * spread)),
                        float(scale[1](centre + factor * spread)))

    return {name: widen(name, interval) for name, interval in intervals.items()}


def _compared(scored: Scored) -> tuple[list[str], np.ndarray, dict[str, BadRows]]:
    """The models compared, the rows all of them scored soundly, and every model's bad rows."""
    unusable, found_bad = {}, {}
    for model in scored.predictions:
        unusable[model], bad = bad_rows(scored, model)
        if bad is not None:
            found_bad[model] = bad
    # A broken production model cannot be compared against; the candidate meets the absolute rules.
    models = [CANDIDATE, BASELINE] if BASELINE in scored.predictions and BASELINE not in found_bad else [CANDIDATE]
    return models, ~np.logical_or.reduce([unusable[m] for m in models]), found_bad


def slice_rows(scored: Scored, settings: GateSettings) -> dict[str, tuple[tuple, np.ndarray]]:
    """Slice name -> (typed key, rows) as `judge` measures them: only rows every compared model
    scored soundly."""
    _, usable, _ = _compared(scored)
    return {name: (key, mask & usable) for name, key, _, mask in _slices(scored, settings)}


def judge(scored: Scored, settings: GateSettings) -> Evaluation:
    """Evaluates the candidate (against the baseline, when scored) and applies the rule.

    Args:
        scored: labels, predictions and slice columns of the eval split.
        settings: the rule.

    Returns:
        Metrics and intervals per slice, every check, the failures and the verdict. Metrics are
        computed on the rows every compared model gave a usable prediction for.
    """
    labels = np.asarray(scored.labels, dtype=np.int64)
    models, usable, found_bad = _compared(scored)
    has_baseline = BASELINE in models
    results = []
    for name, key, columns, mask in _slices(scored, settings):
        mask = mask & usable
        rows = labels[mask]
        item = SliceResult(name, list(columns), int(rows.size), int(rows.sum()), key=[list(pair) for pair in key])
        if rows.size:
            item.metrics = {m: _model_metrics(rows, scored.predictions[m][mask], not key) for m in models}
        item.judged = min(item.clicks, item.examples - item.clicks) >= max(2, settings.min_clicks)
        item.guarded = _guarded(item, settings)
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
        bad_rows=found_bad,
    )
    failures = [_bad_predictions(found_bad[CANDIDATE])] if CANDIDATE in found_bad else []
    overall = results[0][0]
    if overall.examples:
        evaluation.curves = {m: curves(labels[usable], scored.predictions[m][usable]) for m in models}
    if not overall.judged:
        evaluation.failures = [*failures, _too_small(overall, settings.min_clicks)]
        return evaluation
    judged = [(item, mask) for item, mask in results if item.judged]
    evaluation.comparisons = sum(_blocking(item, settings, has_baseline) for item, _ in judged)
    z = statistics.simultaneous_z(settings.confidence, evaluation.comparisons)
    z_single = statistics.simultaneous_z(settings.confidence, 1)
    for item, mask in judged:
        rows, candidate = labels[mask], scored.predictions[CANDIDATE][mask]
        baseline = scored.predictions[BASELINE][mask] if has_baseline else None
        intervals = _intervals(rows, candidate, baseline, z, settings.check_calibration)
        item.auc_interval = intervals[AUC]
        item.calibration_interval = intervals.get(CALIBRATION)
        item.auc_change = intervals.get(f"{AUC}_diff")
        item.log_loss_change = intervals.get(f"{LOG_LOSS}_diff")
        item.calibration_change = intervals.get(f"{CALIBRATION}_change")
        item.single_intervals = _rescaled(intervals, z, z_single, rows.size)
        checks = _checks(item, settings, has_baseline)
        item.failed = not all(c.passed for c in checks)
        evaluation.checks.extend(checks)
    evaluation.failures = failures + [
        Failure(c.metric, c.slice, c.value, c.threshold, c.baseline, c.change, c.interval)
        for c in evaluation.checks
        if not c.passed
    ]
    evaluation.validation_ok = not evaluation.failures
    return evaluation


def new_value_mask(values: np.ndarray, training_values: Collection[str]) -> np.ndarray:
    """Per row, whether its value never occurs in the training split."""
    return ~np.isin(np.asarray(values, dtype=str), np.array(sorted(training_values), dtype=str))
