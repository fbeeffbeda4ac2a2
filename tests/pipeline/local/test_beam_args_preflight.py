"""Pre-flight of `pipeline.beam_args`: Flink args that point at nothing stop the run before TFX
starts, naming what to fetch or start; DirectRunner args pass untouched."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest

from pipeline.local.preflight import PreflightError, check_beam_args

pytestmark = pytest.mark.unit


@pytest.fixture
def jobmanager():
    """A loopback HTTP server answering /config as a Flink JobManager's REST API does."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"flink-version": "1.20.3"}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"localhost:{server.server_port}"
    server.shutdown()


@pytest.fixture
def worker_pool():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    yield f"localhost:{listener.getsockname()[1]}"
    listener.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def flink_args(jar, master, pool):
    return ["--runner=FlinkRunner", f"--flink_master={master}", f"--flink_job_server_jar={jar}",
            "--environment_type=EXTERNAL", f"--environment_config={pool}"]


def test_direct_runner_args_and_complete_flink_args_pass(tmp_path, jobmanager, worker_pool):
    jar = tmp_path / "beam-runners-flink-1.20-job-server-2.74.0.jar"
    jar.write_bytes(b"PK")
    check_beam_args(["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    check_beam_args(flink_args(jar, jobmanager, worker_pool))


def test_flink_without_a_local_job_server_jar_is_refused(tmp_path, jobmanager, worker_pool):
    with pytest.raises(PreflightError, match="needs --flink_job_server_jar=PATH.*downloads the jar at run time"):
        check_beam_args(["--runner=FlinkRunner", f"--flink_master={jobmanager}"])
    with pytest.raises(PreflightError, match="--flink_job_server_jar .*missing.jar' does not exist"):
        check_beam_args(flink_args(tmp_path / "missing.jar", jobmanager, worker_pool))


def test_a_jobmanager_or_worker_pool_that_is_not_there_is_named(tmp_path, jobmanager, worker_pool):
    jar = tmp_path / "job-server.jar"
    jar.write_bytes(b"PK")
    down = f"localhost:{closed_port()}"
    with pytest.raises(PreflightError, match=f"no Flink JobManager answers at --flink_master '{down}'"):
        check_beam_args(flink_args(jar, down, worker_pool))
    with pytest.raises(PreflightError, match=f"no Beam SDK worker pool listens at --environment_config '{down}'"):
        check_beam_args(flink_args(jar, jobmanager, down))
