"""TFX's Evaluator, made to run when the baseline input holds no model (the first run).

The Evaluator already treats an absent `baseline_model` as TFMA's rubber stamp: the baseline
model spec and every change threshold are dropped, absolute thresholds still decide. But a
pipeline compiled once for Kubeflow always wires `FindProductionModel`'s output in, so the
decision has to happen at run time: this executor drops a baseline artifact that holds no
SavedModel before handing over to TFX's own executor. Everything else is TFX's Evaluator.
"""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx import types
from tfx.components import Evaluator
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs

from components.baseline.executor import has_saved_model

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY


class Executor(evaluator_executor.Executor):
    """TFX's Evaluator executor, without an empty baseline."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        baselines = input_dict.get(BASELINE_KEY) or []
        if baselines and not has_saved_model(baselines[0].uri):
            logging.info("No model in production: evaluating with absolute thresholds only.")
            input_dict = {key: value for key, value in input_dict.items() if key != BASELINE_KEY}
        super().Do(input_dict, output_dict, exec_properties)


class OptionalBaselineEvaluator(Evaluator):
    """`tfx.components.Evaluator` whose `baseline_model` may be an empty Model artifact.

    Takes exactly the Evaluator's arguments; build its `eval_config` with
    `pipeline.eval_config.build(config, has_baseline=True)`.
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
