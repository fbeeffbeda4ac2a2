"""The assembled server: lifecycle, loopback binding, metrics, request log, warmup, batching."""

from __future__ import annotations

import concurrent.futures
import shutil

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from prometheus_client.parser import text_string_to_metric_families

from serving import warmup
from serving.client import GrpcClient, RestClient, ServingClientError
from serving.manager import State
from serving.metrics import UNKNOWN_MODEL
from serving.server import ModelServer, ServerOptions
from serving.server_config import BatchingOptions, ServingConfigError
from tests.serving import models

pytestmark = pytest.mark.integration
METRICS = "/monitoring/prometheus/metrics"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return models.build_model(tmp_path_factory.mktemp("template") / "m", versions=(1,))


@pytest.fixture()
def base(template, tmp_path):
    shutil.copytree(template / "1", tmp_path / "m" / "1")
    return tmp_path / "m"


def serve(base, **options) -> ModelServer:
    options.setdefault("file_system_poll_wait_seconds", 0)
    return ModelServer(str(base), "m", rest_port=0, grpc_port=0, options=ServerOptions(**options))


def samples(server) -> dict:
    """Parsed metric samples by (name, labels); counters under their family name."""
    text = requests.get(server.rest_url + METRICS, timeout=30).text
    return {
        (
            family.name if family.type == "counter" else s.name,
            tuple(sorted(s.labels.items())),
        ): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_binds_to_loopback_on_ephemeral_ports_by_default(base):
    with serve(base) as server:
        assert server.rest_url.startswith("http://127.0.0.1:") and server.rest_port > 0
        assert server.grpc_target.startswith("127.0.0.1:") and server.grpc_port > 0
        assert RestClient(server.rest_url).status("m")[0]["state"] == "AVAILABLE"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.rest_url}/v1/models/m", timeout=5)


def test_the_models_are_given_one_way_only(base, tmp_path):
    with pytest.raises(ServingConfigError, match="either --model_name with --model_base_path"):
        ModelServer(str(base), "m", model_config_file=tmp_path / "x.config")
    with pytest.raises(ServingConfigError, match="go together"):
        ModelServer(str(base))


def test_metrics_count_requests_by_status_under_tf_serving_names(base):
    with serve(base, prometheus_path=METRICS) as server:
        client = RestClient(server.rest_url)
        client.predict("m", {"x": [1.0], "k": ["a"]}, "predict_raw")
        client.predict("m", {"x": [2.0], "k": ["b"]}, "predict_raw")
        requests.post(f"{server.rest_url}/v1/models/m:predict", data=b"{", timeout=30)
        GrpcClient(server.grpc_target).classify("m", [models.example(1.0, "a")] * 3, "classify")
        found = samples(server)
        text = requests.get(server.rest_url + METRICS, timeout=30).text
    assert ':tensorflow:serving:request_count{model_name="m",status="OK"} 3\n' in text
    count = ":tensorflow:serving:request_count"
    assert found[(count, (("model_name", "m"), ("status", "OK")))] == 3
    assert found[(count, (("model_name", "m"), ("status", "INVALID_ARGUMENT")))] == 1
    latency = ":tensorflow:serving:request_latency_count"
    assert (
        found[
            (
                latency,
                (("API", "Predict"), ("entrypoint", "REST"), ("model_name", "m"), ("status", "OK")),
            )
        ]
        == 2
    )
    assert (
        found[
            (
                latency,
                (
                    ("API", "Classify"),
                    ("entrypoint", "GRPC"),
                    ("model_name", "m"),
                    ("status", "OK"),
                ),
            )
        ]
        == 1
    )
    assert found[(":tensorflow:serving:request_example_count", (("model", "m"),))] == 3
    loads = ":tensorflow:cc:saved_model:load_attempt_count"
    assert found[(loads, (("model_path", str(base / "1")), ("status", "success")))] == 1


def test_requests_for_unknown_models_share_one_metrics_label(base):
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    with serve(base, prometheus_path=METRICS) as server:
        session = requests.Session()
        session.post(f"{server.rest_url}/v1/models/m:predict", data=b"{", timeout=30)
        first = len(session.get(server.rest_url + METRICS, timeout=30).content)
        for i in range(300):
            session.post(f"{server.rest_url}/v1/models/made-up-{i}:predict", data=b"{}", timeout=30)
        with grpc.insecure_channel(server.grpc_target) as channel:
            predict = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict
            for i in range(50):
                request = predict_pb2.PredictRequest()
                request.model_spec.name = f"grpc-made-up-{i}"
                with pytest.raises(grpc.RpcError):
                    predict(request, timeout=30)
        text = session.get(server.rest_url + METRICS, timeout=30).text
        found = samples(server)
    assert "made-up" not in text
    count = ":tensorflow:serving:request_count"
    assert found[(count, (("model_name", UNKNOWN_MODEL), ("status", "NOT_FOUND")))] == 350
    assert found[(count, (("model_name", "m"), ("status", "INVALID_ARGUMENT")))] == 1
    # One more label set per family that had none: the size no longer grows with the names.
    assert len(text) < 3 * first


