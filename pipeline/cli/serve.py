"""`clickpipe serve`: the TF-Serving-compatible server (its client is `clickpipe predict`, predict.py).

`serve` takes TF Serving's flag names (`--port`, `--rest_api_port`, `--model_name`,
`--model_base_path`, `--model_config_file`, `--enable_batching`, ...), so the official
server's command lines work here; see docs/serving.md for the few flags of our own.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from pipeline.cli.common import EXIT_OK, UserError, command_log, quiet_libraries, stop_requested
from pipeline.cli.parsing import LazyVersion
from pipeline.config import ClickpipeConfig, load_config

# The official image's environment (tensorflow/serving's entrypoint): the model is served from
# $MODEL_BASE_PATH/$MODEL_NAME.
MODEL_NAME_ENV = "MODEL_NAME"
MODEL_BASE_PATH_ENV = "MODEL_BASE_PATH"
# TF Serving tuning flags that change no answer: accepted so that its command lines run here.
NO_EFFECT_FLAGS = {
    "--num_load_threads": "versions load one at a time here",
    "--num_unload_threads": "versions unload one at a time here",
    "--flush_filesystem_caches": "no file system cache is kept here",
    "--per_process_gpu_memory_fraction": "no GPU is used here",
    "--remove_unused_fields_from_bundle_metagraph": "the meta graph is kept as loaded",
}
# TF Serving flags with behaviour this server lacks: refused with a message, not ignored.
UNSUPPORTED_FLAGS = (
    "--ssl_config_file",
    "--grpc_socket_path",
    "--grpc_channel_arguments",
    "--platform_config_file",
    "--tensorflow_session_config_file",
    "--thread_pool_factory_config_file",
    "--enable_signature_method_name_check",
    "--rest_api_enable_cors_support",
    "--enable_grpc_healthcheck_service",
    "--use_tflite_model",
    "--prefer_tflite_model",
    "--mixed_precision",
)


def _flag_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _add_bool(parser: argparse.ArgumentParser, name: str, default: bool, help_text: str) -> None:
    # TF Serving writes booleans as --flag, --flag=true or --flag=false.
    parser.add_argument(
        name,
        nargs="?",
        const=True,
        default=default,
        type=_flag_bool,
        metavar="BOOL",
        help=f"{help_text} (default: {str(default).lower()})",
    )


def _serving_version() -> str:
    # Read from the installed packages' metadata: printing it imports no TensorFlow.
    from importlib.metadata import version

    return (
        f"clickpipe serve {version('clickpipe')} (TensorFlow Serving API "
        f"{version('tensorflow-serving-api')}, TensorFlow Library {version('tensorflow')})"
    )


def register(commands, group) -> None:
    """Adds `serve`."""
    serve = commands.add_parser(
        "serve",
        help="Serve models over TF Serving's REST and gRPC APIs (no Docker needed).",
        description="Serve SavedModel versions with TensorFlow Serving's public API: gRPC "
        "(PredictionService, ModelService) on --port and REST on --rest_api_port. Flags use TF "
        "Serving's names; defaults come from the MODEL_NAME and MODEL_BASE_PATH environment "
        "variables (as in the official image), then the [serving] section of the config. Binds "
        "to 127.0.0.1 unless --host is given. Library logs go to <pipeline home>/logs/serve.log. "
        "Stops cleanly on Ctrl-C or SIGTERM.",
    )
    _model_flags(serve)
    _endpoint_flags(serve)
    _version_flags(serve)
    _thread_flags(serve)
    _limit_flags(serve)
    _request_log_flags(serve)
    _tf_serving_only_flags(serve)
    serve.set_defaults(handler=_serve)


def _model_flags(serve: argparse.ArgumentParser) -> None:
    """--version, --config, and the model to serve: by name and base path, or a model config file."""
    serve.add_argument("--version", action=LazyVersion, version=_serving_version, help="print versions and exit")
    serve.add_argument("--config", help="clickpipe config TOML for defaults (default: built-in)")
    serve.add_argument("--model_name", help="model name (default: $MODEL_NAME, else serving.model_name)")
    serve.add_argument(
        "--model_base_path",
        help="folder or gs:// URI holding numeric version folders (default: "
        "$MODEL_BASE_PATH/<model name>, else the config's serving model path)",
    )
    serve.add_argument(
        "--model_config_file",
        help="ModelServerConfig text proto (several models, "
        "version policies, labels); replaces --model_name/--model_base_path",
    )
    serve.add_argument(
        "--model_config_file_poll_wait_seconds",
        type=float,
        default=0.0,
        help="re-read --model_config_file this often; 0 never (default: 0)",
    )


def _endpoint_flags(serve: argparse.ArgumentParser) -> None:
    """Where to listen, and how REST connections are handled."""
    serve.add_argument("--port", type=int, help="gRPC port (default: serving.grpc_port, 8500)")
    serve.add_argument(
        "--rest_api_port",
        type=int,
        help="REST port (default: serving.rest_port, 8501); 0 picks a free port",
    )
    serve.add_argument(
        "--rest_api_num_threads",
        type=int,
        help="REST requests handled at once; more wait (default: 4 x schedulable CPUs)",
    )
    serve.add_argument(
        "--rest_api_timeout_in_ms",
        type=int,
        help="close a REST connection that sends nothing for this long; also the longest a "
        "request waits for room in the in-flight budget (default: 30000)",
    )
    serve.add_argument("--host", help="address to bind (ours; default: serving.host, 127.0.0.1)")
    serve.add_argument("--rest_api_host", help="address for REST if different from --host (ours)")


def _version_flags(serve: argparse.ArgumentParser) -> None:
    """How versions are found, loaded, warmed up, batched and measured."""
    serve.add_argument(
        "--file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="poll base paths for new versions this often; 0 polls once (default: 1)",
    )
    serve.add_argument(
        "--max_num_load_retries",
        type=int,
        help="retries of a version that failed to load, on the polls (default: 5)",
    )
    serve.add_argument(
        "--load_retry_interval_micros",
        type=int,
        help="least time between those retries, in microseconds (default: 60000000)",
    )
    _add_bool(serve, "--enable_batching", False, "batch concurrent requests")
    serve.add_argument(
        "--batching_parameters_file", help="BatchingParameters text proto; implies batching"
    )
    serve.add_argument(
        "--monitoring_config_file",
        help="MonitoringConfig text proto enabling Prometheus "
        "metrics, e.g. prometheus_config { enable: true }",
    )
    _add_bool(
        serve, "--enable_model_warmup", True, "replay assets.extra/tf_serving_warmup_requests"
    )
    serve.add_argument(
        "--num_request_iterations_for_warmup",
        type=int,
        default=1,
        help="times each warmup record is replayed (default: 1)",
    )
    _add_bool(
        serve,
        "--allow_version_labels_for_unavailable_models",
        False,
        "allow labels on versions that are not loaded",
    )
    serve.add_argument(
        "--saved_model_tags",
        default="serve",
        help="meta graph tags, comma-separated (default: serve)",
    )


def _thread_flags(serve: argparse.ArgumentParser) -> None:
    """gRPC and TensorFlow threads."""
    serve.add_argument(
        "--grpc_max_threads", type=int, default=16, help="gRPC worker threads (default: 16)"
    )
    serve.add_argument(
        "--tensorflow_session_parallelism",
        type=int,
        default=0,
        help="threads of both TensorFlow pools; 0 lets TensorFlow choose (default: 0)",
    )
    serve.add_argument(
        "--tensorflow_intra_op_parallelism",
        type=int,
        default=0,
        help="TensorFlow intra-op threads; 0 lets TensorFlow choose (default: 0)",
    )
    serve.add_argument(
        "--tensorflow_inter_op_parallelism",
        type=int,
        default=0,
        help="TensorFlow inter-op threads; 0 lets TensorFlow choose (default: 0)",
    )


def _limit_flags(serve: argparse.ArgumentParser) -> None:
    """How much is accepted at once (our flags; past them a request is refused)."""
    serve.add_argument(
        "--max_request_bytes",
        type=int,
        default=16 * 1024 * 1024,
        help="largest REST body or gRPC message accepted (ours; default: 16 MiB)",
    )
    serve.add_argument(
        "--max_inflight_request_bytes",
        type=int,
        help="request bytes handled at once, REST and gRPC together (ours; default: 2 x "
        "--max_request_bytes)",
    )
    serve.add_argument(
        "--rest_api_max_connections",
        type=int,
        help="open REST connections; past it a connection gets 429 (ours; default: 256)",
    )
    serve.add_argument(
        "--grpc_max_concurrent_rpcs",
        type=int,
        help="gRPC calls answered or queued; past it RESOURCE_EXHAUSTED (ours; default: 256)",
    )


def _request_log_flags(serve: argparse.ArgumentParser) -> None:
    """Sampled requests for skew monitoring (our flags)."""
    serve.add_argument(
        "--request_log_dir",
        help="write sampled requests here as tf.Example TFRecords for skew monitoring (ours)",
    )
    serve.add_argument(
        "--request_log_sampling_rate",
        type=float,
        default=0.0,
        help="fraction of requests logged to --request_log_dir (ours; default: 0)",
    )


def _tf_serving_only_flags(serve: argparse.ArgumentParser) -> None:
    """TF Serving flags with no effect here (accepted) or no implementation (refused)."""
    tuning = serve.add_argument_group(
        "accepted for TF Serving command lines, no effect here",
        "Tuning flags of the official server that change no answer; a value is accepted and noted.",
    )
    for flag, reason in NO_EFFECT_FLAGS.items():
        tuning.add_argument(flag, nargs="?", const="true", metavar="VALUE", help=reason)
    serve.unsupported.update(
        {
            flag: f"{flag} is a TF Serving flag that clickpipe serve does not implement; see "
            "docs/serving.md, or run the official tensorflow/serving image for it"
            for flag in UNSUPPORTED_FLAGS
        }
    )


def served_model(args: argparse.Namespace, config: ClickpipeConfig, environ: Mapping[str, str]) -> tuple[str, str]:
    """The model name and base path to serve: flags, then the official image's environment
    (`$MODEL_BASE_PATH/$MODEL_NAME`), then the config.

    Raises:
        UserError: a local base path that is not a folder.
        ConfigError: a model name TF Serving would not take.
    """
    named_by = "--model_name" if args.model_name else f"${MODEL_NAME_ENV}"
    name = args.model_name or environ.get(MODEL_NAME_ENV) or None
    # Checked as the config checks serving.model_name, and blamed on the flag or variable.
    config = config.with_flags({named_by: ("serving.model_name", name)})
    name = config.serving.model_name
    if args.model_base_path:
        base_path, given_as = args.model_base_path, "--model_base_path"
    elif environ.get(MODEL_BASE_PATH_ENV):
        base_path = f"{environ[MODEL_BASE_PATH_ENV].rstrip('/')}/{name}"
        given_as = f"${MODEL_BASE_PATH_ENV}/<model name>"
    else:
        base_path, given_as = config.model_base_path, "the model base path"
    if not base_path.startswith("gs://") and not Path(base_path).is_dir():
        raise UserError(
            f"{given_as} {base_path} is not a folder (it should hold numeric version "
            "folders, e.g. 1/saved_model.pb)"
        )
    return name, base_path


def _thread_pools(args: argparse.Namespace) -> tuple[int, int]:
    """TensorFlow's (intra-op, inter-op) threads as TF Serving sets them; 0 lets TF choose."""
    intra, inter = args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism
    if args.tensorflow_session_parallelism:
        if intra or inter:
            raise UserError(
                "give --tensorflow_session_parallelism or --tensorflow_intra_op_parallelism/"
                "--tensorflow_inter_op_parallelism, not both"
            )
        return args.tensorflow_session_parallelism, args.tensorflow_session_parallelism
    return intra, inter


