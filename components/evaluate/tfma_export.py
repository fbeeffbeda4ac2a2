"""TFMA's own files in the `ModelEvaluation` artifact, beside `evaluation.json`.

Every run leaves an evaluation a person can open with TFMA 0.47's tools
(`tfma.load_eval_result`, `tfma.load_validation_result`, `tfma.view.render_slicing_metrics`),
in the files and names TFX's Evaluator wrote:

- `eval_config.json`: the models (``candidate``, and ``baseline`` when production was scored),
  the label and the slicings;
- `metrics-00000-of-00001.tfrecord`: a `MetricsForSlice` per slice with each model's metrics
  and the candidate's change against production (TFMA's diff keys, e.g. ``auc_diff``); the
  gate's intervals are their confidence intervals;
- `validations.tfrecord`: the verdict, with a failure per rule not met, on its slice.

The rules are not written as TFMA thresholds in the config: they judge intervals, which a
`MetricThreshold` (a bound on a value) cannot say; each failure's message says it. The
new-values slice is keyed ``(new_column, "<absent from training>")``. There are no plots (the
curves are in `evaluation.json` and the comparison report). A candidate already pushed was not
evaluated: only the verdict is written, and `load_eval_result` gives no slices.
"""

from __future__ import annotations

import os

from components.evaluate.gate import GateSettings
from components.evaluation_results import (
    AUC,
    BASELINE,
    CANDIDATE,
    CLICKS,
    EXAMPLE_COUNT,
    LOG_LOSS,
    OVERALL,
    Evaluation,
    SliceResult,
)

# As TFMA's writers name them (eval_config_writer, metrics_plots_and_validations_writer).
EVAL_CONFIG_FILE = "eval_config.json"
METRICS_FILE = "metrics-00000-of-00001.tfrecord"
VALIDATIONS_FILE = "validations.tfrecord"
NEW_VALUE = "<absent from training>"
_PARSE = {"int": int, "float": float}


def slice_key(item: SliceResult, settings: GateSettings, new_slice: str = "") -> tuple:
    """The slice as TFMA keys it, ``(("device_type", "mobile"), ...)``; () for overall.

    Values are typed as the examples store them (`settings.column_kinds`): text, int or float.
    """
    if item.name == OVERALL:
        return ()
    if item.name == new_slice:
        return ((item.columns[0], NEW_VALUE),)
    # The gate names a slice "a=x, b=y" (gate._slices).
    values, rest = [], item.name.removeprefix(f"{item.columns[0]}=")
    for column in item.columns[1:]:
        value, _, rest = rest.partition(f", {column}=")
        values.append(value)
    values.append(rest)
    return tuple(
        (column, _PARSE.get(settings.column_kinds.get(column, ""), str)(value))
        for column, value in zip(item.columns, values, strict=True)
    )


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


def metrics_for_slice(item: SliceResult, key: tuple):
    """One slice's `MetricsForSlice`: every metric of each model, the candidate's changes."""
    from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer as writer

    values = {_metric_key(name, model): value for model, metrics in item.metrics.items()
              for name, value in metrics.items()}
    candidate, baseline = item.metrics[CANDIDATE], item.metrics.get(BASELINE)
    values[_metric_key(AUC, CANDIDATE)] = _bounded(candidate[AUC], item.auc_interval)
    if baseline is not None:
        changes = {AUC: item.auc_change, LOG_LOSS: item.log_loss_change}
        for name in candidate.keys() - {EXAMPLE_COUNT, CLICKS}:
            values[_metric_key(name, CANDIDATE, is_diff=True)] = _bounded(
                candidate[name] - baseline[name], changes.get(name))
    return writer.convert_slice_metrics_to_proto((key, values), None)


def validation_result(evaluation: Evaluation, keys: dict[str, tuple]):
    """The verdict as TFMA's `ValidationResult`: a failure per rule not met, on its slice."""
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
        found = per_slice[failure.slice].failures.add(
            metric_key=_metric_key(failure.metric, CANDIDATE, is_diff).to_proto(), message=str(failure))
        found.metric_value.double_value.value = failure.change.estimate if is_diff else failure.value
        limit = limits.get((failure.metric, failure.slice, is_diff))
        if limit is not None and is_diff:
            found.metric_threshold.change_threshold.absolute.value = limit
            found.metric_threshold.change_threshold.direction = (
                config_pb2.MetricDirection.LOWER_IS_BETTER if failure.metric == LOG_LOSS
                else config_pb2.MetricDirection.HIGHER_IS_BETTER)
        elif limit is not None:
            found.metric_threshold.value_threshold.lower_bound.value = limit
    if evaluation.already_pushed is not None and not evaluation.validation_ok:
        result.metric_validations_per_slice.add(
            slice_key=slicer_lib.serialize_slice_key(())).failures.add(message=str(evaluation.already_pushed))
    return result


def eval_run(evaluation: Evaluation, settings: GateSettings) -> str:
    """`eval_config.json` as TFMA's `EvalConfigWriter` writes it (an `EvalRun` in JSON)."""
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format
    from tensorflow_model_analysis.proto import config_pb2

    models = [CANDIDATE, BASELINE] if evaluation.has_baseline else [CANDIDATE]
    config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(name=m, label_key=settings.label, is_baseline=m == BASELINE) for m in models],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=list(c)) for c in settings.slices],
    )
    # Model locations are for display only; the blessing names the models' artifacts.
    locations = dict.fromkeys(models, "")
    return json_format.MessageToJson(
        config_pb2.EvalRun(eval_config=config, version=tfma.version.VERSION, model_locations=locations))


def write(output_uri: str, evaluation: Evaluation, settings: GateSettings) -> list[str]:
    """Writes TFMA's eval config, metrics and validation result into the folder; returns their paths.

    Args:
        output_uri: the `ModelEvaluation` folder (local or gs://).
        evaluation: the gate's evaluation, as in `evaluation.json`.
        settings: the gate's settings (the label, slicings and slice columns' kinds).
    """
    import tensorflow as tf

    tf.io.gfile.makedirs(output_uri)
    keys = {item.name: slice_key(item, settings, evaluation.new_slice) for item in evaluation.slices}
    records = {VALIDATIONS_FILE: [validation_result(evaluation, keys)]}
    paths = []
    if evaluation.already_pushed is None:
        records[METRICS_FILE] = [metrics_for_slice(s, keys[s.name]) for s in evaluation.slices if s.metrics]
        paths.append(os.path.join(output_uri, EVAL_CONFIG_FILE))
        with tf.io.gfile.GFile(paths[-1], "w") as f:
            f.write(eval_run(evaluation, settings))
    for name, protos in records.items():
        paths.append(os.path.join(output_uri, name))
        with tf.io.TFRecordWriter(paths[-1]) as writer:
            for proto in protos:
                writer.write(proto.SerializeToString())
    return paths