def test_metrics_are_off_without_a_monitoring_config(base):
    with serve(base) as server:
        response = requests.get(server.rest_url + METRICS, timeout=30)
    assert response.status_code == 404


def test_sampled_requests_are_written_as_tf_examples(base, tmp_path):
    log_dir = tmp_path / "request-log"
    with serve(base, request_log_dir=str(log_dir), request_log_sampling_rate=1.0) as server:
        rest, rpc = RestClient(server.rest_url), GrpcClient(server.grpc_target)
        rest.predict("m", {"examples": [models.example(1.0, "a")]})
        rpc.predict("m", {"x": [2.0, 3.0], "k": ["b", "c"]}, "predict_raw")
        rest.regress("m", [models.example(4.0, "d")], "regress")
    files = sorted((log_dir / "m" / "1").glob("*.tfrecord"))
    assert len(files) == 1 and not list(log_dir.rglob("*.tmp"))
    examples = [
        tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(files[0]))
    ]
    rows = sorted(
        (e.features.feature["x"].float_list.value[0], e.features.feature["k"].bytes_list.value[0])
        for e in examples
    )
    assert rows == [(1.0, b"a"), (2.0, b"b"), (3.0, b"c"), (4.0, b"d")]


def test_no_samples_are_written_at_rate_zero(base, tmp_path):
    with serve(
        base, request_log_dir=str(tmp_path / "log"), request_log_sampling_rate=0.0
    ) as server:
        RestClient(server.rest_url).predict("m", {"examples": [models.example(1.0, "a")]})
    assert not list((tmp_path / "log").rglob("*.tfrecord"))


def test_warmup_records_are_replayed_and_a_failing_one_fails_the_load(template, tmp_path):
    good = warmup.predict_log(
        {"x": np.array([1.0], np.float32), "k": np.array([b"a"], object)}, "predict_raw"
    )
    base = tmp_path / "m"
    shutil.copytree(template / "1", base / "1")
    warmup.write_warmup_requests(
        str(base / "1"), [good, warmup.classify_log([models.example(1.0, "a")], "classify")]
    )
    assert len(warmup.read_warmup_records(str(base / "1"))) == 2
    with serve(base, file_system_poll_wait_seconds=0) as server:
        assert server.model_status("m")[0].state == State.AVAILABLE
        shutil.copytree(template / "1", base / "2")
        warmup.write_warmup_requests(
            str(base / "2"), [warmup.predict_log({"x": np.zeros(1)}, "no_such_signature")]
        )
        server.manager.poll_once()
        [failed] = server.manager.status("m", 2)
        assert failed.state == State.END
        assert failed.error.code == grpc.StatusCode.FAILED_PRECONDITION
        assert 'Serving signature key "no_such_signature" not found.' in failed.error.message
        assert RestClient(server.rest_url).status("m", 1)[0]["state"] == "AVAILABLE"
    with serve(base, enable_model_warmup=False) as server:
        assert server.model_status("m")[0].version == 2
    with pytest.raises(ValueError, match="1 to 1000 records"):
        warmup.write_warmup_requests(str(tmp_path / "x"), [good] * 1001)


def test_batching_server_answers_each_request_with_its_own_rows(base):
    options = BatchingOptions(max_batch_size=16, batch_timeout_micros=20_000, num_batch_threads=1)
    with serve(base, batching=options, prometheus_path=METRICS) as server:
        client = GrpcClient(server.grpc_target)
        client.signature("m", "predict_raw")
        xs = [float(i) for i in range(40)]

        def one(x: float) -> float:
            outputs = client.predict("m", {"x": [x], "k": ["ab"]}, "predict_raw")
            return float(outputs["click_probability"][0, 0])

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(one, xs))
        found = samples(server)
    assert answers == pytest.approx([models.expected_probability(1, x, "ab") for x in xs], rel=1e-5)
    batches = found[
        (":tensorflow:serving:batching_session:processed_batch_size_count", (("model_name", "m"),))
    ]
    assert batches < len(xs)


def test_reload_config_over_grpc_applies_labels(base):
    from tensorflow_serving.apis import model_management_pb2

    with serve(base) as server:
        client = GrpcClient(server.grpc_target)
        request = model_management_pb2.ReloadConfigRequest()
        model = request.config.model_config_list.config.add(name="m", base_path=str(base))
        model.version_labels["stable"] = 1
        response = client.call(client.model_service.HandleReloadConfigRequest, request)
        assert response.status.error_code == 0
        assert client.metadata("m", label="stable")["predict_raw"].inputs["x"].dtype == 1
        model.version_labels["stable"] = 9
        with pytest.raises(ServingClientError) as caught:
            client.call(client.model_service.HandleReloadConfigRequest, request)
        assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
        # The refused change keeps the previous label.
        outputs = client.predict("m", {"x": [1.0], "k": ["a"]}, "predict_raw", label="stable")
        assert float(outputs["click_probability"][0, 0]) == pytest.approx(
            models.expected_probability(1, 1.0, "a"), rel=1e-5
        )
