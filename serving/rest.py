"""TF Serving's REST API (port 8501) on a threaded stdlib HTTP server.

`RestApi` is the whole protocol as a function of method, path and body, following TF Serving's
`http_rest_api_handler.cc`: the same URL patterns, dispatch order, status codes and
`{"error": ...}` bodies. `RestServer` only moves bytes: it answers every HTTP method (unknown
ones get TF Serving's 400 "Malformed request"), answers protocol errors in JSON too, and keeps
the limits: the body size (413), one thread per connection up to `max_connections` (past it
429 at once), `timeout_seconds` without a byte closes a connection (TF Serving's
`rest_api_timeout_in_ms`), `num_threads` requests handled at once (`rest_api_num_threads`;
the others wait) and the shared in-flight bytes budget (429 when no room comes in time).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
import sys
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from serving import errors, json_codec, protos
from serving.errors import ServingError
from serving.limits import ByteBudget
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
# What a turned-away connection may have sent already; read without waiting, then dropped.
_TURN_AWAY_READS = 16


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
        if digits := match.group(2):
            # int() refuses more than 4300 digits (leading zeros too): check the length first.
            significant = digits.lstrip("0") or "0"
            if len(significant) > len(str(INT64_MAX)) or int(significant) > INT64_MAX:
                raise errors.invalid_argument(f"Failed to convert version: {digits} to numeric.")
            version = int(significant)
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

    def setup(self) -> None:
        # A connection that sends nothing for this long (idle or mid-request) is closed.
        self.timeout = self.server.timeout_seconds
        super().setup()

    def _serve(self) -> None:
        server = self.server
        size = self._body_size()
        if size is None:
            return
        try:
            with server.budget.reserve(size, server.timeout_seconds):
                body = self._read_body(size)
                if body is None:
                    return
                with server.workers:
                    response = server.api.handle(self.command, self.path, body)
                self._reply(response)
        except ServingError as exc:  # only `reserve` raises it: no room for this body in time
            self._refuse(exc.http_status, exc.message)

    def _chunked(self) -> bool:
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def _body_size(self) -> int | None:
        """The body's length (the limit for a chunked body), or None once the request is refused."""
        limit = self.server.max_request_bytes
        if self._chunked():
            return limit
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
        return length

    def _read_body(self, size: int) -> bytes | None:
        return self._read_chunked(size) if self._chunked() else self.rfile.read(size)

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

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The standard library answers a bad request line, version or header with an HTML page,
        # and an unknown HTTP version with 505: all of them are the client's error, so JSON 4xx.
        self.close_connection = True
        status = code if code < 500 else HTTPStatus.BAD_REQUEST
        self._reply(Response(status, json_codec.error_body(message or HTTPStatus(code).phrase)))

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("REST %s %s", self.address_string(), format % args)


def _turn_away(connection: socket.socket, message: str) -> None:
    """Answers 429 on a connection past the limit and closes it, without a thread for it."""
    body = json_codec.error_body(message)
    head = (
        f"HTTP/1.1 429 {HTTPStatus(429).phrase}\r\nContent-Type: {JSON}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    try:
        connection.settimeout(1.0)
        connection.sendall(head.encode("ascii") + body)
        connection.shutdown(socket.SHUT_WR)
        # Unread bytes would make close() reset the connection, and the client lose the answer.
        connection.setblocking(False)
        for _ in range(_TURN_AWAY_READS):
            if not connection.recv(65536):
                break
    except OSError:
        pass
    finally:
        connection.close()


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    # The stdlib's backlog of 5 makes bursts of new connections wait for SYN retries (1 s+).
    request_queue_size = 128

    def __init__(self, address, api: RestApi, limits: RestLimits, budget: ByteBudget):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.api = api
        self.max_request_bytes = limits.max_request_bytes
        self.timeout_seconds = limits.timeout_seconds
        self.budget = budget
        self.workers = threading.BoundedSemaphore(limits.num_threads)
        self._max_connections = limits.max_connections
        self._connections = threading.BoundedSemaphore(limits.max_connections)
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:
        if not self._connections.acquire(blocking=False):
            _turn_away(
                request,
                f"Too many open connections (at most {self._max_connections}); try again later",
            )
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connections.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up or stalls is routine; anything else is a bug worth a traceback.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.debug("REST %s: %r", client_address, error)
        else:
            log.exception("REST connection from %s failed", client_address)


@dataclasses.dataclass(frozen=True)
class RestLimits:
    """How much REST work the server takes on at once (see `ServerOptions`)."""

    max_request_bytes: int
    num_threads: int
    timeout_seconds: float
    max_connections: int


class RestServer:
    """Serves a `RestApi` over HTTP on `host:port` (port 0 picks a free port)."""

    def __init__(self, api: RestApi, host: str, port: int, limits: RestLimits, budget: ByteBudget):
        self._server = _HttpServer((host, port), api, limits, budget)
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
