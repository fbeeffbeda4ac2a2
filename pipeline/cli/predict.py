"""`clickpipe predict`: one impression through the raw-row contract, scored by a TF Serving endpoint.

The same model input as training: the impression is parsed, checked and encoded by
`trainer.rows`, and sent over REST or gRPC with `serving.client`, to our server or to the
official TF Serving image.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

from pipeline.cli.common import EXIT_OK, UserError, command_log, quiet_libraries
from pipeline.config import ClickpipeConfig, load_config


def register(commands, group) -> None:
    """Adds `predict`."""
    predict = commands.add_parser(
        "predict",
        help="Score one impression against a TF Serving endpoint (ours or the official one).",
        description="Builds the model input from one impression, given as a CSV row (in the span's "
        "column order, or --csv-header) or a JSON object of column values, and calls Predict over "
        "REST (--rest-url) or gRPC (--grpc-target). Creatives are read from --source. Prints the "
        "outputs as JSON. Library logs go to <pipeline home>/logs/predict.log.",
    )
    impression = predict.add_mutually_exclusive_group(required=True)
    impression.add_argument("--csv-row", help="one CSV data line of an impressions span")
    impression.add_argument("--json", help="a JSON object of column values, or @FILE")
    predict.add_argument(
        "--csv-header",
        help="comma-separated column names of --csv-row (default: the config's CSV columns)",
    )
    endpoint = predict.add_mutually_exclusive_group()
    endpoint.add_argument(
        "--rest-url",
        help="REST endpoint, e.g. http://127.0.0.1:8501 "
        "(default: the config's serving host and REST port)",
    )
    endpoint.add_argument("--grpc-target", help="gRPC endpoint, e.g. 127.0.0.1:8500")
    predict.add_argument("--config", help="clickpipe config TOML (default: built-in)")
    predict.add_argument("--model-name", help="model name (default: serving.model_name)")
    predict.add_argument(
        "--signature-name",
        default="serving_default",
        help="signature to call: one taking serialized tf.Examples, or one input per "
        "raw feature such as predict_raw (default: serving_default)",
    )
    version = predict.add_mutually_exclusive_group()
    version.add_argument("--model-version", type=int, help="a specific version (default: latest)")
    version.add_argument("--version-label", help="a version label such as stable")
    predict.add_argument(
        "--source",
        help="dataset folder or gs:// prefix holding the creatives (default: dataset.source)",
    )
    predict.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per call (default: 30)"
    )
    predict.set_defaults(handler=_predict)


def _impression(args: argparse.Namespace, registry, source: str):
    """The impression of `--csv-row` or `--json` through the raw-row contract, with its images."""
    from trainer import rows

    if args.csv_row is not None:
        header = [c.strip() for c in args.csv_header.split(",")] if args.csv_header else registry.csv_columns
        parsed = rows.RowParser(registry, header, with_label=False).parse(args.csv_row.encode())
    else:
        parsed = rows.parse_mapping(registry, _json_impression(args.json), with_label=False)
    if not isinstance(parsed, rows.Rejected):
        images = rows.row_images(parsed, creative_reader(source))
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
    config = load_config(args.config)
    model = args.model_name or config.serving.model_name
    with quiet_libraries(command_log(config.pipeline.home, "predict")):
        outputs = _predict_outputs(args, config, model)
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


def _predict_outputs(args: argparse.Namespace, config: ClickpipeConfig, model: str) -> dict:
    from serving.client import GrpcClient, RestClient, ServingClientError
    from trainer import rows

    registry = config.registry()
    row, images = _impression(args, registry, args.source or config.dataset.source)
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
        return client.predict(model, inputs, **call)
    except ServingClientError as exc:
        raise UserError(f"{endpoint}: {exc.message}") from None
    except OSError as exc:
        raise UserError(f"cannot reach {endpoint} ({exc}); is the server running?") from None
    finally:
        client.close()
