"""TFMA's own files in the `ModelEvaluation` artifact, beside `evaluation.json`.

Every run leaves an evaluation a person can open with TFMA 0.47's tools
(`tfma.load_eval_result`, `tfma.load_validation_result`, `tfma.view.render_slicing_metrics`,
`tfma.view.render_plot`), in the files and names TFX's Evaluator wrote:

- `eval_config.json`: the models (``candidate``, and ``baseline`` when production was compared)
  with their locations, signature, label and prediction keys; the data location; the slicings;
  the metric specs (TFMA's own metrics: example count, AUC, AUC-PR, binary cross-entropy, mean
  prediction and label, calibration, calibration and confusion-matrix plots) with the gate's
  limits as TFMA thresholds, so stock TFMA can evaluate the same models on the same data;
- `metrics-00000-of-00001.tfrecord`: a `MetricsForSlice` per slice with each model's metrics and
  the candidate's change against production for every metric (TFMA's diff keys, e.g. ``auc_diff``,
  ``example_count_diff``). Bounds are single 95% intervals (`confidence` on its own), what a TFMA
  reader assumes; the overall slice states it in ``confidence_interval_level``. The gate's
  simultaneous intervals, wider, are in `evaluation.json` and each validation failure;
- `plots-00000-of-00001.tfrecord`: per slice and model, TFMA's calibration plot (1,000 buckets)
  and confusion matrices at 1,001 thresholds (ROC and precision-recall curves), built from
  TFMA's 10,000-bucket calibration histogram exactly as TFMA builds them;
- `validations.tfrecord`: the verdict, a failure per rule not met on its slice (its message
  names the interval and its level), and the slices each slicing matched.

TFMA's thresholds bound a point value; the gate applies the same limits to intervals, which a
`MetricThreshold` cannot say (a custom TFMA metric computing an interval bound could). The
new-values slice is keyed ``(new_column, "<absent from training>")``. A candidate already pushed
was not evaluated: only the verdict is written, and `load_eval_result` gives no slices.
"""

from __future__ import annotations

import math
import os

import numpy as np

from components.evaluate.gate import GateSettings, Scored, slice_rows
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
    Evaluation,
    SliceResult,
)

# As TFMA's writers name them (eval_config_writer, metrics_plots_and_validations_writer).
EVAL_CONFIG_FILE = "eval_config.json"
METRICS_FILE = "metrics-00000-of-00001.tfrecord"
PLOTS_FILE = "plots-00000-of-00001.tfrecord"
VALIDATIONS_FILE = "validations.tfrecord"
# Not TFMA metrics: the level of every bound in the metrics file, and the clicks in a slice.
INTERVAL_LEVEL = "confidence_interval_level"
NOT_TFMA = (CLICKS, INTERVAL_LEVEL)
# TFMA class -> the name clickpipe (and so the file) gives its metric.
TFMA_METRICS = {
    "ExampleCount": EXAMPLE_COUNT,
    "AUC": AUC,
    "AUCPrecisionRecall": AUC_PR,
    "BinaryCrossEntropy": LOG_LOSS,
    "MeanPrediction": MEAN_PREDICTION,
    "MeanLabel": MEAN_LABEL,
    "Calibration": CALIBRATION,
}
TFMA_PLOTS = ("CalibrationPlot", "ConfusionMatrixPlot")


def slice_key(item: SliceResult) -> tuple:
    """The slice as TFMA keys it, ``(("device_type", "mobile"), ...)``; () for overall."""
    return tuple((column, value) for column, value in item.key)


def _metric_key(name: str, model: str, is_diff: bool = False):
    from tensorflow_model_analysis.metrics import metric_types

    return metric_types.MetricKey(name, model_name=model, is_diff=is_diff, example_weighted=False)


def _bounded(value: float, interval):
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2

    if interval is None:
        return value
    return metrics_for_slice_pb2.BoundedValue(
        value={"value": value}, lower_bound={"value": interval.low}, upper_bound={"value": interval.high}
    )


