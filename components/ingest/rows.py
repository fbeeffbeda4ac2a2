"""One impressions line to one tf.Example, or to a quarantine record with its reason.

Pure logic, no I/O: the Beam transform streams lines through `RowParser` and `build_example`.
Feature names and kinds come only from the feature registry.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from trainer.features import FeatureRegistry, Kind

UNPARSEABLE_LINE = "unparseable_line"
WRONG_COLUMN_COUNT = "wrong_column_count"
BAD_VALUE_TYPE = "bad_value_type"
MISSING_CREATIVE = "missing_creative"
UNDECODABLE_IMAGE = "undecodable_image"
# Every reason a row can be quarantined for, in the order reports list them.
REASONS = (UNPARSEABLE_LINE, WRONG_COLUMN_COUNT, BAD_VALUE_TYPE, MISSING_CREATIVE, UNDECODABLE_IMAGE)

TRAIN = "train"
EVAL = "eval"
SPLITS = (TRAIN, EVAL)

_BYTES, _FLOAT, _INT = "bytes", "float", "int"
_UTF8_BOM = b"\xef\xbb\xbf"


class HeaderError(ValueError):
    """An impressions file whose header lacks columns the registry needs."""


@dataclass(frozen=True)
class Rejected:
    """Why a row goes to the quarantine."""

    reason: str
    detail: str


@dataclass
class ParsedRow:
    """A row whose values all have the right type; images are still to be fetched.

    Attributes:
        example_id: the stable key the train/eval split is hashed from.
        values: feature name to value (bytes, float or int), in registry order.
        kinds: feature name to "bytes", "float" or "int".
        creatives: image feature name to the creative's object name under the source.
    """

    example_id: str
    values: dict[str, object] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    creatives: dict[str, str] = field(default_factory=dict)


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Splits a stream of byte chunks into lines without their line ending (LF or CRLF)."""
    rest = b""
    for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line[:-1] if line.endswith(b"\r") else line
    if rest:
        yield rest[:-1] if rest.endswith(b"\r") else rest


def split_fields(text: str) -> list[str]:
    """The CSV fields of one line (RFC 4180 quoting); raises csv.Error if it does not parse."""
    if '"' in text or "\r" in text or "\0" in text:
        return next(csv.reader([text], strict=True))
    # Without quotes a CSV line is its comma-separated parts; much faster than csv.reader.
    return text.split(",")


def parse_header(line: bytes, registry: FeatureRegistry, file: str) -> list[str]:
    """The column names of a header line.

    Raises:
        HeaderError: the header does not parse or lacks a column of `registry.csv_columns`.
    """
    try:
        columns = [c.strip() for c in split_fields(line.removeprefix(_UTF8_BOM).decode("utf-8"))]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise HeaderError(f"{file}: the header line does not parse ({exc})") from None
    missing = [c for c in registry.csv_columns if c not in columns]
    if missing:
        raise HeaderError(
            f"{file}: header lacks column(s) {', '.join(missing)} named by the config "
            f"(header has: {', '.join(columns)})"
        )
    return columns


class RowParser:
    """Parses the lines of one impressions file, given its header."""

    def __init__(self, registry: FeatureRegistry, header: list[str]) -> None:
        position = {name: index for index, name in enumerate(header)}
        self.width = len(header)
        self._example_id = (registry.example_id, position[registry.example_id])
        # (name, column index, kind, default) for every value taken straight from a column.
        self._columns: list[tuple[str, int, str, float]] = [
            (name, position[name], _BYTES, 0.0) for name in registry.passthrough
        ]
        self._images: list[tuple[str, int, str, str]] = []
        for feature in registry.features:
            index = position[feature.csv_column]
            if feature.kind is Kind.IMAGE:
                self._images.append((feature.name, index, feature.source_column, feature.uri_template))
            elif feature.kind is Kind.NUMERIC:
                self._columns.append((feature.name, index, _FLOAT, feature.default))
            else:
                self._columns.append((feature.name, index, _BYTES, 0.0))
        self._columns.append((registry.label, position[registry.label], _INT, 0.0))

    def parse(self, line: bytes) -> ParsedRow | Rejected:
        """A typed row, or why the line is rejected (never raises on bad input)."""
        try:
            fields = split_fields(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            return Rejected(UNPARSEABLE_LINE, f"not UTF-8 at byte {exc.start}")
        except csv.Error as exc:
            return Rejected(UNPARSEABLE_LINE, f"not CSV: {exc}")
        if len(fields) != self.width:
            return Rejected(WRONG_COLUMN_COUNT, f"{len(fields)} columns, the header has {self.width}")
        id_name, id_index = self._example_id
        example_id = fields[id_index]
        if not example_id:
            return Rejected(BAD_VALUE_TYPE, f"{id_name} is empty")
        row = ParsedRow(example_id=example_id)
        row.values[id_name], row.kinds[id_name] = example_id.encode(), _BYTES
        for name, index, kind, default in self._columns:
            text = fields[index]
            if kind == _BYTES:
                value: object = text.encode()
            elif kind == _FLOAT:
                value = _to_float(text, default)
                if value is None:
                    return Rejected(BAD_VALUE_TYPE, f"{name}={text!r} is not a number")
            else:
                value = _to_int(text)
                if value is None:
                    return Rejected(BAD_VALUE_TYPE, f"{name}={text!r} is not an integer")
            row.values[name], row.kinds[name] = value, kind
        for name, index, source_column, template in self._images:
            key = fields[index]
            if not key:
                return Rejected(MISSING_CREATIVE, f"{source_column} is empty")
            row.creatives[name] = template.format(**{source_column: key})
        return row


def _to_float(text: str, default: float) -> float | None:
    if not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _to_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def split_of(example_id: str, eval_percent: int) -> str:
    """"eval" for `eval_percent` % of ids, by a hash of the id: the same split every run."""
    bucket = int.from_bytes(hashlib.sha256(example_id.encode()).digest()[:8], "big") % 100
    return EVAL if bucket < eval_percent else TRAIN


def build_example(row: ParsedRow, images: dict[str, bytes]):
    """The tf.Example of a parsed row, with each image feature holding the creative's bytes."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    features = example.features.feature
    for name, value in row.values.items():
        kind = row.kinds[name]
        if kind == _BYTES:
            features[name].bytes_list.value.append(value)
        elif kind == _FLOAT:
            features[name].float_list.value.append(value)
        else:
            features[name].int64_list.value.append(value)
    for name, data in images.items():
        features[name].bytes_list.value.append(data)
    return example


def quarantine_record(file: str, line_number: int, line: bytes, rejected: Rejected) -> str:
    """One JSON line for the quarantine: where the row was, why, and the row itself."""
    record = {
        "file": file,
        "line": line_number,
        "reason": rejected.reason,
        "detail": rejected.detail,
        "row": line.decode("utf-8", "backslashreplace"),
    }
    if rejected.reason == UNPARSEABLE_LINE:
        # Keep the exact bytes, since "row" may not round-trip.
        record["row_base64"] = base64.b64encode(line).decode("ascii")
    return json.dumps(record, ensure_ascii=False)
