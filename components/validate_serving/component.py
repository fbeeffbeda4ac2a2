"""ValidateServing: TFX InfraValidator's contract, served by clickpipe's server in-process.

TFX's InfraValidator starts TF Serving in Docker or on Kubernetes, neither of which the KFP v2
launcher provides; this component loads the candidate in `serving.server.ModelServer` instead
and queries it with real requests built from the eval split.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.validate_serving import executor


class ValidateServingSpec(types.ComponentSpec):
    """Inputs: the candidate and the examples to query it with; output: the InfraBlessing."""

    PARAMETERS = {executor.NUM_REQUESTS_KEY: ExecutionParameter(type=int)}
    INPUTS = {
        executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }
    OUTPUTS = {executor.BLESSING_KEY: ChannelParameter(type=standard_artifacts.InfraBlessing)}


class ValidateServing(base_component.BaseComponent):
    """Blesses a model that loads in the server and answers REST and gRPC probes correctly.

    Like TFX's InfraValidator, the `blessing` output has the custom property `blessed` (1/0)
    and an `INFRA_BLESSED` / `INFRA_NOT_BLESSED` marker file; a model that fails is not
    blessed (the reason is in the `blessing_reason` custom property) and the run goes on, so
    that the Pusher skips it. A blessed model's probes are written as TF Serving warmup records
    to `<blessing.uri>/tf_serving_warmup_requests`, which PushModel ships with the version.
    """

    SPEC_CLASS = ValidateServingSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, examples: types.BaseChannel,
                 num_requests: int = executor.DEFAULT_NUM_REQUESTS):
        """Builds the component.

        Args:
            model: the Trainer's model.
            examples: the ingested examples; the first `num_requests` of `Split-eval` are sent.
            num_requests: examples per probe request (and per warmup record), 1 to 1000.
        """
        if not 1 <= num_requests <= executor.MAX_NUM_REQUESTS:
            raise ValueError(
                f"num_requests must be 1 to {executor.MAX_NUM_REQUESTS}, got {num_requests}")
        super().__init__(
            spec=ValidateServingSpec(
                model=model,
                examples=examples,
                num_requests=num_requests,
                blessing=types.Channel(type=standard_artifacts.InfraBlessing),
            )
        )
