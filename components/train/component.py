"""TrainModel: TFX's Trainer, which also gets the ingested examples for their stored creatives.

A training row names its creative's model input by key, and ingestion stores each distinct
input once, in the ingested Examples artifact (`components.artifacts.CREATIVES_FOLDER`). TFX's
Trainer gives `run_fn` only the transformed examples, so this component takes TFX's Trainer
spec plus a `creatives` input and tells `run_fn` where they are; everything else (the run_fn
contract, `FnArgs`, the Model and ModelRun outputs) is TFX's Trainer.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils

from components.train import executor


class TrainModelSpec(standard_component_specs.TrainerSpec):
    """TFX's Trainer spec and the ingested examples that hold the creatives."""

    INPUTS = {
        **standard_component_specs.TrainerSpec.INPUTS,
        executor.CREATIVES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
    }


class TrainModel(base_component.BaseComponent):
    """Trains and exports the model with a `run_fn`, as TFX's Trainer does."""

    SPEC_CLASS = TrainModelSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, *, run_fn: str, examples: types.BaseChannel,
                 transform_graph: types.BaseChannel, schema: types.BaseChannel,
                 creatives: types.BaseChannel | None = None,
                 train_args: trainer_pb2.TrainArgs | None = None,
                 eval_args: trainer_pb2.EvalArgs | None = None, custom_config: dict | None = None):
        """Builds the component.

        Args:
            run_fn: the import path of the training function (``trainer.run.run_fn``).
            examples: Transform's transformed examples.
            transform_graph: Transform's graph.
            schema: the raw data's schema.
            creatives: the ingested examples whose stored creatives the rows name.
            train_args: TFX's TrainArgs (default: `train_steps` None, i.e. the configured epochs).
            eval_args: TFX's EvalArgs.
            custom_config: passed to `run_fn` as `fn_args.custom_config`.
        """
        super().__init__(
            spec=TrainModelSpec(
                examples=examples,
                transform_graph=transform_graph,
                schema=schema,
                creatives=creatives,
                train_args=train_args or trainer_pb2.TrainArgs(),
                eval_args=eval_args or trainer_pb2.EvalArgs(),
                run_fn=run_fn,
                custom_config=json_utils.dumps(custom_config),
                model=types.Channel(type=standard_artifacts.Model),
                model_run=types.Channel(type=standard_artifacts.ModelRun),
            )
        )
