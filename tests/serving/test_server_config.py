"""Serving config files in TF Serving's text-proto formats, and name/path validation."""

from __future__ import annotations

import pytest

from serving import server_config
from serving.server_config import BatchingOptions, ServingConfigError


def test_model_server_config_with_policy_and_labels():
    config = server_config.parse_model_server_config(
        'model_config_list { config { name: "clickpipe" base_path: "gs://bucket/models/clickpipe" '
        'model_platform: "tensorflow" model_version_policy { latest { num_versions: 2 } } '
        'version_labels { key: "stable" value: 3 } } }'
    )
    [model] = config.model_config_list.config
    assert (model.name, model.base_path) == ("clickpipe", "gs://bucket/models/clickpipe")
    assert model.model_version_policy.latest.num_versions == 2
    assert dict(model.version_labels) == {"stable": 3}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('model_config_list { config { nam: "x" } }', 'has no field named "nam"'),
        ("model_config_list { }", "no config entries"),
        ('model_config_list { config { name: "a/b" base_path: "/m" } }', "not a valid model name"),
        ('model_config_list { config { name: ".." base_path: "/m" } }', "not a valid model name"),
        (
            'model_config_list { config { name: "m" base_path: "/models/../etc" } }',
            "must not contain '..'",
        ),
        (
            'model_config_list { config { name: "m" base_path: "s3://b/m" } }',
            "only local paths and gs://",
        ),
        ('model_config_list { config { name: "m" base_path: "" } }', "non-empty path"),
        (
            'model_config_list { config { name: "m" base_path: "/m" model_platform: "pytorch" } }',
            "model_platform",
        ),
        (
            'model_config_list { config { name: "m" base_path: "/m" '
            "model_version_policy { specific { } } } }",
            "specific needs versions",
        ),
        (
            'model_config_list { config { name: "m" base_path: "/a" } '
            'config { name: "m" base_path: "/b" } }',
            "duplicate model names m",
        ),
    ],
)
def test_bad_model_configs_name_the_problem(text, message):
    with pytest.raises(ServingConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        server_config.parse_model_server_config(text, "models.config")


def test_model_config_file_errors_name_the_file(tmp_path):
    with pytest.raises(ServingConfigError, match="cannot read model config file .*missing.config"):
        server_config.read_model_server_config(tmp_path / "missing.config")
    bad = tmp_path / "bad.config"
    bad.write_text("model_config_list {")
    with pytest.raises(ServingConfigError, match=f"{bad} is not a valid ModelServerConfig"):
        server_config.read_model_server_config(bad)


def test_batching_parameters_file_with_tf_serving_defaults(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text(
        "max_batch_size { value: 64 }\nbatch_timeout_micros { value: 2000 }\n"
        "num_batch_threads { value: 2 }\nallowed_batch_sizes: 16\nallowed_batch_sizes: 64\n"
    )
    options = server_config.read_batching_parameters(path)
    assert options == BatchingOptions(
        max_batch_size=64,
        batch_timeout_micros=2000,
        max_enqueued_batches=100,
        num_batch_threads=2,
        allowed_batch_sizes=(16, 64),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_batch_size { value: 0 }", "must be >= 1"),
        ("max_batch_size { value: 8 } allowed_batch_sizes: 4", "end with max_batch_size"),
        ("batch_timeout_micros { value: -1 }", "batch_timeout_micros must be >= 0"),
        ("max_batch_sise { value: 8 }", 'has no field named "max_batch_sise"'),
    ],
)
def test_bad_batching_parameters(text, message):
    with pytest.raises(ServingConfigError, match=message):
        server_config.parse_batching_parameters(text)


def test_monitoring_config_enables_prometheus_like_tf_serving():
    assert server_config.parse_monitoring_config("prometheus_config { enable: true }") == (
        "/monitoring/prometheus/metrics"
    )
    assert (
        server_config.parse_monitoring_config('prometheus_config { enable: true path: "/metrics" }')
        == "/metrics"
    )
    assert server_config.parse_monitoring_config("prometheus_config { enable: false }") is None
    with pytest.raises(ServingConfigError, match="must start with /"):
        server_config.parse_monitoring_config('prometheus_config { enable: true path: "/v1/x" }')


def test_single_model_config_validates_name_and_path():
    config = server_config.single_model_config("clickpipe", "/models/clickpipe")
    assert config.model_config_list.config[0].name == "clickpipe"
    with pytest.raises(ServingConfigError, match="--model_name/--model_base_path: name"):
        server_config.single_model_config("../x", "/models")


def test_tensorflow_errors_keep_the_kernel_message_and_code():
    import grpc
    import tensorflow as tf

    from serving.errors import from_tensorflow

    eager = tf.errors.InvalidArgumentError(
        None,
        None,
        "Graph execution error:\n\nDetected at node P defined at (most recent call last):\n"
        "<stack traces unavailable>\nFeature: a is required but could not be found.\n"
        "\t [[{{node P}}]] [Op:__inference_signature_wrapper_1]",
    )
    error = from_tensorflow(eager)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.http_status == 400
    assert error.message == "Feature: a is required but could not be found.\n\t [[{{node P}}]]"
    assert from_tensorflow(tf.errors.ResourceExhaustedError(None, None, "OOM")).http_status == 429
