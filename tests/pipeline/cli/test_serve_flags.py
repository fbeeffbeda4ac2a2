"""`clickpipe serve`'s TF Serving flags and environment, down to the server's options."""

from __future__ import annotations

import pytest

from pipeline.cli import build_parser, main
from pipeline.cli.common import EXIT_FAILED, UserError
from pipeline.cli.serve import served_model, server_options
from pipeline.config import ConfigError, load_config
from serving.server import ServerOptions


def _options(*flags: str) -> ServerOptions:
    return server_options(build_parser().parse_args(["serve", *flags]), load_config())


def test_tf_serving_limits_reach_the_server():
    options = _options(
        "--rest_api_num_threads=3",
        "--rest_api_timeout_in_ms",
        "1500",
        "--max_num_load_retries=0",
        "--load_retry_interval_micros=250000",
        "--rest_api_max_connections=9",
        "--grpc_max_concurrent_rpcs=7",
        "--max_request_bytes=1000",
        "--max_inflight_request_bytes=5000",
    )

    assert (options.rest_api_num_threads, options.rest_api_timeout_in_ms) == (3, 1500)
    assert (options.max_num_load_retries, options.load_retry_interval_micros) == (0, 250_000)
    assert (options.rest_api_max_connections, options.grpc_max_concurrent_rpcs) == (9, 7)
    assert options.inflight_request_bytes == 5000


def test_limits_not_given_keep_the_servers_defaults():
    assert _options() == ServerOptions()


def test_a_bad_limit_is_one_line(tmp_path, capsys):
    config = tmp_path / "home.toml"
    config.write_text(f'[pipeline]\nhome = "{tmp_path}"\n')
    argv = ["serve", "--config", str(config), "--model_base_path", str(tmp_path), "--rest_api_num_threads=0"]

    assert main(argv) == EXIT_FAILED

    assert capsys.readouterr().err == "clickpipe: --rest_api_num_threads must be at least 1, got 0\n"


def _served(tmp_path, environ: dict, *flags: str) -> tuple[str, str]:
    config = load_config().with_overrides(pipeline={"home": str(tmp_path / "home")})
    return served_model(build_parser().parse_args(["serve", *flags]), config, environ)


def test_the_official_images_environment_names_the_model(tmp_path):
    (tmp_path / "models" / "ads").mkdir(parents=True)

    environ = {"MODEL_NAME": "ads", "MODEL_BASE_PATH": str(tmp_path / "models")}

    assert _served(tmp_path, environ) == ("ads", str(tmp_path / "models" / "ads"))


def test_flags_come_before_the_environment(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    environ = {"MODEL_NAME": "ads", "MODEL_BASE_PATH": "/nowhere"}

    served = _served(tmp_path, environ, "--model_name=m", f"--model_base_path={tmp_path / 'elsewhere'}")

    assert served == ("m", str(tmp_path / "elsewhere"))


def test_model_name_alone_serves_it_from_the_pipeline_home(tmp_path):
    (tmp_path / "home" / "serving-models" / "ads").mkdir(parents=True)

    assert _served(tmp_path, {"MODEL_NAME": "ads"}) == ("ads", str(tmp_path / "home" / "serving-models" / "ads"))


def test_a_missing_base_from_the_environment_names_the_variable(tmp_path):
    with pytest.raises(UserError, match=r"^\$MODEL_BASE_PATH/<model name> /srv/models/ads is not a folder"):
        _served(tmp_path, {"MODEL_NAME": "ads", "MODEL_BASE_PATH": "/srv/models/"})


def test_version_prints_the_serving_stack_without_loading_tensorflow(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--version"])

    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("clickpipe serve 0.1.0 (TensorFlow Serving API 2.16.1")


def test_session_parallelism_and_the_pool_flags_exclude_each_other(tmp_path, capsys):
    argv = ["serve", "--model_base_path", str(tmp_path), "--tensorflow_session_parallelism=2"]

    assert main([*argv, "--tensorflow_intra_op_parallelism=1"]) == EXIT_FAILED
    assert "give --tensorflow_session_parallelism or" in capsys.readouterr().err


def test_tuning_flags_without_effect_here_are_accepted():
    args = build_parser().parse_args(["serve", "--num_load_threads=4", "--flush_filesystem_caches"])

    assert (args.num_load_threads, args.flush_filesystem_caches) == ("4", "true")


def test_a_bad_model_name_from_the_environment_is_blamed_on_it(tmp_path):
    with pytest.raises(ConfigError, match=r"^\$MODEL_NAME 'my model': String should match pattern"):
        _served(tmp_path, {"MODEL_NAME": "my model"})
