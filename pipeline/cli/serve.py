"""`clickpipe serve` (the TF-Serving-compatible server) and `clickpipe predict` (its client).

`serve` takes TF Serving's flag names (`--port`, `--rest_api_port`, `--model_name`,
`--model_base_path`, `--model_config_file`, `--enable_batching`, ...), so the official
server's command lines work here; see docs/serving.md for the few flags of our own.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

from pipeline.cli.common import EXIT_OK, UserError, prepare_tensorflow, stop_requested
from pipeline.config import load_config


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


def register(commands, group) -> None:
    """Adds `serve` and `predict`."""
    serve = commands.add_parser(
        "serve",
        help="Serve models over TF Serving's REST and gRPC APIs (no Docker needed).",
        description="Serve SavedModel versions with TensorFlow Serving's public API: gRPC "
        "(PredictionService, ModelService) on --port and REST on --rest_api_port. Flags use TF "
        "Serving's names; defaults come from the [serving] section of the config. Binds to "
        "127.0.0.1 unless --host is given. Stops cleanly on Ctrl-C or SIGTERM.",
    )
    serve.add_argument("--config", help="clickpipe config TOML for defaults (default: built-in)")
    serve.add_argument("--model_name", help="model name (default: serving.model_name)")
    serve.add_argument(
        "--model_base_path",
        help="folder or gs:// URI holding numeric version folders "
        "(default: the config's serving model path)",
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
    serve.add_argument("--port", type=int, help="gRPC port (default: serving.grpc_port, 8500)")
    serve.add_argument(
        "--rest_api_port",
        type=int,
        help="REST port (default: serving.rest_port, 8501); 0 picks a free port",
    )
    serve.add_argument("--host", help="address to bind (default: serving.host, 127.0.0.1)")
    serve.add_argument("--rest_api_host", help="address for REST if different from --host")
    serve.add_argument(
        "--file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="poll base paths for new versions this often; 0 polls once (default: 1)",
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
    serve.add_argument(
        "--grpc_max_threads", type=int, default=16, help="gRPC worker threads (default: 16)"
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
    serve.add_argument(
        "--max_request_bytes",
        type=int,
        default=16 * 1024 * 1024,
        help="largest REST body or gRPC message accepted (ours; default: 16 MiB)",
    )
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
    serve.set_defaults(handler=_serve)

    predict = commands.add_parser(
        "predict",
        help="Score one impression against a TF Serving endpoint (ours or the official one).",
        description="Builds the model input from one impression, given as a CSV row (in the span's "
        "column order, or --csv_header) or a JSON object of column values, and calls Predict over "
        "REST (--rest_url) or gRPC (--grpc_target). Creatives are read from --source. Prints the "
        "outputs as JSON.",
    )
    impression = predict.add_mutually_exclusive_group(required=True)
    impression.add_argument("--csv_row", help="one CSV data line of an impressions span")
    impression.add_argument("--json", help="a JSON object of column values, or @FILE")
    predict.add_argument(
        "--csv_header",
        help="comma-separated column names of --csv_row (default: the config's CSV columns)",
    )
    endpoint = predict.add_mutually_exclusive_group()
    endpoint.add_argument(
        "--rest_url",
        help="REST endpoint, e.g. http://127.0.0.1:8501 "
        "(default: the config's serving host and REST port)",
    )
    endpoint.add_argument("--grpc_target", help="gRPC endpoint, e.g. 127.0.0.1:8500")
    predict.add_argument("--config", help="clickpipe config TOML (default: built-in)")
    predict.add_argument("--model_name", help="model name (default: serving.model_name)")
    predict.add_argument(
        "--signature_name",
        default="serving_default",
        help="signature to call: one taking serialized tf.Examples, or one input per "
        "raw feature such as predict_raw (default: serving_default)",
    )
    version = predict.add_mutually_exclusive_group()
    version.add_argument("--model_version", type=int, help="a specific version (default: latest)")
    version.add_argument("--version_label", help="a version label such as stable")
    predict.add_argument(
        "--source",
        help="dataset folder or gs:// prefix holding the creatives (default: dataset.source)",
    )
    predict.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per call (default: 30)"
    )
    predict.set_defaults(handler=_predict)


def _server_from_args(args: argparse.Namespace):
    from serving.server import ModelServer, ServerOptions
    from serving.server_config import (
        BatchingOptions,
        read_batching_parameters,
        read_monitoring_config,
    )

    config = load_config(args.config)
    batching = None
    if args.batching_parameters_file:
        batching = read_batching_parameters(args.batching_parameters_file)
    elif args.enable_batching:
        batching = BatchingOptions()
    options = ServerOptions(
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
    )
    ports = {
        "grpc_port": config.serving.grpc_port if args.port is None else args.port,
        "rest_port": config.serving.rest_port if args.rest_api_port is None else args.rest_api_port,
    }
    if args.model_config_file:
        if args.model_base_path or args.model_name:
            raise UserError("give --model_config_file or --model_name/--model_base_path, not both")
        return ModelServer(model_config_file=args.model_config_file, options=options, **ports)
    base_path = args.model_base_path or config.model_base_path
    if not base_path.startswith("gs://") and not Path(base_path).is_dir():
        raise UserError(
            f"--model_base_path {base_path} is not a folder (it should hold numeric version "
            "folders, e.g. 1/saved_model.pb)"
        )
    return ModelServer(
        base_path, args.model_name or config.serving.model_name, options=options, **ports
    )


def _serve(args: argparse.Namespace) -> int:
    prepare_tensorflow()
    from serving.errors import ServingError
    from serving.server_config import ServingConfigError

    if args.tensorflow_intra_op_parallelism or args.tensorflow_inter_op_parallelism:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.tensorflow_intra_op_parallelism)
        tf.config.threading.set_inter_op_parallelism_threads(args.tensorflow_inter_op_parallelism)
    try:
        server = _server_from_args(args)
        server.start()
    except ServingConfigError as exc:
        raise UserError(str(exc)) from None
    except ServingError as exc:
        raise UserError(f"cannot start serving: {exc.message}") from None
    except OSError as exc:
        raise UserError(f"cannot listen on the requested ports: {exc}") from None
    stop = stop_requested()
    for name in server.manager.model_names():
        states = ", ".join(
            f"v{s.version} {s.state.name}" + (f" ({s.error.message})" if s.error else "")
            for s in _statuses(server, name)
        )
        print(f"clickpipe serve: model {name}: {states or 'no versions yet (polling)'}")
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


def _statuses(server, name: str) -> list:
    from serving.errors import ServingError

    try:
        return server.manager.status(name)
    except ServingError:
        return []


def _impression(args: argparse.Namespace, registry, source: str):
    """The impression of `--csv_row` or `--json` through the raw-row contract, with its images."""
    from trainer import rows

    if args.csv_row is not None:
        header = [c.strip() for c in args.csv_header.split(",")] if args.csv_header else registry.csv_columns
        parsed = rows.RowParser(registry, header, with_label=False).parse(args.csv_row.encode())
    else:
        parsed = rows.parse_mapping(registry, _json_impression(args.json), with_label=False)
    if not isinstance(parsed, rows.Rejected):
        images = rows.attach_images(parsed, creative_reader(source))
        if not isinstance(images, rows.Rejected):
            return parsed, images
        parsed = images
    raise UserError(f"the impression is not valid model input ({parsed.reason}): {parsed.detail}")


def _json_impression(text: str) -> dict:
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            raise UserError(f"cannot read --json file {text[1:]}: {exc.strerror}") from None
    try:
        impression = json.loads(text)
    except ValueError as exc:
        raise UserError(f"--json is not valid JSON: {exc}") from None
    if not isinstance(impression, dict):
        raise UserError("--json must be a JSON object of column values")
    return impression


def creative_reader(source: str):
    """Reads creatives relative to a dataset source folder or gs:// prefix; None if missing."""

    def read(relative: str) -> bytes | None:
        import tensorflow as tf

        path = f"{source.rstrip('/')}/{relative}"
        try:
            with tf.io.gfile.GFile(path, "rb") as handle:
                return handle.read()
        except tf.errors.NotFoundError:
            return None
        except tf.errors.OpError as exc:
            raise UserError(f"cannot read creative {path}: {exc.message}") from None

    return read


