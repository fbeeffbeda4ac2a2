"""One ad impression (a CSV row or a JSON object) as model input, using the feature registry.

The model's `serving_default` signature takes serialized tf.Examples of the raw features, as
the pipeline ingests them: categorical and text features as bytes, numeric features as floats,
and the image feature as the creative's file bytes, read from the dataset source through the
feature's `uri_template` (or given inline as `{"b64": ...}` in a JSON impression).
"""

from __future__ import annotations

import base64
import binascii
import csv
import json
from collections.abc import Callable, Mapping

import numpy as np

from trainer.features import FeatureRegistry, Kind


class ImpressionError(ValueError):
    """An impression that cannot be turned into model input; the message names the column."""


def parse_csv_row(row: str, columns: list[str]) -> dict[str, str]:
    """A CSV line as {column: value}; `columns` is the header (the span's column order)."""
    values = next(csv.reader([row]), [])
    if len(values) != len(columns):
        raise ImpressionError(
            f"the CSV row has {len(values)} values but the header has {len(columns)} columns "
            f"({','.join(columns)})"
        )
    return dict(zip(columns, values, strict=True))


def parse_json_impression(text: str) -> dict:
    """A JSON object of raw column values."""
    try:
        impression = json.loads(text)
    except ValueError as exc:
        raise ImpressionError(f"the impression is not valid JSON: {exc}") from None
    if not isinstance(impression, dict):
        raise ImpressionError("the impression must be a JSON object of column values")
    return impression


def _image_bytes(value) -> bytes | None:
    if isinstance(value, dict) and set(value) == {"b64"}:
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ImpressionError("the inline image is not valid base64") from None
    return None


def feature_values(
    registry: FeatureRegistry, impression: Mapping, read_creative: Callable[[str], bytes]
) -> dict[str, bytes | float]:
    """The raw value of every model feature of one impression.

    Args:
        registry: the dataset's features.
        impression: raw column values (strings from CSV, or JSON values).
        read_creative: reads a creative by its path relative to the dataset source.

    Raises:
        ImpressionError: a column is missing, a number does not parse, or a creative cannot be read.
    """
    values: dict[str, bytes | float] = {}
    for feature in registry.features:
        if feature.kind is Kind.IMAGE:
            inline = _image_bytes(impression.get(feature.name))
            if inline is not None:
                values[feature.name] = inline
                continue
        if feature.csv_column not in impression:
            raise ImpressionError(f"the impression has no column {feature.csv_column!r}")
        raw = impression[feature.csv_column]
        if feature.kind is Kind.NUMERIC:
            try:
                values[feature.name] = feature.default if raw in ("", None) else float(raw)
            except (TypeError, ValueError):
                raise ImpressionError(
                    f"column {feature.name!r} must be a number, got {raw!r}"
                ) from None
        elif feature.kind is Kind.IMAGE:
            relative = feature.uri_template.format(**{feature.source_column: raw})
            try:
                values[feature.name] = read_creative(relative)
            except OSError as exc:
                raise ImpressionError(
                    f"cannot read creative {relative} for column {feature.source_column!r}: {exc}"
                ) from None
        else:
            values[feature.name] = ("" if raw is None else str(raw)).encode("utf-8")
    return values


def to_example(values: Mapping[str, bytes | float]) -> bytes:
    """The serialized tf.Example the `serving_default` signature takes."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for name, value in values.items():
        feature = example.features.feature[name]
        if isinstance(value, bytes):
            feature.bytes_list.value.append(value)
        else:
            feature.float_list.value.append(value)
    return example.SerializeToString()


def to_raw_inputs(values: Mapping[str, bytes | float]) -> dict[str, np.ndarray]:
    """One-row inputs for a signature with one input per raw feature (`predict_raw`)."""
    inputs = {}
    for name, value in values.items():
        if isinstance(value, bytes):
            array = np.empty(1, dtype=object)
            array[0] = value
            inputs[name] = array
        else:
            inputs[name] = np.array([value], dtype=np.float32)
    return inputs


def creative_reader(source: str) -> Callable[[str], bytes]:
    """Reads creatives relative to a dataset source folder or gs:// prefix."""

    def read(relative: str) -> bytes:
        import tensorflow as tf

        path = f"{source.rstrip('/')}/{relative}"
        try:
            with tf.io.gfile.GFile(path, "rb") as handle:
                return handle.read()
        except tf.errors.OpError as exc:
            raise OSError(exc.message) from None

    return read
