"""A loopback HTTP proxy that holds each request for a fixed time before forwarding it.

Real Cloud Storage answers a small read in tens of milliseconds; the emulator on loopback in
well under one. Put in front of the emulator (`pipeline.local.gcs.emulator(latency=...)`), it
makes the cost of one request per creative visible, and how much parallel fetching saves.
Requests are held concurrently: a thread per connection, as a real server's latency overlaps.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
# Headers that describe one connection, not the request: never forwarded.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "proxy-connection", "content-length"}


class LatencyStats:
    """How many requests the proxy held, and the most held at once (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0
        self.most_in_flight = 0

    def enter(self) -> None:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _handler(upstream: str, seconds: float, stats: LatencyStats):
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _forward(self) -> None:
            stats.enter()
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                time.sleep(seconds)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                finally:
                    connection.close()
            finally:
                stats.leave()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        # Clients close pooled connections abruptly; that is not the proxy failing.
        pass


@contextlib.contextmanager
def latency_proxy(upstream: str, seconds: float, stats: LatencyStats | None = None,
                  port: int = 0) -> Iterator[str]:
    """Serves the proxy on 127.0.0.1 for the block, holding each request `seconds`; yields its URL.

    Args:
        upstream: the server forwarded to, e.g. ``http://127.0.0.1:4443``.
        seconds: how long each request is held before it is forwarded.
        stats: filled with request counts, when given.
        port: the proxy's port; 0 picks a free one.
    """
    server = _Server((LOOPBACK, port), _handler(upstream, seconds, stats or LatencyStats()))
    thread = threading.Thread(target=server.serve_forever, name="latency-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