def metrics_for_slice(item: SliceResult, key: tuple, confidence: float = 0.95):
    """One slice's `MetricsForSlice`: every metric of each model, the candidate's changes.

    Bounds are the slice's single intervals (`SliceResult.single_intervals`), at `confidence`.
    """
    from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer as writer

    values = {_metric_key(name, model): value for model, metrics in item.metrics.items()
              for name, value in metrics.items()}
    candidate, baseline = item.metrics[CANDIDATE], item.metrics.get(BASELINE)
    intervals = item.single_intervals
    for name in (AUC, CALIBRATION):
        values[_metric_key(name, CANDIDATE)] = _bounded(candidate[name], intervals.get(name))
    if baseline is not None:
        for name in candidate.keys() & baseline.keys():
            values[_metric_key(name, CANDIDATE, is_diff=True)] = _bounded(
                candidate[name] - baseline[name], intervals.get(f"{name}_diff"))
    if not key:
        values[_metric_key(INTERVAL_LEVEL, CANDIDATE)] = confidence
    return writer.convert_slice_metrics_to_proto((key, values), None)


def _histogram(labels: np.ndarray, predictions: np.ndarray) -> list:
    """TFMA's calibration histogram (10,000 equal buckets on [0, 1], as its combiner buckets)."""
    from tensorflow_model_analysis.metrics import calibration_histogram

    buckets = calibration_histogram.DEFAULT_NUM_BUCKETS
    # The combiner's `_bucket_index`: below 0 -> 0, [0, 1) -> 1..buckets by truncation, >= 1 -> buckets + 1.
    index = np.clip(np.floor(predictions * buckets + 1), 0, buckets + 1).astype(np.int64)
    size = buckets + 2
    counts = np.bincount(index, minlength=size)
    clicks = np.bincount(index, weights=labels.astype(np.float64), minlength=size)
    sums = np.bincount(index, weights=predictions, minlength=size)
    return [calibration_histogram.Bucket(int(i), float(clicks[i]), float(sums[i]), float(counts[i]))
            for i in np.flatnonzero(counts)]


def _plots(labels: np.ndarray, predictions: np.ndarray) -> dict:
    """The calibration plot and confusion matrices TFMA's `CalibrationPlot` and
    `ConfusionMatrixPlot` compute with their defaults, by TFMA's own rebinning functions."""
    from tensorflow_model_analysis.metrics import (
        binary_confusion_matrices,
        calibration_histogram,
        calibration_plot,
        confusion_matrix_plot,
    )

    histogram = _histogram(labels, predictions)
    buckets = calibration_plot.DEFAULT_NUM_BUCKETS
    calibration_thresholds = [float("-inf")] + [i / buckets for i in range(buckets + 1)]
    calibration = calibration_plot._to_proto(  # noqa: SLF001 - TFMA's own converter keeps the format exact
        calibration_thresholds, calibration_histogram.rebin(calibration_thresholds, histogram))
    count = confusion_matrix_plot.DEFAULT_NUM_THRESHOLDS
    thresholds = [-1e-6] + [i / count for i in range(count + 1)]
    # binary_confusion_matrices: histogram buckets are [start, end); matrices want (start, end].
    epsilon = binary_confusion_matrices._EPSILON  # noqa: SLF001
    rebinned = calibration_histogram.rebin([t + epsilon if t != 0 else t for t in thresholds], histogram)
    matrices = binary_confusion_matrices._histogram_to_binary_confusion_matrices(  # noqa: SLF001
        thresholds, rebinned)
    # TFMA's converter divides by zero at the extreme thresholds (as in stock TFMA); its values stay defined.
    with np.errstate(divide="ignore", invalid="ignore"):
        confusion = matrices.to_proto().confusion_matrix_at_thresholds
    return {"calibration_plot": calibration, "confusion_matrix_plot": confusion}


def plots_for_slice(key: tuple, labels: np.ndarray, predictions: dict[str, np.ndarray]):
    """One slice's `PlotsForSlice`: each model's calibration plot and confusion matrices."""
    from tensorflow_model_analysis.metrics import metric_types
    from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer as writer

    plots = {}
    for model, scores in predictions.items():
        for name, proto in _plots(labels, scores).items():
            plots[metric_types.PlotKey(name, model_name=model, example_weighted=False)] = proto
    return writer.convert_slice_plots_to_proto((key, plots), None)


def _level_note(evaluation: Evaluation) -> str:
    return (f"intervals at {evaluation.interval_level:.4%} each, {evaluation.confidence:.0%} together over "
            f"the {evaluation.comparisons} checks that can block (Bonferroni)")


