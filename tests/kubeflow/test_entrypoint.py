"""`kubeflow.entrypoint`: untyped input artifacts get the type their task's inputs spec declares."""

import json

import pytest

from kubeflow.entrypoint import INPUTS_SPEC_FLAG, INVOCATION_FLAG, UntypedInputError, type_inputs, typed_argv

EXAMPLES_SCHEMA = "title: tfx.Examples\ntype: object\n"
SPEC = json.dumps({"artifacts": {"examples": {"artifactType": {"instanceSchema": EXAMPLES_SCHEMA}}}})


def _invocation(artifact_type: dict | None) -> str:
    artifact = {"name": "7", "uri": "/tmp/examples", "metadata": {"span": 202610.0}}
    if artifact_type is not None:
        artifact["type"] = artifact_type
    return json.dumps({"inputs": {"artifacts": {"examples": {"artifacts": [artifact]}}}})


def _type_of(invocation: str) -> dict:
    return json.loads(invocation)["inputs"]["artifacts"]["examples"]["artifacts"][0]["type"]


@pytest.mark.parametrize("arrived", [{"instanceSchema": ""}, {"instanceSchema": "  \n"}, {}, None])
def test_an_untyped_input_gets_the_declared_type(arrived):
    typed = type_inputs(_invocation(arrived), SPEC)

    assert _type_of(typed) == {"instanceSchema": EXAMPLES_SCHEMA}
    assert json.loads(typed)["inputs"]["artifacts"]["examples"]["artifacts"][0]["name"] == "7"


def test_typed_inputs_pass_through_unchanged():
    invocation = _invocation({"schemaTitle": "tfx.Examples"})

    assert type_inputs(invocation, SPEC) is invocation


def test_an_untyped_input_the_spec_does_not_declare_is_refused_by_name():
    with pytest.raises(UntypedInputError, match="'examples'.*does not declare"):
        type_inputs(_invocation({"instanceSchema": ""}), json.dumps({"artifacts": {}}))


@pytest.mark.parametrize("joined", [False, True])
def test_the_argument_is_replaced_in_place_in_either_flag_form(joined):
    invocation = _invocation({"instanceSchema": ""})
    if joined:
        argv = ["--executor_class_path", "x.Executor", f"{INVOCATION_FLAG}={invocation}", f"{INPUTS_SPEC_FLAG}={SPEC}"]
    else:
        argv = [
            "--executor_class_path",
            "x.Executor",
            INVOCATION_FLAG,
            invocation,
            INPUTS_SPEC_FLAG,
            SPEC,
            "--runner=X",
        ]

    typed = typed_argv(argv)

    assert len(typed) == len(argv) and typed[:2] == argv[:2] and typed[-1] == argv[-1]
    value = typed[2].removeprefix(INVOCATION_FLAG + "=") if joined else typed[3]
    assert _type_of(value) == {"instanceSchema": EXAMPLES_SCHEMA}
