"""A compiled pipeline spec executed task by task as the open-source KFP 2.x backend does.

Reproduces, from kubeflow/pipelines `backend/src/v2` at tag 2.4.0 (unchanged in what matters
here through 2.17), what happens between two tasks of a run:

- **root DAG** (`compiler/argocompiler/argo.go`, `driver.RootDAG`): the run's parameter values,
  a root default for each one the run does not give; the run's pipeline root is
  ``<pipeline root>/<pipeline name>/<run id>`` (`metadata.GetPipeline`).
- **container driver** (`driver.Container`, `resolveInputs`, `provisionOutputs`): parameters
  from the root DAG or the task's `runtimeValue.constant`, an optional one without a value left
  out; each upstream artifact read back from ML Metadata as `GetOutputArtifactsByExecutionId` +
  `OutputArtifact.ToRuntimeArtifact` build it: name = the artifact id, metadata = its
  properties and custom properties (numbers as doubles), type ``{"instanceSchema": ""}``; each
  output at ``<run root>/<task>/<uuid>/<output>`` with the type and metadata of the spec;
  the executor output file ``/tmp/kfp_outputs/output_metadata.json`` (inside the task's own
  sandbox here, as each pod has its own /tmp).
- **launcher** (`component.LauncherV2.Execute`, `executeV2`): parameter defaults added,
  placeholders replaced (with kfp's own `kfp.local.placeholder_utils`), the task's real
  container command run as a subprocess in the image stand-in, the executor output file read
  (`kfp.local.executor_output_utils`), merged into the outputs (`mergeRuntimeArtifacts`) and
  recorded in ML Metadata (`RecordArtifact`: metadata → custom properties, numbers as
  doubles, booleans as ints, plus `display_name` and `store_session_info`).

ML Metadata is a real store (SQLite) in place of the cluster's gRPC metadata service. What a real
cluster does and this does not: pods, Argo, object-store download/upload of `/gcs/...` paths
(only for KFP-SDK components' `.path` placeholders; TFX tasks use URIs), KFP's cache (every
task runs), and retries. Independent tasks run side by side up to `parallelism`.
"""

from __future__ import annotations

import copy
import subprocess
import time
import uuid
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from google.protobuf import json_format, struct_pb2
from kfp.local import executor_input_utils, executor_output_utils, placeholder_utils
from kfp.pipeline_spec import pipeline_spec_pb2
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from tests.kubeflow.image import Image

# The fixed path the driver gives every task (`component.OutputMetadataFilepath`).
OUTPUT_METADATA_FILE = "tmp/kfp_outputs/output_metadata.json"
# What the launcher records as the store session of a gs:// pipeline root with default credentials.
STORE_SESSION_INFO = '{"Provider":"gs","Params":{"fromEnv":"true"}}'
CONTAINER_EXECUTION = "system.ContainerExecution"
PIPELINE_CONTEXT = "system.Pipeline"
RUN_CONTEXT = "system.PipelineRun"
LOG_TAIL_LINES = 40


class TaskFailed(RuntimeError):
    """A task's container command exited non-zero (or did not finish in time)."""

    def __init__(self, task: str, exit_code: int | None, log_path: Path, tail: str):
        self.task, self.exit_code, self.log_path, self.tail = task, exit_code, log_path, tail
        how = "timed out" if exit_code is None else f"exited {exit_code}"
        super().__init__(f"task {task} {how}; last lines of {log_path}:\n{tail}")


@dataclass
class TaskRun:
    """One executed task."""

    name: str
    execution_id: int
    command: list[str]
    log_path: Path
    seconds: float = 0.0
    outputs: dict[str, pipeline_spec_pb2.RuntimeArtifact] = field(default_factory=dict)


@dataclass
class RunResult:
    """A finished run: its tasks in the order they finished."""

    run_id: str
    run_root: str
    tasks: dict[str, TaskRun] = field(default_factory=dict)


def load_spec(path: Path) -> pipeline_spec_pb2.PipelineSpec:
    """The PipelineSpec of a compiled YAML file."""
    return json_format.ParseDict(yaml.safe_load(Path(path).read_text()), pipeline_spec_pb2.PipelineSpec())


