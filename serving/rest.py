"""TF Serving's REST API (port 8501) on a threaded stdlib HTTP server.

`RestApi` is the whole protocol as a function of method, path and body, following TF Serving's
`http_rest_api_handler.cc`: the same URL patterns, dispatch order, status codes and
`{"error": ...}` bodies. `RestServer` only moves bytes: it enforces the body size limit and
answers every HTTP method (unknown ones get TF Serving's 400 "Malformed request").
"""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from serving import errors, json_codec, protos
from serving.errors import ServingError
from serving.manager import ModelManager
from serving.metrics import Metrics
from serving.request_log import RequestLogger
from serving.servable import DEFAULT_SIGNATURE

log = logging.getLogger("clickpipe.serving")

_VERSION_OR_LABEL = r"(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
PREDICTION_PATH = re.compile(
    rf"/v1/models/([^/:]+){_VERSION_OR_LABEL}:(classify|regress|predict)", re.I
)
STATUS_PATH = re.compile(rf"/v1/models(?:/([^/:]+))?{_VERSION_OR_LABEL}(?:/(metadata))?", re.I)
API_PATH = re.compile(r"/v1/.*", re.I | re.S)
INT64_MAX = (1 << 63) - 1
JSON = "application/json"
_LINGER_SECONDS = 2.0
_LINGER_BYTES = 64 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Response:
    """One REST answer: HTTP status, body and content type."""

    status: int
    body: bytes
    content_type: str = JSON


def _json_message(message) -> str:
    from google.protobuf import json_format

    return json_format.MessageToJson(
        message, preserving_proto_field_name=True, including_default_value_fields=True, indent=1
    )


