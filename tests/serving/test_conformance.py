"""TF Serving conformance: its documented REST and gRPC behaviour, with the official stubs.

Derived from TF Serving's REST API doc (api_rest.md) and the handlers that implement it
(http_rest_api_handler.cc, json_tensor.cc, predict_util.cc, classifier.cc, regressor.cc,
get_model_status_impl.cc): status, metadata, predict in both formats, classify, regress, b64,
versions, labels and each documented error with its message and status code. The endpoint
comes from the `endpoint` fixture, so the same suite runs against a real TF Serving.
"""

from __future__ import annotations

import base64
import json
import math

import grpc
import pytest
import requests

from tests.serving import models

pytestmark = pytest.mark.integration

X, K = 1.5, "ab"


def _b64(raw: bytes) -> dict:
    return {"b64": base64.b64encode(raw).decode("ascii")}


def _p(version: int, x: float = X, k: str = K) -> float:
    return models.expected_probability(version, x, k)


@pytest.fixture()
def rest(endpoint):
    session = requests.Session()

    def call(method: str, path: str, body=None, raw: bytes | None = None):
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = session.request(method, endpoint.rest_url + path, data=data, timeout=30)
        return response.status_code, json.loads(response.text) if response.text else None

    yield call
    session.close()


@pytest.fixture()
def model_path(endpoint):
    return f"/v1/models/{endpoint.model}"


def _error(rest, method, path, body=None, raw=None) -> tuple[int, str]:
    status, document = rest(method, path, body, raw)
    assert set(document) == {"error"}, document
    return status, document["error"]


# ---- REST: model status ------------------------------------------------------------------


