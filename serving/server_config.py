"""The server's own config files, in TF Serving's text-proto formats, validated once.

`--model_config_file` is a `ModelServerConfig` (from tensorflow-serving-api). The batching
and monitoring files are `BatchingParameters` and `MonitoringConfig`, whose Python classes
tensorflow-serving-api does not ship; we declare the same messages (same package, names and
fields) in a private descriptor pool so the very same files parse here and in TF Serving.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
LABEL_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
REMOTE_SCHEMES = ("gs://",)

# The TF Serving messages tensorflow-serving-api lacks, as a FileDescriptorProto.
_EXTRA_PROTOS = """
name: "clickpipe/serving/tf_serving_extra.proto"
package: "tensorflow.serving"
dependency: "google/protobuf/wrappers.proto"
syntax: "proto3"
message_type {
  name: "BatchingParameters"
  field { name: "max_batch_size" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".google.protobuf.Int64Value" }
  field { name: "batch_timeout_micros" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".google.protobuf.Int64Value" }
  field { name: "max_enqueued_batches" number: 3 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".google.protobuf.Int64Value" }
  field { name: "num_batch_threads" number: 4 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".google.protobuf.Int64Value" }
  field { name: "thread_pool_name" number: 5 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".google.protobuf.StringValue" }
  field { name: "allowed_batch_sizes" number: 6 label: LABEL_REPEATED type: TYPE_INT64 }
  field { name: "pad_variable_length_inputs" number: 7 label: LABEL_OPTIONAL type: TYPE_BOOL }
}
message_type {
  name: "PrometheusConfig"
  field { name: "enable" number: 1 label: LABEL_OPTIONAL type: TYPE_BOOL }
  field { name: "path" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
}
message_type {
  name: "MonitoringConfig"
  field { name: "prometheus_config" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".tensorflow.serving.PrometheusConfig" }
}
"""


class ServingConfigError(ValueError):
    """A serving config a user must fix; the message names the file or flag and the field."""


@functools.cache
def _extra_messages() -> dict[str, type]:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    file_proto = text_format.Parse(_EXTRA_PROTOS, descriptor_pb2.FileDescriptorProto())
    pool.Add(file_proto)
    factory = message_factory.MessageFactory(pool)
    return {
        name: factory.GetPrototype(pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))
        for name in ("BatchingParameters", "MonitoringConfig")
    }


@dataclass(frozen=True)
class BatchingOptions:
    """Dynamic batching settings, with TF Serving's defaults for omitted fields."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 100
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.num_batch_threads < 1 or self.max_enqueued_batches < 1:
            raise ServingConfigError(
                "batching parameters: max_batch_size, num_batch_threads and "
                "max_enqueued_batches must be >= 1"
            )
        if self.batch_timeout_micros < 0:
            raise ServingConfigError("batching parameters: batch_timeout_micros must be >= 0")
        sizes = self.allowed_batch_sizes
        if sizes and (list(sizes) != sorted(set(sizes)) or sizes[-1] != self.max_batch_size):
            raise ServingConfigError(
                "batching parameters: allowed_batch_sizes must increase and end with max_batch_size"
            )


def _read_text(path: str | Path, what: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ServingConfigError(f"cannot read {what} {path}: {exc.strerror}") from None


def _parse(text: str, message, source: str):
    try:
        return text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise ServingConfigError(
            f"{source} is not a valid {message.DESCRIPTOR.name}: {exc}"
        ) from None


def parse_batching_parameters(text: str, source: str = "batching parameters") -> BatchingOptions:
    """Batching options from a `BatchingParameters` text proto (TF Serving's file format)."""
    proto = _parse(text, _extra_messages()["BatchingParameters"](), source)
    defaults = BatchingOptions()
    values = {}
    for name in (
        "max_batch_size",
        "batch_timeout_micros",
        "max_enqueued_batches",
        "num_batch_threads",
    ):
        values[name] = (
            getattr(proto, name).value if proto.HasField(name) else getattr(defaults, name)
        )
    try:
        return BatchingOptions(
            **values,
            allowed_batch_sizes=tuple(proto.allowed_batch_sizes),
            pad_variable_length_inputs=proto.pad_variable_length_inputs,
        )
    except ServingConfigError as exc:
        raise ServingConfigError(f"{source}: {exc}") from None


def read_batching_parameters(path: str | Path) -> BatchingOptions:
    """Reads `--batching_parameters_file`."""
    return parse_batching_parameters(_read_text(path, "batching parameters file"), str(path))


def parse_monitoring_config(text: str, source: str = "monitoring config") -> str | None:
    """The Prometheus metrics path a `MonitoringConfig` text proto enables, or None if disabled."""
    proto = _parse(text, _extra_messages()["MonitoringConfig"](), source)
    prometheus = proto.prometheus_config
    if not prometheus.enable:
        return None
    path = prometheus.path or DEFAULT_PROMETHEUS_PATH
    if not path.startswith("/") or path.lower().startswith("/v1/"):
        raise ServingConfigError(f"{source}: prometheus_config.path must start with / and not /v1/")
    return path


def read_monitoring_config(path: str | Path) -> str | None:
    """Reads `--monitoring_config_file`; returns the metrics path or None."""
    return parse_monitoring_config(_read_text(path, "monitoring config file"), str(path))


def validate_model_name(name: str, source: str = "model name") -> str:
    """Returns `name` if it is a safe model name (letters, digits, `_.-`; not `.` or `..`)."""
    if not MODEL_NAME_RE.match(name or "") or name in (".", ".."):
        raise ServingConfigError(
            f"{source} {name!r} is not a valid model name (1-128 letters, digits, '_', '.', '-')"
        )
    return name


def validate_base_path(path: str, source: str = "base_path") -> str:
    """Returns `path` if it is a local path or gs:// URI without `..` segments."""
    if not path or "\x00" in path:
        raise ServingConfigError(f"{source} must be a non-empty path")
    if "://" in path and not path.startswith(REMOTE_SCHEMES):
        raise ServingConfigError(f"{source} {path!r}: only local paths and gs:// are supported")
    if ".." in path.replace("\\", "/").split("/"):
        raise ServingConfigError(f"{source} {path!r} must not contain '..'")
    return path


def _validate_model(model, source: str) -> None:
    where = f"{source}: model {model.name!r}"
    validate_model_name(model.name, f"{source}: name")
    validate_base_path(model.base_path, f"{where} base_path")
    if model.model_platform not in ("", "tensorflow"):
        raise ServingConfigError(f"{where}: model_platform must be 'tensorflow'")
    policy = model.model_version_policy
    if policy.WhichOneof("policy_choice") == "latest" and policy.latest.num_versions < 1:
        raise ServingConfigError(f"{where}: model_version_policy.latest.num_versions must be >= 1")
    if policy.WhichOneof("policy_choice") == "specific" and not policy.specific.versions:
        raise ServingConfigError(f"{where}: model_version_policy.specific needs versions")
    for label, version in model.version_labels.items():
        if not LABEL_RE.match(label) or version < 0:
            raise ServingConfigError(f"{where}: version label {label!r} -> {version} is not valid")


def validate_model_server_config(config, source: str = "model config"):
    """Checks a `ModelServerConfig`; returns it. Raises ServingConfigError naming the field."""
    if config.WhichOneof("config") != "model_config_list":
        raise ServingConfigError(f"{source}: only model_config_list is supported")
    names = [model.name for model in config.model_config_list.config]
    if not names:
        raise ServingConfigError(f"{source}: model_config_list has no config entries")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ServingConfigError(f"{source}: duplicate model names {', '.join(duplicates)}")
    for model in config.model_config_list.config:
        _validate_model(model, source)
    return config


def parse_model_server_config(text: str, source: str = "model config"):
    """A validated `ModelServerConfig` from its text-proto form (`--model_config_file`)."""
    config = _parse(text, model_server_config_pb2.ModelServerConfig(), source)
    return validate_model_server_config(config, source)


def read_model_server_config(path: str | Path):
    """Reads `--model_config_file`."""
    return parse_model_server_config(_read_text(path, "model config file"), str(path))


def single_model_config(model_name: str, model_base_path: str):
    """The config `--model_name`/`--model_base_path` stand for: one model, latest version."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = model_name
    model.base_path = model_base_path
    model.model_platform = "tensorflow"
    return validate_model_server_config(config, "--model_name/--model_base_path")