def validation_result(evaluation: Evaluation, keys: dict[str, tuple], settings: GateSettings | None = None):
    """The verdict as TFMA's `ValidationResult`: a failure per rule not met, on its slice, and
    how many slices each slicing matched."""
    from tensorflow_model_analysis.proto import config_pb2, validation_result_pb2
    from tensorflow_model_analysis.slicer import slicer_lib

    result = validation_result_pb2.ValidationResult(
        validation_ok=evaluation.validation_ok, rubber_stamp=not evaluation.has_baseline)
    limits = {(c.metric, c.slice, c.change is not None): c.limit for c in evaluation.checks if not c.passed}
    per_slice = {}
    for failure in evaluation.failures:
        if failure.slice not in per_slice:
            per_slice[failure.slice] = result.metric_validations_per_slice.add(
                slice_key=slicer_lib.serialize_slice_key(keys.get(failure.slice, ())))
        is_diff = failure.change is not None
        message = f"{failure}; {_level_note(evaluation)}" if failure.change or failure.interval else str(failure)
        found = per_slice[failure.slice].failures.add(
            metric_key=_metric_key(failure.metric, CANDIDATE, is_diff).to_proto(), message=message)
        found.metric_value.double_value.value = failure.change.estimate if is_diff else failure.value
        limit = limits.get((failure.metric, failure.slice, is_diff))
        if limit is not None and is_diff:
            found.metric_threshold.change_threshold.absolute.value = limit
            found.metric_threshold.change_threshold.direction = (
                config_pb2.MetricDirection.HIGHER_IS_BETTER if failure.metric == AUC
                else config_pb2.MetricDirection.LOWER_IS_BETTER)
        elif limit is not None and failure.metric == AUC:
            found.metric_threshold.value_threshold.lower_bound.value = limit
        elif limit is not None and failure.metric == CALIBRATION:
            found.metric_threshold.value_threshold.lower_bound.value = math.exp(-limit)
            found.metric_threshold.value_threshold.upper_bound.value = math.exp(limit)
    if evaluation.already_pushed is not None and not evaluation.validation_ok:
        result.metric_validations_per_slice.add(
            slice_key=slicer_lib.serialize_slice_key(())).failures.add(message=str(evaluation.already_pushed))
    if settings is not None and evaluation.slices:
        for spec in _slicing_specs(settings):
            columns = list(spec.feature_keys)
            result.validation_details.slicing_details.add(
                slicing_spec=spec, num_matching_slices=sum(1 for s in evaluation.slices if s.columns == columns
                                                           and s.name != evaluation.new_slice))
    return result


def _slicing_specs(settings: GateSettings) -> list:
    import tensorflow_model_analysis as tfma

    return [tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=list(c)) for c in settings.slices]


def _thresholds(settings: GateSettings, has_baseline: bool) -> dict[str, list]:
    """TFMA metric name -> (slicing specs or None for overall, MetricThreshold) with the gate's limits."""
    import tensorflow_model_analysis as tfma

    def change(limit: float, higher: bool):
        direction = tfma.MetricDirection.HIGHER_IS_BETTER if higher else tfma.MetricDirection.LOWER_IS_BETTER
        return tfma.GenericChangeThreshold(absolute={"value": limit}, direction=direction)

    def auc(floor: float | None, drop: float | None):
        threshold = tfma.MetricThreshold()
        if floor is not None:
            threshold.value_threshold.lower_bound.value = floor
        if has_baseline and drop is not None:
            threshold.change_threshold.CopyFrom(change(-drop, True))
        return threshold

    found = {AUC: [(None, auc(settings.min_auc, settings.max_auc_drop))]}
    if has_baseline:
        found[LOG_LOSS] = [(None, tfma.MetricThreshold(change_threshold=change(settings.max_log_loss_increase,
                                                                                False)))]
    elif settings.check_calibration:
        bounds = {"lower_bound": {"value": math.exp(-settings.max_calibration_error)},
                  "upper_bound": {"value": math.exp(settings.max_calibration_error)}}
        found[CALIBRATION] = [(None, tfma.MetricThreshold(value_threshold=bounds))]
    guarded = [columns for columns in settings.slices if settings.guard_slices or settings.rule(columns)]
    for columns in guarded:
        rule = settings.rule(columns)
        drop = rule.max_auc_drop if rule and rule.max_auc_drop is not None else settings.max_auc_drop
        floor = rule.min_auc if rule else None
        if floor is not None or has_baseline:
            found[AUC].append((columns, auc(floor, drop)))
        if has_baseline:
            found[LOG_LOSS].append((columns, found[LOG_LOSS][0][1]))
    return found


