"""The gate's evaluation as plain values, and its file in the `ModelEvaluation` artifact.

A shared contract: EvaluateModel writes `evaluation.json` with `write`; the comparison report,
PushModel (the record's metrics), the run summary and `clickpipe report` read it with `load`.
Metric names are TFMA's, so push records and listings keep their keys.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field

EVALUATION_FILE = "evaluation.json"
SCHEMA_VERSION = 1

OVERALL = "overall"
CANDIDATE = "candidate"
BASELINE = "baseline"

# Metric names (TFMA's, as push records and `clickpipe models list` use them).
AUC = "auc"
AUC_PR = "auc_pr"
LOG_LOSS = "binary_crossentropy"
CALIBRATION = "calibration"
MEAN_PREDICTION = "mean_prediction"
MEAN_LABEL = "mean_label"
EXAMPLE_COUNT = "example_count"
CLICKS = "clicks"
# Not a TFMA metric: rows a model gave no usable probability for.
BAD_PREDICTIONS = "bad_predictions"
# The new-values slice's value in its typed key.
NEW_VALUE = "<absent from training>"

# Table order in reports and listings: (name, label, higher is better or None).
METRICS = (
    (AUC, "AUC", True),
    (AUC_PR, "AUC-PR (average precision)", True),
    (LOG_LOSS, "log-loss", False),
    (CALIBRATION, "calibration (mean prediction / mean label)", None),
    (MEAN_PREDICTION, "mean prediction", None),
    (MEAN_LABEL, "mean label", None),
    (EXAMPLE_COUNT, "examples", None),
    (CLICKS, "clicks", None),
)


@dataclass(frozen=True)
class Interval:
    """An estimate with a confidence interval."""

    estimate: float
    low: float
    high: float


def _interval_text(change: Interval) -> str:
    return f"{change.estimate:+.4f}, interval {change.low:+.4f} to {change.high:+.4f}"


def slice_name(key) -> str:
    """A slice's display name from its typed key, ``feature=value[, feature=value]``; overall for ()."""
    return ", ".join(f"{column}={value}" for column, value in key) if key else OVERALL


@dataclass(frozen=True)
class BadRows:
    """Rows one model gave no usable click probability for.

    Attributes:
        model: ``candidate`` or ``baseline``.
        count: rows without one finite probability in [0, 1].
        rows: rows scored.
        example_key: one such row, as ``<example id column>=<value>`` or its position in the split.
        reasons: why, e.g. ``{"NaN": 40, "above 1": 2, "wrong output shape": 0, ...}`` (non-zero only).
    """

    model: str
    count: int
    rows: int
    example_key: str
    reasons: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        why = ", ".join(f"{n:,} {reason}" for reason, n in self.reasons.items())
        return f"{self.count:,} of {self.rows:,} rows without a probability in [0, 1] ({why}), e.g. {self.example_key}"


@dataclass(frozen=True)
class Failure:
    """One rule a candidate did not meet.

    Attributes:
        metric: the metric name, e.g. ``auc``; ``example_count`` for a split too small.
        slice: ``overall``, ``feature=value[, feature=value]`` or the new-values slice.
        value: the candidate's value on the slice (NaN when it could not be computed).
        threshold: what was required, in words.
        baseline: the production model's value on the slice, for a comparison.
        change: candidate minus production with its interval, for a comparison.
        interval: the candidate's own value with its interval, for a floor or calibration rule.
    """

    metric: str
    slice: str
    value: float
    threshold: str
    baseline: float | None = None
    change: Interval | None = None
    interval: Interval | None = None

    def __str__(self) -> str:
        text = f"{self.metric} on {self.slice}: {self.value:.4f}"
        if self.interval is not None:
            text += f" (interval {self.interval.low:.4f} to {self.interval.high:.4f})"
        if self.baseline is not None:
            text += f" vs production {self.baseline:.4f}"
            if self.change is not None:
                text += f" ({_interval_text(self.change)})"
        return f"{text}; required {self.threshold}"


@dataclass(frozen=True)
class Check:
    """One rule applied to one slice, and whether the candidate met it.

    `limit` is the rule's number: the floor, or the tolerated change (negative for a drop).
    `interval` is the candidate's own value with its interval, for a floor or calibration rule.
    """

    metric: str
    slice: str
    threshold: str
    value: float
    baseline: float | None
    passed: bool
    change: Interval | None = None
    limit: float | None = None
    interval: Interval | None = None


