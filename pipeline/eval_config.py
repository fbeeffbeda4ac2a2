"""The gate's settings, built from the project config.

One place says what decides whether a candidate may replace the model in production: the
label, slices and example id of `[dataset]`, and the floor, tolerances, calibration rule,
confidence, minimum clicks and new-values column of `[evaluation]` (see
`components.evaluate.gate` for the rule).
"""

from __future__ import annotations

from components.evaluate.gate import GateSettings, SliceRule
from pipeline.config import ClickpipeConfig
from trainer.features import Kind

# How each feature kind is stored in a tf.Example (trainer/rows/encoding.py).
_EXAMPLE_KINDS = {Kind.NUMERIC: "float"}


def build(config: ClickpipeConfig) -> GateSettings:
    """The gate's settings for EvaluateModel and `clickpipe report`.

    Args:
        config: the validated project config; uses `dataset.label`, `dataset.slices`,
            `dataset.features` (to read slice columns), `dataset.example_id` (to name bad rows)
            and `[evaluation]`.
    """
    evaluation = config.evaluation
    registry = config.registry()
    columns = sorted({column for keys in config.dataset.slices for column in keys})
    if evaluation.new_column:
        columns = sorted({*columns, evaluation.new_column})
    kinds = {c: _EXAMPLE_KINDS.get(registry[c].kind, "bytes") if c in registry.names else "bytes" for c in columns}
    return GateSettings(
        label=config.dataset.label,
        column_kinds=kinds,
        slices=tuple(tuple(keys) for keys in config.dataset.slices),
        new_column=evaluation.new_column,
        min_auc=evaluation.min_auc,
        max_auc_drop=evaluation.max_auc_drop,
        max_log_loss_increase=evaluation.max_log_loss_increase,
        check_calibration=evaluation.check_calibration,
        max_calibration_error=evaluation.max_calibration_error,
        key_column=config.dataset.example_id,
        prediction=config.dataset.prediction,
        confidence=evaluation.confidence,
        min_clicks=evaluation.min_clicks,
        guard_slices=evaluation.guard_slices,
        slice_rules=tuple(
            SliceRule(tuple(t.slice), t.min_auc, t.max_auc_drop) for t in evaluation.slice_thresholds
        ),
    )
