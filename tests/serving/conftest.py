"""Fixtures: tiny test SavedModels, and a serving endpoint (ours, or one from the environment).

Set CLICKPIPE_SERVING_REST (e.g. http://127.0.0.1:8501) and CLICKPIPE_SERVING_GRPC (e.g.
127.0.0.1:8500) to run the conformance suite against another server, such as the official
TF Serving loaded with `python -m tests.serving.models` (see docs/serving.md).
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from tests.serving import models


@dataclasses.dataclass(frozen=True)
class Endpoint:
    rest_url: str
    grpc_target: str
    model: str
    ours: bool


@pytest.fixture(scope="session")
def conformance_base(tmp_path_factory):
    """The conformance model: versions 1 and 2."""
    return models.build_model(tmp_path_factory.mktemp("conformance") / models.MODEL_NAME)


@pytest.fixture(scope="session")
def endpoint(conformance_base):
    """Where the conformance suite sends requests."""
    rest, grpc_target = (
        os.environ.get("CLICKPIPE_SERVING_REST"),
        os.environ.get("CLICKPIPE_SERVING_GRPC"),
    )
    if rest and grpc_target:
        model = os.environ.get("CLICKPIPE_SERVING_MODEL", models.MODEL_NAME)
        yield Endpoint(rest.rstrip("/"), grpc_target, model, ours=False)
        return
    from serving.server import ModelServer, ServerOptions
    from serving.server_config import parse_model_server_config

    config = parse_model_server_config(models.conformance_config_text(conformance_base))
    options = ServerOptions(
        file_system_poll_wait_seconds=0, prometheus_path="/monitoring/prometheus/metrics"
    )
    with ModelServer(model_config=config, rest_port=0, grpc_port=0, options=options) as server:
        yield Endpoint(server.rest_url, server.grpc_target, models.MODEL_NAME, ours=True)


@pytest.fixture()
def grpc_stubs(endpoint):
    """The official TF Serving stubs on the endpoint's gRPC port."""
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    channel = grpc.insecure_channel(endpoint.grpc_target)
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()
