"""`KfpSession` against a real HTTP server speaking KFP's v2beta1 REST API on 127.0.0.1."""

import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from kubeflow.submit import Connection, KfpError, KfpSession

pytestmark = pytest.mark.integration


@pytest.fixture
def session(kfp_server):
    return KfpSession(Connection(host=kfp_server.host))


def test_first_upload_creates_the_pipeline_with_the_file(kfp_server, session, spec_package):
    uploaded = session.upload(spec_package, "clickpipe", "clickpipe-v1", "monthly ad clicks")

    [request] = kfp_server.posted("/pipelines/upload")
    assert request.query == {"name": ["clickpipe"], "description": ["monthly ad clicks"]}
    assert request.files == {"uploadfile": spec_package.read_bytes()}
    assert uploaded.new_pipeline
    # KFP names the first version after the pipeline.
    assert uploaded.version.version_name == "clickpipe"
    assert uploaded.version.pipeline_id in kfp_server.pipelines


def test_later_uploads_add_versions_and_the_newest_is_found(kfp_server, session, spec_package):
    first = session.upload(spec_package, "clickpipe", "clickpipe-v1")
    second = session.upload(spec_package, "clickpipe", "clickpipe-v2")

    [request] = kfp_server.posted("/pipelines/upload_version")
    assert request.query == {"name": ["clickpipe-v2"], "pipelineid": [first.version.pipeline_id]}
    assert request.files == {"uploadfile": spec_package.read_bytes()}
    assert not second.new_pipeline
    assert second.version.pipeline_id == first.version.pipeline_id
    assert session.version("clickpipe") == second.version
    assert session.version("clickpipe", "clickpipe").version_id == first.version.version_id


def test_a_taken_version_name_is_refused_before_uploading(kfp_server, session, spec_package):
    session.upload(spec_package, "clickpipe", "ignored")
    session.upload(spec_package, "clickpipe", "clickpipe-v2")

    with pytest.raises(KfpError, match="already has a version named 'clickpipe-v2'"):
        session.upload(spec_package, "clickpipe", "clickpipe-v2")
    assert len(kfp_server.posted("/pipelines/upload_version")) == 1


def test_version_of_a_pipeline_never_uploaded(kfp_server, session):
    with pytest.raises(KfpError) as error:
        session.version("clickpipe")

    assert str(error.value) == (
        f"pipeline 'clickpipe' is not uploaded to {kfp_server.host}; "
        "run `clickpipe kfp upload` first"
    )


def test_missing_experiment_is_an_error_unless_created(kfp_server, session):
    with pytest.raises(KfpError) as error:
        session.experiment_id("clickpipe")
    assert str(error.value) == (
        f"experiment 'clickpipe' does not exist on {kfp_server.host}; "
        "pass --create-experiment or --experiment NAME"
    )
    assert not kfp_server.posted("/experiments")

    experiment_id = session.experiment_id("clickpipe", create=True)

    [request] = kfp_server.posted("/experiments")
    assert request.json == {"display_name": "clickpipe", "namespace": ""}
    assert kfp_server.experiments[experiment_id]["display_name"] == "clickpipe"
    assert session.experiment_id("clickpipe") == experiment_id


def test_server_errors_carry_the_server_message(kfp_server, session):
    with pytest.raises(KfpError) as error:
        session.set_schedule_enabled("rr-404", True)

    assert str(error.value) == (
        f"enabling recurring run 'rr-404': {kfp_server.host} answered 404 Not Found: "
        "recurring run rr-404 not found"
    )


def test_runs_are_listed_newest_first(kfp_server, session):
    experiment_id = kfp_server.add_experiment("clickpipe")
    other = kfp_server.add_experiment("other")
    kfp_server.add_run(experiment_id, "september", "SUCCEEDED", "2026-10-02T06:00:00Z")
    kfp_server.add_run(experiment_id, "october", "RUNNING", "2026-11-02T06:00:00Z")
    kfp_server.add_run(other, "elsewhere", "FAILED", "2026-11-03T06:00:00Z")

    rows = session.runs(experiment_id, limit=5)

    assert [(r.name, r.state, r.created_at) for r in rows] == [
        ("october", "RUNNING", "2026-11-02T06:00:00+00:00"),
        ("september", "SUCCEEDED", "2026-10-02T06:00:00+00:00"),
    ]
    [request] = [r for r in kfp_server.requests if r.path.endswith("/runs")]
    assert request.query == {
        "experiment_id": [experiment_id],
        "page_size": ["5"],
        "sort_by": ["created_at desc"],
    }


def test_auth_options_reach_the_server(kfp_server):
    KfpSession(Connection(host=kfp_server.host, existing_token="t0ken", cookies="authservice=abc"))

    [healthz] = kfp_server.requests
    assert healthz.path == "/apis/v2beta1/healthz"
    assert healthz.headers["authorization"] == "Bearer t0ken"
    assert healthz.headers["cookie"] == "authservice=abc"


def test_namespace_scopes_experiment_lookups(kfp_server):
    session = KfpSession(Connection(host=kfp_server.host, namespace="team-ads"))
    kfp_server.add_experiment("clickpipe")

    session.experiment_id("clickpipe")

    [lookup] = kfp_server.requests
    assert lookup.path == "/apis/v2beta1/experiments"
    assert lookup.query["namespace"] == ["team-ads"]


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_host_is_one_clear_error():
    host = f"http://127.0.0.1:{_refused_port()}"

    with pytest.raises(KfpError) as error:
        KfpSession(Connection(host=host))

    assert str(error.value).startswith(f"cannot reach Kubeflow Pipelines at {host}: ")
    assert str(error.value).endswith("Connection refused (check --host or kubeflow.host)")


class _NotKfp(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>not here</html>")

    def log_message(self, *args):
        pass


def test_a_host_that_is_not_kfp_says_so():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotKfp)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(KfpError) as error:
            KfpSession(Connection(host=host))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    assert str(error.value) == (
        f"connecting: {host} answered 404 Not Found (is --host the Kubeflow Pipelines API?)"
    )
