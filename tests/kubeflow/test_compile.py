"""`clickpipe kfp compile`: the real pipeline compiled with KubeflowV2DagRunner, no network.

The YAML is parsed into `pipeline_spec_pb2.PipelineSpec` and compared with the TFX pipeline
object the local runner would run: same nodes, same dependencies.
"""

import contextlib
import io
import socket

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow.compile import KFP_COMMAND, build_pipeline
from pipeline.cli import main
from pipeline.config import load_config
from tests.kubeflow.conftest import IMAGE, PIPELINE_ROOT, kubeflow_toml
from tests.kubeflow.image import copied_sources, instructions

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Compiles once through the CLI with sockets refusing to connect; records any attempt."""
    folder = tmp_path_factory.mktemp("kfp")
    config_path = folder / "kubeflow.toml"
    config_path.write_text(kubeflow_toml())
    output = folder / "clickpipe.yaml"
    attempts = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"compilation must not use the network (tried {address})")

    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        patch.setattr(socket, "create_connection", refuse)
        patch.setattr(socket, "getaddrinfo", refuse)
        patch.setattr(socket.socket, "connect", lambda self, address: refuse(address))
        code = main(["kfp", "compile", "--config", str(config_path), "--output", str(output)])
    if code != 0:
        pytest.fail(f"clickpipe kfp compile exited {code}: {stderr.getvalue().strip()}")
    config = load_config(config_path)
    return {
        "code": code,
        "stdout": stdout.getvalue(),
        "attempts": attempts,
        "path": output,
        "config": config,
        "pipeline": build_pipeline(config),
    }


@pytest.fixture(scope="module")
def spec(compiled) -> pipeline_spec_pb2.PipelineSpec:
    return json_format.ParseDict(
        yaml.safe_load(compiled["path"].read_text()), pipeline_spec_pb2.PipelineSpec()
    )


def _executors(spec) -> dict:
    return json_format.MessageToDict(spec.deployment_spec)["executors"]


def _container(spec, task_name: str) -> dict:
    label = spec.components[spec.root.dag.tasks[task_name].component_ref.name].executor_label
    return _executors(spec)[label]["container"]


def test_compiles_without_touching_the_network(compiled):
    assert compiled["code"] == 0
    assert compiled["attempts"] == []
    assert f"to {compiled['path']}" in compiled["stdout"]


def test_schema_2_1_for_the_open_source_backend(spec):
    assert spec.schema_version == "2.1.0"
    assert spec.sdk_version == "tfx-1.16.0"
    assert spec.pipeline_info.name == "clickpipe"


def test_every_node_is_a_task_with_the_local_dependencies(compiled, spec):
    nodes = compiled["pipeline"].components

    assert set(spec.root.dag.tasks) == {node.id for node in nodes}
    for node in nodes:
        task = spec.root.dag.tasks[node.id]
        assert set(task.dependent_tasks) == {up.id for up in node.upstream_nodes}, node.id


def _container_component_command(node) -> list[str] | None:
    """The literal start of a container component's command (up to its first placeholder);
    None for a Python-executor node."""
    import itertools

    from tfx.dsl.component.experimental.executor_specs import TemplatedExecutorContainerSpec

    if isinstance(node.executor_spec, TemplatedExecutorContainerSpec):
        return list(itertools.takewhile(lambda part: isinstance(part, str), node.executor_spec.command))
    return None


def test_every_task_runs_the_config_image_with_the_tfx_entrypoint(compiled, spec):
    for node in compiled["pipeline"].components:
        container = _container(spec, node.id)
        assert container["image"] == IMAGE, node.id
        declared = _container_component_command(node)
        if declared is not None:
            assert container["command"][: len(declared)] == declared, node.id
            continue
        executor_class = node.executor_spec.executor_class
        class_path = f"{executor_class.__module__}.{executor_class.__qualname__}"
        assert tuple(container["command"]) == KFP_COMMAND, node.id
        assert list(container["args"])[:2] == ["--executor_class_path", class_path], node.id


def test_pipeline_root_is_in_the_spec(spec):
    assert spec.default_pipeline_root == PIPELINE_ROOT


def test_span_is_a_runtime_parameter_of_ingestion(compiled, spec):
    definition = spec.root.input_definitions.parameters["span"]
    ingest = spec.root.dag.tasks["IngestImpressions"]

    assert list(spec.root.input_definitions.parameters) == ["span"]
    assert definition.parameter_type == pipeline_spec_pb2.ParameterType.STRING
    assert definition.default_value.string_value == "latest"
    assert definition.is_optional
    assert ingest.inputs.parameters["span"].component_input_parameter == "span"
    assert "parameter      span (default 'latest')" in compiled["stdout"]


def test_constants_use_the_form_the_open_source_driver_reads(spec):
    for name, task in spec.root.dag.tasks.items():
        for key, parameter in task.inputs.parameters.items():
            kind = parameter.WhichOneof("kind")
            assert kind in ("runtime_value", "component_input_parameter"), (name, key)
            if kind == "runtime_value":
                assert parameter.runtime_value.WhichOneof("value") == "constant", (name, key)


def test_tasks_that_read_the_outside_world_are_never_cached(compiled, spec):
    for node in compiled["pipeline"].components:
        expected = bool(node.inputs) and compiled["config"].pipeline.enable_cache
        assert spec.root.dag.tasks[node.id].caching_options.enable_cache is expected, node.id
    assert not spec.root.dag.tasks["IngestImpressions"].caching_options.enable_cache


def test_only_containers_no_resolver_or_importer(spec):
    executors = _executors(spec)

    assert {kind for executor in executors.values() for kind in executor} == {"container"}


def test_code_named_by_import_path_ships_in_the_image(spec):
    dockerfile = instructions()
    shipped = {src.strip("/") for src in copied_sources(dockerfile)} | {"tfx"}
    build_check = " ".join(args for kind, args in dockerfile if kind == "RUN")
    paths = set()
    for task in spec.root.dag.tasks:
        container = _container(spec, task)
        if tuple(container["command"]) == KFP_COMMAND:
            paths.add(container["args"][1])  # after --executor_class_path (see above)
        else:
            paths.add(container["command"][2])  # python -m MODULE of a container component
    functions = {
        parameter.runtime_value.constant.string_value
        for task in spec.root.dag.tasks.values()
        for key, parameter in task.inputs.parameters.items()
        if key in ("run_fn", "preprocessing_fn")
    }

    assert len(functions) == 2
    for path in paths | functions:
        assert path.split(".")[0] in shipped, path
    for function in functions:
        module = function.rpartition(".")[0]
        assert f"import {module}" in build_check or f", {module}" in build_check, module


def test_the_kfp_client_reads_the_yaml_as_it_uploads_it(compiled, spec, kfp_server, tmp_path):
    config_path = tmp_path / "kubeflow.toml"
    config_path.write_text(kubeflow_toml(host=kfp_server.host))
    kfp_server.add_experiment("clickpipe")
    package = str(compiled["path"])

    assert main(["kfp", "upload", "--config", str(config_path), "--package", package]) == 0
    assert main(["kfp", "run", "--config", str(config_path), "--package", package]) == 0

    [upload] = kfp_server.posted("/pipelines/upload")
    [run] = kfp_server.posted("/runs")
    assert upload.files["uploadfile"] == compiled["path"].read_bytes()
    sent = json_format.ParseDict(run.json["pipeline_spec"], pipeline_spec_pb2.PipelineSpec())
    assert sent == spec
    assert run.json["runtime_config"] == {
        "parameters": {"span": "latest"},
        "pipeline_root": PIPELINE_ROOT,
    }


def _spec_with_output(title: str) -> dict:
    """A minimal compiled spec with one TFX task whose output artifact has `title`."""
    return {
        "components": {
            "Produce": {
                "executorLabel": "Produce_executor",
                "outputDefinitions": {
                    "artifacts": {"out": {"artifactType": {"schemaTitle": title}}}
                },
            }
        },
        "deploymentSpec": {
            "executors": {"Produce_executor": {"container": {"command": list(KFP_COMMAND)}}}
        },
    }


def test_artifact_types_must_import_as_the_container_will_import_them():
    from kubeflow.compile import CompileError, _check_artifact_types

    _check_artifact_types(_spec_with_output("tfx.Examples"))
    _check_artifact_types(_spec_with_output("json.JSONDecoder"))  # any class importable so
    with pytest.raises(CompileError) as error:
        _check_artifact_types(_spec_with_output("components.QuarantinedRowz"))

    assert str(error.value).startswith(
        "Produce.out: artifact type 'components.QuarantinedRowz' is not importable by that name"
    )


def test_a_resolver_node_is_refused(monkeypatch, tmp_path):
    from tfx import v1 as tfx

    from kubeflow.compile import CompileError

    def with_resolver(config, target):
        latest = tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.LatestArtifactStrategy,
            model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        ).with_id("LatestModel")
        return tfx.dsl.Pipeline(
            pipeline_name="clickpipe", pipeline_root=target.pipeline_root, components=[latest]
        )

    config_path = tmp_path / "kubeflow.toml"
    config_path.write_text(kubeflow_toml())
    monkeypatch.setattr("pipeline.pipeline.create_pipeline", with_resolver)

    with pytest.raises(CompileError, match=r"Resolver nodes \(LatestModel\); the open-source"):
        build_pipeline(load_config(config_path))


def test_every_tfx_task_gets_the_configured_beam_args(compiled, spec):
    beam_args = list(compiled["config"].pipeline.beam_args)

    assert beam_args
    for task in spec.root.dag.tasks:
        container = _container(spec, task)
        if tuple(container["command"]) == KFP_COMMAND:
            assert list(container["args"])[-len(beam_args) :] == beam_args, task
