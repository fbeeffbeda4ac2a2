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
- the label is the integer 0 or 1, or derived from other columns by the registry's `LabelRule`
  (e.g. ``tip_amount > 0.2 * fare_amount``): its columns must then be non-blank (numbers for a
  numeric comparison), and serving requests need them only where they are features;
- the example id must not be blank; without an example id column, a row's key is the first 128
  bits of the SHA-256 of its raw fields (`row_key`), which examples do not carry;
- with a span column, its timestamp must parse (`timestamp_months`), and ingestion keeps the rows
  of its months only: the others are other spans, neither examples nor rejections;
- text and categorical values are kept byte for byte;
- an image feature's source column names the creative, which must be a decodable PNG or JPEG.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from trainer.features import FeatureRegistry, Kind, LabelRule

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
# What a CSV number looks like (Python's float() also takes "nan", "inf" and "1_000").
_NUMBER_PATTERN = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
# The label 0 or 1 written as an integer of at most 19 digits ("-0" and "+01" included).
_LABEL_PATTERN = r"^(?:[+-]?0{1,19}|\+?0{0,18}1)$"
# A rejected value is quoted in the detail up to this many characters.
_SHOWN = 40
# An ISO 8601 date or date-time: 2019-01-05, 2019-01-05 13:04, 2019-01-05T13:04:05.25+01:00.
_ISO_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::(?:[0-5]\d|60)(?:[.,]\d+)?)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?)?$"
)
# Joins a row's fields before hashing them: the ASCII unit separator, which text fields do not hold.
_FIELD_SEPARATOR = "\x1f"
# Hex digits of a row key: 128 bits.
_KEY_HEX = 32


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
            registry needs (the label's and the span column only `with_label`).
    """
    try:
        columns = [c.strip() for c in split_fields(line.removeprefix(UTF8_BOM).decode("utf-8"))]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise HeaderError(f"{file}: the header line does not parse ({exc})") from None
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise HeaderError(f"{file}: the header names column(s) {', '.join(repeated)} more than once")
    needed = registry.csv_columns if with_label else registry.request_columns
    missing = [c for c in needed if c not in columns]
    if missing:
        raise HeaderError(
            f"{file}: header lacks column(s) {', '.join(missing)} named by the config "
            f"(header has: {', '.join(columns)})"
        )
    return columns


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


@dataclass
class Table:
    """Rows of one file (or request) through the contract, column by column.

    Attributes:
        size: the records given.
        rejected: position in the input → why that row is not model input.
        kept: positions of the accepted rows, in input order.
        example_ids: the accepted rows' example ids ("" where a request gave none).
        values: per column or feature, the accepted rows' typed values (binary, float32, int64).
        creatives: per image feature, the creative's path relative to the source, per accepted row.
        images: per image feature, image bytes given inline, per accepted row.
        outside: positions of the rows whose span column puts them in another month than
            those asked for: other spans, neither accepted nor rejected.
    """

    size: int
    rejected: dict[int, Rejected] = field(default_factory=dict)
    kept: list[int] = field(default_factory=list)
    example_ids: list[str] = field(default_factory=list)
    values: dict = field(default_factory=dict)
    creatives: dict = field(default_factory=dict)
    images: dict = field(default_factory=dict)
    outside: list[int] = field(default_factory=list)

    def without(self, rejected: Mapping[int, Rejected]) -> Table:
        """The table with more rows rejected, by their index among the accepted rows."""
        if not rejected:
            return self
        import pyarrow as pa

        keep = [i for i in range(len(self.kept)) if i not in rejected]
        take = pa.array(keep, pa.int64())
        return Table(
            size=self.size,
            rejected={**self.rejected, **{self.kept[i]: why for i, why in rejected.items()}},
            kept=[self.kept[i] for i in keep],
            example_ids=[self.example_ids[i] for i in keep],
            values={name: column.take(take) for name, column in self.values.items()},
            creatives={name: column.take(take) for name, column in self.creatives.items()},
            images={name: column.take(take) for name, column in self.images.items()},
            outside=self.outside,
        )


def _numbers(texts):
    """CSV numbers of a string array: (float64 values, blank mask, is-a-float32-number mask)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(texts)
    empty = pc.equal(trimmed, "")
    number = pc.match_substring_regex(trimmed, _NUMBER_PATTERN)
    parsed = pc.cast(pc.if_else(number, pc.replace_substring_regex(trimmed, r"^\+", ""), "0"), pa.float64())
    fits = pc.and_(number, pc.less_equal(pc.abs(parsed), FLOAT32_MAX))
    return parsed, empty, fits


_COMPARE = {">": "greater", ">=": "greater_equal", "<": "less", "<=": "less_equal", "==": "equal", "!=": "not_equal"}


def _derived_label(rule: LabelRule, name: str, columns: Mapping[str, list[str]], refuse):
    """The 0/1 label `rule` computes, column-wise; rows where it cannot be computed are refused
    with a detail naming the label, the rule and the column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def cannot(column: str, why: str):
        ending = f", so label {name} ({rule.describe()}) cannot be computed"
        return lambda i, c=columns[column]: f"{column}={_shown(c[i])} {why}{ending}"

    compare = getattr(pc, _COMPARE[rule.op])
    if not rule.numeric:
        text = pc.utf8_trim_whitespace(pa.array(columns[rule.column], pa.string()))
        refuse(pc.equal(text, "").to_numpy(zero_copy_only=False), BAD_VALUE_TYPE, cannot(rule.column, "is empty"))
        return pc.cast(compare(text, rule.value), pa.int64())
    sides = []
    for column in rule.columns:
        parsed, _, fits = _numbers(pa.array(columns[column], pa.string()))
        refuse(pc.invert(fits).to_numpy(zero_copy_only=False), BAD_VALUE_TYPE, cannot(column, "is not a number"))
        sides.append(parsed)
    right = pc.multiply(sides[1], rule.times) if rule.right_column else rule.value
    return pc.cast(compare(sides[0], right), pa.int64())


def row_key(fields: Sequence[str]) -> str:
    """A row's key when the dataset names no example id: the first 128 bits of the SHA-256 of
    its raw fields (the config's columns in `FeatureRegistry.csv_columns` order, joined by the
    ASCII unit separator), in hex. Equal rows get equal keys, so duplicates share a split."""
    return _key_of(_FIELD_SEPARATOR.join(fields).encode())


def _key_of(joined: bytes) -> str:
    return hashlib.sha256(joined).hexdigest()[:_KEY_HEX]


def _row_keys(registry: FeatureRegistry, columns: Mapping[str, list[str]], keep) -> list[str]:
    """`row_key` of the rows at positions `keep`, with the fields joined column-wise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    take = pa.array(keep, pa.int64())
    # An image given inline (`parse_mapping`) leaves its source column out: an empty field.
    parts = [
        pa.array(columns[name], pa.string()).take(take) if name in columns else pa.array([""] * len(keep), pa.string())
        for name in registry.csv_columns
    ]
    joined = pc.binary_join_element_wise(*parts, _FIELD_SEPARATOR).cast(pa.binary())
    return [_key_of(value) for value in joined.to_pylist()]


def timestamp_months(values, span_format: str = ""):
    """The month ("YYYY-MM") of each timestamp of a string array; null where it does not parse.

    Args:
        values: a pyarrow string array (surrounding spaces are ignored).
        span_format: a Python strptime format (e.g. ``%m/%d/%Y %I:%M:%S %p``); "" takes ISO 8601
            dates and date-times. The month is the one written: a zone offset is not applied.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(values)
    if not span_format:
        # A real calendar day: Arrow's strptime would roll 2019-02-30 over into March.
        date = pc.utf8_slice_codeunits(trimmed, 0, 10)
        day = pc.strftime(pc.strptime(date, format="%Y-%m-%d", unit="s", error_is_null=True), format="%Y-%m-%d")
        valid = pc.and_(pc.match_substring_regex(trimmed, _ISO_PATTERN), pc.equal(day, date))
        return pc.if_else(valid, pc.utf8_slice_codeunits(trimmed, 0, 7), pa.scalar(None, pa.string()))
    parsed = pc.strptime(trimmed, format=span_format, unit="s", error_is_null=True)
    # Arrow parses leniently (a 30th of February rolls over): only a value that formats back
    # to itself is taken as is; Python's strptime decides the others, one by one.
    exact = pc.fill_null(pc.equal(pc.strftime(parsed, format=span_format), trimmed), False)
    months = pc.strftime(parsed, format="%Y-%m").to_pylist()
    texts = trimmed.to_pylist()
    for index in pc.indices_nonzero(pc.invert(exact)).to_pylist():
        try:
            months[index] = datetime.strptime(texts[index], span_format).strftime("%Y-%m")
        except ValueError:
            months[index] = None
    return pa.array(months, pa.string())


def _by_month(registry: FeatureRegistry, stamps: list[str], months: Collection[str] | None):
    """Sorts rows by their span column's timestamps: (index → rejection for a timestamp that does
    not parse, indices of rows of other months than `months`, indices of the rows to keep)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found = timestamp_months(pa.array(stamps, pa.string()), registry.span_format)
    unreadable = pc.is_null(found)
    wanted = pc.invert(unreadable)
    if months is not None:
        wanted = pc.and_(wanted, pc.is_in(found, value_set=pa.array(sorted(months), pa.string())))
    outside = pc.invert(pc.or_(wanted, unreadable))
    form = registry.span_format or "ISO 8601"
    rejected = {
        i: Rejected(BAD_VALUE_TYPE, f"{registry.span_column}={_shown(stamps[i])} is not a timestamp ({form})")
        for i in pc.indices_nonzero(unreadable).to_pylist()
    }
    return rejected, pc.indices_nonzero(outside).to_pylist(), pc.indices_nonzero(wanted).to_pylist()