def server_options(args: argparse.Namespace, config: ClickpipeConfig):
    """The `ServerOptions` of the flags; a flag not given keeps the server's default."""
    from serving.server import ServerOptions
    from serving.server_config import BatchingOptions, read_batching_parameters, read_monitoring_config

    batching = None
    if args.batching_parameters_file:
        batching = read_batching_parameters(args.batching_parameters_file)
    elif args.enable_batching:
        batching = BatchingOptions()
    optional = (
        "rest_api_num_threads",
        "rest_api_timeout_in_ms",
        "rest_api_max_connections",
        "grpc_max_concurrent_rpcs",
        "max_inflight_request_bytes",
        "max_num_load_retries",
        "load_retry_interval_micros",
    )
    return ServerOptions(
        host=args.host or config.serving.host,
        rest_api_host=args.rest_api_host,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        batching=batching,
        prometheus_path=read_monitoring_config(args.monitoring_config_file)
        if args.monitoring_config_file
        else None,
        request_log_dir=args.request_log_dir,
        request_log_sampling_rate=args.request_log_sampling_rate,
        max_request_bytes=args.max_request_bytes,
        grpc_max_threads=args.grpc_max_threads,
        saved_model_tags=tuple(
            tag.strip() for tag in args.saved_model_tags.split(",") if tag.strip()
        ),
        enable_model_warmup=args.enable_model_warmup,
        num_request_iterations_for_warmup=args.num_request_iterations_for_warmup,
        allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
        **{name: getattr(args, name) for name in optional if getattr(args, name) is not None},
    )


