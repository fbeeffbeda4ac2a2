"""EvaluateModel's executor: TFX's Evaluator, without a baseline that holds no model.

The Evaluator already treats an absent `baseline_model` as TFMA's rubber stamp: the baseline
model spec and every change threshold are dropped, absolute thresholds still decide. But a
pipeline compiled once for Kubeflow always wires `FindProductionModel`'s output in, so the
decision has to happen at run time: this executor drops a baseline artifact that holds no
SavedModel before handing over to TFX's own executor. Everything else is TFX's Evaluator.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging
from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import standard_component_specs
from tfx.utils import path_utils

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY
SAVED_MODEL = "saved_model.pb"


def has_saved_model(model_uri: str) -> bool:
    """Whether a Model artifact folder holds a SavedModel where the Evaluator looks for one."""
    from tfx.dsl.io import fileio

    return fileio.exists(os.path.join(path_utils.serving_model_dir(model_uri), SAVED_MODEL))


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
