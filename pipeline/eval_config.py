"""The TFMA `EvalConfig` of the gate, built from the project config.

One place says which metrics, slices and thresholds decide whether a candidate model may
replace the model in production. Thresholds on the overall slice come from `[evaluation]`;
per-slice thresholds from `evaluation.slice_thresholds`, applied to every value of the slice
(every device, every slot position, ...). Relative thresholds compare with the baseline, the
model now in production; TFMA drops them when there is no baseline (the first run).
"""

from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from components.evaluate.results import (
    AUC,
    AUC_PR,
    CALIBRATION,
    CALIBRATION_PLOT,
    CONFUSION_PLOT,
    EXAMPLE_COUNT,
    LOG_LOSS,
    MEAN_LABEL,
    MEAN_PREDICTION,
)
from pipeline.config import ClickpipeConfig
from trainer.features import PREDICTION_OUTPUT

# The serving contract (trainer/export.py): serialized tf.Examples in, a probability out.
SIGNATURE = "serving_default"
PREDICTION_KEY = PREDICTION_OUTPUT
CANDIDATE = tfma.CANDIDATE_KEY
BASELINE = tfma.BASELINE_KEY

# Enough points for smooth ROC/PR/calibration curves, few enough to keep the artifact small.
PLOT_THRESHOLDS = 200
CALIBRATION_BUCKETS = 20


def _metric(class_name: str, name: str, **options) -> tfma.MetricConfig:
    return tfma.MetricConfig(class_name=class_name, config=json.dumps({"name": name, **options}))


def _auc_threshold(min_auc: float | None, max_drop: float | None) -> tfma.MetricThreshold:
    threshold = tfma.MetricThreshold()
    if min_auc is not None:
        threshold.value_threshold.lower_bound.value = min_auc
    if max_drop is not None:
        threshold.change_threshold.direction = tfma.MetricDirection.HIGHER_IS_BETTER
        threshold.change_threshold.absolute.value = -max_drop
    return threshold


def _log_loss_threshold(max_increase: float) -> tfma.MetricThreshold:
    threshold = tfma.MetricThreshold()
    threshold.change_threshold.direction = tfma.MetricDirection.LOWER_IS_BETTER
    threshold.change_threshold.absolute.value = max_increase
    return threshold


def _auc_thresholds(config: ClickpipeConfig, has_baseline: bool) -> list[tfma.PerSliceMetricThreshold]:
    """AUC limits overall and per configured slice; relative ones only against a baseline."""
    evaluation = config.evaluation
    # Overall limits sit on the empty slice: a plain `threshold` would apply to every slice.
    limits = [([], evaluation.min_auc, evaluation.max_auc_drop)]
    limits += [(list(t.slice), t.min_auc, t.max_auc_drop) for t in evaluation.slice_thresholds]
    thresholds = []
    for keys, min_auc, max_drop in limits:
        threshold = _auc_threshold(min_auc, max_drop if has_baseline else None)
        if threshold.ByteSize():
            thresholds.append(
                tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec(feature_keys=keys)], threshold=threshold)
            )
    return thresholds


def model_specs(label_key: str, has_baseline: bool) -> list[tfma.ModelSpec]:
    """The candidate's model spec, and the baseline's when there is one."""
    common = {
        "signature_name": SIGNATURE,
        "label_key": label_key,
        "prediction_key": PREDICTION_KEY,
    }
    if not has_baseline:
        return [tfma.ModelSpec(**common)]
    return [
        tfma.ModelSpec(name=CANDIDATE, **common),
        tfma.ModelSpec(name=BASELINE, is_baseline=True, **common),
    ]


def build(config: ClickpipeConfig, has_baseline: bool) -> tfma.EvalConfig:
    """The gate's TFMA config.

    Args:
        config: the validated project config; uses `dataset.label`, `dataset.slices` and
            `[evaluation]`.
        has_baseline: whether a production model is compared with. Without one, only the
            absolute thresholds remain (TFMA's Evaluator would drop the relative ones anyway).

    Returns:
        A `tfma.EvalConfig` for TFX's Evaluator or `tfma.run_model_analysis`.
    """
    overall = [tfma.SlicingSpec()]
    auc = _metric("AUC", AUC, num_thresholds=10000)
    auc.per_slice_thresholds.extend(_auc_thresholds(config, has_baseline))
    log_loss = _metric("BinaryCrossEntropy", LOG_LOSS)
    if has_baseline:
        log_loss.per_slice_thresholds.append(
            tfma.PerSliceMetricThreshold(
                slicing_specs=overall,
                threshold=_log_loss_threshold(config.evaluation.max_log_loss_increase),
            )
        )

    metrics = [
        _metric("ExampleCount", EXAMPLE_COUNT),
        auc,
        _metric("AUCPrecisionRecall", AUC_PR, num_thresholds=10000),
        log_loss,
        _metric("Calibration", CALIBRATION),
        _metric("MeanPrediction", MEAN_PREDICTION),
        _metric("MeanLabel", MEAN_LABEL),
        _metric("ConfusionMatrixPlot", CONFUSION_PLOT, num_thresholds=PLOT_THRESHOLDS),
        _metric("CalibrationPlot", CALIBRATION_PLOT, num_buckets=CALIBRATION_BUCKETS),
    ]
    return tfma.EvalConfig(
        model_specs=model_specs(config.dataset.label, has_baseline),
        slicing_specs=overall + [tfma.SlicingSpec(feature_keys=keys) for keys in config.dataset.slices],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
    )
