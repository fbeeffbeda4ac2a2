"""EvaluateModel: the gate, with TFX Evaluator's inputs, outputs and blessing contract."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.evaluate import executor


class EvaluateModelSpec(types.ComponentSpec):
    """The Evaluator's channels; the rule travels as one JSON parameter."""

    PARAMETERS = {executor.GATE_KEY: ExecutionParameter(type=str)}
    INPUTS = {
        executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        executor.BASELINE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {
        executor.EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
        executor.BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
    }


class EvaluateModel(base_component.BaseComponent):
    """Blesses a candidate that is not significantly worse than the model in production.

    Scores the candidate and the production model (FindProductionModel's output; it may hold
    no model on a first run) on the same eval rows and applies `components.evaluate.gate`;
    a candidate already pushed is not scored again. Outputs TFX's `ModelEvaluation` and
    `ModelBlessing` (custom property `blessed`, marker file ``BLESSED``/``NOT_BLESSED``).
    """

    SPEC_CLASS = EvaluateModelSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        gate: str,
        baseline_model: types.BaseChannel | None = None,
    ):
        """Builds the component.

        Args:
            examples: the ingested Examples (its eval split is scored; its train split tells
                which values are new).
            model: the candidate (the Trainer's `model`).
            gate: `GateSettings.to_json()`, from `pipeline.eval_config.build(config)`.
            baseline_model: FindProductionModel's `model`.
        """
        super().__init__(
            spec=EvaluateModelSpec(
                examples=examples,
                model=model,
                baseline_model=baseline_model,
                gate=gate,
                evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
                blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            )
        )