def test_rest_status_lists_every_version_newest_first(rest, model_path):
    status, document = rest("GET", model_path)
    assert status == 200
    assert document == {
        "model_version_status": [
            {
                "version": "2",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
        ]
    }


def test_rest_status_of_one_version(rest, model_path):
    status, document = rest("GET", f"{model_path}/versions/1")
    assert status == 200
    assert [entry["version"] for entry in document["model_version_status"]] == ["1"]


def test_rest_status_unknown_model_is_404(rest, endpoint):
    assert _error(rest, "GET", "/v1/models/no_such_model") == (
        404,
        "Could not find any versions of model no_such_model",
    )


def test_rest_status_unknown_version_is_404(rest, model_path, endpoint):
    assert _error(rest, "GET", f"{model_path}/versions/7") == (
        404,
        f"Could not find version 7 of model {endpoint.model}",
    )


def test_rest_status_without_model_name_is_400(rest):
    assert _error(rest, "GET", "/v1/models") == (400, "Missing model name in request.")


# ---- REST: metadata ----------------------------------------------------------------------


def test_rest_metadata_returns_the_signature_def_map(rest, model_path, endpoint):
    status, document = rest("GET", f"{model_path}/metadata")
    assert status == 200
    assert document["model_spec"] == {"name": endpoint.model, "signature_name": "", "version": "2"}
    signatures = document["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "predict_raw", "classify", "regress", "echo"} <= set(signatures)
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["inputs"]["examples"]["dtype"] == "DT_STRING"
    assert default["outputs"]["click_probability"]["dtype"] == "DT_FLOAT"
    assert signatures["classify"]["method_name"] == "tensorflow/serving/classify"
    assert signatures["regress"]["method_name"] == "tensorflow/serving/regress"


@pytest.mark.parametrize(
    ("suffix", "version"), [("/versions/1", "1"), ("/labels/stable", "1"), ("/labels/canary", "2")]
)
def test_rest_metadata_by_version_or_label(rest, model_path, suffix, version):
    status, document = rest("GET", f"{model_path}{suffix}/metadata")
    assert status == 200
    assert document["model_spec"]["version"] == version


# ---- REST: predict -----------------------------------------------------------------------


def test_rest_predict_row_format_with_b64_examples(rest, model_path):
    body = {"instances": [_b64(models.example(X, K)), _b64(models.example(-2.0, ""))]}
    status, document = rest("POST", f"{model_path}:predict", body)
    assert status == 200
    predictions = document["predictions"]
    assert predictions[0][0] == pytest.approx(_p(2), rel=1e-6)
    assert predictions[1][0] == pytest.approx(_p(2, -2.0, ""), rel=1e-6)


def test_rest_predict_columnar_format(rest, model_path):
    body = {"inputs": {"examples": [_b64(models.example(X, K))]}}
    status, document = rest("POST", f"{model_path}:predict", body)
    assert status == 200
    assert document["outputs"][0][0] == pytest.approx(_p(2), rel=1e-6)


def test_rest_predict_row_objects_for_several_inputs(rest, model_path):
    body = {
        "signature_name": "predict_raw",
        "instances": [{"x": X, "k": K}, {"x": 0.0, "k": "xyz"}],
    }
    status, document = rest("POST", f"{model_path}:predict", body)
    assert status == 200
    assert [row[0] for row in document["predictions"]] == pytest.approx(
        [_p(2), _p(2, 0.0, "xyz")], rel=1e-6
    )


def test_rest_predict_several_outputs_and_bytes_outputs_in_b64(rest, model_path):
    raw = b"\x89PNG\x00\xff"
    body = {"signature_name": "echo", "instances": [{"image_bytes": _b64(raw), "x": 2.5}]}
    status, document = rest("POST", f"{model_path}:predict", body)
    assert status == 200
    assert document["predictions"] == [
        {"image_bytes": _b64(raw), "length": len(raw), "x_doubled": 5.0}
    ]
    body = {"signature_name": "echo", "inputs": {"image_bytes": [_b64(raw)], "x": [2.5]}}
    status, document = rest("POST", f"{model_path}:predict", body)
    assert status == 200
    assert document["outputs"] == {
        "image_bytes": [_b64(raw)],
        "length": [len(raw)],
        "x_doubled": [5.0],
    }


def test_rest_predict_accepts_and_returns_nan(rest, model_path):
    status, document = rest(
        "POST",
        f"{model_path}:predict",
        raw=b'{"signature_name": "echo", "inputs": {"image_bytes": ["a"], "x": [NaN]}}',
    )
    assert status == 200
    assert math.isnan(document["outputs"]["x_doubled"][0])


@pytest.mark.parametrize(
    ("suffix", "version"),
    [("/versions/1", 1), ("/versions/2", 2), ("/labels/stable", 1), ("/labels/canary", 2)],
)
def test_rest_predict_by_version_and_label(rest, model_path, suffix, version):
    body = {"signature_name": "predict_raw", "instances": [{"x": X, "k": K}]}
    status, document = rest("POST", f"{model_path}{suffix}:predict", body)
    assert status == 200
    assert document["predictions"][0][0] == pytest.approx(_p(version), rel=1e-6)


# ---- REST: classify and regress ----------------------------------------------------------


def test_rest_classify(rest, model_path):
    body = {"signature_name": "classify", "examples": [{"x": X, "k": K}]}
    status, document = rest("POST", f"{model_path}:classify", body)
    assert status == 200
    [[(no_label, no_score), (yes_label, yes_score)]] = document["results"]
    assert (no_label, yes_label) == ("no_click", "click")
    assert (no_score, yes_score) == pytest.approx((1 - _p(2), _p(2)), rel=1e-5)


def test_rest_classify_with_context_shared_by_examples(rest, model_path):
    body = {"signature_name": "classify", "context": {"k": K}, "examples": [{"x": X}, {"x": 0.0}]}
    status, document = rest("POST", f"{model_path}:classify", body)
    assert status == 200
    assert [row[1][1] for row in document["results"]] == pytest.approx(
        [_p(2), _p(2, 0.0)], rel=1e-5
    )


def test_rest_regress_with_version(rest, model_path):
    body = {"signature_name": "regress", "examples": [{"x": X, "k": K}, {"x": 0.5, "k": [K]}]}
    status, document = rest("POST", f"{model_path}/versions/1:regress", body)
    assert status == 200
    assert document["results"] == pytest.approx([_p(1), _p(1, 0.5)], rel=1e-5)


# ---- REST: documented errors -------------------------------------------------------------


def test_rest_unknown_model_is_404_servable_not_found(rest):
    assert _error(rest, "POST", "/v1/models/no_such_model:predict", {"instances": [1.0]}) == (
        404,
        "Servable not found for request: Latest(no_such_model)",
    )


def test_rest_unknown_version_is_404(rest, model_path, endpoint):
    assert _error(rest, "POST", f"{model_path}/versions/7:predict", {"instances": [1.0]}) == (
        404,
        f"Servable not found for request: Specific({endpoint.model}, 7)",
    )


def test_rest_unknown_label_is_400(rest, model_path):
    assert _error(rest, "POST", f"{model_path}/labels/nope:predict", {"instances": [1.0]}) == (
        400,
        "Unrecognized servable version label: nope",
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "JSON Parse error: The document is empty"),
        (b'{"instances": [1.0', "JSON Parse error"),
        (b"[1, 2]", "Is not object"),
        (
            b'{"signature_name": 5, "instances": [1]}',
            "'signature_name' key must be a string value.",
        ),
        (
            b'{"instances": [1], "inputs": [1]}',
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist",
        ),
        (b'{"signature_name": "serving_default"}', "Missing 'inputs' or 'instances' key"),
        (b'{"instances": []}', "No values in 'instances' array"),
        (b'{"instances": 5}', "Excepting 'instances' to be an list/array"),
        (
            b'{"signature_name": "nope", "instances": [1]}',
            'Serving signature name: "nope" not found in signature def',
        ),
        (
            b'{"signature_name": "predict_raw", "instances": [{"x": "abc", "k": "a"}]}',
            "is not of expected type: float",
        ),
        (
            b'{"signature_name": "predict_raw", "instances": [{"x": 1.0}]}',
            "keys must be equal to: k,x",
        ),
        (
            b'{"signature_name": "predict_raw", "instances": [1.0, 2.0]}',
            "instances is a plain list, but expecting list of objects as multiple input tensors",
        ),
        (
            b'{"signature_name": "predict_raw", "inputs": {"x": [1.0]}}',
            "Missing named input: k in 'inputs' object.",
        ),
        (
            b'{"signature_name": "predict_raw", "inputs": {"x": [16777217], "k": ["a"]}}',
            "Cannot convert JSON value: 16777217 to float without loss of precision.",
        ),
        (b'{"instances": [{"b64": "!!not base64!!"}]}', "Unable to base64 decode"),
    ],
)
def test_rest_predict_bad_bodies_are_400_with_tf_serving_messages(rest, model_path, raw, message):
    status, error = _error(rest, "POST", f"{model_path}:predict", raw=raw)
    assert status == 400
    assert message in error