def _typed(
    registry: FeatureRegistry,
    columns: Mapping[str, list[str]],
    size: int,
    with_label: bool,
    inline: frozenset[str] = frozenset(),
) -> Table:
    """The contract's value rules, applied column by column; the first failing column names
    the reason. Every path (files, requests, local rows) goes through here."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    bad = np.zeros(size, dtype=bool)
    rejected: dict[int, Rejected] = {}

    def refuse(mask, reason: str, detail) -> None:
        for index in np.flatnonzero(np.asarray(mask, dtype=bool) & ~bad):
            rejected[int(index)] = Rejected(reason, detail(int(index)))
        bad[np.asarray(mask, dtype=bool)] = True

    def strings(name: str):
        return pa.array(columns[name], pa.string())

    def blank(array):
        return pc.equal(pc.utf8_trim_whitespace(array), "").to_numpy(zero_copy_only=False)

    values, creatives = {}, {}
    key = registry.example_id
    if key and key in columns:
        ids = strings(key)
        refuse(blank(ids), BAD_VALUE_TYPE, lambda i: f"{key} is empty")
        values[key] = ids.cast(pa.binary())
    for name in registry.passthrough:
        if name in columns:
            values[name] = strings(name).cast(pa.binary())
    for feature in registry.features:
        if feature.kind is Kind.IMAGE:
            if feature.name not in inline and feature.source_column in columns:
                source = strings(feature.source_column)
                refuse(blank(source), MISSING_CREATIVE, lambda i, c=feature.source_column: f"{c} is empty")
                creatives[feature.name] = source
            continue
        texts = strings(feature.name)
        if feature.kind is not Kind.NUMERIC:
            values[feature.name] = texts.cast(pa.binary())
            continue
        parsed, empty, fits = _numbers(texts)
        column = columns[feature.name]
        refuse(
            pc.invert(pc.or_(empty, fits)).to_numpy(zero_copy_only=False),
            BAD_VALUE_TYPE,
            lambda i, f=feature.name, c=column: f"{f}={_shown(c[i])} is not a number a float32 can hold",
        )
        values[feature.name] = pc.if_else(empty, feature.default, pc.if_else(fits, parsed, 0.0)).cast(pa.float32())
    if with_label and registry.label_rule:
        values[registry.label] = _derived_label(registry.label_rule, registry.label, columns, refuse)
    elif with_label:
        label = pc.utf8_trim_whitespace(strings(registry.label))
        column = columns[registry.label]
        valid = pc.match_substring_regex(label, _LABEL_PATTERN)
        refuse(
            pc.invert(valid).to_numpy(zero_copy_only=False),
            BAD_VALUE_TYPE,
            lambda i: f"{registry.label}={_shown(column[i])} is not 0 or 1",
        )
        values[registry.label] = pc.cast(pc.ends_with(label, "1"), pa.int64())
    keep = np.flatnonzero(~bad)
    take = pa.array(keep, pa.int64())
    if key and key in columns:
        ids = columns[key]
        example_ids = [ids[i] for i in keep]
    elif not key and with_label:
        # No key column: the row's own fields are its key (serving requests need none).
        example_ids = _row_keys(registry, columns, keep)
    else:
        example_ids = [""] * len(keep)
    return Table(
        size=size,
        rejected=rejected,
        kept=keep.tolist(),
        example_ids=example_ids,
        values={name: column.take(take) for name, column in values.items()},
        creatives={
            feature.name: _creative_paths(creatives[feature.name].take(take), feature)
            for feature in registry.of_kind(Kind.IMAGE)
            if feature.name in creatives
        },
    )


def _creative_paths(source, feature):
    """Each row's creative path (`uri_template` filled in), formatted once per distinct value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    distinct = pc.unique(source)
    paths = pa.array([feature.uri_template.format(**{feature.source_column: v}) for v in distinct.to_pylist()])
    return paths.take(pc.index_in(source, value_set=distinct))


