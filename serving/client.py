"""Clients for TF Serving's REST and gRPC APIs, with one interface for both.

They speak only the public TF Serving API, so they work unchanged against the clickpipe server
and the official `tensorflow/serving` image:

    client = RestClient("http://127.0.0.1:8501")          # or GrpcClient("127.0.0.1:8500")
    outputs = client.predict("clickpipe", {"examples": [serialized_example]})
    outputs["click_probability"]                           # numpy array, shape [1, 1]

Inputs are cast to the signature's dtypes (read once from the model's metadata), so plain
Python numbers work with float32 models over gRPC too.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence

import numpy as np

DEFAULT_SIGNATURE = "serving_default"


class ServingClientError(Exception):
    """A failed call: the server's message with its gRPC code or HTTP status."""

    def __init__(self, message: str, code=None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status


def _examples(examples: Sequence) -> list[bytes]:
    return [e if isinstance(e, bytes) else e.SerializeToString() for e in examples]


def _cast(value, info) -> np.ndarray:
    from serving.servable import numpy_dtype

    if info.dtype == 7:  # DT_STRING: keep Python bytes/str objects
        array = np.asarray(value, dtype=object)
        flat = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in array.reshape(-1)]
        result = np.empty(len(flat), dtype=object)
        result[:] = flat
        return result.reshape(array.shape)
    return np.asarray(value, dtype=numpy_dtype(info.dtype))


