"""Malformed requests never get a 5xx (or INTERNAL/UNKNOWN) and never stop the server.

Hand-written bad requests over raw sockets and gRPC, then a seeded, bounded fuzz of valid
bodies; after each batch the server must still answer a good request correctly. Then the
attacks of the hardening issue: error answers that copied the request, protocol errors
answered in HTML, a version number too long for int(), clients hanging up mid-answer, and a
tiny gRPC request standing for a huge tensor.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import socket
import struct
import threading
import time

import grpc
import pytest

from serving import errors
from serving.client import RestClient
from serving.server import ModelServer, ServerOptions
from serving.server_config import parse_model_server_config
from tests.serving import models

pytestmark = pytest.mark.integration

LIMIT = 64 * 1024
FUZZ_CASES = 300
SERVER_ERRORS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}


@pytest.fixture(scope="module")
def server(conformance_base):
    config = parse_model_server_config(models.conformance_config_text(conformance_base))
    options = ServerOptions(file_system_poll_wait_seconds=0, max_request_bytes=LIMIT)
    with ModelServer(model_config=config, rest_port=0, grpc_port=0, options=options) as running:
        yield running


def raw_exchange(server, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends raw bytes to the REST port; returns the answer's status, headers and body."""
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=30) as connection:
        connection.sendall(data)
        connection.shutdown(socket.SHUT_WR)
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    assert len(status_line.split()) >= 2, response[:200]
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


def raw_http(server, data: bytes) -> int:
    """Sends raw bytes to the REST port; returns the response status code."""
    return raw_exchange(server, data)[0]


def post(path: str, body: bytes, extra_headers: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra_headers}\r\n"
    ).encode() + body


def assert_still_serving(server) -> None:
    client = RestClient(server.rest_url)
    outputs = client.predict(models.MODEL_NAME, {"x": [1.5], "k": ["ab"]}, "predict_raw")
    assert float(outputs["click_probability"][0, 0]) == pytest.approx(
        models.expected_probability(2, 1.5, "ab"), rel=1e-5
    )
    client.close()


PREDICT = f"/v1/models/{models.MODEL_NAME}:predict"

MALFORMED_HTTP = [
    post(PREDICT, b"\xff\xfe\x00garbage"),
    post(PREDICT, b'{"instances": ["\\ud800"]}'),
    post(PREDICT, b'{"instances": ' + b"[" * 3000 + b"]" * 3000 + b"}"),
    post(PREDICT, b'{"instances": [' + b"1e999999," * 10 + b"1]}"),
    post(PREDICT, b'{"signature_name": "predict_raw", "instances": [{"x": 1e40, "k": "a"}]}'),
    post(PREDICT, b'{"signature_name": "predict_raw", "inputs": {"x": [[[1.0]]], "k": ["a"]}}'),
    post(PREDICT, b'{"signature_name": "predict_raw", "inputs": {"x": 1.0, "k": "a"}}'),
    post(
        PREDICT,
        b'{"signature_name": "predict_raw", '
        b'"instances": [{"x": [1.0], "k": "a"}, {"x": 1.0, "k": "b"}]}',
    ),
    post(PREDICT, b'{"signature_name": "predict_raw", "instances": [{"x": 1, "k": {"b64": 5}}]}'),
    post(PREDICT, b'{"instances": ["not a serialized example"]}'),
    post(PREDICT, b'{"signature_name": "echo", "inputs": {"image_bytes": [[["a"]]], "x": []}}'),
    post(PREDICT, b'{"signature_name": "__saved_model_init_op", "instances": [1]}'),
    post(PREDICT, b'{"instances": [{"b64": "AAAA"}, [1]]}'),
    post(
        f"/v1/models/{models.MODEL_NAME}:classify",
        b'{"signature_name": "classify", "examples": [[1]]}',
    ),
    post(
        f"/v1/models/{models.MODEL_NAME}:classify",
        b'{"signature_name": "classify", "examples": [{"x": [1.0, "a", true]}]}',
    ),
    post(
        f"/v1/models/{models.MODEL_NAME}:regress",
        b'{"signature_name": "regress", "examples": [{"x": 18446744073709551615}]}',
    ),
    post(
        f"/v1/models/{models.MODEL_NAME}:regress",
        b'{"signature_name": "regress", "context": 5, "examples": [{}]}',
    ),
    post(f"/v1/models/{models.MODEL_NAME}/versions/99999999999999999999999:predict", b"{}"),
    post(f"/v1/models/{models.MODEL_NAME}/versions/{'9' * 5000}:predict", b"{}"),
    b"GET /v1/models/conformance/versions/" + b"9" * 5000 + b" HTTP/1.1\r\n\r\n",
    post(PREDICT, b'{"signature_name": 1, "x": ' + b"[" * 1020 + b"]" * 1020 + b"}"),
    post("/v1/models/..%2F..%2Fetc%2Fpasswd:predict", b'{"instances": [1]}'),
    b"GET /v1/models/..%2F..%2Fetc HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v1/models/%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"BREW /v1/models/conformance HTTP/1.1\r\nHost: x\r\n\r\n",
    b"HEAD /v1/models/conformance HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"POST /v1/models/conformance:predict HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    b"POST /v1/models/conformance:predict HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"POST /v1/models/conformance:predict HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
    b"POST /v1/models/conformance:predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /v1/models/conformance:predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"10000\r\n" + b"a" * 100,
    b"POST /v1/models/conformance:predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'5\r\n{"in\r\n0\r\n\r\n',
]