class RowParser:
    """Parses the records of one file (or request) with a given header.

    Args:
        registry: the dataset's features, label and keys.
        header: the column names, in the file's order (see `parse_header`).
        with_label: rows carry the label (training data); serving rows may omit it.
        months: with a span column (training data only), the months to keep: rows of other
            months are set aside as `Table.outside`. None keeps every month (the timestamp
            must still parse).
    """

    def __init__(
        self,
        registry: FeatureRegistry,
        header: list[str],
        *,
        with_label: bool = True,
        months: Collection[str] | None = None,
    ) -> None:
        self.registry = registry
        self.header = header
        self.width = len(header)
        self.with_label = with_label
        needed = set(registry.csv_columns if with_label else registry.request_columns)
        self._columns = [(name, index) for index, name in enumerate(header) if name in needed]
        span = registry.span_column if with_label else ""
        self._span_index = header.index(span) if span and span in header else None
        self._months = months

    def parse_records(self, records: Sequence[bytes]) -> Table:
        """The typed table of many records; a record that is not CSV of the header's width is
        rejected for that (never raises on bad input)."""
        rejected, fields = {}, []
        positions = []
        for position, line in enumerate(records):
            try:
                row = split_fields(line.removeprefix(UTF8_BOM).decode("utf-8"))
            except UnicodeDecodeError as exc:
                rejected[position] = Rejected(UNPARSEABLE_LINE, f"not UTF-8 at byte {exc.start}")
                continue
            except csv.Error as exc:
                rejected[position] = Rejected(UNPARSEABLE_LINE, f"not CSV: {exc}")
                continue
            if len(row) != self.width:
                rejected[position] = Rejected(WRONG_COLUMN_COUNT, f"{len(row)} columns, the header has {self.width}")
                continue
            fields.append(row)
            positions.append(position)
        outside: list[int] = []
        if self._span_index is not None and fields:
            fields, positions, outside = self._in_months(fields, positions, rejected)
        columns = {name: [row[index] for row in fields] for name, index in self._columns}
        table = _typed(self.registry, columns, len(fields), self.with_label)
        return Table(
            size=len(records),
            rejected={**rejected, **{positions[i]: why for i, why in table.rejected.items()}},
            kept=[positions[i] for i in table.kept],
            example_ids=table.example_ids,
            values=table.values,
            creatives=table.creatives,
            outside=outside,
        )

    def _in_months(self, fields: list, positions: list[int], rejected: dict[int, Rejected]):
        """The rows whose timestamp parses and falls in the months asked for; the positions of
        the rows of other months; rows whose timestamp does not parse go to `rejected`."""
        stamps = [row[self._span_index] for row in fields]
        unreadable, outside, keep = _by_month(self.registry, stamps, self._months)
        for i, why in unreadable.items():
            rejected[positions[i]] = why
        return [fields[i] for i in keep], [positions[i] for i in keep], [positions[i] for i in outside]

    def parse(self, line: bytes) -> ParsedRow | Rejected:
        """A typed row, or why the record is rejected."""
        return _one(self.parse_records([line]))