class _Client:
    """What both clients share: metadata caching and input casting."""

    def __init__(self):
        self._signatures: dict[tuple, dict] = {}

    def metadata(self, model: str, version: int | None = None, label: str | None = None) -> dict:
        """The model's `SignatureDef`s by name."""
        raise NotImplementedError

    def status(self, model: str, version: int | None = None) -> list[dict]:
        """Every version's state, newest first."""
        raise NotImplementedError

    def signature(
        self,
        model: str,
        signature_name: str = "",
        version: int | None = None,
        label: str | None = None,
    ):
        """A signature's `SignatureDef`, cached per model, version/label and name."""
        key = (model, version, label)
        if key not in self._signatures:
            self._signatures[key] = self.metadata(model, version, label)
        name = signature_name or DEFAULT_SIGNATURE
        signatures = self._signatures[key]
        if name not in signatures:
            raise ServingClientError(
                f"model {model} has no signature {name!r}; it has {sorted(signatures)}"
            )
        return signatures[name]

    def predict(
        self,
        model: str,
        inputs: Mapping,
        signature_name: str = "",
        version: int | None = None,
        label: str | None = None,
    ) -> dict[str, np.ndarray]:
        """Predict (over REST in the columnar format); returns every output as a numpy array."""
        typed = self._typed_inputs(model, inputs, signature_name, version, label)
        return self._predict(model, typed, signature_name, version, label)

    def classify(
        self,
        model: str,
        examples: Sequence,
        signature_name: str = "",
        version: int | None = None,
        label: str | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Classify tf.Examples (protos or serialized): per example, [(label, score), ...]."""
        return self._classify(model, _examples(examples), signature_name, version, label)

    def regress(
        self,
        model: str,
        examples: Sequence,
        signature_name: str = "",
        version: int | None = None,
        label: str | None = None,
    ) -> list[float]:
        """Regress tf.Examples (protos or serialized): one value per example."""
        return self._regress(model, _examples(examples), signature_name, version, label)

    # Each client sends these its own way; `typed` inputs are cast, `raw` examples serialized.
    def _predict(self, model, typed, signature_name, version, label) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _classify(self, model, raw, signature_name, version, label) -> list[list[tuple[str, float]]]:
        raise NotImplementedError

    def _regress(self, model, raw, signature_name, version, label) -> list[float]:
        raise NotImplementedError

    def _typed_inputs(self, model, inputs, signature_name, version, label) -> dict[str, np.ndarray]:
        signature = self.signature(model, signature_name, version, label)
        return {
            key: _cast(value, signature.inputs[key])
            if key in signature.inputs
            else np.asarray(value)
            for key, value in inputs.items()
        }

    def wait_until_available(
        self, model: str, timeout: float = 60.0, version: int | None = None
    ) -> None:
        """Polls model status until a version (or `version`) is AVAILABLE.

        Raises:
            ServingClientError: not available within `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                statuses = self.status(model, version)
                if any(s["state"] == "AVAILABLE" for s in statuses):
                    return
                last = str(statuses)
            except (ServingClientError, OSError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise ServingClientError(f"model {model} not available after {timeout}s: {last}")


class _HTTPConnection(http.client.HTTPConnection):
    # http.client writes headers and body separately: without TCP_NODELAY, Nagle's algorithm
    # holds the body back until the server acknowledges the headers.
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _HTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _parse_json(data: bytes):
    import orjson

    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)  # TF Serving writes NaN and Infinity, which orjson refuses


class RestClient(_Client):
    """TF Serving's REST API (default port 8501), one keep-alive connection per thread."""

    def __init__(self, url: str = "http://127.0.0.1:8501", timeout: float = 30.0):
        super().__init__()
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"REST endpoint must look like http://HOST:PORT, got {url!r}")
        self._scheme, self._host = parsed.scheme, parsed.hostname
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self._timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            factory = _HTTPSConnection if self._scheme == "https" else _HTTPConnection
            connection = factory(self._host, self._port, timeout=self._timeout)
            self._local.connection = connection
        return connection

    def request(self, method: str, path: str, body: dict | bytes | None = None) -> dict:
        """One REST call: the JSON body, or ServingClientError with TF Serving's message.

        Args:
            method: `GET` or `POST`.
            path: e.g. `/v1/models/clickpipe:predict`.
            body: the JSON document to send, or its encoded bytes.
        """
        payload = json.dumps(body).encode("utf-8") if isinstance(body, dict) else body
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request(method, path, body=payload, headers=headers)
                response = connection.getresponse()
                data = response.read()
                break
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                BrokenPipeError,
                http.client.CannotSendRequest,
            ):
                # The server closed an idle keep-alive connection: reconnect once.
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        try:
            document = _parse_json(data) if data else {}
        except ValueError:
            document = {"error": data.decode("utf-8", "replace")}
        if response.status != 200:
            raise ServingClientError(
                document.get("error", f"HTTP {response.status}"), http_status=response.status
            )
        return document

    @staticmethod
    def _path(model: str, version: int | None, label: str | None, suffix: str = "") -> str:
        path = f"/v1/models/{urllib.parse.quote(model, safe='')}"
        if version is not None:
            path += f"/versions/{int(version)}"
        elif label is not None:
            path += f"/labels/{urllib.parse.quote(label, safe='')}"
        return path + suffix

    def status(self, model: str, version: int | None = None) -> list[dict]:
        """`[{"version": int, "state": "AVAILABLE", "error_code": "OK", "error_message": ""}]`."""
        document = self.request("GET", self._path(model, version, None))
        return [
            {
                "version": int(entry["version"]),
                "state": entry["state"],
                "error_code": entry.get("status", {}).get("error_code", "OK"),
                "error_message": entry.get("status", {}).get("error_message", ""),
            }
            for entry in document.get("model_version_status", [])
        ]

    def metadata(self, model: str, version: int | None = None, label: str | None = None) -> dict:
        """The model's `SignatureDef`s by name."""
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        document = self.request("GET", self._path(model, version, label, "/metadata"))
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        json_format.ParseDict(
            document["metadata"]["signature_def"], signature_map, ignore_unknown_fields=True
        )
        return dict(signature_map.signature_def)

    @staticmethod
    def _to_json(array: np.ndarray):
        if array.dtype == object:
            flat = [{"b64": base64.b64encode(v).decode("ascii")} for v in array.reshape(-1)]
            if array.ndim == 1:
                return flat
            return np.array(flat, dtype=object).reshape(array.shape).tolist() if array.ndim else flat[0]
        return array

    @staticmethod
    def _from_json(value, info) -> np.ndarray:
        def decode(item):
            if isinstance(item, dict) and "b64" in item:
                return base64.b64decode(item["b64"])
            return item.encode("utf-8") if isinstance(item, str) else item

        if info.dtype == 7:
            array = np.asarray(value, dtype=object)
            flat = [decode(v) for v in array.reshape(-1)]
            result = np.empty(len(flat), dtype=object)
            result[:] = flat
            return result.reshape(array.shape)
        from serving.servable import numpy_dtype

        return np.asarray(value, dtype=numpy_dtype(info.dtype))

    def _predict(self, model, typed, signature_name, version, label) -> dict[str, np.ndarray]:
        from serving.json_codec import dumps

        body = {"inputs": {key: self._to_json(value) for key, value in typed.items()}}
        if signature_name:
            body["signature_name"] = signature_name
        finite = all(np.isfinite(value).all() for value in typed.values() if value.dtype.kind in "fc")
        payload = dumps(body, finite)
        outputs = self.request("POST", self._path(model, version, label, ":predict"), payload)["outputs"]
        signature = self.signature(model, signature_name, version, label)
        if len(signature.outputs) == 1:
            outputs = {next(iter(signature.outputs)): outputs}
        return {
            key: self._from_json(value, signature.outputs[key]) for key, value in outputs.items()
        }

    @staticmethod
    def _example_json(raw: bytes) -> dict:
        from tensorflow.core.example import example_pb2

        example = example_pb2.Example.FromString(raw)
        document = {}
        for name, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            if kind == "bytes_list":
                values = []
                for value in feature.bytes_list.value:
                    try:
                        values.append(value.decode("utf-8"))
                    except UnicodeDecodeError:
                        values.append({"b64": base64.b64encode(value).decode("ascii")})
            elif kind == "float_list":
                values = [float(v) for v in feature.float_list.value]
            elif kind == "int64_list":
                values = list(feature.int64_list.value)
            else:
                values = []
            document[name] = values
        return document

    def _examples_call(self, verb: str, model, raw, signature_name, version, label) -> list:
        body = {"examples": [self._example_json(example) for example in raw]}
        if signature_name:
            body["signature_name"] = signature_name
        return self.request("POST", self._path(model, version, label, f":{verb}"), body)["results"]

    def _classify(self, model, raw, signature_name, version, label) -> list[list[tuple[str, float]]]:
        results = self._examples_call("classify", model, raw, signature_name, version, label)
        return [[(label_, float(score)) for label_, score in row] for row in results]

    def _regress(self, model, raw, signature_name, version, label) -> list[float]:
        return [float(v) for v in self._examples_call("regress", model, raw, signature_name, version, label)]

    def close(self) -> None:
        """Closes this thread's connection."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()


class GrpcClient(_Client):
    """TF Serving's gRPC API (default port 8500) with the official stubs."""

    def __init__(
        self,
        target: str = "127.0.0.1:8500",
        timeout: float = 30.0,
        max_message_bytes: int = 64 * 1024 * 1024,
    ):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        super().__init__()
        self._grpc = grpc
        self._timeout = timeout
        self._channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
            ],
        )
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self.model_service = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def call(self, method, request):
        """One RPC through a stub method; raises ServingClientError with the status."""
        try:
            return method(request, timeout=self._timeout)
        except self._grpc.RpcError as exc:
            raise ServingClientError(exc.details() or str(exc.code()), code=exc.code()) from None

    @staticmethod
    def _spec(
        spec, model: str, signature_name: str, version: int | None, label: str | None
    ) -> None:
        spec.name = model
        if signature_name:
            spec.signature_name = signature_name
        if version is not None:
            spec.version.value = int(version)
        elif label is not None:
            spec.version_label = label

    def status(self, model: str, version: int | None = None) -> list[dict]:
        """Same shape as `RestClient.status`."""
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, model, "", version, None)
        response = self.call(self.model_service.GetModelStatus, request)
        states = get_model_status_pb2.ModelVersionStatus.State
        return [
            {
                "version": entry.version,
                "state": states.Name(entry.state),
                "error_code": _error_code_name(entry.status.error_code),
                "error_message": entry.status.error_message,
            }
            for entry in response.model_version_status
        ]

    def metadata(self, model: str, version: int | None = None, label: str | None = None) -> dict:
        """The model's `SignatureDef`s by name."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, model, "", version, label)
        response = self.call(self.prediction.GetModelMetadata, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return dict(signature_map.signature_def)

    def _predict(self, model, typed, signature_name, version, label) -> dict[str, np.ndarray]:
        from tensorflow_serving.apis import predict_pb2

        from serving.protos import array_to_tensor, make_ndarray

        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, model, signature_name, version, label)
        for key, value in typed.items():
            request.inputs[key].CopyFrom(array_to_tensor(value))
        response = self.call(self.prediction.Predict, request)
        return {key: make_ndarray(tensor) for key, tensor in response.outputs.items()}

    def _examples_request(self, request, model, raw, signature_name, version, label):
        self._spec(request.model_spec, model, signature_name, version, label)
        for example in raw:
            request.input.example_list.examples.add().ParseFromString(example)
        return request

    def _classify(self, model, raw, signature_name, version, label) -> list[list[tuple[str, float]]]:
        from tensorflow_serving.apis import classification_pb2

        request = self._examples_request(
            classification_pb2.ClassificationRequest(), model, raw, signature_name, version, label
        )
        response = self.call(self.prediction.Classify, request)
        return [
            [(c.label, c.score) for c in row.classes] for row in response.result.classifications
        ]

    def _regress(self, model, raw, signature_name, version, label) -> list[float]:
        from tensorflow_serving.apis import regression_pb2

        request = self._examples_request(
            regression_pb2.RegressionRequest(), model, raw, signature_name, version, label
        )
        response = self.call(self.prediction.Regress, request)
        return [r.value for r in response.result.regressions]

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()


def _error_code_name(number: int) -> str:
    import grpc

    return next((code.name for code in grpc.StatusCode if code.value[0] == number), str(number))


def connect(endpoint: str, timeout: float = 30.0) -> RestClient | GrpcClient:
    """A client for `http(s)://host:port` (REST) or `host:port` / `grpc://host:port` (gRPC)."""
    if endpoint.startswith(("http://", "https://")):
        return RestClient(endpoint, timeout)
    return GrpcClient(endpoint.removeprefix("grpc://"), timeout)
