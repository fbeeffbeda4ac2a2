"""Sampled request logging, for training/serving skew monitoring (clickpipe's own flags).

With `--request_log_dir` and `--request_log_sampling_rate`, a random sample of requests is
written as tf.Example TFRecord files that TFDV can read:
`<dir>/<model>/<version>/requests-<UTC time>-<pid>-<n>.tfrecord`.

- Classify/Regress examples, and Predict inputs that are serialized tf.Examples (a single
  string input named `examples` or `inputs`, the TFX and TF Serving conventions), are written
  as they came.
- Any other Predict request becomes one tf.Example per row, one feature per input.

A file is written under a `.tmp` name and renamed when it is rotated (every
`records_per_file` records or `rotate_seconds`) or at shutdown, so readers only see complete
files. Writing happens on a background thread; when its queue is full a sample is dropped and
counted (`:clickpipe:serving:request_log_records{outcome="dropped"}`) instead of slowing requests.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import random
import threading
import time

import numpy as np

from serving.metrics import Metrics
from serving.server_config import ServingConfigError, validate_base_path

log = logging.getLogger("clickpipe.serving")

EXAMPLE_INPUT_NAMES = ("examples", "inputs")
_STOP = object()


def _feature(feature, values: np.ndarray) -> None:
    if values.dtype.kind in ("O", "S", "U"):
        feature.bytes_list.value.extend(
            v if isinstance(v, bytes) else str(v).encode() for v in values
        )
    elif values.dtype.kind == "f":
        feature.float_list.value.extend(values.astype(np.float32).tolist())
    else:
        feature.int64_list.value.extend(values.astype(np.int64).tolist())


def inputs_as_examples(inputs: dict[str, np.ndarray]) -> list[bytes]:
    """Serialized tf.Examples standing for one Predict request's inputs (see module doc)."""
    from tensorflow.core.example import example_pb2

    if len(inputs) == 1:
        ((name, array),) = inputs.items()
        if name in EXAMPLE_INPUT_NAMES and array.dtype.kind in ("O", "S") and array.ndim == 1:
            return [bytes(value) for value in array]
    sizes = {array.shape[0] if array.ndim else -1 for array in inputs.values()}
    # Inputs that do not share a batch dimension are logged as a single example.
    rows = sizes.pop() if len(sizes) == 1 and -1 not in sizes else None
    examples = []
    for row in range(rows if rows is not None else 1):
        example = example_pb2.Example()
        for name, array in inputs.items():
            values = array[row] if rows is not None else array
            _feature(example.features.feature[name], np.asarray(values).reshape(-1))
        examples.append(example.SerializeToString())
    return examples


@dataclasses.dataclass
class _OpenFile:
    writer: object
    temp_path: str
    final_path: str
    opened_at: float
    records: int = 0


class RequestLogger:
    """Writes a sample of requests to TFRecord files from a background thread."""

    def __init__(
        self,
        directory: str,
        sampling_rate: float,
        metrics: Metrics | None = None,
        records_per_file: int = 10000,
        rotate_seconds: float = 60.0,
        queue_size: int = 1000,
        seed: int | None = None,
    ):
        if not 0.0 <= sampling_rate <= 1.0:
            raise ServingConfigError(
                f"--request_log_sampling_rate must be in [0, 1], got {sampling_rate}"
            )
        self._directory = validate_base_path(directory, "--request_log_dir").rstrip("/")
        self._rate = sampling_rate
        self._metrics = metrics or Metrics()
        self._records_per_file = records_per_file
        self._rotate_seconds = rotate_seconds
        self._queue: queue.Queue = queue.Queue(queue_size)
        self._random = random.Random(seed)
        self._files: dict[tuple[str, int], _OpenFile] = {}
        self._sequence = 0
        self._thread = threading.Thread(target=self._write_loop, name="request-log", daemon=True)
        self._thread.start()

    def sampled(self) -> bool:
        """Whether to log the request at hand."""
        return self._rate > 0 and self._random.random() < self._rate

    def log_examples(self, model: str, version: int, serialized_examples: list[bytes]) -> None:
        """Queues serialized tf.Examples of one Classify/Regress request."""
        self._enqueue(model, version, serialized_examples)

    def log_inputs(self, model: str, version: int, inputs: dict[str, np.ndarray]) -> None:
        """Queues one Predict request's inputs (converted to tf.Examples on the writer thread)."""
        self._enqueue(model, version, inputs)

    def _enqueue(self, model: str, version: int, payload) -> None:
        try:
            self._queue.put_nowait((model, version, payload))
        except queue.Full:
            self._metrics.request_log(model, "dropped")

    def close(self) -> None:
        """Writes what is queued, closes and publishes every file."""
        self._queue.put(_STOP)
        self._thread.join()

    def _write_loop(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=min(self._rotate_seconds, 1.0))
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            if item is not None:
                self._write(*item)
            self._rotate(expired_only=True)
        self._rotate(expired_only=False)

    def _write(self, model: str, version: int, payload) -> None:
        try:
            records = payload if isinstance(payload, list) else inputs_as_examples(payload)
            handle = self._open(model, version)
            for record in records:
                handle.writer.write(record)
            handle.writer.flush()
            handle.records += len(records)
            self._metrics.request_log(model, "written", len(records))
        except Exception as exc:  # noqa: BLE001 - logging must never take the server down
            log.error("request log: cannot write a sample of model %s: %s", model, exc)
            self._metrics.request_log(model, "dropped")

    def _open(self, model: str, version: int) -> _OpenFile:
        import tensorflow as tf

        key = (model, version)
        if key not in self._files:
            folder = f"{self._directory}/{model}/{version}"
            tf.io.gfile.makedirs(folder)
            self._sequence += 1
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            final_path = f"{folder}/requests-{stamp}-{os.getpid()}-{self._sequence:05d}.tfrecord"
            temp_path = final_path + ".tmp"
            self._files[key] = _OpenFile(
                tf.io.TFRecordWriter(temp_path), temp_path, final_path, time.monotonic()
            )
        return self._files[key]

    def _rotate(self, expired_only: bool) -> None:
        import tensorflow as tf

        now = time.monotonic()
        for key, handle in list(self._files.items()):
            full = handle.records >= self._records_per_file
            old = now - handle.opened_at >= self._rotate_seconds
            if expired_only and not (full or old):
                continue
            handle.writer.close()
            if handle.records:
                tf.io.gfile.rename(handle.temp_path, handle.final_path, overwrite=True)
            else:
                tf.io.gfile.remove(handle.temp_path)
            del self._files[key]