@pytest.mark.parametrize("request_bytes", MALFORMED_HTTP, ids=range(len(MALFORMED_HTTP)))
def test_malformed_http_requests_get_4xx(server, request_bytes):
    status = raw_http(server, request_bytes)
    assert 400 <= status < 500


def test_too_large_bodies_are_413_and_chunked_bodies_work(server):
    assert raw_http(server, post(PREDICT, b" " * (LIMIT + 1))) == 413
    body = json.dumps(
        {"signature_name": "predict_raw", "instances": [{"x": 1.5, "k": "ab"}]}
    ).encode()
    chunked = (
        b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:]))
        + b"0\r\n\r\n"
    )
    request = (
        b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
    )
    assert raw_http(server, request) == 200
    assert_still_serving(server)


def _mutations(seed: int):
    """Seeded variations of valid bodies: byte flips, truncations, type swaps, key drops."""
    rng = random.Random(seed)
    example = base64.b64encode(models.example(1.5, "ab")).decode()
    valid = [
        ("predict", {"instances": [{"b64": example}]}),
        (
            "predict",
            {"signature_name": "predict_raw", "inputs": {"x": [1.5, 2.0], "k": ["a", "b"]}},
        ),
        (
            "predict",
            {"signature_name": "echo", "instances": [{"image_bytes": {"b64": "AAE="}, "x": 1.0}]},
        ),
        (
            "classify",
            {"signature_name": "classify", "context": {"k": "a"}, "examples": [{"x": 1.0}]},
        ),
        ("regress", {"signature_name": "regress", "examples": [{"x": 1.0, "k": ["a"]}]}),
    ]
    odd_values = [
        None,
        True,
        -1,
        2**70,
        1e308,
        "",
        "x" * 50,
        [],
        {},
        [[1]],
        {"b64": "%%"},
        float("nan"),
    ]

    def swap(value):
        if isinstance(value, dict) and value and rng.random() < 0.7:
            key = rng.choice(list(value))
            if rng.random() < 0.3:
                return {k: v for k, v in value.items() if k != key}
            return {**value, key: swap(value[key])}
        if isinstance(value, list) and value and rng.random() < 0.7:
            index = rng.randrange(len(value))
            return value[:index] + [swap(value[index])] + value[index + 1 :]
        return rng.choice(odd_values)

    for _ in range(FUZZ_CASES):
        verb, document = rng.choice(valid)
        if rng.random() < 0.5:
            body = json.dumps(swap(document)).encode()
        else:
            body = bytearray(json.dumps(document).encode())
            for _ in range(rng.randint(1, 4)):
                body[rng.randrange(len(body))] = rng.randrange(256)
            body = bytes(body[: rng.randint(0, len(body))]) if rng.random() < 0.3 else bytes(body)
        yield verb, body


def test_fuzzed_rest_bodies_never_get_5xx(server):
    statuses = []
    for verb, body in _mutations(seed=7):
        status = raw_http(server, post(f"/v1/models/{models.MODEL_NAME}:{verb}", body))
        assert status < 500, body
        statuses.append(status)
    assert 400 in statuses
    assert_still_serving(server)


