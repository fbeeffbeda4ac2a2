"""Limits on concurrent work: connections, idle time, request bytes in flight, gRPC calls.

The server answers what it refuses with TF Serving's RESOURCE_EXHAUSTED (REST 429, JSON body)
and keeps serving. Clients here hold connections open on purpose: idle, mid-request, or
sending a body a byte at a time so that it keeps its share of the bytes budget.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import grpc
import pytest

from serving import errors
from serving.client import RestClient
from serving.limits import ByteBudget
from serving.server import ModelServer, ServerOptions, schedulable_cpus
from serving.server_config import ServingConfigError, parse_model_server_config
from tests.serving import models

LIMIT = 64 * 1024
PREDICT = f"/v1/models/{models.MODEL_NAME}:predict"


@pytest.mark.unit
def test_the_byte_budget_refuses_what_does_not_fit_in_time():
    budget = ByteBudget(100)
    with budget.reserve(60, timeout=None):
        with pytest.raises(errors.ServingError) as caught, budget.reserve(41, timeout=0):
            pass
        assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "60 of at most 100 are taken and this request needs 41" in caught.value.message
        with budget.reserve(40, timeout=0):
            pass
    with budget.reserve(100, timeout=0):
        pass


@pytest.mark.unit
def test_limits_default_to_tf_servings_values_and_are_checked():
    options = ServerOptions()
    assert options.rest_api_num_threads == 4 * schedulable_cpus()
    assert options.rest_api_timeout_in_ms == 30_000
    assert (options.max_num_load_retries, options.load_retry_interval_micros) == (5, 60_000_000)
    assert options.inflight_request_bytes == 2 * options.max_request_bytes == 32 * 1024 * 1024
    assert ServerOptions(max_request_bytes=4 * LIMIT).inflight_request_bytes == 8 * LIMIT
    with pytest.raises(ServingConfigError, match="--max_inflight_request_bytes"):
        ServerOptions(max_request_bytes=LIMIT, max_inflight_request_bytes=LIMIT - 1)
    with pytest.raises(ServingConfigError, match="--rest_api_timeout_in_ms must be at least 1"):
        ServerOptions(rest_api_timeout_in_ms=0)


def serve(conformance_base, **options) -> ModelServer:
    config = parse_model_server_config(models.conformance_config_text(conformance_base))
    options = ServerOptions(file_system_poll_wait_seconds=0, max_request_bytes=LIMIT, **options)
    return ModelServer(model_config=config, rest_port=0, grpc_port=0, options=options)


def connection_threads() -> list[threading.Thread]:
    """The REST server's threads, one per open connection."""
    return [t for t in threading.enumerate() if "process_request_thread" in t.name]


def wait_until(condition, what: str) -> None:
    for _ in range(3000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")


def read_answer(connection: socket.socket) -> tuple[int, dict]:
    """Status and JSON body of the answer on `connection`, read until the server closes it."""
    data = b""
    while chunk := connection.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def assert_still_serving(server) -> None:
    client = RestClient(server.rest_url)
    outputs = client.predict(models.MODEL_NAME, {"x": [1.5], "k": ["ab"]}, "predict_raw")
    assert float(outputs["click_probability"][0, 0]) == pytest.approx(
        models.expected_probability(2, 1.5, "ab"), rel=1e-5
    )
    client.close()


@pytest.mark.integration
def test_connections_past_the_limit_get_429_without_a_thread(conformance_base):
    with serve(conformance_base, rest_api_max_connections=4) as server:
        address = ("127.0.0.1", server.rest_port)
        idle = [socket.create_connection(address, timeout=30) for _ in range(4)]
        wait_until(lambda: len(connection_threads()) == 4, "a thread per allowed connection")
        for _ in range(6):
            with socket.create_connection(address, timeout=30) as extra:
                status, body = read_answer(extra)
            assert status == 429
            assert body == {"error": "Too many open connections (at most 4); try again later"}
        assert len(connection_threads()) == 4
        for connection in idle:
            connection.close()
        wait_until(lambda: not connection_threads(), "the closed connections' threads to end")
        assert_still_serving(server)


@pytest.mark.integration
def test_idle_and_stalled_connections_are_closed(conformance_base):
    with serve(conformance_base, rest_api_timeout_in_ms=200) as server:
        address = ("127.0.0.1", server.rest_port)
        stalled = [
            b"",  # nothing at all
            b"GET /v1/models/conf",  # half a request line
            f"POST {PREDICT} HTTP/1.1\r\nContent-Length: 100\r\n\r\n{{".encode(),  # half a body
        ]
        connections = [socket.create_connection(address, timeout=30) for _ in stalled]
        for connection, sent in zip(connections, stalled, strict=True):
            connection.sendall(sent)
        for connection in connections:
            assert connection.recv(65536) == b""  # closed by the server
            connection.close()
        wait_until(lambda: not connection_threads(), "the closed connections' threads to end")
        assert_still_serving(server)


class _Trickle:
    """A REST request whose body of `size` bytes comes a byte at a time until stopped."""

    def __init__(self, port: int, size: int, every_seconds: float):
        self.connection = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.connection.sendall(f"POST {PREDICT} HTTP/1.1\r\nContent-Length: {size}\r\n\r\n".encode())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, args=(size, every_seconds))
        self._thread.start()

    def _send(self, size: int, every_seconds: float) -> None:
        for _ in range(size - 1):
            if self._stop.wait(every_seconds):
                return
            self.connection.sendall(b" ")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.connection.close()


@pytest.mark.integration
def test_request_bytes_in_flight_are_bounded_over_rest_and_grpc(conformance_base):
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    options = {
        "max_inflight_request_bytes": LIMIT,
        "rest_api_timeout_in_ms": 1000,
        "grpc_max_concurrent_rpcs": 1,
    }
    with serve(conformance_base, **options) as server:
        # Takes the whole budget, and keeps its connection alive with a byte every 0.1 s.
        holder = _Trickle(server.rest_port, LIMIT, 0.1)
        try:
            refused = None
            for _ in range(50):  # until the holder has its share: the probe then waits, in vain
                with socket.create_connection(("127.0.0.1", server.rest_port), timeout=30) as probe:
                    probe.sendall(f"POST {PREDICT} HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}".encode())
                    status, body = read_answer(probe)
                if status == 429:
                    refused = body
                    break
            assert refused is not None
            assert refused["error"].startswith("Too many request bytes in flight")

            request = get_model_status_pb2.GetModelStatusRequest()
            request.model_spec.name = models.MODEL_NAME
            with grpc.insecure_channel(server.grpc_target) as channel:
                status_call = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus
                # Both wait for bytes the holder keeps; only one RPC at a time is allowed.
                calls = [status_call.future(request, timeout=60) for _ in range(2)]
                wait_until(lambda: any(call.done() for call in calls), "one call to be answered")
                [first] = [call for call in calls if call.done()]
                assert first.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                holder.stop()
                [second] = [call for call in calls if call is not first]
                assert second.result().model_version_status[0].version == 2
        finally:
            holder.stop()
        assert_still_serving(server)
