"""Compiles the clickpipe DAG to a KFP v2 pipeline spec (YAML) with TFX's KubeflowV2DagRunner.

The same `create_pipeline(config, target)` the local runner uses, built with
`RunTarget.kubeflow`, compiled without touching GCS or the network:

- schema 2.1.0 (`use_pipeline_spec_2_1`): the open-source KFP v2 driver resolves only
  `runtimeValue.constant` parameters, not the 2.0.0 `constantValue` form;
- `defaultPipelineRoot` is written into the spec (TFX leaves it out) and runs pass it again;
- tasks without input artifacts (ingestion, the production-model lookup) read the outside
  world, so their KFP cache is off: a constant cache key would replay last month's data.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubeflow.parameters import PARAMETERS, SPAN
from pipeline.config import ClickpipeConfig

# The container command of every TFX task: TFX's KFP v2 entrypoint behind `kubeflow.entrypoint`,
# which types the input artifacts the open-source KFP driver sends untyped (tensorflow/tfx#7768).
KFP_COMMAND = ("python", "-m", "kubeflow.entrypoint")
# Storage a pod in the cluster can reach; a path on this machine cannot be.
REMOTE_SCHEMES = ("gs://", "s3://", "minio://")
# What the built-in config and the docs write where your project or bucket goes.
PLACEHOLDER = re.compile(r"YOUR_[A-Z_]+")


class CompileError(ValueError):
    """The config or the DAG cannot run on Kubeflow; the message says what to fix."""


@dataclass(frozen=True)
class CompiledPipeline:
    """A compiled pipeline spec and where it was written.

    Attributes:
        path: the YAML file, the form `kfp.Client.upload_pipeline` takes.
        spec: the PipelineSpec as a dict (proto JSON names).
    """

    path: Path
    spec: dict

    @property
    def tasks(self) -> list[str]:
        """Task names of the root DAG, one per TFX node id."""
        return sorted(self.spec["root"]["dag"]["tasks"])

    @property
    def parameters(self) -> dict[str, str]:
        """Runtime parameters and their compiled defaults."""
        definitions = self.spec["root"].get("inputDefinitions", {}).get("parameters", {})
        return {name: d.get("defaultValue") for name, d in sorted(definitions.items())}


def default_output(config: ClickpipeConfig) -> Path:
    """Where `clickpipe kfp compile` writes the spec: `<kubeflow.compile_dir>/<name>.yaml`."""
    return Path(config.kubeflow.compile_dir) / f"{config.pipeline.name}.yaml"


def check_config(config: ClickpipeConfig, require_buckets: bool = True) -> None:
    """Stops a config whose data, artifacts or models would live on this machine.

    Args:
        config: the validated project config.
        require_buckets: False only where every task sees the same local folders (the
            KFP-style execution in the test suite, where TensorFlow's GCS filesystem cannot
            reach an emulator).

    Raises:
        CompileError: naming the first key that still holds a placeholder such as
            `YOUR_PROJECT` or `YOUR_BUCKET`, that is not a bucket URI, or an empty image.
    """
    locations = (
        ("kubeflow.pipeline_root", config.kubeflow.pipeline_root),
        ("dataset.source", config.dataset.source),
        ("serving.model_base_path", config.serving.model_base_path),
        ("validation.store", config.validation.store),
    )
    placeholders = (("kubeflow.image", config.kubeflow.image), ("kubeflow.host", config.kubeflow.host), *locations)
    for key, value in placeholders:
        if found := PLACEHOLDER.search(value):
            raise CompileError(
                f"{key} = {value!r} in {config.source_file or 'the config'} still holds the placeholder "
                f"{found.group()}; replace it with your own {found.group().removeprefix('YOUR_').lower()}"
            )
    for key, value in locations:
        if not require_buckets or (key == "validation.store" and not value):
            continue
        if not value.startswith(REMOTE_SCHEMES):
            raise CompileError(
                f"{key} = {value!r} in {config.source_file or 'the config'} is not a bucket URI; "
                f"on Kubeflow every pod reads and writes storage, set it to gs://BUCKET/..."
            )
    if not config.kubeflow.image:
        raise CompileError("kubeflow.image is empty; set it to the pushed clickpipe image")


def build_pipeline(config: ClickpipeConfig):
    """The TFX pipeline for Kubeflow, with the runtime parameters in place.

    Args:
        config: the validated project config.

    Returns:
        `create_pipeline(config, RunTarget.kubeflow(config))` with `span` a RuntimeParameter.

    Raises:
        CompileError: the DAG holds a Resolver node, which the open-source backend cannot run.
    """
    from tfx.dsl.components.common.resolver import Resolver
    from tfx.v1.dsl.experimental import RuntimeParameter

    from pipeline.pipeline import RunTarget, create_pipeline

    span = RuntimeParameter(name=SPAN.name, ptype=str, default=SPAN.default(config))
    target = dataclasses.replace(RunTarget.kubeflow(config), span=span)
    pipeline = create_pipeline(config, target)
    resolvers = [node.id for node in pipeline.components if isinstance(node, Resolver)]
    if resolvers:
        raise CompileError(
            f"the pipeline has Resolver nodes ({', '.join(resolvers)}); "
            "the open-source KFP v2 backend cannot execute them"
        )
    return pipeline


def compile_pipeline(
    config: ClickpipeConfig, output: Path | None = None, require_buckets: bool = True
) -> CompiledPipeline:
    """Compiles the pipeline to a KFP v2 YAML spec.

    Args:
        config: the validated project config; `kubeflow.image` becomes every task's image.
        output: the YAML file to write; defaults to `default_output(config)`.
        require_buckets: see `check_config`; `clickpipe kfp compile` always requires them.

    Returns:
        The written spec.

    Raises:
        CompileError: the config cannot run on Kubeflow (see `check_config`), the DAG has a
            Resolver, TFX refuses it, or an artifact type would not import in the container.
    """
    check_config(config, require_buckets)
    from tfx.orchestration.kubeflow.v2.kubeflow_v2_dag_runner import (
        KubeflowV2DagRunner,
        KubeflowV2DagRunnerConfig,
    )

    pipeline = build_pipeline(config)
    runner = KubeflowV2DagRunner(
        config=KubeflowV2DagRunnerConfig(
            default_image=config.kubeflow.image,
            default_commands=list(KFP_COMMAND),
            use_pipeline_spec_2_1=True,
        )
    )
    try:
        spec = runner.run(pipeline, write_out=False)["pipelineSpec"]
    except ValueError as exc:
        hint = ""
        if str(exc).startswith("Invalid custom artifact type name"):
            hint = " (a custom artifact TYPE_NAME must be 'module.Class', importable by that name)"
        raise CompileError(f"TFX cannot compile the pipeline for Kubeflow: {exc}{hint}") from None
    _check_artifact_types(spec)
    _finish_spec(spec, pipeline, config)
    path = Path(output) if output else default_output(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_header(spec, config) + yaml.safe_dump(spec, sort_keys=True))
    return CompiledPipeline(path=path, spec=spec)


def _artifact_title(artifact_type: dict) -> str:
    if "schemaTitle" in artifact_type:
        return artifact_type["schemaTitle"]
    return yaml.safe_load(artifact_type["instanceSchema"]).get("title", "tfx.Artifact")


def _check_artifact_types(spec: dict) -> None:
    """Imports every artifact class the way the TFX entrypoint will in the container.

    The entrypoint maps a `tfx.*` title to its class and imports any other title as a class
    path, so a custom type must be importable by its TYPE_NAME (e.g. `components.Foo`).
    """
    from tfx.orchestration.kubeflow.v2.compiler_utils import TITLE_TO_CLASS_PATH
    from tfx.utils import import_utils

    executors = spec["deploymentSpec"]["executors"]
    for name, component in sorted(spec["components"].items()):
        command = executors[component["executorLabel"]].get("container", {}).get("command", [])
        if tuple(command) != KFP_COMMAND:
            continue  # a container component: KFP's own launcher handles its artifacts
        for definitions in (component.get("inputDefinitions"), component.get("outputDefinitions")):
            for key, artifact in ((definitions or {}).get("artifacts") or {}).items():
                title = _artifact_title(artifact["artifactType"])
                path = TITLE_TO_CLASS_PATH.get(title, title)
                try:
                    import_utils.import_class_by_path(path)
                except (ImportError, AttributeError, ValueError):
                    raise CompileError(
                        f"{name}.{key}: artifact type {title!r} is not importable by that name, "
                        "as the Kubeflow container entrypoint will import it; give the class a "
                        "TYPE_NAME 'module.Class' that imports it"
                    ) from None


def _finish_spec(spec: dict, pipeline, config: ClickpipeConfig) -> None:
    spec["defaultPipelineRoot"] = config.kubeflow.pipeline_root
    # TFX declares runtime parameters without defaults; KFP would then require every one.
    definitions = spec["root"].setdefault("inputDefinitions", {}).setdefault("parameters", {})
    for parameter in PARAMETERS:
        if parameter.name in definitions:
            definitions[parameter.name].update(
                defaultValue=parameter.default(config),
                isOptional=True,
                description=parameter.description,
            )
    tasks = spec["root"]["dag"]["tasks"]
    for node in pipeline.components:
        if not node.inputs:
            tasks[node.id]["cachingOptions"] = {"enableCache": False}


def _header(spec: dict, config: ClickpipeConfig) -> str:
    return (
        f"# PIPELINE DEFINITION\n"
        f"# Name: {spec['pipelineInfo']['name']}\n"
        f"# Compiled by clickpipe with TFX KubeflowV2DagRunner ({spec.get('sdkVersion', '')}) "
        f"from {config.source_file or 'the built-in config'}.\n"
        f"# Image: {config.kubeflow.image}\n"
    )