@dataclass(frozen=True)
class Curves:
    """The overall slice's plot data for one model.

    Attributes:
        roc: (false positive rate, true positive rate) points.
        precision_recall: (recall, precision) points.
        calibration: (mean prediction, mean label, rows) per equal-count bucket.
    """

    roc: list[tuple[float, float]]
    precision_recall: list[tuple[float, float]]
    calibration: list[tuple[float, float, float]]


@dataclass
class SliceResult:
    """One slice of the eval split: its counts, each model's metrics and the comparison.

    Attributes:
        name: ``overall``, ``feature=value, ...`` or the new-values slice's name (for display).
        columns: the columns the slice is cut by (empty for overall).
        key: the slice as typed ``[column, value]`` pairs, as the examples store the values
            (text, int or float); ``[[new_column, NEW_VALUE]]`` for the new-values slice.
        examples: rows in the slice.
        clicks: clicks in the slice.
        metrics: model (candidate/baseline) -> metric name -> value.
        judged: enough clicks and non-clicks to judge (`min_clicks` of each).
        guarded: its comparison with production can block the push.
        auc_interval: the candidate's AUC with its interval (judged slices).
        auc_change: candidate minus production AUC with its interval (judged, with a baseline).
        log_loss_change: candidate minus production log-loss, likewise.
        calibration_interval: the candidate's mean prediction / mean label with its interval.
        calibration_change: how much further from 1 the candidate's calibration is than
            production's, as a change of ``|log(mean prediction / mean label)|``, with its interval.
        single_intervals: metric name (``auc``, ``auc_diff``, ``binary_crossentropy_diff``, ...)
            -> the same estimate with its interval at `Evaluation.confidence` on its own, not
            simultaneous: what TFMA's files carry, where a reader assumes one 95% interval.
        failed: a rule failed on this slice.
    """

    name: str
    columns: list[str]
    examples: int
    clicks: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    judged: bool = False
    guarded: bool = False
    auc_interval: Interval | None = None
    auc_change: Interval | None = None
    log_loss_change: Interval | None = None
    calibration_interval: Interval | None = None
    calibration_change: Interval | None = None
    single_intervals: dict[str, Interval] = field(default_factory=dict)
    failed: bool = False
    key: list = field(default_factory=list)


@dataclass(frozen=True)
class AlreadyPushed:
    """The candidate's files are already a pushed version, so it was not evaluated again.

    Attributes:
        version: the pushed version holding the candidate's files.
        production_version: the version TF Serving serves now.
    """

    version: int
    production_version: int

    @property
    def serving(self) -> bool:
        """Whether the candidate is the model in production."""
        return self.version == self.production_version

    def __str__(self) -> str:
        if self.serving:
            return f"already serving version {self.version}"
        return f"already pushed as version {self.version}; production serves version {self.production_version}"


@dataclass
class Evaluation:
    """Everything the report, the push record and the run summary read from one evaluation.

    Attributes:
        has_baseline: whether a production model was scored next to the candidate.
        validated: whether the rules were checked (False when the candidate was already pushed).
        validation_ok: the verdict; EvaluateModel blesses exactly when this is true.
        slices: overall first, then every slice of every configured slicing, then new values.
        checks: every rule on every slice it applied to.
        failures: every rule not met.
        curves: model -> plot data of the overall slice.
        method: how intervals were computed, in words.
        confidence: the simultaneous confidence level of the intervals.
        comparisons: how many intervals that level holds over: the checks that can block.
        min_clicks: clicks (and non-clicks) a slice needs to be judged.
        new_slice: the name of the slice of rows with values absent from training ("" if none).
        already_pushed: set when the candidate was not evaluated because it was already pushed.
        bad_rows: model -> the rows it gave no usable probability for (models with none left out).
            A candidate with any is not blessed; a production model with any is not compared
            against (`has_baseline` is False) and the candidate is judged on absolute rules.
    """

    has_baseline: bool
    validated: bool
    validation_ok: bool
    slices: list[SliceResult] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    curves: dict[str, Curves] = field(default_factory=dict)
    method: str = ""
    confidence: float = 0.95
    comparisons: int = 0
    min_clicks: int = 0
    new_slice: str = ""
    already_pushed: AlreadyPushed | None = None
    bad_rows: dict[str, BadRows] = field(default_factory=dict)

    @property
    def interval_level(self) -> float:
        """Each interval's own confidence level, so that `comparisons` of them hold together."""
        return 1 - (1 - self.confidence) / max(1, self.comparisons)

    @property
    def baseline_ignored(self) -> str:
        """Why the model in production was not compared against, in words ("" when it was or none ran)."""
        bad = self.bad_rows.get(BASELINE)
        return f"the model in production gave {bad}" if bad else ""

    @property
    def metrics(self) -> dict[str, dict[str, dict[str, float]]]:
        """Slice name -> model -> metric name -> value."""
        return {s.name: s.metrics for s in self.slices}

    def value(self, slice_name: str, model: str, metric: str) -> float | None:
        """One metric value, or None when it was not computed."""
        return self.metrics.get(slice_name, {}).get(model, {}).get(metric)

    def slice(self, name: str) -> SliceResult | None:
        """The slice of that name, if evaluated."""
        return next((s for s in self.slices if s.name == name), None)

    def regressions_first(self) -> list[SliceResult]:
        """Slices other than overall: failed ones first, then by how much AUC the candidate
        loses against production (or by its AUC without one); slices too small to judge last."""

        def order(item: SliceResult) -> tuple:
            if not item.judged:
                return (2, 0.0, item.name)
            if item.auc_change is not None:
                return (0 if item.failed else 1, item.auc_change.estimate, item.name)
            candidate_auc = item.metrics.get(CANDIDATE, {}).get(AUC, math.nan)
            return (0 if item.failed else 1, candidate_auc, item.name)

        return sorted((s for s in self.slices if s.name != OVERALL), key=order)


