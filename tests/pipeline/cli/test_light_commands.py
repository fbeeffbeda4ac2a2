"""Light commands load no TensorFlow, and no command leaves library noise on the terminal.

Each command runs in a fresh interpreter, with the environment a user's shell has (no
TF_CPP_MIN_LOG_LEVEL), so that what is imported and what is printed is what a user sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from components.push_records import PushRecord, write_record
from pipeline.cli.common import invocation
from tests.components.ingest import dataset

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
# Runs `main(argv)` and reports its exit code and whether TensorFlow was loaded, last on stdout.
PROBE = """
import json, sys
from pipeline.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit_:
    code = exit_.code
print("PROBE " + json.dumps({"code": code, "tensorflow": "tensorflow" in sys.modules}))
"""


def run_cli(*argv: str, cwd: Path = REPO) -> tuple[dict, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    *out, probe = done.stdout.splitlines()
    return json.loads(probe.removeprefix("PROBE ")), "\n".join(out), done.stderr


@pytest.fixture
def model_base(tmp_path):
    version = tmp_path / "models" / "1796320643"
    write_record(str(version), PushRecord(version=1796320643, span="2026-09", run_id="run-1", metrics={"auc": 0.7}))
    (version / "saved_model.pb").write_bytes(b"not read by a listing")
    return tmp_path / "models"


def test_models_list_reads_records_without_tensorflow(model_base):
    probe, out, err = run_cli("models", "list", "--model-base-path", str(model_base))

    assert probe == {"code": 0, "tensorflow": False}
    assert "1796320643  2026-09  run-1" in out and "0.7000" in out
    assert err == ""


def test_models_list_of_an_empty_folder_is_one_line_without_tensorflow(tmp_path):
    probe, out, err = run_cli("models", "list", "--model-base-path", str(tmp_path))

    assert probe == {"code": 0, "tensorflow": False}
    assert out == f"no pushed models under {tmp_path}" and err == ""


@pytest.mark.parametrize(
    ("argv", "code", "error"),
    [
        (["--help"], 0, ""),
        (["serve", "--help"], 0, ""),
        (["run", "--span", "2026/10"], 1, "clickpipe: --span: '2026/10' is not a span: use 'latest' or a month"),
        (["serve", "--model_base_path", "/nonexistent"], 1, "clickpipe: --model_base_path /nonexistent is not a"),
    ],
)
def test_help_and_argument_errors_load_no_tensorflow(argv, code, error):
    probe, _, err = run_cli(*argv)

    assert probe == {"code": code, "tensorflow": False}
    assert err.startswith(error) and err.count("\n") == bool(error)


def test_a_config_error_loads_no_tensorflow(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[training]\nepoch = 3\n")

    probe, _, err = run_cli("run", "--config", str(config))

    assert probe == {"code": 1, "tensorflow": False}
    assert err == f"clickpipe: invalid config {config}:\n  training.epoch: unknown key (did you mean epochs?)\n"


def test_predict_leaves_library_noise_in_its_log(tmp_path):
    (tmp_path / "data" / "creatives").mkdir(parents=True)
    (tmp_path / "data" / "creatives" / "ad-1.png").write_bytes(dataset.png())
    config = tmp_path / "home.toml"
    config.write_text(f'[pipeline]\nhome = "{tmp_path / "home"}"\n')
    row = "imp-1,2026-09-01T00:04:21Z,ad-1,adv-1,camp-1,food,site-1,in_feed,tablet,us,65+,0,1,0.35,Get coffee,0"

    probe, _, err = run_cli(
        "predict", "--config", str(config), "--source", str(tmp_path / "data"),
        "--rest-url", "http://127.0.0.1:9", "--csv-row", row,
    )

    assert probe == {"code": 1, "tensorflow": True}
    assert err.splitlines() == ["clickpipe: cannot reach http://127.0.0.1:9 ([Errno 111] Connection refused); "
                                "is the server running?"]
    log = (tmp_path / "home" / "logs" / "predict.log").read_text()
    assert "clickpipe predict --config" in log


def test_the_launcher_runs_clickpipe_from_anywhere_without_activation(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", str(tmp_path))}

    done = subprocess.run(
        [str(REPO / "bin" / "clickpipe"), "--version"], cwd=tmp_path, env=env, capture_output=True, text=True
    )

    assert (done.returncode, done.stdout, done.stderr) == (0, f"clickpipe {version('clickpipe')}\n", "")


def test_hints_name_a_command_this_shell_can_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(REPO)
    # Not on PATH: the virtual environment's own script, relative to here when it can be.
    assert (REPO / invocation()).resolve() == (Path(sys.executable).parent / "clickpipe").resolve()

    (tmp_path / "clickpipe").write_text("#!/bin/sh\n")
    (tmp_path / "clickpipe").chmod(0o755)
    assert invocation() == "clickpipe"


def test_rollback_leaves_library_noise_in_its_log(model_base, tmp_path):
    newer = model_base / "1796320876"
    write_record(str(newer), PushRecord(version=1796320876, span="2026-10"))
    (newer / "saved_model.pb").write_bytes(b"newer")

    probe, out, err = run_cli(
        "models", "rollback", "1796320643", "--model-base-path", str(model_base), "--home", str(tmp_path / "home")
    )

    assert probe == {"code": 0, "tensorflow": True}
    assert out.startswith("clickpipe: version 1796320643 is served again as version ") and err == ""
    assert "clickpipe models rollback" in (tmp_path / "home" / "logs" / "models.log").read_text()