@pytest.mark.parametrize(
    ("verb", "body", "message"),
    [
        (
            "classify",
            {"examples": [{"x": 1.0}]},
            "Expected classification signature method_name to be tensorflow/serving/classify. "
            "Was: tensorflow/serving/predict",
        ),
        (
            "regress",
            {"signature_name": "classify", "examples": [{"x": 1.0}]},
            "Expected regression signature method_name to be tensorflow/serving/regress. "
            "Was: tensorflow/serving/classify",
        ),
        (
            "classify",
            {"signature_name": "classify"},
            "key 'examples' is expected and was not found",
        ),
        (
            "classify",
            {"signature_name": "classify", "examples": []},
            "'examples' value is an empty array",
        ),
        (
            "classify",
            {"signature_name": "classify", "examples": [{"x": None}]},
            "Feature: x has element with unexpected JSON type: Null",
        ),
        (
            "regress",
            {"signature_name": "nope", "examples": [{"x": 1.0}]},
            "No signature was found with the name: nope",
        ),
    ],
)
def test_rest_classify_regress_errors_are_400(rest, model_path, verb, body, message):
    status, error = _error(rest, "POST", f"{model_path}:{verb}", body)
    assert status == 400
    assert message in error


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", "/versions/abc"),
        ("POST", ""),
        ("DELETE", ""),
        ("PUT", ":predict"),
        ("POST", ":explain"),
    ],
)
def test_rest_malformed_paths_and_methods_are_400(rest, model_path, method, suffix):
    status, error = _error(rest, method, model_path + suffix, {"instances": [1]})
    assert status == 400
    assert error == f"Malformed request: {method} {model_path}{suffix}"


# ---- gRPC --------------------------------------------------------------------------------


def _predict_request(endpoint, signature="", version=None, label=None):
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = endpoint.model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    return request


def _raw_inputs(request, x=(X,), k=(K,)):
    import tensorflow as tf

    request.inputs["x"].CopyFrom(tf.make_tensor_proto(list(x), dtype=tf.float32))
    request.inputs["k"].CopyFrom(tf.make_tensor_proto([v.encode() for v in k]))
    return request


def _rpc_error(call, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=30)
    return caught.value.code(), caught.value.details()


def test_grpc_get_model_status(grpc_stubs, endpoint):
    from tensorflow_serving.apis import get_model_status_pb2

    _, model_service = grpc_stubs
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = endpoint.model
    response = model_service.GetModelStatus(request, timeout=30)
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert [(s.version, s.state, s.status.error_code) for s in response.model_version_status] == [
        (2, available, 0),
        (1, available, 0),
    ]
    request.model_spec.name = "no_such_model"
    assert _rpc_error(model_service.GetModelStatus, request) == (
        grpc.StatusCode.NOT_FOUND,
        "Could not find any versions of model no_such_model",
    )


def test_grpc_get_model_metadata(grpc_stubs, endpoint):
    from tensorflow_serving.apis import get_model_metadata_pb2

    prediction, _ = grpc_stubs
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = endpoint.model
    request.model_spec.version_label = "stable"
    response = prediction.GetModelMetadata(request, timeout=30)
    assert (response.model_spec.name, response.model_spec.version.value) == (endpoint.model, 1)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert signatures.signature_def["predict_raw"].inputs["x"].dtype == 1  # DT_FLOAT
    del request.metadata_field[:]
    assert _rpc_error(prediction.GetModelMetadata, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "GetModelMetadataRequest must specify at least one metadata_field",
    )