def generate_output_uri(root: str, *parts: str) -> str:
    """`metadata.GenerateOutputURI`: joined without cleaning the scheme."""
    return f"{root.rstrip('/')}/{'/'.join(parts)}"


def _mlmd_value_to_struct(value: metadata_store_pb2.Value) -> struct_pb2.Value:
    """`toRuntimeArtifact`'s property conversion: ints and doubles both become numbers."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return struct_pb2.Value(string_value=value.string_value)
    if kind == "double_value":
        return struct_pb2.Value(number_value=value.double_value)
    if kind == "int_value":
        return struct_pb2.Value(number_value=float(value.int_value))
    if kind == "struct_value":
        return struct_pb2.Value(struct_value=value.struct_value)
    raise ValueError(f"unknown property type in MLMD artifact: {kind}")


def _struct_to_mlmd_value(value: struct_pb2.Value) -> metadata_store_pb2.Value:
    """`StructValueToMLMDValue`: what the launcher stores for each metadata field."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return metadata_store_pb2.Value(string_value=value.string_value)
    if kind == "number_value":
        return metadata_store_pb2.Value(double_value=value.number_value)
    if kind == "bool_value":
        return metadata_store_pb2.Value(int_value=int(value.bool_value))
    if kind == "list_value":
        wrapped = struct_pb2.Struct()
        wrapped.fields["list"].list_value.CopyFrom(value.list_value)
        return metadata_store_pb2.Value(struct_value=wrapped)
    if kind == "struct_value":
        wrapped = struct_pb2.Struct()
        wrapped.fields["struct"].struct_value.CopyFrom(value.struct_value)
        return metadata_store_pb2.Value(struct_value=wrapped)
    raise ValueError(f"unknown/unsupported value type {kind}")


def _schema_title(artifact_type: pipeline_spec_pb2.ArtifactTypeSchema) -> str:
    """`getArtifactSchema` + `SchemaToArtifactType`: the MLMD type name of an output."""
    kind = artifact_type.WhichOneof("kind")
    if kind == "schema_title":
        return artifact_type.schema_title
    if kind == "instance_schema":
        title = (yaml.safe_load(artifact_type.instance_schema) or {}).get("title", "")
        if title:
            return title
    raise ValueError(f"an output artifact type without a title: {artifact_type}")


