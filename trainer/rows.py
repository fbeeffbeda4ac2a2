"""The raw-row contract: one dataset row to one `tf.Example`, or to a rejection with its reason.

The only place where a raw row is parsed, validated and encoded. Ingestion (training data), the
serving requests of `clickpipe predict` and infra validation, and the local training helpers all
go through it, so training and serving cannot drift apart. Pure logic, no I/O; feature names and
kinds come only from the feature registry.

The rules, for every path:
- a CSV record follows RFC 4180 (quoted fields may hold commas, quotes and newlines); a UTF-8
  byte-order mark at the start of a line is an encoding artifact and is dropped;
- a number is written as CSV numbers are (``12``, ``-0.5``, ``1e-3``; blank = the feature's
  default) and must fit a float32: no ``nan``, ``inf``, ``1_000`` or ``1e308``;
- the label is the integer 0 or 1;
- the example id must not be blank; text and categorical values are kept byte for byte;
- an image feature's source column names the creative, which must be a decodable PNG or JPEG.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from trainer.features import FeatureRegistry, Kind

UNPARSEABLE_LINE = "unparseable_line"
WRONG_COLUMN_COUNT = "wrong_column_count"
BAD_VALUE_TYPE = "bad_value_type"
MISSING_CREATIVE = "missing_creative"
UNDECODABLE_IMAGE = "undecodable_image"
# Every reason a row can be rejected for, in the order reports list them.
REASONS = (UNPARSEABLE_LINE, WRONG_COLUMN_COUNT, BAD_VALUE_TYPE, MISSING_CREATIVE, UNDECODABLE_IMAGE)

TRAIN = "train"
EVAL = "eval"
SPLITS = (TRAIN, EVAL)

BYTES, FLOAT, INT = "bytes", "float", "int"
LABEL_VALUES = (0, 1)
IMAGE_FORMATS = ("PNG", "JPEG")
FLOAT32_MAX = 3.4028234663852886e38
UTF8_BOM = b"\xef\xbb\xbf"
# A quoted field may hold line breaks; a record spanning more lines than this has a stray quote.
MAX_RECORD_LINES = 64
# What a CSV number looks like; Python's float() also takes "nan", "inf" and "1_000".
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d{1,19}")
# A rejected value is quoted in the detail up to this many characters.
_SHOWN = 40


class HeaderError(ValueError):
    """A header that does not give the columns the registry needs, once each."""


@dataclass(frozen=True)
class Rejected:
    """Why a row is not model input: quarantined at ingestion, refused when serving."""

    reason: str
    detail: str


@dataclass
class ParsedRow:
    """A row whose values all have the right type; fetched creatives are added later.

    Attributes:
        example_id: the stable key the train/eval split is hashed from ("" if not given).
        values: column or feature name to value (bytes, float or int), in registry order.
        kinds: the same names to "bytes", "float" or "int".
        creatives: image feature name to the creative's path relative to the dataset source,
            for the images still to be fetched.
        images: image feature name to image bytes given inline (requests, local rows).
    """

    example_id: str
    values: dict[str, object] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    creatives: dict[str, str] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)


class Records:
    """The CSV records of a byte stream, each with the line number it starts on (1-based).

    A record ends at a line break outside quotes (LF or CRLF, removed); a quoted field may span
    up to `MAX_RECORD_LINES` lines (RFC 4180). Once `width` is set (the header's column count),
    lines are joined only into a record of that many fields. A quote that does not close that
    way leaves its first line as a record of its own (which will not parse) and the lines after
    it are read again, so one stray quote costs one row, not the rows after it.
    """

    def __init__(self, chunks: Iterable[bytes], width: int | None = None) -> None:
        self._lines = enumerate(_iter_lines(chunks), start=1)
        self._again: deque[tuple[int, bytes]] = deque()
        self.width = width

    def _next_line(self) -> tuple[int, bytes] | None:
        return self._again.popleft() if self._again else next(self._lines, None)

    def _fits(self, record: bytes) -> bool:
        if self.width is None:
            return True
        try:
            return len(split_fields(record.decode("utf-8"))) == self.width
        except (UnicodeDecodeError, csv.Error):
            return False

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        while (item := self._next_line()) is not None:
            quotes = item[1].count(b'"')
            if not quotes % 2:
                yield item
                continue
            held = [item]
            while quotes % 2 and len(held) < MAX_RECORD_LINES and (following := self._next_line()) is not None:
                held.append(following)
                quotes += following[1].count(b'"')
            record = b"\n".join(line for _, line in held)
            if quotes % 2 or not self._fits(record):
                yield item
                self._again.extendleft(reversed(held[1:]))
            else:
                yield item[0], record


def iter_records(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """`Records` of a stream whose field count is not known (see `Records`)."""
    return iter(Records(chunks))


def _iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line[:-1] if line.endswith(b"\r") else line
    if rest:
        yield rest[:-1] if rest.endswith(b"\r") else rest


def split_fields(text: str) -> list[str]:
    """The CSV fields of one record (RFC 4180 quoting); raises csv.Error if it does not parse."""
    if '"' in text or "\r" in text or "\0" in text:
        fields = list(csv.reader([text], strict=True))
        if len(fields) != 1:
            raise csv.Error("more than one record")
        return fields[0]
    # Without quotes a CSV record is its comma-separated parts; much faster than csv.reader.
    return text.split(",")


def parse_header(line: bytes, registry: FeatureRegistry, file: str, *, with_label: bool = True) -> list[str]:
    """The column names of a header line.

    Raises:
        HeaderError: the header does not parse, names a column twice, or lacks a column the
            registry needs (the label only `with_label`).
    """
    try:
        columns = [c.strip() for c in split_fields(line.removeprefix(UTF8_BOM).decode("utf-8"))]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise HeaderError(f"{file}: the header line does not parse ({exc})") from None
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise HeaderError(f"{file}: the header names column(s) {', '.join(repeated)} more than once")
    needed = registry.csv_columns if with_label else [c for c in registry.csv_columns if c != registry.label]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise HeaderError(
            f"{file}: header lacks column(s) {', '.join(missing)} named by the config "
            f"(header has: {', '.join(columns)})"
        )
    return columns


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def to_number(text: str, default: float) -> float | None:
    """A CSV number as a float32-safe float; `default` when blank; None when not a number."""
    stripped = text.strip()
    if not stripped:
        return default
    if not _NUMBER.fullmatch(stripped):
        return None
    value = float(stripped)
    return value if abs(value) <= FLOAT32_MAX else None


def to_label(text: str) -> int | None:
    """The label 0 or 1 written as an integer; None otherwise."""
    stripped = text.strip()
    if not _INTEGER.fullmatch(stripped):
        return None
    value = int(stripped)
    return value if value in LABEL_VALUES else None


class RowParser:
    """Parses the records of one file (or request) with a given header.

    Args:
        registry: the dataset's features, label and keys.
        header: the column names, in the file's order (see `parse_header`).
        with_label: rows carry the label (training data); serving rows may omit it.
    """

    def __init__(self, registry: FeatureRegistry, header: list[str], *, with_label: bool = True) -> None:
        self.registry = registry
        self.header = header
        self.width = len(header)
        self.with_label = with_label
        self._position = {name: index for index, name in enumerate(header)}

    def parse(self, line: bytes) -> ParsedRow | Rejected:
        """A typed row, or why the record is rejected (never raises on bad input)."""
        try:
            fields = split_fields(line.removeprefix(UTF8_BOM).decode("utf-8"))
        except UnicodeDecodeError as exc:
            return Rejected(UNPARSEABLE_LINE, f"not UTF-8 at byte {exc.start}")
        except csv.Error as exc:
            return Rejected(UNPARSEABLE_LINE, f"not CSV: {exc}")
        if len(fields) != self.width:
            return Rejected(WRONG_COLUMN_COUNT, f"{len(fields)} columns, the header has {self.width}")
        return parse_mapping(self.registry, dict(zip(self.header, fields, strict=True)), with_label=self.with_label)


def _text(value) -> str | None:
    """A raw value as text, as a CSV field would hold it; None for a JSON list or object."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return None


def inline_image(value) -> bytes | None:
    """Image bytes given inline: raw bytes, or TF Serving's ``{"b64": ...}``; else None.

    Raises:
        ValueError: a ``{"b64": ...}`` value that is not valid base64.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, Mapping) and set(value) == {"b64"}:
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ValueError("the inline image is not valid base64") from None
    return None


def parse_mapping(registry: FeatureRegistry, row: Mapping, *, with_label: bool = True) -> ParsedRow | Rejected:
    """A typed row from raw values by column name (CSV fields, or a JSON impression).

    Values may be strings as in a CSV file, or JSON numbers and null; an image feature may be
    given inline under its own name (bytes or ``{"b64": ...}``) instead of by its source column.
    The example id and passthrough columns are optional when `with_label` is False (serving).
    """

    def value_of(column: str) -> str | Rejected:
        if column not in row:
            return Rejected(BAD_VALUE_TYPE, f"no column {column!r}")
        text = _text(row[column])
        if text is None:
            return Rejected(BAD_VALUE_TYPE, f"{column}={_shown(str(row[column]))} is not a single value")
        return text

    parsed = ParsedRow(example_id="")
    key = registry.example_id
    if with_label or key in row:
        example_id = value_of(key)
        if isinstance(example_id, Rejected):
            return example_id
        if not example_id.strip():
            return Rejected(BAD_VALUE_TYPE, f"{key} is empty")
        parsed.example_id = example_id
        parsed.values[key], parsed.kinds[key] = example_id.encode(), BYTES
    for name in registry.passthrough:
        if with_label or name in row:
            text = value_of(name)
            if isinstance(text, Rejected):
                return text
            parsed.values[name], parsed.kinds[name] = text.encode(), BYTES
    for feature in registry.features:
        if feature.kind is Kind.IMAGE:
            rejected = _add_image(parsed, feature, row, value_of)
            if rejected is not None:
                return rejected
            continue
        text = value_of(feature.name)
        if isinstance(text, Rejected):
            return text
        if feature.kind is Kind.NUMERIC:
            number = to_number(text, feature.default)
            if number is None:
                return Rejected(BAD_VALUE_TYPE, f"{feature.name}={_shown(text)} is not a number a float32 can hold")
            parsed.values[feature.name], parsed.kinds[feature.name] = number, FLOAT
        else:
            parsed.values[feature.name], parsed.kinds[feature.name] = text.encode(), BYTES
    if with_label:
        text = value_of(registry.label)
        if isinstance(text, Rejected):
            return text
        label = to_label(text)
        if label is None:
            return Rejected(BAD_VALUE_TYPE, f"{registry.label}={_shown(text)} is not 0 or 1")
        parsed.values[registry.label], parsed.kinds[registry.label] = label, INT
    return parsed


def _add_image(parsed: ParsedRow, feature, row: Mapping, value_of) -> Rejected | None:
    try:
        data = inline_image(row.get(feature.name))
    except ValueError as exc:
        return Rejected(UNDECODABLE_IMAGE, f"{feature.name}: {exc}")
    if data is not None:
        parsed.images[feature.name] = data
        return None
    source = value_of(feature.source_column)
    if isinstance(source, Rejected):
        return source
    if not source.strip():
        return Rejected(MISSING_CREATIVE, f"{feature.source_column} is empty")
    parsed.creatives[feature.name] = feature.uri_template.format(**{feature.source_column: source})
    return None


def image_problem(data: bytes) -> str | None:
    """Why `data` is not a decodable PNG or JPEG image, or None when it is."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in IMAGE_FORMATS:
                return f"{image.format} image, expected PNG or JPEG"
            # Decode every pixel: a truncated file opens fine but fails here.
            image.load()
    except UnidentifiedImageError:
        return "not a decodable image (not a format Pillow knows)"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"not a decodable image ({exc})"
    return None


def check_creative(name: str, data: bytes | None) -> Rejected | None:
    """Why a creative cannot be used (missing or undecodable), or None when it can."""
    if data is None:
        return Rejected(MISSING_CREATIVE, f"no creative {name}")
    problem = image_problem(data)
    return Rejected(UNDECODABLE_IMAGE, f"{name}: {problem}") if problem else None


def attach_images(row: ParsedRow, fetch: Callable[[str], bytes | None]) -> dict[str, bytes] | Rejected:
    """Every image of a row, checked: inline ones, and creatives read with `fetch`.

    Args:
        row: a parsed row.
        fetch: reads a creative by its path relative to the dataset source; None if missing.

    Returns:
        Image bytes by feature name, or why the row cannot be used (`check_creative`).
    """
    images = {}
    for name, data in row.images.items():
        rejected = check_creative(name, data)
        if rejected:
            return rejected
        images[name] = data
    for name, relative in row.creatives.items():
        data = fetch(relative)
        rejected = check_creative(relative, data)
        if rejected:
            return rejected
        images[name] = data
    return images


def split_of(example_id: str, eval_percent: int) -> str:
    """ "eval" for `eval_percent` % of ids, by a hash of the id: the same split every run."""
    bucket = int.from_bytes(hashlib.sha256(example_id.encode()).digest()[:8], "big") % 100
    return EVAL if bucket < eval_percent else TRAIN


def build_example(row: ParsedRow, images: Mapping[str, bytes] | None = None, *, with_label: bool = True):
    """The tf.Example of a parsed row; image features hold the creative's file bytes.

    Args:
        row: a parsed row.
        images: fetched creatives by image feature name (inline ones are in `row.images`).
        with_label: keep the label (training data); serving requests leave it out.
    """
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    features = example.features.feature
    for name, value in row.values.items():
        kind = row.kinds[name]
        if kind == INT:
            if with_label:
                features[name].int64_list.value.append(value)
        elif kind == FLOAT:
            features[name].float_list.value.append(value)
        else:
            features[name].bytes_list.value.append(value)
    for name, data in {**row.images, **(images or {})}.items():
        features[name].bytes_list.value.append(data)
    return example


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
