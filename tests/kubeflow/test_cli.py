"""`clickpipe kfp upload | run | schedule | runs` against a fake KFP v2beta1 server on 127.0.0.1.

The request bodies are asserted whole: cron, concurrency, catch-up, parameters, pipeline root.
"""

import hashlib

import pytest

from pipeline.cli import main
from tests.kubeflow.conftest import PIPELINE_ROOT, kubeflow_toml

pytestmark = pytest.mark.integration


@pytest.fixture
def uploaded(kfp_server, config_file, spec_package, capsys):
    """The spec uploaded twice (a pipeline, then version v2) and the experiment present."""
    assert (
        main(["kfp", "upload", "--config", str(config_file), "--package", str(spec_package)]) == 0
    )
    args = ["--config", str(config_file), "--package", str(spec_package), "--version", "v2"]
    assert main(["kfp", "upload", *args]) == 0
    experiment_id = kfp_server.add_experiment("clickpipe")
    capsys.readouterr()
    [pipeline_id] = kfp_server.pipelines
    [newest] = [v for v in kfp_server.versions.values() if v["display_name"] == "v2"]
    return {
        "experiment_id": experiment_id,
        "pipeline_id": pipeline_id,
        "version_id": newest["pipeline_version_id"],
    }


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_upload_names_versions_after_the_spec_digest(kfp_server, config_file, spec_package, capsys):
    base = ["kfp", "upload", "--config", str(config_file), "--package", str(spec_package)]
    digest = hashlib.sha256(spec_package.read_bytes()).hexdigest()[:12]

    # The first upload creates the pipeline; KFP names its first version after it.
    assert main(base) == 0
    assert "uploaded version 'clickpipe' (id ver-2) of new pipeline 'clickpipe' (id pipe-1)" in (
        capsys.readouterr().out
    )
    assert main([*base, "--description", "october fixes"]) == 0
    assert main(base) == 1
    assert _one_error_line(capsys).startswith(
        f"clickpipe: pipeline 'clickpipe' already has a version named 'clickpipe-{digest}'"
    )
    spec_package.write_text(spec_package.read_text() + "# edited\n")
    assert main(base) == 0

    new_digest = hashlib.sha256(spec_package.read_bytes()).hexdigest()[:12]
    [first] = kfp_server.posted("/pipelines/upload")
    versions = kfp_server.posted("/pipelines/upload_version")
    assert first.query == {"name": ["clickpipe"]}
    assert [v.query["name"] for v in versions] == [
        [f"clickpipe-{digest}"],
        [f"clickpipe-{new_digest}"],
    ]
    assert versions[0].query["description"] == ["october fixes"]
    assert f"uploaded version 'clickpipe-{new_digest}'" in capsys.readouterr().out


def test_run_sends_version_parameters_and_pipeline_root(kfp_server, config_file, uploaded, capsys):
    args = [
        "--config",
        str(config_file),
        "--param",
        "span=2026-10",
        "--run-name",
        "backfill-october",
    ]

    assert main(["kfp", "run", *args, "--service-account", "pipeline-runner"]) == 0

    [request] = kfp_server.posted("/runs")
    assert request.json == {
        "experiment_id": uploaded["experiment_id"],
        "display_name": "backfill-october",
        "pipeline_version_reference": {
            "pipeline_id": uploaded["pipeline_id"],
            "pipeline_version_id": uploaded["version_id"],
        },
        "runtime_config": {"parameters": {"span": "2026-10"}, "pipeline_root": PIPELINE_ROOT},
        "service_account": "pipeline-runner",
    }
    assert "started run 'backfill-october'" in capsys.readouterr().out


def test_run_of_a_package_embeds_the_spec(kfp_server, config_file, spec_package):
    kfp_server.add_experiment("clickpipe")
    args = ["--config", str(config_file), "--package", str(spec_package), "--run-name", "adhoc"]

    assert main(["kfp", "run", *args]) == 0

    [request] = kfp_server.posted("/runs")
    assert request.json["pipeline_spec"]["pipelineInfo"] == {"name": "clickpipe"}
    assert "pipeline_version_reference" not in request.json
    assert request.json["runtime_config"] == {
        "parameters": {"span": "latest"},
        "pipeline_root": PIPELINE_ROOT,
    }


