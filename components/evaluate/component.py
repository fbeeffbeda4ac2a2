"""EvaluateModel: TFX's Evaluator (TFMA), whose baseline may be an empty Model artifact."""

from __future__ import annotations

from tfx.components import Evaluator
from tfx.dsl.components.base import executor_spec

from components.evaluate import executor


class EvaluateModel(Evaluator):
    """`tfx.components.Evaluator` whose `baseline_model` may hold no model (the first run).

    Takes exactly the Evaluator's arguments; build its `eval_config` with
    `pipeline.eval_config.build(config, has_baseline=True)`.
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