class Metadata:
    """The run's ML Metadata, written and read the way the KFP driver and launcher do."""

    def __init__(self, path: Path):
        config = metadata_store_pb2.ConnectionConfig()
        config.sqlite.filename_uri = str(path)
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = metadata_store.MetadataStore(config)
        self._execution_type = self.store.put_execution_type(metadata_store_pb2.ExecutionType(name=CONTAINER_EXECUTION))

    def run_context(self, pipeline_name: str, run_id: str, run_root: str) -> metadata_store_pb2.Context:
        """`GetPipeline`: the pipeline and run contexts; returns the run's."""
        contexts = []
        for type_name, name, props in (
            (PIPELINE_CONTEXT, pipeline_name, {}),
            (RUN_CONTEXT, run_id, {"pipeline_root": run_root, "store_session_info": STORE_SESSION_INFO}),
        ):
            type_id = self.store.put_context_type(metadata_store_pb2.ContextType(name=type_name))
            existing = self.store.get_context_by_type_and_name(type_name, name)
            if existing is not None:
                contexts.append(existing)
                continue
            context = metadata_store_pb2.Context(type_id=type_id, name=name)
            for key, value in props.items():
                context.custom_properties[key].string_value = value
            [context.id] = self.store.put_contexts([context])
            contexts.append(context)
        pipeline, run = contexts
        self.store.put_parent_contexts([metadata_store_pb2.ParentContext(child_id=run.id, parent_id=pipeline.id)])
        return run

    def create_execution(self, run_context: metadata_store_pb2.Context, task: str) -> int:
        execution = metadata_store_pb2.Execution(
            type_id=self._execution_type, last_known_state=metadata_store_pb2.Execution.RUNNING
        )
        execution.custom_properties["task_name"].string_value = task
        execution_id, _, _ = self.store.put_execution(execution, [], [run_context])
        return execution_id

    def publish(
        self,
        run_context: metadata_store_pb2.Context,
        execution_id: int,
        outputs: dict[str, pipeline_spec_pb2.RuntimeArtifact],
        state: int,
    ) -> None:
        """`PublishExecution` after `RecordArtifact` for each output."""
        [execution] = self.store.get_executions_by_id([execution_id])
        execution.last_known_state = state
        pairs = []
        for name, runtime in outputs.items():
            type_id = self.store.put_artifact_type(metadata_store_pb2.ArtifactType(name=_schema_title(runtime.type)))
            artifact = metadata_store_pb2.Artifact(
                type_id=type_id, uri=runtime.uri, state=metadata_store_pb2.Artifact.LIVE
            )
            for key, value in runtime.metadata.fields.items():
                artifact.custom_properties[key].CopyFrom(_struct_to_mlmd_value(value))
            if "display_name" not in artifact.custom_properties:
                artifact.custom_properties["display_name"].string_value = name
            if "store_session_info" not in artifact.custom_properties:
                artifact.custom_properties["store_session_info"].string_value = STORE_SESSION_INFO
            event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)
            event.path.steps.add().key = name
            pairs.append((artifact, event))
        self.store.put_execution(execution, pairs, [run_context])

    def output_artifact(
        self, run_context: metadata_store_pb2.Context, producer: str, key: str
    ) -> pipeline_spec_pb2.RuntimeArtifact:
        """`resolveUpstreamArtifacts`: the producer's output as the next task receives it."""
        executions = [
            e
            for e in self.store.get_executions_by_context(run_context.id)
            if e.custom_properties["task_name"].string_value == producer
        ]
        if not executions:
            raise LookupError(f"cannot find producer task {producer!r}")
        events = self.store.get_events_by_execution_ids([executions[-1].id])
        ids = [
            e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT and e.path.steps[0].key == key
        ]
        if not ids:
            raise LookupError(f"cannot find output artifact key {key!r} in producer task {producer!r}")
        [artifact] = self.store.get_artifacts_by_id(ids[:1])
        runtime = pipeline_spec_pb2.RuntimeArtifact(name=str(artifact.id), uri=artifact.uri)
        for properties in (artifact.properties, artifact.custom_properties):
            for name, value in properties.items():
                runtime.metadata.fields[name].CopyFrom(_mlmd_value_to_struct(value))
        # `OutputArtifact.ToRuntimeArtifact`: the schema was never read back ("TODO(Bobgy)").
        runtime.type.instance_schema = ""
        return runtime


