"""FindProductionModel: the model now in production, as a `Model` artifact for the Evaluator.

No TFX Resolver node (the open-source Kubeflow backend cannot run one) and no ML Metadata
query (its TFX launcher gives components no connection): the served version is read from the
pushed-model records under the serving model base path, which both runners can reach.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.production_model import executor


class FindProductionModelSpec(types.ComponentSpec):
    """Parameters: the model base path, and a fingerprint that is only part of the cache key."""

    PARAMETERS = {
        executor.MODEL_BASE_PATH_KEY: ExecutionParameter(type=str),
        executor.FINGERPRINT_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}


class FindProductionModel(base_component.BaseComponent):
    """Copies the served SavedModel into `outputs["model"]` (as `Format-Serving/`).

    The output always exists. Its custom property `found` is the flag: 1 with a model in
    production (plus `production_version`, `span`, `run_id`, `pushed_at`), 0 before the first
    push, when the artifact holds no SavedModel and `EvaluateModel` evaluates with
    absolute thresholds only.
    """

    SPEC_CLASS = FindProductionModelSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model_base_path: str, fingerprint: str = ""):
        """Builds the component.

        Args:
            model_base_path: the serving model base path (local folder or gs://).
            fingerprint: changes when production changes (`records.fingerprint`); pass it
                where the pipeline is built per run so that a cached lookup is never stale.
        """
        super().__init__(
            spec=FindProductionModelSpec(
                model_base_path=model_base_path,
                fingerprint=fingerprint,
                model=types.Channel(type=standard_artifacts.Model),
            )
        )
