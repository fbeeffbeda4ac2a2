"""The KFP-style backend itself: upstream artifacts as the driver hands them over, failures named."""

import json
import sys

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from tests.kubeflow.image import Image
from tests.kubeflow.kfp_backend import KfpBackend, TaskFailed

pytestmark = pytest.mark.integration

# A producer writes its output and reports metadata in the executor output; the consumer prints
# the executor input it was given (as the launcher substitutes it for {{$}}), then exits `code`.
PRODUCE = """
import json, sys, pathlib
executor_input = json.loads(sys.argv[1])
out = executor_input["outputs"]["artifacts"]["data"]["artifacts"][0]
pathlib.Path(out["uri"]).mkdir(parents=True)
path = pathlib.Path(executor_input["outputs"]["outputFile"]); path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(json.dumps({"artifacts": {"data": {"artifacts": [{"metadata": {"rows": 12, "span": "2026-10"}}]}}}))
"""
CONSUME = "import sys; print(sys.argv[1]); print('consumer gives up'); sys.exit(int(sys.argv[2]))"


def _spec(exit_code: int) -> pipeline_spec_pb2.PipelineSpec:
    data = {"artifactType": {"instanceSchema": "title: tfx.Examples\ntype: object\n"}}
    spec = {
        "pipelineInfo": {"name": "toy"},
        "root": {
            "inputDefinitions": {"parameters": {"span": {"parameterType": "STRING", "defaultValue": "latest"}}},
            "dag": {
                "tasks": {
                    "Produce": {"taskInfo": {"name": "Produce"}, "componentRef": {"name": "Produce"}},
                    "Consume": {
                        "taskInfo": {"name": "Consume"},
                        "componentRef": {"name": "Consume"},
                        "dependentTasks": ["Produce"],
                        "inputs": {
                            "artifacts": {
                                "data": {"taskOutputArtifact": {"producerTask": "Produce", "outputArtifactKey": "data"}}
                            },
                            "parameters": {"span": {"componentInputParameter": "span"}},
                        },
                    },
                }
            },
        },
        "components": {
            "Produce": {"executorLabel": "e-produce", "outputDefinitions": {"artifacts": {"data": data}}},
            "Consume": {
                "executorLabel": "e-consume",
                "inputDefinitions": {"artifacts": {"data": data}, "parameters": {"span": {"parameterType": "STRING"}}},
            },
        },
        "deploymentSpec": {
            "executors": {
                "e-produce": {"container": {"image": "x", "command": [sys.executable, "-c", PRODUCE, "{{$}}"]}},
                "e-consume": {
                    "container": {"image": "x", "command": [sys.executable, "-c", CONSUME, "{{$}}", str(exit_code)]}
                },
            }
        },
        "schemaVersion": "2.1.0",
    }
    return json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())


@pytest.fixture
def backend(tmp_path):
    image = Image(workdir=tmp_path, env={"PATH": "/usr/bin:/bin"})
    return KfpBackend(image, tmp_path / "mlmd.sqlite", tmp_path / "sandbox")


def test_upstream_artifacts_arrive_untyped_with_their_metadata_as_doubles(backend, tmp_path):
    result = backend.run(_spec(0), "run-1", str(tmp_path / "root"))

    executor_input = json.loads(result.tasks["Consume"].log_path.read_text().splitlines()[0])
    [data] = executor_input["inputs"]["artifacts"]["data"]["artifacts"]
    assert data["type"] == {"instanceSchema": ""}
    assert data["name"] == str(int(data["name"]))
    assert data["metadata"]["rows"] == 12.0 and data["metadata"]["span"] == "2026-10"
    assert data["metadata"]["display_name"] == "data"
    assert data["uri"] == result.tasks["Produce"].outputs["data"].uri
    assert data["uri"].startswith(f"{tmp_path}/root/toy/run-1/Produce/")
    assert executor_input["inputs"]["parameterValues"] == {"span": "latest"}


def test_a_run_parameter_replaces_the_root_default(backend, tmp_path):
    result = backend.run(_spec(0), "run-2", str(tmp_path / "root"), parameters={"span": "2026-10"})

    executor_input = json.loads(result.tasks["Consume"].log_path.read_text().splitlines()[0])
    assert executor_input["inputs"]["parameterValues"] == {"span": "2026-10"}


def test_a_failing_task_is_named_with_its_exit_code_and_log_tail(backend, tmp_path):
    with pytest.raises(TaskFailed) as failure:
        backend.run(_spec(3), "run-3", str(tmp_path / "root"))

    assert failure.value.task == "Consume" and failure.value.exit_code == 3
    assert "consumer gives up" in failure.value.tail
    assert str(failure.value).startswith("task Consume exited 3; last lines of ")