class RestApi:
    """TF Serving's REST protocol over a `ModelManager`."""

    def __init__(
        self,
        manager: ModelManager,
        metrics: Metrics,
        request_log: RequestLogger | None = None,
        metrics_path: str | None = None,
    ):
        self._manager = manager
        self._metrics = metrics
        self._request_log = request_log
        self._metrics_path = metrics_path

    def handle(self, method: str, target: str, body: bytes) -> Response:
        """Answers one request; never raises."""
        path = target.split("?", 1)[0]
        if self._metrics_path is not None and path == self._metrics_path:
            return Response(
                200, self._metrics.render().encode("utf-8"), "text/plain; version=0.0.4"
            )
        if not API_PATH.fullmatch(path):
            return Response(404, json_codec.error_body(f"Not found: {path}"))
        started = time.perf_counter()
        api, model = "", ""
        status = "OK"
        try:
            api, model, call = self._route(method, path)
            return Response(200, call(body))
        except ServingError as exc:
            status = exc.code_name
            return Response(exc.http_status, json_codec.error_body(exc.message))
        except Exception as exc:  # noqa: BLE001 - a bug must answer 500, not kill the connection
            log.exception("REST %s %s failed", method, path)
            status = "INTERNAL"
            return Response(500, json_codec.error_body(f"Internal error: {exc}"))
        finally:
            if api:
                latency_us = (time.perf_counter() - started) * 1e6
                self._metrics.request(model, api, "REST", status, latency_us)

    def _route(self, method: str, path: str):
        match = None
        if method == "POST":
            match = PREDICTION_PATH.fullmatch(path)
        elif method == "GET":
            match = STATUS_PATH.fullmatch(path)
        if match is None:
            raise errors.invalid_argument(f"Malformed request: {method} {path}")
        name = urllib.parse.unquote(match.group(1) or "")
        version = None
        if match.group(2):
            version = int(match.group(2))
            if version > INT64_MAX:
                raise errors.invalid_argument(
                    f"Failed to convert version: {match.group(2)} to numeric."
                )
        label = urllib.parse.unquote(match.group(3)) if match.group(3) else None
        verb = match.group(4)
        if method == "POST":
            handlers = {
                "predict": self._predict,
                "classify": self._classify,
                "regress": self._regress,
            }
            if verb not in handlers:
                raise errors.invalid_argument(f"Malformed request: {method} {path}")
            return verb.capitalize(), name, lambda body: handlers[verb](name, version, label, body)
        if verb == "metadata":
            return "", name, lambda body: self._metadata(name, version, label)
        return "", name, lambda body: self._status(name, version)

    def _predict(self, name: str, version: int | None, label: str | None, body: bytes) -> bytes:
        document = json_codec.parse_json(body)
        requested = json_codec.signature_name(document)
        servable = self._manager.resolve(name, version, label)
        key = requested or DEFAULT_SIGNATURE
        signature = servable.signature_defs.get(key)
        if signature is None:
            raise errors.invalid_argument(
                f'Serving signature name: "{key}" not found in signature def'
            )
        inputs, row_format = json_codec.predict_inputs(document, signature.inputs)
        started = time.perf_counter()
        _, outputs = servable.predict(requested, inputs)
        self._metrics.runtime(name, "Predict", (time.perf_counter() - started) * 1e6)
        if self._request_log is not None and self._request_log.sampled():
            self._request_log.log_inputs(servable.name, servable.version, inputs)
        return json_codec.predict_response(outputs, row_format)

    def _examples(self, name: str, version: int | None, label: str | None, body: bytes):
        document = json_codec.parse_json(body)
        requested = json_codec.signature_name(document)
        examples = json_codec.examples_from_json(document)
        servable = self._manager.resolve(name, version, label)
        self._metrics.examples(name, len(examples))
        if self._request_log is not None and self._request_log.sampled():
            self._request_log.log_examples(servable.name, servable.version, examples)
        return servable, requested, examples

    def _classify(self, name: str, version: int | None, label: str | None, body: bytes) -> bytes:
        servable, requested, examples = self._examples(name, version, label, body)
        _, classes, scores = servable.classify(requested, examples)
        return json_codec.classify_response(classes, scores)

    def _regress(self, name: str, version: int | None, label: str | None, body: bytes) -> bytes:
        servable, requested, examples = self._examples(name, version, label, body)
        _, values = servable.regress(requested, examples)
        return json_codec.regress_response(values)

    def _status(self, name: str, version: int | None) -> bytes:
        if not name:
            raise errors.invalid_argument("Missing model name in request.")
        return _json_message(protos.status_response(self._manager.status(name, version))).encode(
            "utf-8"
        )

    def _metadata(self, name: str, version: int | None, label: str | None) -> bytes:
        from tensorflow_serving.apis import get_model_metadata_pb2

        if not name:
            raise errors.invalid_argument("Missing model name in request.")
        response = protos.metadata_response(self._manager.resolve(name, version, label))
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        # TF Serving prints the model spec and the unpacked SignatureDefMap side by side.
        return (
            '{\n"model_spec":'
            + _json_message(response.model_spec)
            + ',\n"metadata": {"signature_def": '
            + _json_message(signature_map)
            + "}\n}\n"
        ).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Answers to unparseable request lines still carry a status line (no HTTP/0.9 replies).
    default_request_version = "HTTP/1.0"
    server_version = "clickpipe-serving"
    # Headers and body go out in separate writes; Nagle + delayed ACK would add ~40 ms.
    disable_nagle_algorithm = True
    server: _HttpServer

    def __getattr__(self, name: str):
        # Every HTTP method reaches the API, which answers TF Serving's 400 to those it lacks.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        response = self.server.api.handle(self.command, self.path, body)
        self._reply(response)

    def _read_body(self) -> bytes | None:
        limit = self.server.max_request_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._refuse(400, "Invalid Content-Length header")
            return None
        if length > limit:
            self._refuse(
                413, f"Request body of {length} bytes is larger than the limit of {limit} bytes"
            )
            return None
        return self.rfile.read(length)

    def _read_chunked(self, limit: int) -> bytes | None:
        chunks, total = [], 0
        while True:
            try:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"-1", 16)
            except ValueError:
                size = -1
            if size < 0:
                self._refuse(400, "Malformed chunked request body")
                return None
            total += size
            if total > limit:
                self._refuse(413, f"Request body is larger than the limit of {limit} bytes")
                return None
            if size == 0:
                while self.rfile.readline(65537).strip():
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(65537)

    def _refuse(self, status: int, message: str) -> None:
        self.close_connection = True
        self._reply(Response(status, json_codec.error_body(message)))
        self.wfile.flush()
        # Read (and drop) what the client is still sending, so closing does not reset the
        # connection before the client has read the answer; bounded in bytes and time.
        deadline = time.monotonic() + _LINGER_SECONDS
        try:
            self.connection.shutdown(socket.SHUT_WR)
            for _ in range(_LINGER_BYTES // 65536):
                self.connection.settimeout(max(deadline - time.monotonic(), 0.001))
                if not self.connection.recv(65536):
                    break
        except OSError:
            pass

    def _reply(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("REST %s %s", self.address_string(), format % args)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    # The stdlib's backlog of 5 makes bursts of new connections wait for SYN retries (1 s+).
    request_queue_size = 128

    def __init__(self, address, api: RestApi, max_request_bytes: int):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.api = api
        self.max_request_bytes = max_request_bytes
        super().__init__(address, _Handler)


class RestServer:
    """Serves a `RestApi` over HTTP on `host:port` (port 0 picks a free port)."""

    def __init__(self, api: RestApi, host: str, port: int, max_request_bytes: int):
        self._server = _HttpServer((host, port), api, max_request_bytes)
        self._thread = threading.Thread(target=self._server.serve_forever, name="rest", daemon=True)

    @property
    def port(self) -> int:
        """The bound port."""
        return self._server.server_address[1]

    def start(self) -> None:
        """Starts answering requests on a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stops accepting connections and closes the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
