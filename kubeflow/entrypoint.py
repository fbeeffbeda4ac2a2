"""The container command of every TFX task on Kubeflow: TFX's own entrypoint, given typed inputs.

The open-source KFP 2.x driver reads each upstream artifact back from ML Metadata without its
schema and hands it to the task as ``"type": {"instanceSchema": ""}``
(kubeflow/pipelines ``backend/src/v2/metadata/client.go``, `GetOutputArtifactsByExecutionId`).
TFX 1.16's entrypoint imports every input artifact's class from that type's title and stops
with ``AttributeError: 'NoneType' object has no attribute 'get'`` (tensorflow/tfx#7768).

The task's inputs spec, which TFX compiles into the same command as
``--json_serialized_inputs_spec_args``, declares the type of every input. This module copies
that type onto each input artifact that arrived without one and runs TFX's entrypoint
(`tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor`) unchanged. An executor
input whose artifacts are typed (Vertex AI Pipelines) passes through byte for byte.

Run as ``python -m kubeflow.entrypoint`` with the arguments of TFX's entrypoint.
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence

TFX_ENTRYPOINT = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
INVOCATION_FLAG = "--json_serialized_invocation_args"
INPUTS_SPEC_FLAG = "--json_serialized_inputs_spec_args"


class UntypedInputError(ValueError):
    """An input artifact arrived untyped and the inputs spec does not declare its type."""


def _untyped(artifact_type) -> bool:
    kind = artifact_type.WhichOneof("kind")
    if kind is None:
        return True
    return kind == "instance_schema" and not artifact_type.instance_schema.strip()


def type_inputs(invocation_json: str, inputs_spec_json: str) -> str:
    """The executor input with every untyped input artifact given its declared type.

    Args:
        invocation_json: the `ExecutorInput` JSON the KFP launcher substituted for ``{{$}}``.
        inputs_spec_json: the task's `ComponentInputsSpec` JSON, as TFX compiled it.

    Returns:
        `invocation_json` itself when no input artifact lacks a type, else the amended JSON.

    Raises:
        UntypedInputError: an untyped input is not declared in the inputs spec.
    """
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    executor_input = pipeline_spec_pb2.ExecutorInput()
    json_format.Parse(invocation_json, executor_input, ignore_unknown_fields=True)
    declared = pipeline_spec_pb2.ComponentInputsSpec()
    if inputs_spec_json:
        json_format.Parse(inputs_spec_json, declared, ignore_unknown_fields=True)
    amended = False
    for key, artifacts in executor_input.inputs.artifacts.items():
        for artifact in artifacts.artifacts:
            if not _untyped(artifact.type):
                continue
            if key not in declared.artifacts:
                raise UntypedInputError(
                    f"input artifact {key!r} (uri {artifact.uri}) arrived without a type and the "
                    f"task's {INPUTS_SPEC_FLAG} does not declare one"
                )
            artifact.type.CopyFrom(declared.artifacts[key].artifact_type)
            amended = True
    return json_format.MessageToJson(executor_input) if amended else invocation_json


def _find(argv: list[str], flag: str) -> tuple[int, str] | None:
    """Where the value of `flag` is in `argv` (``--flag value`` or ``--flag=value``), and the value."""
    for index, arg in enumerate(argv):
        if arg == flag and index + 1 < len(argv):
            return index + 1, argv[index + 1]
        if arg.startswith(flag + "="):
            return index, arg[len(flag) + 1 :]
    return None


def typed_argv(argv: Sequence[str]) -> list[str]:
    """TFX entrypoint arguments with the executor input's untyped artifacts typed."""
    argv = list(argv)
    invocation = _find(argv, INVOCATION_FLAG)
    if invocation is None:
        return argv
    index, value = invocation
    spec = _find(argv, INPUTS_SPEC_FLAG)
    typed = type_inputs(value, spec[1] if spec else "")
    argv[index] = typed if argv[index] == value else f"{INVOCATION_FLAG}={typed}"
    return argv


def main(argv: Sequence[str] | None = None) -> None:
    """Types the inputs, then runs TFX's entrypoint as ``python -m`` would run it."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        args = typed_argv(args)
    except UntypedInputError as exc:
        sys.exit(f"kubeflow.entrypoint: {exc}")
    sys.argv = [TFX_ENTRYPOINT, *args]
    runpy.run_module(TFX_ENTRYPOINT, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
