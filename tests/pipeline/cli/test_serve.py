"""`clickpipe serve` and `clickpipe predict`, end to end on loopback."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import main
from serving.client import RestClient
from serving.server import ModelServer, ServerOptions
from serving.server_config import parse_model_server_config
from tests.components.ingest import dataset
from tests.serving import models

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
CONFIG = """
[dataset]
source = "{source}"
label = "clicked"
example_id = "impression_id"
passthrough = []

[[dataset.features]]
name = "k"
kind = "categorical"

[[dataset.features]]
name = "x"
kind = "numeric"

[[dataset.features]]
name = "creative"
kind = "image"
source_column = "k"
uri_template = "creatives/{{k}}.png"

[serving]
model_name = "{model}"
"""


@pytest.fixture(scope="module")
def server(conformance_base):
    config = parse_model_server_config(models.conformance_config_text(conformance_base))
    options = ServerOptions(file_system_poll_wait_seconds=0)
    with ModelServer(model_config=config, rest_port=0, grpc_port=0, options=options) as running:
        yield running


@pytest.fixture()
def config_file(tmp_path):
    (tmp_path / "data" / "creatives").mkdir(parents=True)
    (tmp_path / "data" / "creatives" / "ab.png").write_bytes(dataset.png())
    (tmp_path / "data" / "creatives" / "broken.png").write_bytes(b"\x89PNG fake")
    path = tmp_path / "clickpipe.toml"
    path.write_text(CONFIG.format(source=tmp_path / "data", model=models.MODEL_NAME))
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_predict_from_a_csv_row(server, config_file, capsys, transport):
    endpoint = (
        ["--rest_url", server.rest_url]
        if transport == "rest"
        else ["--grpc_target", server.grpc_target]
    )
    code, out, err = run(
        capsys, "predict", "--config", str(config_file), *endpoint, "--csv_row", "i1,ab,1.5,0"
    )
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert result["model"] == models.MODEL_NAME
    assert result["outputs"]["click_probability"][0][0] == pytest.approx(
        models.expected_probability(2, 1.5, "ab"), rel=1e-5
    )


def test_predict_from_json_on_the_raw_signature_and_a_label(server, config_file, capsys):
    code, out, err = run(
        capsys,
        "predict",
        "--config",
        str(config_file),
        "--rest_url",
        server.rest_url,
        "--json",
        '{"k": "ab", "x": 0.5}',
        "--signature_name",
        "predict_raw",
        "--version_label",
        "stable",
    )
    assert code == 0, err
    assert json.loads(out)["outputs"]["click_probability"][0][0] == pytest.approx(
        models.expected_probability(1, 0.5, "ab"), rel=1e-5
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json", '{"k": "ab"}'], "(bad_value_type): no column 'x'"),
        (["--json", '{"k": "ab", "x": "nan"}'], "(bad_value_type): x='nan' is not a number"),
        (["--json", '{"k": "zz", "x": 1}'], "(missing_creative): no creative creatives/zz.png"),
        (["--json", '{"k": "broken", "x": 1}'], "(undecodable_image): creatives/broken.png: not a PNG or JPEG image"),
        (["--json", "[1]"], "--json must be a JSON object"),
        (["--csv_row", "i1,ab"], "(wrong_column_count): 2 columns, the header has 4"),
        (
            ["--json", '{"k": "ab", "x": 1}', "--model_name", "nope"],
            "Servable not found for request: Latest(nope)",
        ),
    ],
)
def test_predict_errors_are_one_line(server, config_file, capsys, args, message):
    code, out, err = run(
        capsys, "predict", "--config", str(config_file), "--rest_url", server.rest_url, *args
    )
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("clickpipe: ") and message in err


def test_predict_against_no_server_says_so(config_file, capsys):
    code, _, err = run(
        capsys,
        "predict",
        "--config",
        str(config_file),
        "--rest_url",
        "http://127.0.0.1:9",
        "--json",
        '{"k": "ab", "x": 1}',
    )
    assert code == 1 and "cannot reach http://127.0.0.1:9" in err


def test_serve_rejects_a_missing_base_path_and_a_bad_config_file(tmp_path, capsys):
    code, _, err = run(
        capsys, "serve", "--model_base_path", str(tmp_path / "nope"), "--model_name", "m"
    )
    assert code == 1 and "--model_base_path" in err and "is not a folder" in err
    bad = tmp_path / "models.config"
    bad.write_text("model_config_list { config { name: 'm' base_path: '../up' } }")
    code, _, err = run(capsys, "serve", "--model_config_file", str(bad))
    assert code == 1 and "must not contain '..'" in err and err.count("\n") == 1


def test_serve_runs_until_sigterm(conformance_base, tmp_path):
    """Served as the official image is started (MODEL_NAME, MODEL_BASE_PATH); library logs go
    to the home's serve.log, and the terminal gets clickpipe's lines only."""
    shutil.copytree(conformance_base, tmp_path / "models" / "m")
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text("prometheus_config { enable: true }")
    home = tmp_path / "home.toml"
    home.write_text(f'[pipeline]\nhome = "{tmp_path / "home"}"\n')
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "serve",
            "--config",
            str(home),
            "--port",
            "0",
            "--rest_api_port=0",
            "--rest_api_num_threads=2",
            "--rest_api_timeout_in_ms=5000",
            "--enable_batching=true",
            f"--monitoring_config_file={monitoring}",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **environment,
            "PYTHONPATH": str(REPO),
            "MODEL_NAME": "m",
            "MODEL_BASE_PATH": str(tmp_path / "models"),
        },
    )
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C to stop" in line:
                break
        assert "model m: v2 AVAILABLE" in "".join(lines)
        assert f"logs in {tmp_path / 'home' / 'logs' / 'serve.log'}" in "".join(lines)
        rest_url = re.search(r"REST on (http://127\.0\.0\.1:\d+)", lines[-1]).group(1)
        assert RestClient(rest_url).status("m")[0]["state"] == "AVAILABLE"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0
        assert "stopped" in process.stdout.read()
        assert process.stderr.read() == ""
        assert "clickpipe serve --config" in (tmp_path / "home" / "logs" / "serve.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
