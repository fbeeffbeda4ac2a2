"""An HTTP proxy on loopback that forwards to the GCS emulator and injects transient faults.

Point STORAGE_EMULATOR_HOST at the proxy: the real google-cloud-storage client then meets real
429 and 503 responses and reset connections, without any mock of the client.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

STATUS_429 = "429"
STATUS_503 = "503"
RESET = "reset"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "proxy-connection"}


class FaultPlan:
    """Injects `faults` in turn into the 1st, (1+every)th, ... request that `selects` (thread-safe)."""

    def __init__(self, faults: list[str], every: int = 2, selects: Callable[[str, str], bool] | None = None):
        self._faults = list(faults)
        self._every = every
        self._selects = selects or (lambda method, path: True)
        self._seen = 0
        self._lock = threading.Lock()
        self.injected: list[tuple[str, str, str]] = []

    def next_fault(self, method: str, path: str) -> str | None:
        with self._lock:
            if not self._faults or not self._selects(method, path):
                return None
            self._seen += 1
            if (self._seen - 1) % self._every:
                return None
            fault = self._faults.pop(0)
            self.injected.append((fault, method, path))
            return fault

    @property
    def remaining(self) -> int:
        return len(self._faults)


def _handler(upstream: str, plan: FaultPlan):
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            fault = plan.next_fault(self.command, self.path)
            if fault == RESET:
                # SO_LINGER 0 makes close() send a TCP reset: "connection reset by peer".
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
            if fault in (STATUS_429, STATUS_503):
                payload = json.dumps({"error": {"code": int(fault), "message": "injected"}}).encode()
                self.send_response(int(fault))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            finally:
                connection.close()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # Clients drop pooled connections abruptly; that is not a proxy failure.
        pass


@contextlib.contextmanager
def fault_proxy(upstream: str, plan: FaultPlan) -> Iterator[str]:
    """Serves the proxy on 127.0.0.1 for the block; yields its URL."""
    server = _QuietServer(("127.0.0.1", 0), _handler(upstream, plan))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
