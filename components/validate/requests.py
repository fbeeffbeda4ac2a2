"""Logged serving requests as tf.Examples, and their statistics.

Accepted under a folder (searched recursively; `*.tmp` files still being written are skipped):

- `*.tfrecord` / `*.tfrecord.gz`: tf.Examples, as `clickpipe serve --request_log_dir` writes;
- `*.jsonl`: one JSON object per line, either a raw feature dict
  (`{"device_type": "mobile", "hour": 7, "creative": {"b64": "..."}}`) or a TF Serving
  row-format request (`{"instances": [{...}, ...]}`).

A JSON value becomes a tf.Example value by its own JSON type (text stays text), so a type
change shows up as a schema anomaly rather than being coerced away; numbers follow the
schema's INT or FLOAT. Lines that cannot be read are counted and quarantined with a reason.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

TFRECORD_SUFFIXES = (".tfrecord", ".tfrecord.gz")
JSONL_SUFFIX = ".jsonl"
UNPARSEABLE_LINE = "unparseable_line"
NOT_AN_OBJECT = "not_an_object"
BAD_VALUE = "bad_value"


class RequestLogError(ValueError):
    """A request folder a user must fix (missing, or holding no request files)."""


@dataclass
class RequestFiles:
    """The request log files found under a folder."""

    tfrecords: list[str] = field(default_factory=list)
    jsonl: list[str] = field(default_factory=list)


@dataclass
class Conversion:
    """What happened to the JSONL lines: examples written, lines quarantined by reason."""

    examples: int = 0
    quarantined: Counter = field(default_factory=Counter)


def find_request_files(folder: str) -> RequestFiles:
    """The TFRecord and JSONL files under `folder`, sorted.

    Raises:
        RequestLogError: the folder does not exist or holds no request files.
    """
    import tensorflow as tf

    if not tf.io.gfile.isdir(folder):
        raise RequestLogError(f"request log folder {folder} does not exist")
    found = RequestFiles()
    for directory, _, names in tf.io.gfile.walk(folder):
        for name in names:
            path = f"{str(directory).rstrip('/')}/{name}"
            if name.endswith(TFRECORD_SUFFIXES):
                found.tfrecords.append(path)
            elif name.endswith(JSONL_SUFFIX):
                found.jsonl.append(path)
    found.tfrecords.sort()
    found.jsonl.sort()
    if not found.tfrecords and not found.jsonl:
        raise RequestLogError(
            f"no request files (*.tfrecord, *.tfrecord.gz, *.jsonl) under {folder}"
        )
    return found


def _values(name: str, value, kind: str | None) -> tuple[str, list]:
    """(list kind, values) of one JSON feature value; kind is the schema's INT/FLOAT/BYTES."""
    items = value if isinstance(value, list) else [value]
    kinds, out = set(), []
    for item in items:
        if isinstance(item, dict) and set(item) == {"b64"} and isinstance(item["b64"], str):
            try:
                out.append(base64.b64decode(item["b64"], validate=True))
            except binascii.Error:
                raise ValueError(f"{name}: b64 value is not base64") from None
            kinds.add("bytes")
        elif isinstance(item, str):
            out.append(item.encode())
            kinds.add("bytes")
        elif isinstance(item, bool) or (isinstance(item, int) and kind != "FLOAT"):
            out.append(int(item))
            kinds.add("int")
        elif isinstance(item, (int, float)):
            out.append(float(item))
            kinds.add("float")
        else:
            raise ValueError(f"{name}: unsupported value {json.dumps(item)[:40]}")
    if len(kinds) > 1:
        raise ValueError(f"{name}: mixed value types {sorted(kinds)}")
    return (kinds.pop() if kinds else "bytes"), out


def row_to_example(row: dict, types: dict[str, str]):
    """A tf.Example of one raw feature dict; None values are left out (missing).

    Raises:
        ValueError: a value that cannot be a tf.Example feature (the message names it).
    """
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for name, value in row.items():
        if value is None:
            continue
        list_kind, values = _values(name, value, types.get(name))
        feature = example.features.feature[name]
        {"bytes": feature.bytes_list, "int": feature.int64_list, "float": feature.float_list}[list_kind].value.extend(
            values
        )
    return example