def _jsonable(array) -> list:
    if array.dtype == object:
        return [_text_or_b64(v) for v in array.reshape(-1).tolist()]
    return array.tolist()


def _text_or_b64(value):
    """Bytes as text when they are UTF-8, else as TF Serving writes binary values: {"b64": ...}."""
    if not isinstance(value, bytes):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(value).decode("ascii")}


def _predict(args: argparse.Namespace) -> int:
    prepare_tensorflow()
    from serving.client import GrpcClient, RestClient, ServingClientError
    from trainer import rows

    config = load_config(args.config)
    registry = config.registry()
    row, images = _impression(args, registry, args.source or config.dataset.source)
    model = args.model_name or config.serving.model_name
    endpoint = (
        args.grpc_target
        or args.rest_url
        or f"http://{config.serving.host}:{config.serving.rest_port}"
    )
    client = (
        GrpcClient(endpoint, args.timeout)
        if args.grpc_target
        else RestClient(endpoint, args.timeout)
    )
    call = {
        "signature_name": args.signature_name,
        "version": args.model_version,
        "label": args.version_label,
    }
    try:
        signature = client.signature(model, **call)
        string_inputs = [k for k, info in signature.inputs.items() if info.dtype == 7]
        if len(signature.inputs) == 1 and string_inputs:
            example = rows.build_example(row, images, with_label=False).SerializeToString()
            inputs = {string_inputs[0]: [example]}
        else:
            inputs = rows.raw_inputs(row, images, registry)
            missing = sorted(set(signature.inputs) - set(inputs))
            if missing:
                raise UserError(
                    f"signature {args.signature_name} needs inputs {missing} that are not features "
                    "of the config"
                )
            inputs = {key: inputs[key] for key in signature.inputs}
        outputs = client.predict(model, inputs, **call)
    except ServingClientError as exc:
        raise UserError(f"{endpoint}: {exc.message}") from None
    except OSError as exc:
        raise UserError(f"cannot reach {endpoint} ({exc}); is the server running?") from None
    finally:
        client.close()
    print(
        json.dumps(
            {
                "model": model,
                "signature": args.signature_name,
                "outputs": {key: _jsonable(value) for key, value in sorted(outputs.items())},
            }
        )
    )
    sys.stdout.flush()
    return EXIT_OK
