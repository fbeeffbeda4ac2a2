"""TF Serving's gRPC API (port 8500): `PredictionService` and `ModelService`.

The servicers subclass the official base classes from tensorflow-serving-api, so any TF Serving
stub talks to them. Checks run in TF Serving's order (`predict_impl.cc`,
`classification_service.cc`, `get_model_metadata_impl.cc`, `model_service_impl.cc`) and fail
with its status codes and messages.

Limits: at most `grpc_max_concurrent_rpcs` RPCs at once (more get gRPC's RESOURCE_EXHAUSTED),
every request reserves its bytes in the shared `ByteBudget` while it is answered (waiting up to
its deadline), and a Predict's input tensors may not take more than `max_tensor_bytes`.
"""

from __future__ import annotations

import functools
import logging
import time
from concurrent import futures

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving import errors, protos
from serving.errors import ServingError
from serving.limits import ByteBudget
from serving.manager import ModelManager
from serving.metrics import Metrics
from serving.request_log import RequestLogger
from serving.server_config import ServingConfigError

log = logging.getLogger("clickpipe.serving")
SIGNATURE_DEF_FIELD = "signature_def"


def _rpc(api: str = ""):
    """Turns ServingErrors into gRPC statuses and records request metrics for `api`."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, request, context):
            started = time.perf_counter()
            status = "OK"
            try:
                with self._budget.reserve(request.ByteSize(), context.time_remaining()):
                    return method(self, request, context)
            except ServingError as exc:
                status = exc.code_name
                context.abort(exc.code, exc.message)
            except Exception as exc:  # noqa: BLE001 - a bug must answer INTERNAL, not crash the RPC
                log.exception("gRPC %s failed", method.__name__)
                status = "INTERNAL"
                context.abort(grpc.StatusCode.INTERNAL, errors.bounded(f"Internal error: {exc}"))
            finally:
                if api:
                    latency_us = (time.perf_counter() - started) * 1e6
                    self._metrics.request(request.model_spec.name, api, "GRPC", status, latency_us)

        return wrapper

    return decorate


def _require_model_spec(request) -> None:
    if not request.HasField("model_spec"):
        raise errors.invalid_argument("Missing ModelSpec")


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress and GetModelMetadata over a `ModelManager`."""

    def __init__(
        self,
        manager: ModelManager,
        metrics: Metrics,
        request_log: RequestLogger | None,
        budget: ByteBudget,
        max_tensor_bytes: int,
    ):
        self._manager = manager
        self._metrics = metrics
        self._request_log = request_log
        self._budget = budget
        self._max_tensor_bytes = max_tensor_bytes

    def _resolve(self, spec):
        if not spec.name:
            raise errors.invalid_argument("ModelSpec has no name specified.")
        choice = spec.WhichOneof("version_choice")
        return self._manager.resolve(
            spec.name,
            spec.version.value if choice == "version" else None,
            spec.version_label if choice == "version_label" else None,
        )

    def _sample(self) -> bool:
        return self._request_log is not None and self._request_log.sampled()

    @_rpc("Predict")
    def Predict(self, request, context):  # noqa: N802 - gRPC method name
        """Runs a signature on tensors (`PredictRequest` -> `PredictResponse`)."""
        _require_model_spec(request)
        servable = self._resolve(request.model_spec)
        name = servable.predict_signature(
            request.model_spec.signature_name, list(request.output_filter)
        )
        servable.check_input_names(name, request.inputs.keys())
        inputs = protos.request_inputs(request.inputs, self._max_tensor_bytes)
        started = time.perf_counter()
        name, outputs = servable.predict(name, inputs, list(request.output_filter))
        self._metrics.runtime(servable.name, "Predict", (time.perf_counter() - started) * 1e6)
        if self._sample():
            self._request_log.log_inputs(servable.name, servable.version, inputs)
        response = predict_pb2.PredictResponse()
        protos.fill_model_spec(response.model_spec, servable.name, servable.version, name)
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(protos.array_to_tensor(value))
        return response

    def _examples(self, request):
        _require_model_spec(request)
        servable = self._resolve(request.model_spec)
        examples = protos.input_to_examples(request.input)
        self._metrics.examples(servable.name, len(examples))
        if examples and self._sample():
            self._request_log.log_examples(servable.name, servable.version, examples)
        return servable, examples

    @_rpc("Classify")
    def Classify(self, request, context):  # noqa: N802 - gRPC method name
        """Runs a classify signature on tf.Examples."""
        servable, examples = self._examples(request)
        name, classes, scores = servable.classify(request.model_spec.signature_name, examples)
        response = classification_pb2.ClassificationResponse()
        protos.fill_model_spec(response.model_spec, servable.name, servable.version, name)
        reference = classes if classes is not None else scores
        for row in range(reference.shape[0]):
            classifications = response.result.classifications.add()
            for column in range(reference.shape[1]):
                entry = classifications.classes.add()
                if classes is not None:
                    entry.label = bytes(classes[row, column]).decode("utf-8", "replace")
                if scores is not None:
                    entry.score = float(scores[row, column])
        return response

    @_rpc("Regress")
    def Regress(self, request, context):  # noqa: N802 - gRPC method name
        """Runs a regress signature on tf.Examples."""
        servable, examples = self._examples(request)
        name, values = servable.regress(request.model_spec.signature_name, examples)
        response = regression_pb2.RegressionResponse()
        protos.fill_model_spec(response.model_spec, servable.name, servable.version, name)
        for value in values.tolist():
            response.result.regressions.add().value = value
        return response

    @_rpc()
    def MultiInference(self, request, context):  # noqa: N802 - gRPC method name
        """Not offered: answers UNIMPLEMENTED."""
        raise errors.unimplemented("MultiInference is not supported by the clickpipe model server")

    @_rpc()
    def GetModelMetadata(self, request, context):  # noqa: N802 - gRPC method name
        """The `signature_def` map of a version."""
        _require_model_spec(request)
        if not request.metadata_field:
            raise errors.invalid_argument(
                "GetModelMetadataRequest must specify at least one metadata_field"
            )
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise errors.invalid_argument(f"Metadata field {field} is not supported")
        return protos.metadata_response(self._resolve(request.model_spec))


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus and HandleReloadConfigRequest over a `ModelManager`."""

    def __init__(self, manager: ModelManager, metrics: Metrics, budget: ByteBudget):
        self._manager = manager
        self._metrics = metrics
        self._budget = budget

    @_rpc()
    def GetModelStatus(self, request, context):  # noqa: N802 - gRPC method name
        """Every version's state, or one version's."""
        _require_model_spec(request)
        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None
        return protos.status_response(self._manager.status(spec.name, version))

    @_rpc()
    def HandleReloadConfigRequest(self, request, context):  # noqa: N802 - gRPC method name
        """Switches to a new `ModelServerConfig` (model_config_list only)."""
        if request.config.WhichOneof("config") != "model_config_list":
            raise errors.invalid_argument(
                "ServerModelConfig type not supported by HandleReloadConfigRequest. Only "
                "ModelConfigList is currently supported"
            )
        try:
            self._manager.reload_config(request.config)
        except ServingConfigError as exc:
            raise errors.invalid_argument(str(exc)) from None
        return model_management_pb2.ReloadConfigResponse()


class GrpcServer:
    """The two services on `host:port` (port 0 picks a free port)."""

    def __init__(
        self,
        prediction: PredictionService,
        model: ModelService,
        host: str,
        port: int,
        max_workers: int,
        max_message_bytes: int,
        max_concurrent_rpcs: int,
    ):
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
        ]
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers, thread_name_prefix="grpc"),
            options=options,
            maximum_concurrent_rpcs=max_concurrent_rpcs,
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            prediction, self._server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(model, self._server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.port = self._server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot listen for gRPC on {address}")

    def start(self) -> None:
        """Starts answering RPCs."""
        self._server.start()

    def stop(self, grace: float = 1.0) -> None:
        """Stops, letting RPCs in flight finish within `grace` seconds."""
        self._server.stop(grace).wait()