@pytest.mark.parametrize(
    ("version", "label", "expected"),
    [(None, None, 2), (1, None, 1), (None, "stable", 1), (None, "canary", 2)],
)
def test_grpc_predict_by_version_and_label(grpc_stubs, endpoint, version, label, expected):
    import tensorflow as tf

    prediction, _ = grpc_stubs
    request = _raw_inputs(_predict_request(endpoint, "predict_raw", version, label))
    response = prediction.Predict(request, timeout=30)
    assert response.model_spec.name == endpoint.model
    assert response.model_spec.version.value == expected
    assert response.model_spec.signature_name == "predict_raw"
    assert tf.make_ndarray(response.outputs["click_probability"])[0, 0] == pytest.approx(
        _p(expected), rel=1e-6
    )


def test_grpc_predict_default_signature_and_output_filter(grpc_stubs, endpoint):
    import tensorflow as tf

    prediction, _ = grpc_stubs
    request = _predict_request(endpoint)
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto([models.example(X, K)]))
    response = prediction.Predict(request, timeout=30)
    assert response.model_spec.signature_name == "serving_default"
    assert tf.make_ndarray(response.outputs["click_probability"]).shape == (1, 1)
    request = _predict_request(endpoint, "echo")
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([b"abc"]))
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0], dtype=tf.float32))
    request.output_filter.append("length")
    response = prediction.Predict(request, timeout=30)
    assert set(response.outputs) == {"length"}
    assert tf.make_ndarray(response.outputs["length"]).tolist() == [3]


def test_grpc_classify_and_regress(grpc_stubs, endpoint):
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    prediction, _ = grpc_stubs
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = endpoint.model
    request.model_spec.signature_name = "classify"
    request.input.example_list.examples.add().ParseFromString(models.example(X, K))
    response = prediction.Classify(request, timeout=30)
    assert response.model_spec.version.value == 2
    [classes] = response.result.classifications
    assert [(c.label, c.score) for c in classes.classes] == [
        ("no_click", pytest.approx(1 - _p(2), rel=1e-5)),
        ("click", pytest.approx(_p(2), rel=1e-5)),
    ]
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = endpoint.model
    request.model_spec.signature_name = "regress"
    request.model_spec.version.value = 1
    context = request.input.example_list_with_context
    context.context.ParseFromString(models.example(0.0, K))
    context.examples.add().features.feature["x"].float_list.value.append(X)
    response = prediction.Regress(request, timeout=30)
    assert [r.value for r in response.result.regressions] == [pytest.approx(_p(1), rel=1e-5)]


def test_grpc_documented_errors(grpc_stubs, endpoint):
    import tensorflow as tf
    from tensorflow_serving.apis import classification_pb2, predict_pb2

    prediction, _ = grpc_stubs
    assert _rpc_error(prediction.Predict, predict_pb2.PredictRequest()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing ModelSpec",
    )
    unknown = _predict_request(endpoint)
    unknown.model_spec.name = "no_such_model"
    assert _rpc_error(prediction.Predict, unknown) == (
        grpc.StatusCode.NOT_FOUND,
        "Servable not found for request: Latest(no_such_model)",
    )
    assert _rpc_error(prediction.Predict, _predict_request(endpoint, version=7)) == (
        grpc.StatusCode.NOT_FOUND,
        f"Servable not found for request: Specific({endpoint.model}, 7)",
    )
    assert _rpc_error(prediction.Predict, _predict_request(endpoint, label="nope")) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Unrecognized servable version label: nope",
    )
    assert _rpc_error(prediction.Predict, _predict_request(endpoint, "nope")) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        'Serving signature key "nope" not found.',
    )
    code, message = _rpc_error(prediction.Predict, _predict_request(endpoint, "predict_raw"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message.startswith("input size does not match signature: 0!=2")
    wrong_dtype = _predict_request(endpoint, "predict_raw")
    wrong_dtype.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0], dtype=tf.float64))
    wrong_dtype.inputs["k"].CopyFrom(tf.make_tensor_proto([b"a"]))
    code, message = _rpc_error(prediction.Predict, wrong_dtype)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "to be float but double is provided" in message
    filtered = _raw_inputs(_predict_request(endpoint, "predict_raw"))
    filtered.output_filter.append("nope")
    code, message = _rpc_error(prediction.Predict, filtered)
    assert (code, message.split(" Outputs")[0]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "output tensor alias not found in signature: nope",
    )
    empty = classification_pb2.ClassificationRequest()
    empty.model_spec.name = endpoint.model
    empty.model_spec.signature_name = "classify"
    code, message = _rpc_error(prediction.Classify, empty)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "Input is empty" in message
