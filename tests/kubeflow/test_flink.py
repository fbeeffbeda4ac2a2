"""Kubeflow with the Beam stages on Flink: the session cluster and job-server manifests agree
with each other, with the installed Beam and the local cluster's Flink, and with the beam_args
the compiled spec hands every Beam task."""

from __future__ import annotations

from pathlib import Path

import apache_beam
import pytest
import tomli
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from benchmarks.flink_cluster import FLINK_MINOR, FLINK_VERSION, TASKMANAGERS
from kubeflow.compile import KFP_COMMAND, compile_pipeline
from pipeline.config import load_config
from tests.kubeflow.conftest import kubeflow_toml

FLINK = Path(__file__).resolve().parents[2] / "kubeflow" / "flink"
BEAM_ARGS = tomli.loads((FLINK / "beam_args.toml").read_text())["pipeline"]["beam_args"]


def documents() -> dict[tuple[str, str], dict]:
    found = {}
    for path in sorted(FLINK.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found[(document["kind"], document.get("metadata", {}).get("name", ""))] = document
    return found


def arg(args: list[str], name: str) -> str:
    [value] = [a.split("=", 1)[1] for a in args if a.startswith(f"{name}=")]
    return value


@pytest.mark.unit
def test_the_manifests_agree_with_beam_flink_and_the_beam_args():
    found = documents()
    assert sorted(found[("Kustomization", "")]["resources"]) == sorted(
        p.name for p in FLINK.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    flink = found[("FlinkDeployment", "clickpipe-flink")]["spec"]
    assert flink["image"].startswith(f"flink:{FLINK_VERSION}-")
    assert flink["flinkVersion"] == "v" + FLINK_MINOR.replace(".", "_")
    assert flink["taskManager"]["replicas"] == TASKMANAGERS
    containers = {c["name"]: c for c in flink["taskManager"]["podTemplate"]["spec"]["containers"]}
    pool = containers["beam-worker-pool"]
    # The SDK harness is the clickpipe image, reached by the TaskManager in its own pod.
    assert "/clickpipe:" in pool["image"]
    assert pool["command"][-1] == "apache_beam.runners.worker.worker_pool_main"
    assert arg(BEAM_ARGS, "--environment_type") == "EXTERNAL"
    assert arg(BEAM_ARGS, "--environment_config") == f"localhost:{arg(pool['args'], '--service_port')}"

    server = found[("Deployment", "clickpipe-beam-job-server")]["spec"]["template"]["spec"]["containers"][0]
    assert server["image"] == f"apache/beam_flink{FLINK_MINOR}_job_server:{apache_beam.__version__}"
    assert arg(server["args"], "--flink-master") == "clickpipe-flink-rest:8081"  # the operator's REST service
    service = found[("Service", "clickpipe-beam-job-server")]["spec"]["ports"]
    ports = {p["name"]: p["port"] for p in service}
    assert arg(BEAM_ARGS, "--job_endpoint") == f"clickpipe-beam-job-server:{ports['job']}"
    assert arg(BEAM_ARGS, "--artifact_endpoint") == f"clickpipe-beam-job-server:{ports['artifact']}"


@pytest.mark.integration
def test_every_beam_task_of_the_compiled_spec_is_pointed_at_the_flink_cluster(tmp_path):
    listed = ", ".join(f'"{a}"' for a in BEAM_ARGS)
    text = kubeflow_toml().replace("[pipeline]\n", f"[pipeline]\nbeam_args = [{listed}]\n", 1)
    (tmp_path / "kubeflow.toml").write_text(text)
    compiled = compile_pipeline(load_config(tmp_path / "kubeflow.toml"), tmp_path / "clickpipe.yaml")

    spec = json_format.ParseDict(yaml.safe_load(Path(compiled.path).read_text()), pipeline_spec_pb2.PipelineSpec())
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    tasks = 0
    for task in spec.root.dag.tasks:
        label = spec.components[spec.root.dag.tasks[task].component_ref.name].executor_label
        container = executors[label]["container"]
        if tuple(container["command"]) == KFP_COMMAND:
            tasks += 1
            assert list(container["args"])[-len(BEAM_ARGS) :] == BEAM_ARGS, task
    assert tasks >= 3