def _rows(line: str) -> list[dict]:
    record = json.loads(line)
    batched = isinstance(record, dict) and isinstance(record.get("instances"), list)
    rows = record["instances"] if batched else [record]
    if not all(isinstance(row, dict) for row in rows):
        raise TypeError("each request must be a JSON object of feature values")
    return rows


def convert_jsonl(paths: list[str], types: dict[str, str]) -> Iterator[tuple[bytes | None, dict | None]]:
    """Yields (serialized example, None) per row, or (None, quarantine record) per bad line."""
    import tensorflow as tf

    for path in paths:
        with tf.io.gfile.GFile(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                reason, detail = "", ""
                try:
                    examples = [row_to_example(row, types).SerializeToString() for row in _rows(line)]
                except json.JSONDecodeError as exc:
                    reason, detail = UNPARSEABLE_LINE, f"not JSON: {exc.msg}"
                except TypeError as exc:
                    reason, detail = NOT_AN_OBJECT, str(exc)
                except ValueError as exc:
                    reason, detail = BAD_VALUE, str(exc)
                if reason:
                    yield None, {"file": path, "line": number, "reason": reason, "detail": detail,
                                 "text": line.rstrip("\n")[:2000]}
                else:
                    for example in examples:
                        yield example, None


def schema_types(schema) -> dict[str, str]:
    """Feature name to its schema type name (INT, FLOAT, BYTES)."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    return {f.name: schema_pb2.FeatureType.Name(f.type) for f in schema.feature}


def request_statistics(folder: str, schema, work_dir: str, beam_args: list[str] | None = None):
    """Statistics of every logged request under `folder`, computed with the schema.

    JSONL rows are converted into `work_dir/requests-from-jsonl.tfrecord`; bad lines go to
    `work_dir/quarantine.jsonl`. The statistics run on Beam, so logs larger than memory work.

    Returns:
        (DatasetFeatureStatisticsList, Conversion, RequestFiles).

    Raises:
        RequestLogError: no request files, or no readable request in them.
    """
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_data_validation as tfdv
    from apache_beam.options.pipeline_options import PipelineOptions
    from tfx_bsl.public import tfxio

    files = find_request_files(folder)
    tf.io.gfile.makedirs(work_dir)
    conversion = Conversion()
    patterns = list(files.tfrecords)
    if files.jsonl:
        converted = f"{work_dir}/requests-from-jsonl.tfrecord"
        with tf.io.TFRecordWriter(converted) as writer, tf.io.gfile.GFile(
            f"{work_dir}/quarantine.jsonl", "w"
        ) as quarantine:
            for example, rejected in convert_jsonl(files.jsonl, schema_types(schema)):
                if example is not None:
                    writer.write(example)
                    conversion.examples += 1
                else:
                    quarantine.write(json.dumps(rejected) + "\n")
                    conversion.quarantined[rejected["reason"]] += 1
        if conversion.examples:
            patterns.append(converted)
    if not patterns:
        raise RequestLogError(f"no readable request under {folder}: every JSONL line was quarantined")
    output = f"{work_dir}/FeatureStats.pb"
    source = tfxio.TFExampleRecord(file_pattern=patterns, telemetry_descriptors=["clickpipe", "monitor"])
    with beam.Pipeline(options=PipelineOptions(beam_args or [])) as pipeline:
        _ = (
            pipeline
            | "ReadRequests" >> source.BeamSource()
            | "Statistics" >> tfdv.GenerateStatistics(tfdv.StatsOptions(schema=schema))
            | "Write" >> tfdv.WriteStatisticsToBinaryFile(output)
        )
    statistics = tfdv.load_stats_binary(output)
    if not statistics.datasets or not statistics.datasets[0].num_examples:
        raise RequestLogError(f"the request files under {folder} hold no request")
    return statistics, conversion, files
