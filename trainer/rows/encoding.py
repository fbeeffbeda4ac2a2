"""Accepted rows to serialized `tf.Example`s, and one row to a raw-feature signature's inputs."""

from __future__ import annotations

from collections.abc import Mapping

from trainer.features import FeatureRegistry, Kind
from trainer.rows.table import ParsedRow, Table


def encode(table: Table, *, with_label: bool = True) -> list[bytes]:
    """The serialized tf.Examples of the accepted rows, in order (one batch encoder call).

    Image features hold the images attached (`attach_images`): at ingestion each creative's
    model input (`trainer.images.thumbnails`), in requests the bytes sent. The label is kept
    only `with_label` (serving requests leave it out).
    """
    import pyarrow as pa
    from tfx_bsl.coders.example_coder import RecordBatchToExamplesEncoder

    rows = len(table.kept)
    offsets = pa.array(range(rows + 1), pa.int64())
    columns, names = [], []
    for name, column in {**table.values, **table.images}.items():
        if column.type == pa.int64() and not with_label:
            continue
        values = column.cast(pa.large_binary()) if pa.types.is_binary(column.type) else column
        columns.append(pa.LargeListArray.from_arrays(offsets, values))
        names.append(name)
    if not rows:
        return []
    return RecordBatchToExamplesEncoder().encode(pa.RecordBatch.from_arrays(columns, names))


def build_example(row: ParsedRow, images: Mapping[str, bytes] | None = None, *, with_label: bool = True):
    """The tf.Example of one parsed row, encoded as `encode` encodes a table.

    Args:
        row: a parsed row.
        images: fetched creatives by image feature name (inline ones are in `row.images`).
        with_label: keep the label (training data); serving requests leave it out.
    """
    from tensorflow.core.example import example_pb2

    [serialized] = encode(Table.of_row(row, images), with_label=with_label)
    return example_pb2.Example.FromString(serialized)


def raw_inputs(row: ParsedRow, images: Mapping[str, bytes], registry: FeatureRegistry) -> dict:
    """One-row inputs of a signature that takes one tensor per raw feature (`predict_raw`)."""
    import numpy as np

    inputs = {}
    for feature in registry.features:
        if feature.kind is Kind.NUMERIC:
            inputs[feature.name] = np.array([row.values[feature.name]], dtype=np.float32)
        else:
            value = images[feature.name] if feature.kind is Kind.IMAGE else row.values[feature.name]
            inputs[feature.name] = np.array([value], dtype=object)
    return inputs