def _one(table: Table) -> ParsedRow | Rejected:
    """The single row of a one-row table."""
    if table.rejected:
        return table.rejected[0]
    row = ParsedRow(example_id=table.example_ids[0])
    for name, column in table.values.items():
        value = column[0].as_py()
        row.values[name] = value
        row.kinds[name] = BYTES if isinstance(value, bytes) else INT if isinstance(value, int) else FLOAT
    row.creatives = {name: column[0].as_py() for name, column in table.creatives.items()}
    row.images = {name: column[0].as_py() for name, column in table.images.items()}
    return row


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
    """A typed row from raw values by column name (a JSON impression, or a local row).

    Values may be strings as in a CSV file, or JSON numbers and null; an image feature may be
    given inline under its own name (bytes or ``{"b64": ...}``) instead of by its source column.
    The example id and passthrough columns are optional when `with_label` is False (serving).
    A missing column, or a value that is a JSON list or object, is refused before any value is
    checked.
    """
    inline = {}
    for feature in registry.of_kind(Kind.IMAGE):
        try:
            data = inline_image(row.get(feature.name))
        except ValueError as exc:
            return Rejected(UNDECODABLE_IMAGE, f"{feature.name}: {exc}")
        if data is not None:
            inline[feature.name] = data
    optional = set() if with_label else {registry.example_id, *registry.passthrough}
    columns = {}
    for column in registry.csv_columns:
        if column not in _columns_read(registry, inline, with_label):
            continue
        if column not in row:
            if column in optional:
                continue
            return Rejected(BAD_VALUE_TYPE, f"no column {column!r}")
        text = _text(row[column])
        if text is None:
            return Rejected(BAD_VALUE_TYPE, f"{column}={_shown(str(row[column]))} is not a single value")
        columns[column] = [text]
    if with_label and registry.span_column:
        # A training row's timestamp must parse, as ingestion checks it (no month is chosen here).
        unreadable, _, _ = _by_month(registry, columns[registry.span_column], None)
        if unreadable:
            return unreadable[0]
    table = _typed(registry, columns, 1, with_label, inline=frozenset(inline))
    if not table.rejected:
        import pyarrow as pa

        table.images = {name: pa.array([data], pa.binary()) for name, data in inline.items()}
    return _one(table)