def headline(evaluation: Evaluation) -> str:
    """One line: blessed or not, and against what."""
    if evaluation.already_pushed is not None:
        already = evaluation.already_pushed
        if already.serving:
            return f"not evaluated again: {already}"
        return f"NOT blessed: {already}"
    against = "the model in production"
    if evaluation.baseline_ignored:
        against = f"absolute thresholds only ({evaluation.baseline_ignored})"
    elif not evaluation.has_baseline:
        against = "absolute thresholds only (no model in production yet)"
    if evaluation.validation_ok:
        return f"blessed against {against}"
    return f"NOT blessed against {against}: {len(evaluation.failures)} rule(s) failed"


def write(evaluation_uri: str, evaluation: Evaluation) -> str:
    """Writes `evaluation.json` into the folder (local or gs://); returns its path."""
    from tfx.dsl.io import fileio

    fileio.makedirs(evaluation_uri)
    path = os.path.join(evaluation_uri, EVALUATION_FILE)
    with fileio.open(path, "w") as f:
        f.write(json.dumps({"schema": SCHEMA_VERSION, **asdict(evaluation)}, indent=1))
    return path


_SLICE_INTERVALS = ("auc_interval", "auc_change", "log_loss_change", "calibration_interval", "calibration_change")


def _interval(data: dict | None) -> Interval | None:
    return Interval(**data) if data else None


def from_dict(data: dict) -> Evaluation:
    """An `Evaluation` from its JSON form (as `write` stores it)."""
    data = {k: v for k, v in data.items() if k != "schema"}
    slices = [
        SliceResult(**{**s, **{name: _interval(s.get(name)) for name in _SLICE_INTERVALS},
                       "single_intervals": {k: Interval(**v) for k, v in s.get("single_intervals", {}).items()}})
        for s in data.pop("slices", [])
    ]
    checks = [Check(**{**c, "change": _interval(c.get("change")), "interval": _interval(c.get("interval"))})
              for c in data.pop("checks", [])]
    failures = [Failure(**{**f, "change": _interval(f.get("change")), "interval": _interval(f.get("interval"))})
                for f in data.pop("failures", [])]
    bad_rows = {model: BadRows(**bad) for model, bad in data.pop("bad_rows", {}).items()}
    curves = {
        model: Curves(**{k: [tuple(p) for p in points] for k, points in parts.items()})
        for model, parts in data.pop("curves", {}).items()
    }
    already = data.pop("already_pushed", None)
    return Evaluation(
        **data,
        slices=slices,
        checks=checks,
        failures=failures,
        curves=curves,
        already_pushed=AlreadyPushed(**already) if already else None,
        bad_rows=bad_rows,
    )


def load(evaluation_uri: str) -> Evaluation:
    """Reads the evaluation EvaluateModel (or `clickpipe report`) wrote into a folder.

    Raises:
        FileNotFoundError: the folder holds no `evaluation.json`.
    """
    from tfx.dsl.io import fileio

    path = os.path.join(evaluation_uri, EVALUATION_FILE)
    if not fileio.exists(path):
        raise FileNotFoundError(f"no clickpipe evaluation ({EVALUATION_FILE}) in {evaluation_uri}")
    with fileio.open(path, "r") as f:
        return from_dict(json.loads(f.read()))