def test_schedule_create_is_monthly_one_at_a_time_without_catch_up(
    kfp_server, config_file, uploaded
):
    assert main(["kfp", "schedule", "create", "--config", str(config_file)]) == 0

    [request] = kfp_server.posted("/recurringruns")
    assert request.json == {
        "experiment_id": uploaded["experiment_id"],
        "display_name": "clickpipe-monthly",
        "description": "clickpipe on cron '0 0 6 2 * *', span=latest",
        "pipeline_version_reference": {
            "pipeline_id": uploaded["pipeline_id"],
            "pipeline_version_id": uploaded["version_id"],
        },
        "runtime_config": {"parameters": {"span": "latest"}, "pipeline_root": PIPELINE_ROOT},
        "trigger": {"cron_schedule": {"cron": "0 0 6 2 * *"}},
        "max_concurrency": 1,
        "no_catchup": True,
        "mode": "ENABLE",
    }


def test_schedule_disable_enable_and_list(kfp_server, config_file, uploaded, capsys):
    base = ["--config", str(config_file)]
    assert main(["kfp", "schedule", "create", *base, "--disabled", "--cron", "0 0 5 1 * *"]) == 0
    [recurring_id] = kfp_server.recurring_runs
    assert kfp_server.recurring_runs[recurring_id]["mode"] == "DISABLE"
    assert kfp_server.recurring_runs[recurring_id]["trigger"] == {
        "cron_schedule": {"cron": "0 0 5 1 * *"}
    }

    assert main(["kfp", "schedule", "enable", *base, recurring_id]) == 0
    assert kfp_server.recurring_runs[recurring_id]["mode"] == "ENABLE"
    assert main(["kfp", "schedule", "disable", *base, recurring_id]) == 0
    assert kfp_server.recurring_runs[recurring_id]["mode"] == "DISABLE"
    capsys.readouterr()

    assert main(["kfp", "schedule", "list", *base]) == 0

    listed = capsys.readouterr().out.split()
    assert listed == [recurring_id, "DISABLE", "0", "0", "5", "1", "*", "*", "clickpipe-monthly"]
    toggles = [r.path for r in kfp_server.requests if ":" in r.path]
    assert toggles == [
        f"/apis/v2beta1/recurringruns/{recurring_id}:enable",
        f"/apis/v2beta1/recurringruns/{recurring_id}:disable",
    ]


def test_runs_lists_the_experiment(kfp_server, config_file, capsys):
    experiment_id = kfp_server.add_experiment("clickpipe")
    run_id = kfp_server.add_run(
        experiment_id, "clickpipe-latest", "SUCCEEDED", "2026-11-02T06:00:00Z"
    )

    assert main(["kfp", "runs", "--config", str(config_file)]) == 0

    assert capsys.readouterr().out.split() == [
        run_id,
        "SUCCEEDED",
        "2026-11-02T06:00:00+00:00",
        "clickpipe-latest",
    ]


def test_missing_experiment_is_one_line_and_nothing_starts(
    kfp_server, config_file, uploaded, capsys
):
    args = ["--config", str(config_file), "--experiment", "nightly"]

    assert main(["kfp", "run", *args]) == 1

    assert _one_error_line(capsys) == (
        f"clickpipe: experiment 'nightly' does not exist on {kfp_server.host}; "
        "pass --create-experiment or --experiment NAME"
    )
    assert not kfp_server.posted("/runs")


def test_create_experiment_then_run(kfp_server, config_file, uploaded):
    args = ["--config", str(config_file), "--experiment", "nightly", "--create-experiment"]

    assert main(["kfp", "run", *args]) == 0

    [created] = kfp_server.posted("/experiments")
    [run] = kfp_server.posted("/runs")
    assert created.json["display_name"] == "nightly"
    assert kfp_server.experiments[run.json["experiment_id"]]["display_name"] == "nightly"


def test_bad_host_is_one_line(tmp_path, capsys):
    config = tmp_path / "kubeflow.toml"
    config.write_text(kubeflow_toml(host="http://no-such-kfp.invalid:8888"))

    assert main(["kfp", "runs", "--config", str(config)]) == 1

    line = _one_error_line(capsys)
    assert line.startswith(
        "clickpipe: cannot reach Kubeflow Pipelines at http://no-such-kfp.invalid:8888: "
    )
    assert line.endswith("(check --host or kubeflow.host)")