def _columns_read(registry: FeatureRegistry, inline: Mapping[str, bytes], with_label: bool) -> set[str]:
    """The columns a row must give: an image given inline needs no source column."""
    used = {registry.example_id, *registry.passthrough} - {""}
    if with_label:
        used.update({*registry.label_columns, registry.span_column} - {""})
    for feature in registry.features:
        if feature.kind is not Kind.IMAGE:
            used.add(feature.name)
        elif feature.name not in inline:
            used.add(feature.source_column)
    return used


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


def checked(fetch: Callable[[str], bytes | None]) -> Callable[[str], bytes | Rejected]:
    """`fetch` (a creative by path; None if missing) with each creative checked (`check_creative`)."""

    def creative(path: str) -> bytes | Rejected:
        data = fetch(path)
        return check_creative(path, data) or data

    return creative


def attach_images(table: Table, creative: Callable[[str], bytes | Rejected]) -> Table:
    """The table with every image attached; the rows of an unusable creative rejected.

    Args:
        table: parsed rows.
        creative: a checked creative by its path relative to the dataset source: its bytes,
            or why it cannot be used (see `checked`); called once per distinct creative.

    Returns:
        The table with `images` holding each accepted row's image bytes; the rows of a missing
        or undecodable creative (or inline image) move to `rejected`.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    rejected: dict[int, Rejected] = {}
    for name, column in table.images.items():
        for index, data in enumerate(column.to_pylist()):
            if (why := check_creative(name, data)) is not None:
                rejected.setdefault(index, why)
    images = dict(table.images)
    for name, paths in table.creatives.items():
        distinct = pc.unique(paths)
        found = [creative(path) for path in distinct.to_pylist()]
        index = pc.index_in(paths, value_set=distinct)
        for row, position in enumerate(index.to_pylist()):
            if isinstance(found[position], Rejected):
                rejected.setdefault(row, found[position])
        data = [b"" if isinstance(item, Rejected) else item for item in found]
        images[name] = pa.array(data, pa.binary()).take(index)
    done = Table(
        table.size,
        dict(table.rejected),
        list(table.kept),
        list(table.example_ids),
        dict(table.values),
        {},
        images,
        list(table.outside),
    )
    return done.without(rejected)


def row_images(row: ParsedRow, fetch: Callable[[str], bytes | None]) -> dict[str, bytes] | Rejected:
    """One row's images, checked as `attach_images` checks a table's; or why it is rejected."""
    import pyarrow as pa

    table = Table(
        1,
        kept=[0],
        example_ids=[row.example_id],
        creatives={name: pa.array([path]) for name, path in row.creatives.items()},
        images={name: pa.array([data], pa.binary()) for name, data in row.images.items()},
    )
    done = attach_images(table, checked(fetch))
    if done.rejected:
        return next(iter(done.rejected.values()))
    return {name: column[0].as_py() for name, column in done.images.items()}


def split_of(example_id: str, eval_percent: int) -> str:
    """ "eval" for `eval_percent` % of ids, by a hash of the id: the same split every run."""
    bucket = int.from_bytes(hashlib.sha256(example_id.encode()).digest()[:8], "big") % 100
    return EVAL if bucket < eval_percent else TRAIN


def encode(table: Table, *, with_label: bool = True) -> list[bytes]:
    """The serialized tf.Examples of the accepted rows, in order (one batch encoder call).

    Image features hold the creative's file bytes; the label is kept only `with_label`
    (serving requests leave it out).
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


def _table_of(row: ParsedRow, images: Mapping[str, bytes] | None) -> Table:
    import pyarrow as pa

    types = {BYTES: pa.binary(), FLOAT: pa.float32(), INT: pa.int64()}
    values = {name: pa.array([value], types[row.kinds[name]]) for name, value in row.values.items()}
    all_images = {**row.images, **(images or {})}
    return Table(
        1,
        kept=[0],
        example_ids=[row.example_id],
        values=values,
        images={name: pa.array([data], pa.binary()) for name, data in all_images.items()},
    )


def build_example(row: ParsedRow, images: Mapping[str, bytes] | None = None, *, with_label: bool = True):
    """The tf.Example of one parsed row, encoded as `encode` encodes a table.

    Args:
        row: a parsed row.
        images: fetched creatives by image feature name (inline ones are in `row.images`).
        with_label: keep the label (training data); serving requests leave it out.
    """
    from tensorflow.core.example import example_pb2

    [serialized] = encode(_table_of(row, images), with_label=with_label)
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