def _serve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    # Checked before TensorFlow loads, so that a wrong path is refused at once.
    if args.model_config_file and (args.model_base_path or args.model_name):
        raise UserError("give --model_config_file or --model_name/--model_base_path, not both")
    model = None if args.model_config_file else served_model(args, config, os.environ)
    intra, inter = _thread_pools(args)
    ignored = [flag for flag in NO_EFFECT_FLAGS if getattr(args, flag[2:]) is not None]
    log_path = command_log(config.pipeline.home, "serve")
    with quiet_libraries(log_path) as terminal:
        # The server's own warnings (a version that fails to load) stay on the terminal.
        warnings_handler = logging.StreamHandler(terminal)
        warnings_handler.setLevel(logging.WARNING)
        warnings_handler.setFormatter(_OneLine("clickpipe serve: "))
        serving_log = logging.getLogger("clickpipe.serving")
        serving_log.addHandler(warnings_handler)
        try:
            return _run_server(args, config, model, (intra, inter), ignored, log_path)
        finally:
            serving_log.removeHandler(warnings_handler)


def _run_server(args, config, model, threads: tuple[int, int], ignored: list[str], log_path: Path) -> int:
    from serving.errors import ServingError
    from serving.server import ModelServer
    from serving.server_config import ServingConfigError

    if any(threads):
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads[0])
        tf.config.threading.set_inter_op_parallelism_threads(threads[1])
    ports = {
        "grpc_port": config.serving.grpc_port if args.port is None else args.port,
        "rest_port": config.serving.rest_port if args.rest_api_port is None else args.rest_api_port,
    }
    try:
        options = server_options(args, config)
        if model is None:
            server = ModelServer(model_config_file=args.model_config_file, options=options, **ports)
        else:
            server = ModelServer(model[1], model[0], options=options, **ports)
        server.start()
    except ServingConfigError as exc:
        raise UserError(str(exc)) from None
    except ServingError as exc:
        raise UserError(f"cannot start serving: {exc.message}") from None
    except OSError as exc:
        raise UserError(f"cannot listen on the requested ports: {exc}") from None
    stop = stop_requested()
    if ignored:
        print(f"clickpipe serve: {', '.join(ignored)}: accepted, no effect here (see --help)")
    for name in server.manager.model_names():
        states = ", ".join(
            f"v{s.version} {s.state.name}" + (f" ({s.error.message})" if s.error else "")
            for s in _statuses(server, name)
        )
        print(f"clickpipe serve: model {name}: {states or 'no versions yet (polling)'}")
    print(f"clickpipe serve: logs in {log_path}")
    print(
        f"clickpipe serve: gRPC on {server.grpc_target}, REST on {server.rest_url}"
        + (
            f", metrics at {server.rest_url}{server.options.prometheus_path}"
            if server.options.prometheus_path
            else ""
        )
        + " (Ctrl-C to stop)",
        flush=True,
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
    print("clickpipe serve: stopped")
    return EXIT_OK


class _OneLine(logging.Formatter):
    """A log record as one line after a prefix; tracebacks stay in the log file."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        return self.prefix + (record.getMessage().splitlines() or [""])[0]


def _statuses(server, name: str) -> list:
    from serving.errors import ServingError

    try:
        return server.manager.status(name)
    except ServingError:
        return []