def _rpc_code(call, request) -> grpc.StatusCode:
    try:
        call(request, timeout=30)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def test_malformed_grpc_requests_get_client_errors(server):
    import tensorflow as tf
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
    from tensorflow_serving.apis import (
        classification_pb2,
        model_management_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
    )

    channel = grpc.insecure_channel(server.grpc_target)
    prediction = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    model_service = model_service_pb2_grpc.ModelServiceStub(channel)

    def tensor(dtype: int, dims, **values):
        shape = tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
        )
        return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, **values)

    bad_tensors = [
        tensor(1, [10**12]),  # would expand to 4 TB of floats
        tensor(1, [-3]),
        tensor(0, [1], float_val=[1.0]),  # DT_INVALID
        tensor(20, [1]),  # DT_RESOURCE
        tensor(1, [4], tensor_content=b"\x00" * 7),  # content size mismatch
        tensor(7, [2], float_val=[1.0]),  # strings with float values
        tensor(1, [], float_val=[1.0]),  # scalar where a vector is expected
        tensor(1, [1, 1], float_val=[1.0]),  # rank 2 where rank 1 is expected
        tensor(9, [1], int64_val=[1]),  # int64 where float is expected
    ]
    for bad in bad_tensors:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = models.MODEL_NAME
        request.model_spec.signature_name = "predict_raw"
        request.inputs["x"].CopyFrom(bad)
        request.inputs["k"].CopyFrom(tf.make_tensor_proto([b"a"]))
        code = _rpc_code(prediction.Predict, request)
        assert code not in SERVER_ERRORS | {grpc.StatusCode.OK}, bad
    garbage_example = classification_pb2.ClassificationRequest()
    garbage_example.model_spec.name = models.MODEL_NAME
    garbage_example.model_spec.signature_name = "classify"
    garbage_example.input.example_list.examples.add().features.feature["x"].bytes_list.value.append(
        b"a"
    )
    assert _rpc_code(prediction.Classify, garbage_example) == grpc.StatusCode.INVALID_ARGUMENT
    reload = model_management_pb2.ReloadConfigRequest()
    reload.config.model_config_list.config.add(name="../evil", base_path="/tmp/x")
    assert (
        _rpc_code(model_service.HandleReloadConfigRequest, reload)
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    reload.config.model_config_list.config[0].name = "fine"
    reload.config.model_config_list.config[0].base_path = "/tmp/../etc"
    assert (
        _rpc_code(model_service.HandleReloadConfigRequest, reload)
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    huge = predict_pb2.PredictRequest()
    huge.model_spec.name = models.MODEL_NAME
    huge.inputs["examples"].CopyFrom(tf.make_tensor_proto([b"x" * (LIMIT + 1)]))
    assert _rpc_code(prediction.Predict, huge) == grpc.StatusCode.RESOURCE_EXHAUSTED
    channel.close()
    assert_still_serving(server)


def nested(depth: int, size: int) -> bytes:
    """JSON arrays `depth` deep holding ones, about `size` bytes long."""
    leaves = max((size - 2 * depth) // 2, 1)
    return b"[" * depth + b",".join([b"1"] * leaves) + b"]" * depth


# Each body makes the server quote part of it in the error (TF Serving quotes all of it).
ECHOED = {
    "nested signature_name": b'{"signature_name": ' + nested(900, LIMIT - 100) + b"}",
    "nested instances": b'{"signature_name": 1, "instances": ' + nested(900, LIMIT - 100) + b"}",
    "both formats": b'{"inputs": 1, "instances": ' + nested(200, LIMIT - 100) + b"}",
    "long string": b'{"instances": [{"b64": "' + b"A" * (LIMIT - 100) + b'", "x": 1}]}',
    "unknown label": f"/labels/{'x' * 60000}".encode(),
}


@pytest.mark.parametrize("attack", ECHOED, ids=list(ECHOED))
def test_error_answers_quote_a_bounded_part_of_the_request(server, attack):
    body = ECHOED[attack]
    if attack == "unknown label":
        request = post(f"/v1/models/{models.MODEL_NAME}{body.decode()}:predict", b"{}")
    else:
        request = post(PREDICT, body)
    status, headers, answer = raw_exchange(server, request)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert len(json.loads(answer)["error"]) <= errors.MAX_MESSAGE_CHARS
    assert len(answer) <= 2 * errors.MAX_MESSAGE_CHARS


def test_grpc_errors_quote_a_bounded_part_of_the_request(server):
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "m" * (LIMIT - 100)
    with grpc.insecure_channel(server.grpc_target) as channel, pytest.raises(grpc.RpcError) as caught:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert len(caught.value.details()) <= errors.MAX_MESSAGE_CHARS


def test_a_version_too_long_for_int_is_tf_servings_400(server):
    status, _, answer = raw_exchange(
        server, f"GET /v1/models/{models.MODEL_NAME}/versions/{'9' * 5000} HTTP/1.1\r\n\r\n".encode()
    )
    assert status == 400
    assert json.loads(answer)["error"].startswith("Failed to convert version: 9999")
    # Leading zeros are fine, as for TF Serving's SimpleAtoi, however many there are.
    status, _, answer = raw_exchange(
        server, f"GET /v1/models/{models.MODEL_NAME}/versions/{'0' * 5000}2 HTTP/1.1\r\n\r\n".encode()
    )
    assert status == 200
    assert json.loads(answer)["model_version_status"][0]["version"] == "2"


TLS_CLIENT_HELLO = bytes.fromhex("16030100a5010000a10303") + os.urandom(32) + b"\x00" * 60

PROTOCOL_ERRORS = {
    "bad HTTP version": b"GET /v1/models/conformance HTTP/9.9\r\n\r\n",
    "TLS hello": TLS_CLIENT_HELLO,
    "binary request line": b"\x00\x01\x02 / HTTP/1.1\r\n\r\n",
    "header line too long": b"GET /v1/models/conformance HTTP/1.1\r\nX-A: " + b"a" * 70000 + b"\r\n\r\n",
    "too many headers": b"GET /v1/models/conformance HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n",
    "request line too long": b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", PROTOCOL_ERRORS.values(), ids=list(PROTOCOL_ERRORS))
def test_protocol_errors_are_json_4xx(server, request_bytes):
    status, headers, answer = raw_exchange(server, request_bytes)
    assert 400 <= status < 500
    assert headers["content-type"] == "application/json"
    assert set(json.loads(answer)) == {"error"}


def _rest_connection_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "process_request_thread" in t.name]


def test_clients_hanging_up_early_log_no_traceback(server, caplog, capfd):
    body = json.dumps({"signature_name": "predict_raw", "instances": [{"x": 1.5, "k": "ab"}]})
    with caplog.at_level(logging.DEBUG, logger="clickpipe.serving"):
        for attempt in range(20):
            connection = socket.create_connection(("127.0.0.1", server.rest_port), timeout=30)
            connection.sendall(post(PREDICT, body.encode()))
            if attempt % 2:
                assert connection.recv(1)  # the answer has started
            # Reset the connection instead of closing it: the server's next read or write fails.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()
        for _ in range(3000):
            if not _rest_connection_threads():
                break
            time.sleep(0.01)
    assert not _rest_connection_threads()
    assert "Traceback" not in capfd.readouterr().err
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert any("ConnectionResetError" in r.getMessage() or "BrokenPipeError" in r.getMessage() for r in caplog.records)
    assert_still_serving(server)


def test_a_small_grpc_request_cannot_stand_for_a_huge_tensor(server):
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = models.MODEL_NAME
    request.model_spec.signature_name = "echo"
    # No values: TensorFlow fills in zeros, (LIMIT / 4 + 1) * 4 bytes of them.
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=LIMIT // 4 + 1)])
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(dtype=1, tensor_shape=shape))
    request.inputs["image_bytes"].CopyFrom(tensor_pb2.TensorProto(dtype=7, string_val=[b"a"]))
    request.inputs["image_bytes"].tensor_shape.dim.add().size = 1
    assert request.ByteSize() < 100
    with grpc.insecure_channel(server.grpc_target) as channel, pytest.raises(grpc.RpcError) as caught:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"more than the limit of {LIMIT} bytes" in caught.value.details()
    assert_still_serving(server)
