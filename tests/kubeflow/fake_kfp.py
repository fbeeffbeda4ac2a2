"""A small Kubeflow Pipelines `v2beta1` REST server on 127.0.0.1, for tests of the kfp client.

It implements the endpoints `kfp.Client` 2.5 calls for upload, run, schedule and listing,
keeps what it was sent, and records every request so tests can assert exact bodies.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API = "/apis/v2beta1"
CREATED_AT = "2026-11-02T06:00:00Z"


@dataclass
class Request:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: object = None
    files: dict[str, bytes] = field(default_factory=dict)


def _matches(item: dict, filter_json: str | None) -> bool:
    if not filter_json:
        return True
    for predicate in json.loads(filter_json).get("predicates", []):
        value = predicate.get("stringValue", predicate.get("string_value"))
        if item.get(predicate["key"]) != value:
            return False
    return True


class FakeKfp:
    """The server's state and its HTTP front; use as a context manager.

    Attributes:
        requests: every request received, in order.
        experiments, pipelines, versions, runs, recurring_runs: stored objects by id.
    """

    def __init__(self, multi_user: bool = False):
        self.multi_user = multi_user
        self.requests: list[Request] = []
        self.experiments: dict[str, dict] = {}
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self.recurring_runs: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # A short poll interval so that shutdown() returns at once.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeKfp:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def add_experiment(self, name: str) -> str:
        """Creates an experiment directly; returns its id."""
        experiment_id = f"exp-{next(self._ids)}"
        self.experiments[experiment_id] = {
            "experiment_id": experiment_id,
            "display_name": name,
            "created_at": CREATED_AT,
        }
        return experiment_id

    def add_run(self, experiment_id: str, name: str, state: str, created_at: str) -> str:
        """Stores a finished run directly; returns its id."""
        run_id = f"run-{next(self._ids)}"
        self.runs[run_id] = {
            "run_id": run_id,
            "experiment_id": experiment_id,
            "display_name": name,
            "state": state,
            "created_at": created_at,
        }
        return run_id

    def posted(self, path: str) -> list[Request]:
        """The POST requests to `path` (relative to /apis/v2beta1)."""
        return [r for r in self.requests if r.method == "POST" and r.path == API + path]

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def _handle(self, request: Request) -> tuple[int, object]:
        with self._lock:
            self.requests.append(request)
            return self._route(request)

    def _route(self, request: Request) -> tuple[int, object]:
        path = request.path.removeprefix(API)
        query = {k: v[0] for k, v in request.query.items()}
        method = request.method
        if method == "GET" and path == "/healthz":
            return 200, {"multi_user": self.multi_user}
        if method == "GET" and path == "/experiments":
            return 200, self._page("experiments", self.experiments.values(), query)
        if method == "POST" and path == "/experiments":
            experiment_id = self.add_experiment(request.json["display_name"])
            return 200, self.experiments[experiment_id]
        if method == "GET" and path == "/pipelines":
            return 200, self._page("pipelines", self.pipelines.values(), query)
        if method == "POST" and path == "/pipelines/upload":
            return self._upload(query["name"], request, pipeline_id=None)
        if method == "POST" and path == "/pipelines/upload_version":
            if query.get("pipelineid") not in self.pipelines:
                return 404, {"code": 5, "message": "pipeline not found"}
            return self._upload(query["name"], request, pipeline_id=query["pipelineid"])
        if method == "GET" and path.startswith("/pipelines/") and path.endswith("/versions"):
            pipeline_id = path.split("/")[2]
            versions = [v for v in self.versions.values() if v["pipeline_id"] == pipeline_id]
            return 200, self._page("pipeline_versions", versions, query)
        if method == "POST" and path == "/runs":
            run_id = self._new_id("run")
            self.runs[run_id] = {
                **request.json,
                "run_id": run_id,
                "state": "PENDING",
                "created_at": CREATED_AT,
            }
            return 200, self.runs[run_id]
        if method == "GET" and path == "/runs":
            runs = [
                r for r in self.runs.values() if r["experiment_id"] == query.get("experiment_id")
            ]
            return 200, self._page("runs", runs, query)
        if method == "POST" and path == "/recurringruns":
            recurring_id = self._new_id("rr")
            self.recurring_runs[recurring_id] = {
                **request.json,
                "recurring_run_id": recurring_id,
                "created_at": CREATED_AT,
            }
            return 200, self.recurring_runs[recurring_id]
        if method == "GET" and path == "/recurringruns":
            found = [
                r
                for r in self.recurring_runs.values()
                if r["experiment_id"] == query.get("experiment_id")
            ]
            return 200, self._page("recurringRuns", found, query)
        if method == "POST" and path.startswith("/recurringruns/"):
            recurring_id, _, action = path.removeprefix("/recurringruns/").partition(":")
            if recurring_id not in self.recurring_runs or action not in ("enable", "disable"):
                return 404, {"code": 5, "message": f"recurring run {recurring_id} not found"}
            self.recurring_runs[recurring_id]["mode"] = action.upper()
            return 200, {}
        return 404, {"code": 5, "message": f"no route {method} {request.path}"}

    def _upload(self, name: str, request: Request, pipeline_id: str | None) -> tuple[int, object]:
        if "uploadfile" not in request.files:
            return 400, {"code": 3, "message": "uploadfile is missing"}
        if pipeline_id is None:
            if any(p["display_name"] == name for p in self.pipelines.values()):
                return 409, {"code": 6, "message": f"pipeline {name} already exists"}
            pipeline_id = self._new_id("pipe")
            self.pipelines[pipeline_id] = {
                "pipeline_id": pipeline_id,
                "display_name": name,
                "created_at": CREATED_AT,
            }
        elif any(
            v["display_name"] == name and v["pipeline_id"] == pipeline_id
            for v in self.versions.values()
        ):
            return 409, {"code": 6, "message": f"version {name} already exists"}
        version_id = self._new_id("ver")
        # Later versions sort as newer: "created_at desc" lists them first.
        self.versions[version_id] = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": version_id,
            "display_name": name,
            "created_at": f"2026-11-02T06:00:{next(self._ids) % 60:02d}Z",
            "package": request.files["uploadfile"],
        }
        if request.path.endswith("/upload"):
            return 200, self.pipelines[pipeline_id]
        return 200, {k: v for k, v in self.versions[version_id].items() if k != "package"}

    @staticmethod
    def _page(key: str, items, query: dict) -> dict:
        found = [i for i in items if _matches(i, query.get("filter"))]
        if query.get("sort_by", "").endswith(" desc"):
            found.sort(key=lambda i: i.get("created_at", ""), reverse=True)
        size = int(query.get("page_size") or len(found) or 1)
        page = [{k: v for k, v in i.items() if k != "package"} for i in found[:size]]
        return {key: page, "total_size": len(found)} if page else {"total_size": 0}

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    method=self.command,
                    path=url.path,
                    query=parse_qs(url.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                )
                content_type = self.headers.get("Content-Type", "")
                if content_type.startswith("multipart/form-data"):
                    message = BytesParser(policy=HTTP).parsebytes(
                        f"Content-Type: {content_type}\r\n\r\n".encode() + body
                    )
                    for part in message.iter_parts():
                        request.files[part.get_param("name", header="content-disposition")] = (
                            part.get_payload(decode=True)
                        )
                elif body:
                    request.json = json.loads(body)
                status, payload = fake._handle(request)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, *args) -> None:
                pass

        return Handler