def eval_config(settings: GateSettings, has_baseline: bool):
    """The `EvalConfig` stock TFMA runs the gate's evaluation with: models, slicings, metrics and limits."""
    import json

    import tensorflow_model_analysis as tfma

    models = [CANDIDATE, BASELINE] if has_baseline else [CANDIDATE]
    thresholds = _thresholds(settings, has_baseline)
    metrics = []
    for class_name, name in TFMA_METRICS.items():
        metric = tfma.MetricConfig(class_name=class_name, config=json.dumps({"name": name}))
        for columns, threshold in thresholds.get(name, []):
            if columns is None:
                metric.threshold.CopyFrom(threshold)
            else:
                metric.per_slice_thresholds.add(
                    slicing_specs=[tfma.SlicingSpec(feature_keys=list(columns))], threshold=threshold)
        metrics.append(metric)
    metrics += [tfma.MetricConfig(class_name=name) for name in TFMA_PLOTS]
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(name=m, label_key=settings.label, prediction_key=settings.prediction,
                                    signature_name="serving_default", is_baseline=m == BASELINE) for m in models],
        slicing_specs=_slicing_specs(settings),
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
    )


def eval_run(evaluation: Evaluation, settings: GateSettings, model_locations: dict[str, str] | None = None,
             data_location: str = "") -> str:
    """`eval_config.json` as TFMA's `EvalConfigWriter` writes it (an `EvalRun` in JSON)."""
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format
    from tensorflow_model_analysis.proto import config_pb2

    config = eval_config(settings, evaluation.has_baseline)
    models = [spec.name for spec in config.model_specs]
    locations = {m: (model_locations or {}).get(m, "") for m in models}
    return json_format.MessageToJson(config_pb2.EvalRun(
        eval_config=config, version=tfma.version.VERSION, data_location=data_location, file_format="tfrecords",
        model_locations=locations))


def write(output_uri: str, evaluation: Evaluation, settings: GateSettings, scored: Scored | None = None,
          model_locations: dict[str, str] | None = None, data_location: str = "") -> list[str]:
    """Writes TFMA's eval config, metrics, plots and validation result into the folder.

    Args:
        output_uri: the `ModelEvaluation` folder (local or gs://).
        evaluation: the gate's evaluation, as in `evaluation.json`.
        settings: the gate's settings (label, slicings, limits, prediction key).
        scored: the rows the evaluation was judged on, for the plots; None writes no plots.
        model_locations: ``candidate``/``baseline`` -> SavedModel folder.
        data_location: the eval split's file pattern.

    Returns:
        The paths written.
    """
    import tensorflow as tf

    tf.io.gfile.makedirs(output_uri)
    keys = {item.name: slice_key(item) for item in evaluation.slices}
    records = {VALIDATIONS_FILE: [validation_result(evaluation, keys, settings)]}
    paths = []
    if evaluation.already_pushed is None:
        records[METRICS_FILE] = [metrics_for_slice(s, keys[s.name], evaluation.confidence)
                                 for s in evaluation.slices if s.metrics]
        if scored is not None:
            models = [CANDIDATE, BASELINE] if evaluation.has_baseline else [CANDIDATE]
            labels = np.asarray(scored.labels)
            records[PLOTS_FILE] = [
                plots_for_slice(key, labels[rows], {m: np.asarray(scored.predictions[m], np.float64)[rows]
                                                    for m in models})
                for key, rows in slice_rows(scored, settings).values() if rows.any()
            ]
        paths.append(os.path.join(output_uri, EVAL_CONFIG_FILE))
        with tf.io.gfile.GFile(paths[-1], "w") as f:
            f.write(eval_run(evaluation, settings, model_locations, data_location))
    for name, protos in records.items():
        paths.append(os.path.join(output_uri, name))
        with tf.io.TFRecordWriter(paths[-1]) as writer:
            for proto in protos:
                writer.write(proto.SerializeToString())
    return paths