class KfpBackend:
    """Runs compiled specs as the KFP 2.x driver and launcher would, in an image stand-in.

    Args:
        image: the laid-out image (see `tests.kubeflow.image.lay_out`).
        metadata_path: the ML Metadata SQLite file, shared by the runs of one test.
        sandbox: where each task gets its own /tmp and its log.
        env: more environment for every task (e.g. STORAGE_EMULATOR_HOST).
        parallelism: tasks run at once when the DAG allows.
        timeout: seconds before a task is stopped and reported as timed out.
    """

    def __init__(
        self,
        image: Image,
        metadata_path: Path,
        sandbox: Path,
        env: dict[str, str] | None = None,
        parallelism: int = 2,
        timeout: float = 1800.0,
    ):
        self.image = image
        self.metadata = Metadata(metadata_path)
        self.sandbox = sandbox
        self.env = {**image.env, **(env or {})}
        self.parallelism = parallelism
        self.timeout = timeout

    def run(
        self,
        spec: pipeline_spec_pb2.PipelineSpec,
        run_id: str,
        pipeline_root: str,
        parameters: dict[str, object] | None = None,
    ) -> RunResult:
        """Executes the root DAG of `spec`; raises `TaskFailed` naming the first failed task."""
        pipeline_name = spec.pipeline_info.name
        run_root = generate_output_uri(pipeline_root or spec.default_pipeline_root, pipeline_name, run_id)
        run_context = self.metadata.run_context(pipeline_name, run_id, run_root)
        root_parameters = self._root_parameters(spec, parameters or {})
        tasks = dict(spec.root.dag.tasks)
        upstream = {name: self._upstream(task) for name, task in tasks.items()}
        result = RunResult(run_id=run_id, run_root=run_root)
        pending = deque(sorted(tasks))
        running: dict[Future, tuple[TaskRun, pipeline_spec_pb2.ExecutorInput]] = {}
        failure: TaskFailed | None = None
        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            while pending or running:
                ready = [n for n in pending if upstream[n] <= set(result.tasks)] if failure is None else []
                for name in ready[: self.parallelism - len(running)]:
                    pending.remove(name)
                    task_run, executor_input = self._drive(spec, name, run_id, run_root, run_context, root_parameters)
                    running[pool.submit(self._launch, task_run)] = (task_run, executor_input)
                if not running:
                    if failure is None:
                        raise RuntimeError(f"tasks {sorted(pending)} wait on tasks that never ran")
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    task_run, executor_input = running.pop(future)
                    error = future.exception()
                    if error is None:
                        task_run.outputs = self._collect(task_run, executor_input)
                    self.metadata.publish(
                        run_context,
                        task_run.execution_id,
                        task_run.outputs,
                        metadata_store_pb2.Execution.FAILED if error else metadata_store_pb2.Execution.COMPLETE,
                    )
                    if error is None:
                        result.tasks[task_run.name] = task_run
                    elif failure is None:
                        failure = error
        if failure is not None:
            raise failure
        return result

    @staticmethod
    def _root_parameters(spec, given: dict[str, object]) -> dict[str, struct_pb2.Value]:
        values = {}
        for name, definition in spec.root.input_definitions.parameters.items():
            if name in given:
                values[name] = json_format.ParseDict(given[name], struct_pb2.Value())
            elif definition.HasField("default_value"):
                values[name] = definition.default_value
        unknown = set(given) - set(spec.root.input_definitions.parameters)
        if unknown:
            raise ValueError(f"run parameters {sorted(unknown)} are not pipeline parameters")
        return values

    @staticmethod
    def _upstream(task: pipeline_spec_pb2.PipelineTaskSpec) -> set[str]:
        producers = {a.task_output_artifact.producer_task for a in task.inputs.artifacts.values()}
        return set(task.dependent_tasks) | (producers - {""})

    def _drive(self, spec, name, run_id, run_root, run_context, root_parameters):
        """The container driver: resolve inputs, provision outputs, create the execution."""
        task = spec.root.dag.tasks[name]
        component = spec.components[task.component_ref.name]
        if task.HasField("trigger_policy") and task.trigger_policy.condition:
            raise NotImplementedError(f"{name}: trigger conditions are not reproduced here")
        executor_input = pipeline_spec_pb2.ExecutorInput()
        inputs = executor_input.inputs
        for key, parameter in task.inputs.parameters.items():
            kind = parameter.WhichOneof("kind")
            if kind == "component_input_parameter":
                inputs.parameter_values[key].CopyFrom(root_parameters[parameter.component_input_parameter])
            elif kind == "runtime_value" and parameter.runtime_value.HasField("constant"):
                inputs.parameter_values[key].CopyFrom(parameter.runtime_value.constant)
            else:
                raise NotImplementedError(f"{name}.{key}: parameter spec {kind} is not reproduced here")
        self._check_parameter_types(name, component.input_definitions, inputs)
        for key, artifact in task.inputs.artifacts.items():
            output = artifact.task_output_artifact
            if not output.producer_task:
                raise NotImplementedError(f"{name}.{key}: only upstream task outputs are reproduced here")
            resolved = self.metadata.output_artifact(run_context, output.producer_task, output.output_artifact_key)
            inputs.artifacts[key].artifacts.append(resolved)
        outputs = executor_input.outputs
        salt = str(uuid.uuid4())
        for key, definition in component.output_definitions.artifacts.items():
            outputs.artifacts[key].artifacts.append(
                pipeline_spec_pb2.RuntimeArtifact(
                    uri=generate_output_uri(run_root, name, salt, key),
                    type=definition.artifact_type,
                    metadata=definition.metadata,
                )
            )
        task_dir = self.sandbox / run_id / name
        for key in component.output_definitions.parameters:
            outputs.parameters[key].output_file = str(task_dir / "tmp" / "kfp" / "outputs" / key)
        outputs.output_file = str(task_dir / OUTPUT_METADATA_FILE)
        container = spec.deployment_spec.fields["executors"].struct_value.fields[component.executor_label]
        container = json_format.MessageToDict(container)["container"]
        command = self._substitute(container, component, executor_input, spec.pipeline_info.name, name, run_root)
        execution_id = self.metadata.create_execution(run_context, name)
        task_dir.mkdir(parents=True, exist_ok=True)
        return TaskRun(
            name=name, execution_id=execution_id, command=command, log_path=task_dir / "task.log"
        ), executor_input

    @staticmethod
    def _check_parameter_types(name, definitions, inputs) -> None:
        """The driver's `handleParamTypeValidationAndConversion`, for the types TFX compiles."""
        number_types = (pipeline_spec_pb2.ParameterType.NUMBER_INTEGER, pipeline_spec_pb2.ParameterType.NUMBER_DOUBLE)
        for key, definition in definitions.parameters.items():
            if key not in inputs.parameter_values:
                if not definition.is_optional and not definition.HasField("default_value"):
                    raise ValueError(
                        f"{name}: neither value nor default value provided for non-optional parameter {key!r}"
                    )
                continue
            kind = inputs.parameter_values[key].WhichOneof("kind")
            if definition.parameter_type == pipeline_spec_pb2.ParameterType.STRING and kind != "string_value":
                raise ValueError(f"{name}: input parameter {key!r} is {kind}, the spec says STRING")
            if definition.parameter_type in number_types and kind != "number_value":
                raise ValueError(f"{name}: input parameter {key!r} type mismatch: expect number, got {kind}")

    @staticmethod
    def _substitute(container, component, executor_input, pipeline_name, task_name, run_root) -> list[str]:
        """`executeV2`: defaults added for placeholders only, then every placeholder replaced."""
        with_defaults = copy.deepcopy(executor_input)
        for key, definition in component.input_definitions.parameters.items():
            if definition.HasField("default_value") and key not in with_defaults.inputs.parameter_values:
                with_defaults.inputs.parameter_values[key].CopyFrom(definition.default_value)
        as_dict = executor_input_utils.executor_input_to_dict(with_defaults, component)
        return placeholder_utils.replace_placeholders(
            full_command=[*container.get("command", []), *container.get("args", [])],
            executor_input_dict=as_dict,
            pipeline_resource_name=pipeline_name,
            task_resource_name=task_name,
            pipeline_root=run_root,
        )

    def _launch(self, task_run: TaskRun) -> None:
        """Runs the task's container command from the image's WORKDIR, as the pod would."""
        started = time.monotonic()
        env = {**self.env, "KFP_POD_NAME": f"{task_run.name.lower()}-pod", "KFP_POD_UID": str(uuid.uuid4())}
        with open(task_run.log_path, "wb") as log:
            try:
                process = subprocess.run(
                    task_run.command,
                    cwd=self.image.workdir,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=self.timeout,
                    check=False,
                )
                code = process.returncode
            except subprocess.TimeoutExpired:
                code = None
        task_run.seconds = time.monotonic() - started
        if code != 0:
            raise TaskFailed(task_run.name, code, task_run.log_path, log_tail(task_run.log_path))

    @staticmethod
    def _collect(task_run: TaskRun, executor_input) -> dict[str, pipeline_spec_pb2.RuntimeArtifact]:
        """`uploadOutputArtifacts`: each output merged with what the executor output says of it."""
        executor_output = executor_output_utils.load_executor_output(executor_input.outputs.output_file)
        outputs = {}
        for key, artifacts in executor_input.outputs.artifacts.items():
            artifact = copy.deepcopy(artifacts.artifacts[0])
            reported = executor_output.artifacts.get(key)
            if reported is not None and reported.artifacts:
                source = reported.artifacts[0]
                if source.uri:
                    artifact.uri = source.uri
                for name, value in source.metadata.fields.items():
                    artifact.metadata.fields[name].CopyFrom(value)
            outputs[key] = artifact
        return outputs


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a task log."""
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
