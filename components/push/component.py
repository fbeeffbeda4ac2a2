"""PushModel: TFX's Pusher contract, plus a push record beside every pushed version."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.push import executor

MODEL = "model"
MODEL_BLESSING = "model_blessing"
INFRA_BLESSING = "infra_blessing"
EXAMPLES = "examples"
EVALUATION = "evaluation"
PUSHED_MODEL = "pushed_model"
MODEL_BASE_PATH = "model_base_path"


class PushModelSpec(types.ComponentSpec):
    """Inputs: the candidate, its blessings, and what the record says about it."""

    PARAMETERS = {MODEL_BASE_PATH: ExecutionParameter(type=str)}
    INPUTS = {
        MODEL: ChannelParameter(type=standard_artifacts.Model),
        MODEL_BLESSING: ChannelParameter(type=standard_artifacts.ModelBlessing),
        INFRA_BLESSING: ChannelParameter(type=standard_artifacts.InfraBlessing, optional=True),
        EXAMPLES: ChannelParameter(type=standard_artifacts.Examples, optional=True),
        EVALUATION: ChannelParameter(type=standard_artifacts.ModelEvaluation, optional=True),
    }
    OUTPUTS = {PUSHED_MODEL: ChannelParameter(type=standard_artifacts.PushedModel)}


class PushModel(base_component.BaseComponent):
    """Pushes a blessed model to `<model_base_path>/<version>/`, ``saved_model.pb`` last.

    Like TFX's Pusher (same `pushed`, `pushed_version`, `pushed_destination` properties on the
    PushedModel artifact), and it writes `assets.extra/clickpipe_push.json` (span, run, metrics)
    before ``saved_model.pb``, so the production-model lookup and `clickpipe models list` read
    the history from the model base path on any runner.
    """

    SPEC_CLASS = PushModelSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel,
        model_base_path: str,
        infra_blessing: types.BaseChannel | None = None,
        examples: types.BaseChannel | None = None,
        evaluation: types.BaseChannel | None = None,
    ):
        super().__init__(
            spec=PushModelSpec(
                model=model,
                model_blessing=model_blessing,
                infra_blessing=infra_blessing,
                examples=examples,
                evaluation=evaluation,
                model_base_path=model_base_path,
                pushed_model=types.Channel(type=standard_artifacts.PushedModel),
            )
        )
