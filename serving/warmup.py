"""Warmup records: `assets.extra/tf_serving_warmup_requests`, read at load and written at export.

The file is a TFRecord of `PredictionLog` protos, as TF Serving reads it: each record's request
is replayed against the freshly loaded version before it serves, and any failure fails the
load. The writers let the trainer or the Pusher ship a model with its own warmup records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from serving import errors, protos
from serving.servable import DEFAULT_SIGNATURE, Servable

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000
# Warmup inputs come from the model's own files, but stay bounded like requests.
_MAX_WARMUP_BYTES = 1 << 27


def warmup_path(export_dir: str) -> str:
    """Where TF Serving looks for warmup records in a version directory."""
    return f"{export_dir.rstrip('/')}/{WARMUP_DIR}/{WARMUP_FILE}"


def read_warmup_records(export_dir: str) -> list:
    """The `PredictionLog`s of a version, or [] if it has none.

    Raises:
        ServingError: INVALID_ARGUMENT for more than 1000 records or a record that is not a
            `PredictionLog`; DATA_LOSS for a corrupt TFRecord file.
    """
    import tensorflow as tf
    from google.protobuf import message
    from tensorflow_serving.apis import prediction_log_pb2

    path = warmup_path(export_dir)
    if not tf.io.gfile.exists(path):
        return []
    records = []
    try:
        for raw in tf.data.TFRecordDataset(path):
            if len(records) == MAX_WARMUP_RECORDS:
                raise errors.invalid_argument(
                    f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}"
                )
            records.append(prediction_log_pb2.PredictionLog.FromString(raw.numpy()))
    except tf.errors.OpError as exc:
        raise errors.data_loss(f"Failed to read warmup records at {path}: {exc.message}") from None
    except message.DecodeError:
        raise errors.invalid_argument(f"Warmup record at {path} is not a PredictionLog") from None
    return records


def replay(servable: Servable, records: Sequence, iterations: int = 1) -> None:
    """Runs every warmup request `iterations` times; raises the first request's error."""
    for _ in range(iterations):
        for record in records:
            kind = record.WhichOneof("log_type")
            if kind == "predict_log":
                request = record.predict_log.request
                inputs = protos.request_inputs(request.inputs, _MAX_WARMUP_BYTES)
                servable.predict(
                    request.model_spec.signature_name, inputs, list(request.output_filter)
                )
            elif kind == "classify_log":
                request = record.classify_log.request
                servable.classify(
                    request.model_spec.signature_name, protos.input_to_examples(request.input)
                )
            elif kind == "regress_log":
                request = record.regress_log.request
                servable.regress(
                    request.model_spec.signature_name, protos.input_to_examples(request.input)
                )
            else:
                raise errors.invalid_argument(f"Unsupported log_type for warmup: {kind}")


def predict_log(inputs: Mapping[str, np.ndarray | list], signature_name: str = DEFAULT_SIGNATURE):
    """A warmup record for one Predict request."""
    from tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog()
    request = log.predict_log.request
    request.model_spec.signature_name = signature_name
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(protos.array_to_tensor(value))
    return log


def classify_log(serialized_examples: Sequence[bytes], signature_name: str):
    """A warmup record for one Classify request on serialized tf.Examples."""
    return _examples_log("classify_log", serialized_examples, signature_name)


def regress_log(serialized_examples: Sequence[bytes], signature_name: str):
    """A warmup record for one Regress request on serialized tf.Examples."""
    return _examples_log("regress_log", serialized_examples, signature_name)


def _examples_log(kind: str, serialized_examples: Sequence[bytes], signature_name: str):
    from tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog()
    request = getattr(log, kind).request
    request.model_spec.signature_name = signature_name
    for raw in serialized_examples:
        request.input.example_list.examples.add().ParseFromString(raw)
    return log


def write_warmup_requests(export_dir: str, records: Iterable) -> str:
    """Writes `PredictionLog`s as the version's warmup file (before `saved_model.pb` lands).

    Returns:
        The path written.

    Raises:
        ValueError: no records, or more than TF Serving's maximum of 1000.
    """
    import tensorflow as tf

    records = list(records)
    if not records or len(records) > MAX_WARMUP_RECORDS:
        raise ValueError(f"warmup needs 1 to {MAX_WARMUP_RECORDS} records, got {len(records)}")
    path = warmup_path(export_dir)
    tf.io.gfile.makedirs(path.rsplit("/", 1)[0])
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    return path
