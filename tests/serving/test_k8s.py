"""The Kubernetes manifests: the official TF Serving image, on GCS, with configs that parse."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.cli import build_parser
from serving import server_config

K8S = Path(__file__).resolve().parents[2] / "serving" / "k8s"


def documents() -> dict[tuple[str, str], dict]:
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found[(document["kind"], document.get("metadata", {}).get("name", ""))] = document
    return found


def test_kustomization_lists_every_manifest():
    kustomization = documents()[("Kustomization", "")]
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_deployment_runs_the_official_image_with_flags_our_server_also_takes():
    deployment = documents()[("Deployment", "clickpipe-serving")]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("tensorflow/serving:")
    args = build_parser().parse_args(["serve", *container["args"]])
    assert (args.port, args.rest_api_port) == (8500, 8501)
    assert args.enable_batching is True
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"grpc": 8500, "http": 8501}
    mounted = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert args.model_config_file.startswith(mounted["config"] + "/")
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models/clickpipe"


def test_configmap_files_parse_as_tf_serving_text_protos():
    deployment = documents()[("Deployment", "clickpipe-serving")]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    args = build_parser().parse_args(["serve", *container["args"]])
    data = documents()[("ConfigMap", "clickpipe-serving-config")]["data"]
    for flag in (
        args.model_config_file,
        args.batching_parameters_file,
        args.monitoring_config_file,
    ):
        assert Path(flag).name in data
    config = server_config.parse_model_server_config(data[Path(args.model_config_file).name])
    [model] = config.model_config_list.config
    assert model.name == "clickpipe"
    assert model.base_path.startswith("gs://")
    batching = server_config.parse_batching_parameters(
        data[Path(args.batching_parameters_file).name]
    )
    assert batching.max_batch_size == 64
    metrics_path = server_config.parse_monitoring_config(
        data[Path(args.monitoring_config_file).name]
    )
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == metrics_path


def test_services_select_the_pods_and_expose_both_apis():
    found = documents()
    labels = found[("Deployment", "clickpipe-serving")]["spec"]["template"]["metadata"]["labels"]
    service = found[("Service", "clickpipe-serving")]
    assert service["spec"]["selector"].items() <= labels.items()
    assert {p["port"]: p["targetPort"] for p in service["spec"]["ports"]} == {
        8500: "grpc",
        8501: "http",
    }
    assert found[("Service", "clickpipe-serving-headless")]["spec"]["clusterIP"] == "None"
    account = found[("Deployment", "clickpipe-serving")]["spec"]["template"]["spec"][
        "serviceAccountName"
    ]
    assert ("ServiceAccount", account) in found
