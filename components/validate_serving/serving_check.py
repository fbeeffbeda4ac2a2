"""Loads a candidate SavedModel in clickpipe's server, in-process, and probes it over the wire.

The candidate is copied as version 1 under a temporary model base path and served by
`serving.server.ModelServer` on ephemeral loopback ports, so it loads exactly as TF Serving
would load the pushed version (warmup records included). Probes go through the public REST and
gRPC APIs with `serving.client`, the clients the ad server uses.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from components.validate_serving import probes

MODEL_NAME = "candidate"
VERSION = 1
# Loading is synchronous at server start; this only bounds a slow filesystem.
DEFAULT_LOAD_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class Verdict:
    """What infra validation concluded.

    Attributes:
        blessed: the model loaded and every probe passed.
        reason: why not, in one line ("" when blessed).
        checks: the probes that passed, in order, for the log.
        warmup_records: the probe requests as `PredictionLog`s (only when blessed).
    """

    blessed: bool
    reason: str = ""
    checks: list[str] = field(default_factory=list)
    warmup_records: list = field(default_factory=list)


def read_examples(split_uri: str, limit: int) -> list[bytes]:
    """The first `limit` serialized tf.Examples of a split folder of gzipped TFRecords.

    Raises:
        FileNotFoundError: the folder holds no ``*.gz`` files.
    """
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(os.path.join(split_uri, "*.gz")))
    if not files:
        raise FileNotFoundError(f"no gzipped TFRecord files in {split_uri}")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit)
    return [record.numpy() for record in dataset]


def wait_for_version(client, model: str, version: int, timeout: float) -> str:
    """Polls model status until the version is AVAILABLE or has failed.

    Returns:
        "" when AVAILABLE, else the server's error (or the last state seen at the timeout).
    """
    from serving.client import ServingClientError

    deadline = time.monotonic() + timeout
    last = "no status"
    while True:
        try:
            status = client.status(model, version)[0]
        except ServingClientError as exc:
            last = exc.message
        else:
            if status["state"] == "AVAILABLE":
                return ""
            if status["state"] == "END":
                return f"{status['error_code']}: {status['error_message']}"
            last = f"state {status['state']}"
        if time.monotonic() >= deadline:
            return f"not AVAILABLE after {timeout:.0f}s ({last})"
        time.sleep(0.2)


def _raw_input_dtypes(client) -> dict:
    from serving.servable import numpy_dtype

    signature = client.signature(MODEL_NAME, probes.RAW_SIGNATURE)
    return {name: numpy_dtype(info.dtype) for name, info in signature.inputs.items()}


def _probe(rest, grpc, serialized: list[bytes]) -> tuple[list[str], list]:
    """Sends every probe; returns the passed checks and the warmup records."""
    from serving import warmup

    requests = probes.build_requests(serialized, _raw_input_dtypes(grpc))
    count, checks = requests.count, []

    output = probes.single_output(grpc.signature(MODEL_NAME).outputs, probes.PREDICT_SIGNATURE)
    answer = grpc.predict(MODEL_NAME, {"examples": requests.examples})
    reference = probes.check_probabilities(
        "gRPC Predict serving_default", answer.get(output), count, (count, 1))
    checks.append(f"gRPC Predict {probes.PREDICT_SIGNATURE}: {count} probabilities in [0, 1]")

    raw_output = probes.single_output(
        grpc.signature(MODEL_NAME, probes.RAW_SIGNATURE).outputs, probes.RAW_SIGNATURE)
    document = rest.request("POST", f"/v1/models/{MODEL_NAME}:predict",
                            probes.row_format_body(requests.raw_inputs))
    raw = probes.check_probabilities(
        "REST :predict predict_raw", probes.rest_predictions(document, raw_output), count,
        (count, 1))
    probes.check_agreement("REST :predict predict_raw", raw, "gRPC serving_default", reference)
    checks.append(f"REST :predict {probes.RAW_SIGNATURE} (row format) agrees with gRPC")

    scores = probes.check_classifications(
        "REST :classify", rest.classify(MODEL_NAME, requests.examples, probes.CLASSIFY_SIGNATURE),
        count)
    probes.check_agreement("REST :classify score of the last class", scores[:, -1],
                           "gRPC serving_default", reference)
    checks.append(f"REST :classify {probes.CLASSIFY_SIGNATURE}: scores agree with gRPC")

    values = probes.check_probabilities(
        "REST :regress", rest.regress(MODEL_NAME, requests.examples, probes.REGRESS_SIGNATURE),
        count, (count,))
    probes.check_agreement("REST :regress", values, "gRPC serving_default", reference)
    checks.append(f"REST :regress {probes.REGRESS_SIGNATURE}: values agree with gRPC")

    records = [
        warmup.predict_log({"examples": requests.examples}, probes.PREDICT_SIGNATURE),
        warmup.predict_log(requests.raw_inputs, probes.RAW_SIGNATURE),
        warmup.classify_log(requests.examples, probes.CLASSIFY_SIGNATURE),
        warmup.regress_log(requests.examples, probes.REGRESS_SIGNATURE),
    ]
    return checks, records


def validate(model_dir: str, serialized: list[bytes], workdir: str,
             load_timeout: float = DEFAULT_LOAD_TIMEOUT_SECONDS) -> Verdict:
    """Serves the candidate in-process and probes it with requests built from eval examples.

    Args:
        model_dir: the candidate SavedModel folder (local or gs://).
        serialized: eval tf.Examples to build the probes from.
        workdir: an empty local folder for the temporary model base path.
        load_timeout: how long to wait for the version to become AVAILABLE.

    Returns:
        The verdict; a model that fails to load, answers an error or breaks the serving
        contract is not blessed (nothing is raised for a bad model).
    """
    from tfx.dsl.io import fileio
    from tfx.utils import io_utils

    from serving import warmup
    from serving.client import GrpcClient, RestClient, ServingClientError
    from serving.errors import ServingError
    from serving.server import ModelServer, ServerOptions

    base_path = os.path.join(workdir, MODEL_NAME)
    version_dir = os.path.join(base_path, str(VERSION))
    if not fileio.isdir(model_dir):
        return Verdict(False, f"the model did not load: no SavedModel folder at {model_dir}")
    io_utils.copy_dir(model_dir, version_dir)
    # Poll once: the candidate is the only version and never changes.
    options = ServerOptions(file_system_poll_wait_seconds=0)
    try:
        server = ModelServer(base_path, MODEL_NAME, rest_port=0, grpc_port=0, options=options)
        server.start()
    except ServingError as exc:
        return Verdict(False, f"the server could not start the model: {exc.message}")
    rest, grpc = RestClient(server.rest_url), GrpcClient(server.grpc_target)
    try:
        error = wait_for_version(grpc, MODEL_NAME, VERSION, load_timeout)
        if error:
            # Name the candidate, not its temporary copy.
            return Verdict(False, f"the model did not load: {error.replace(version_dir, model_dir)}")
        checks, records = _probe(rest, grpc, serialized)
        # The records must warm up this very version, as TF Serving will replay them at load.
        warmup.replay(server.manager.resolve(MODEL_NAME, VERSION), records)
        checks.append(f"{len(records)} warmup records replay on the loaded version")
        return Verdict(True, checks=checks, warmup_records=records)
    except (probes.ProbeError, ServingClientError, ServingError) as exc:
        message = exc.message if hasattr(exc, "message") else str(exc)
        return Verdict(False, f"a probe failed: {message}")
    finally:
        rest.close()
        grpc.close()
        server.stop()
