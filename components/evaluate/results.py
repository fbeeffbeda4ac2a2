"""TFMA's evaluation output as plain values: metrics per slice, threshold checks, curves.

TFMA's validation result decides pass or fail; this module only lays out which threshold
applied to which slice, with the candidate's and the baseline's values next to it, so that a
person sees why a model was or was not blessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OVERALL = "overall"
CANDIDATE = "candidate"
BASELINE = "baseline"

# Metric names as TFMA writes them, set in pipeline/eval_config.py.
AUC = "auc"
AUC_PR = "auc_pr"
LOG_LOSS = "binary_crossentropy"
CALIBRATION = "calibration"
MEAN_PREDICTION = "mean_prediction"
MEAN_LABEL = "mean_label"
EXAMPLE_COUNT = "example_count"
CONFUSION_PLOT = "confusion_matrix_plot"
CALIBRATION_PLOT = "calibration_plot"

# Table order in reports and listings: (name, label, higher is better or None).
METRICS = (
    (AUC, "AUC", True),
    (AUC_PR, "AUC-PR", True),
    (LOG_LOSS, "log-loss", False),
    (CALIBRATION, "calibration (mean prediction / mean label)", None),
    (MEAN_PREDICTION, "mean prediction", None),
    (MEAN_LABEL, "mean label", None),
    (EXAMPLE_COUNT, "examples", None),
)


@dataclass(frozen=True)
class Failure:
    """One threshold a candidate did not meet.

    Attributes:
        metric: the TFMA metric name, e.g. ``auc``.
        slice: ``overall`` or ``feature=value[, feature=value]``.
        value: the candidate's value on the slice (NaN when the slice had no examples).
        threshold: what was required, in words.
        baseline: the production model's value on the slice, when a baseline was compared.
    """

    metric: str
    slice: str
    value: float
    threshold: str
    baseline: float | None = None

    def __str__(self) -> str:
        text = f"{self.metric} on {self.slice}: {self.value:.4f}"
        if self.baseline is not None:
            text += f" vs production {self.baseline:.4f} ({self.value - self.baseline:+.4f})"
        return f"{text}; required {self.threshold}"


@dataclass(frozen=True)
class Check:
    """One threshold applied to one slice, and whether TFMA found it met."""

    metric: str
    slice: str
    threshold: str
    value: float
    baseline: float | None
    passed: bool


@dataclass(frozen=True)
class Curves:
    """The overall slice's plot data for one model.

    Attributes:
        roc: (false positive rate, true positive rate) points.
        precision_recall: (recall, precision) points.
        calibration: (mean prediction, mean label, examples) per non-empty bucket.
    """

    roc: list[tuple[float, float]]
    precision_recall: list[tuple[float, float]]
    calibration: list[tuple[float, float, float]]


@dataclass
class Evaluation:
    """Everything the report and the run summary read from one TFMA output folder.

    Attributes:
        has_baseline: whether a production model was evaluated next to the candidate.
        validated: whether TFMA checked thresholds (a validation result exists).
        validation_ok: TFMA's verdict; the Evaluator blesses exactly when this is true.
        metrics: slice name -> model (candidate/baseline) -> metric name -> value.
        checks: every threshold on every slice it applied to.
        failures: every threshold not met, from TFMA's validation result.
        curves: model -> plot data of the overall slice.
    """

    has_baseline: bool
    validated: bool
    validation_ok: bool
    metrics: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    curves: dict[str, Curves] = field(default_factory=dict)

    def value(self, slice_name: str, model: str, metric: str) -> float | None:
        """One metric value, or None when it was not computed."""
        return self.metrics.get(slice_name, {}).get(model, {}).get(metric)


def slice_name(slice_key: tuple) -> str:
    """``overall`` or ``feature=value, feature=value`` for a TFMA slice key tuple."""
    return ", ".join(f"{column}={value}" for column, value in slice_key) or OVERALL


def spec_name(spec) -> str:
    """A `tfma.SlicingSpec` in words, e.g. ``every device_type`` or ``overall``."""
    keys = list(spec.feature_keys)
    values = [f"{k}={v}" for k, v in sorted(spec.feature_values.items())]
    if not keys and not values:
        return OVERALL
    return ", ".join(values + [f"every {k}" for k in keys])


def threshold_text(threshold) -> str:
    """A TFMA value or change threshold in words."""
    import tensorflow_model_analysis as tfma

    if isinstance(threshold, tfma.GenericValueThreshold):
        bounds = []
        if threshold.HasField("lower_bound"):
            bounds.append(f">= {threshold.lower_bound.value:.4f}")
        if threshold.HasField("upper_bound"):
            bounds.append(f"<= {threshold.upper_bound.value:.4f}")
        return " and ".join(bounds) or "any value"
    higher = threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    parts = []
    if threshold.HasField("absolute"):
        limit = threshold.absolute.value
        if higher and limit <= 0:
            parts.append(f"at most {-limit:.4f} below production")
        elif not higher and limit >= 0:
            parts.append(f"at most {limit:.4f} above production")
        else:
            parts.append(f"change vs production {'>=' if higher else '<='} {limit:+.4f}")
    if threshold.HasField("relative"):
        parts.append(f"relative change {'>=' if higher else '<='} {threshold.relative.value:+.2%}")
    return " and ".join(parts)


def _model(name: str) -> str:
    # A single-model evaluation names its model "".
    return name or CANDIDATE


def _scalar_metrics(evaluation_uri: str) -> tuple[dict, dict]:
    """Metric values by slice name, and slice keys by slice name."""
    import tensorflow_model_analysis as tfma

    metrics: dict[str, dict[str, dict[str, float]]] = {}
    keys: dict[str, tuple] = {}
    for for_slice in tfma.load_metrics(evaluation_uri):
        if for_slice.HasField("cross_slice_key"):
            continue
        key = tfma.slicer.deserialize_slice_key(for_slice.slice_key)
        name = slice_name(key)
        keys[name] = key
        for item in for_slice.metric_keys_and_values:
            key_proto, value = item.key, item.value
            if key_proto.HasField("sub_key") or key_proto.is_diff or not value.HasField("double_value"):
                continue
            model = metrics.setdefault(name, {}).setdefault(_model(key_proto.model_name), {})
            model[key_proto.name] = value.double_value.value
    return metrics, keys


def _curves(evaluation_uri: str) -> dict[str, Curves]:
    import tensorflow_model_analysis as tfma

    curves = {}
    for for_slice in tfma.load_plots(evaluation_uri):
        if for_slice.slice_key.single_slice_keys or for_slice.HasField("cross_slice_key"):
            continue
        by_model: dict[str, dict] = {}
        for item in for_slice.plot_keys_and_values:
            parts = by_model.setdefault(_model(item.key.model_name), {})
            matrices = item.value.confusion_matrix_at_thresholds.matrices
            if matrices:
                parts["roc"] = [(m.false_positive_rate, m.recall) for m in matrices]
                parts["precision_recall"] = [
                    (m.recall, m.precision) for m in matrices if m.true_positives + m.false_positives
                ]
            buckets = item.value.calibration_histogram_buckets.buckets
            if buckets:
                parts["calibration"] = [
                    (
                        b.total_weighted_refined_prediction.value / b.num_weighted_examples.value,
                        b.total_weighted_label.value / b.num_weighted_examples.value,
                        b.num_weighted_examples.value,
                    )
                    for b in buckets
                    if b.num_weighted_examples.value > 0
                ]
        for model, parts in by_model.items():
            curves[model] = Curves(
                roc=sorted(parts.get("roc", [])),
                precision_recall=sorted(parts.get("precision_recall", [])),
                calibration=parts.get("calibration", []),
            )
    return curves


def _load_validation(evaluation_uri: str):
    import tensorflow as tf
    import tensorflow_model_analysis as tfma

    # TFMA writes validations only when thresholds were configured.
    if not tf.io.gfile.glob(f"{evaluation_uri.rstrip('/')}/validations*"):
        return None
    return tfma.load_validation_result(evaluation_uri)


def _failures(validation, metrics: dict) -> tuple[list[Failure], set]:
    """Failures in words, and (slice, metric, is_diff, threshold bytes) of each for matching."""
    import tensorflow_model_analysis as tfma

    failures, keys = [], set()
    for for_slice in validation.metric_validations_per_slice:
        name = slice_name(tfma.slicer.deserialize_slice_key(for_slice.slice_key))
        for failure in for_slice.failures:
            metric, is_diff = failure.metric_key.name, failure.metric_key.is_diff
            which = "change_threshold" if is_diff else "value_threshold"
            threshold = getattr(failure.metric_threshold, which)
            keys.add((name, metric, is_diff, threshold.SerializeToString()))
            value = metrics.get(name, {}).get(CANDIDATE, {}).get(metric, float("nan"))
            baseline = metrics.get(name, {}).get(BASELINE, {}).get(metric) if is_diff else None
            failures.append(Failure(metric, name, value, threshold_text(threshold), baseline))
    for spec in validation.missing_slices:
        failures.append(Failure("example_count", spec_name(spec), float("nan"), "examples in the slice"))
    return failures, keys


def _checks(eval_config, metrics: dict, slice_keys: dict, failed: set) -> list[Check]:
    import tensorflow_model_analysis as tfma

    thresholds = tfma.metrics.metric_thresholds_from_metrics_specs(eval_config.metrics_specs, eval_config=eval_config)
    checks = []
    for metric_key, specs_and_thresholds in thresholds.items():
        if metric_key.model_name == BASELINE:
            continue
        for spec, threshold in specs_and_thresholds:
            for name, key in slice_keys.items():
                applies = spec is None or tfma.slicer.SingleSliceSpec(spec=spec).is_slice_applicable(key)
                if not applies:
                    continue
                models = metrics.get(name, {})
                value = models.get(CANDIDATE, {}).get(metric_key.name, float("nan"))
                baseline = models.get(BASELINE, {}).get(metric_key.name) if metric_key.is_diff else None
                passed = (
                    name,
                    metric_key.name,
                    metric_key.is_diff,
                    threshold.SerializeToString(),
                ) not in failed
                checks.append(Check(metric_key.name, name, threshold_text(threshold), value, baseline, passed))
    return checks


def load(evaluation_uri: str) -> Evaluation:
    """Reads a TFMA output folder (TFX Evaluator's `evaluation` artifact or our own run).

    Args:
        evaluation_uri: the folder with TFMA's metrics, plots, validations and eval config;
            local or gs://.

    Returns:
        The evaluation as plain values.

    Raises:
        FileNotFoundError: the folder holds no TFMA output.
    """
    from tensorflow_model_analysis.writers import eval_config_writer

    loaded = eval_config_writer.load_eval_run(evaluation_uri)
    if not loaded or loaded[0] is None:
        raise FileNotFoundError(f"no TFMA evaluation in {evaluation_uri}")
    eval_config = loaded[0]
    has_baseline = any(spec.is_baseline for spec in eval_config.model_specs)
    metrics, slice_keys = _scalar_metrics(evaluation_uri)
    validation = _load_validation(evaluation_uri)
    failures, failed = _failures(validation, metrics) if validation else ([], set())
    return Evaluation(
        has_baseline=has_baseline,
        validated=validation is not None,
        validation_ok=bool(validation and validation.validation_ok),
        metrics=metrics,
        checks=_checks(eval_config, metrics, slice_keys, failed) if validation else [],
        failures=failures,
        curves=_curves(evaluation_uri),
    )