def test_host_option_wins_over_the_config(kfp_server, tmp_path):
    config = tmp_path / "kubeflow.toml"
    config.write_text(kubeflow_toml(host="http://no-such-kfp.invalid:8888"))
    kfp_server.add_experiment("clickpipe")

    assert main(["kfp", "runs", "--config", str(config), "--host", kfp_server.host]) == 0


def test_bad_cron_in_config_names_the_key_and_sends_nothing(kfp_server, tmp_path, capsys):
    config = tmp_path / "kubeflow.toml"
    config.write_text(kubeflow_toml(host=kfp_server.host, schedule="0 6 2 * *"))

    assert main(["kfp", "schedule", "create", "--config", str(config)]) == 1

    assert _one_error_line(capsys).startswith(
        "clickpipe: kubeflow.schedule '0 6 2 * *' has 5 fields"
    )
    assert kfp_server.requests == []


def test_unknown_param_sends_nothing(kfp_server, config_file, capsys):
    assert main(["kfp", "run", "--config", str(config_file), "--param", "month=2026-10"]) == 1

    assert _one_error_line(capsys) == (
        "clickpipe: --param month=2026-10: unknown parameter 'month' (known: span)"
    )
    assert kfp_server.requests == []


def test_run_before_upload_says_what_to_do(kfp_server, config_file, capsys):
    kfp_server.add_experiment("clickpipe")

    assert main(["kfp", "run", "--config", str(config_file)]) == 1

    assert _one_error_line(capsys) == (
        f"clickpipe: pipeline 'clickpipe' is not uploaded to {kfp_server.host}; "
        "run `clickpipe kfp upload` first"
    )


def test_missing_package_file(config_file, tmp_path, capsys):
    missing = tmp_path / "nope.yaml"

    assert main(["kfp", "upload", "--config", str(config_file), "--package", str(missing)]) == 1

    assert _one_error_line(capsys) == (
        f"clickpipe: --package {missing}: no such file (run `clickpipe kfp compile` first)"
    )


def _requests_with(kfp_server, header: str) -> set[str]:
    return {request.headers.get(header, "") for request in kfp_server.requests}


def test_the_token_comes_from_the_environment_out_of_sight_of_ps(kfp_server, config_file, capsys, monkeypatch):
    kfp_server.add_experiment("clickpipe")
    monkeypatch.setenv("KFP_EXISTING_TOKEN", "t0ken")

    assert main(["kfp", "runs", "--config", str(config_file)]) == 0

    assert _requests_with(kfp_server, "authorization") == {"Bearer t0ken"}
    assert capsys.readouterr().err == ""


def test_the_token_and_cookies_come_from_files(kfp_server, config_file, tmp_path, capsys):
    kfp_server.add_experiment("clickpipe")
    (tmp_path / "token").write_text("t0ken\n")
    (tmp_path / "cookies").write_text("authservice_session=abc\n")
    files = ["--existing-token-file", str(tmp_path / "token"), "--cookies-file", str(tmp_path / "cookies")]

    assert main(["kfp", "runs", "--config", str(config_file), *files]) == 0

    assert _requests_with(kfp_server, "authorization") == {"Bearer t0ken"}
    assert _requests_with(kfp_server, "cookie") == {"authservice_session=abc"}
    assert capsys.readouterr().err == ""


def test_a_token_on_the_command_line_still_works_with_a_warning(kfp_server, config_file, capsys, monkeypatch):
    kfp_server.add_experiment("clickpipe")
    monkeypatch.setenv("KFP_EXISTING_TOKEN", "from-env")

    assert main(["kfp", "runs", "--config", str(config_file), "--existing-token", "t0ken"]) == 0

    assert _requests_with(kfp_server, "authorization") == {"Bearer t0ken"}
    assert capsys.readouterr().err == (
        "clickpipe: warning: --existing-token on the command line is visible to other users (ps, /proc); "
        "use $KFP_EXISTING_TOKEN or --existing-token-file\n"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--existing-token", "a", "--existing-token-file", "f"], "give --existing-token or --existing-token-file"),
        (["--existing-token-file", "/no/such/token"], "--existing-token-file /no/such/token: No such file"),
    ],
)
def test_a_bad_credential_option_is_one_line_and_sends_nothing(kfp_server, config_file, capsys, extra, message):
    assert main(["kfp", "runs", "--config", str(config_file), *extra]) == 1

    assert _one_error_line(capsys).startswith(f"clickpipe: {message}")
    assert kfp_server.requests == []
