"""Choosing the months to ingest: the latest span, a rolling window, or an explicit month.

A span is one month of rows, found one of two ways:

- month folders: e.g. ``impressions/2026-10/*.csv`` for the pattern ``impressions/{span}/*.csv``;
- a span column (``dataset.span_column``): every file matching the pattern (no ``{span}``) may
  hold rows of any month, and a row's month is the one of its timestamp. The months present are
  found by a scan of that column of every matching file (`file_months`, about a tenth of
  ingestion's cost per row, once per file version and process); ingestion then reads only the
  files with rows in the window and keeps the rows of its months.

The ingestion executor resolves spans itself (the open-source Kubeflow backend runs no
ExampleGen driver), and the local runner calls `resolve_spans` before building the pipeline so
that its fingerprint becomes part of the cache key.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from components.ingest.storage import ObjectInfo, Storage, StorageError, open_storage
from components.spans import LATEST, MONTH_PATTERN, SPAN_FIELD, is_month, previous_months, span_of_month
from trainer import rows

_MONTH = f"(?P<span>{MONTH_PATTERN})"
# Bytes of a file read to find its header.
HEADER_BYTES = 64 * 1024
# Bytes per block of the span-column scan.
SCAN_BLOCK_BYTES = 8 * 1024 * 1024
# Months per file already scanned in this process: a run resolves its span twice (runner, executor).
_SCANNED: dict[tuple, dict[str, int]] = {}
_SCANNED_MAX = 4096


class SpanError(ValueError):
    """The source, prefix or span does not exist or is empty; the message names it."""


@dataclass(frozen=True)
class SpanSelection:
    """The concrete input of one ingestion run.

    Attributes:
        source: the dataset source it was resolved against.
        months: the months in the window, oldest first, e.g. ("2026-09", "2026-10").
        files: the impressions files of those months, in name order.
    """

    source: str
    months: tuple[str, ...]
    files: tuple[ObjectInfo, ...]

    @property
    def span(self) -> int:
        """The latest month as an int YYYYMM, recorded as the Examples artifact's span."""
        return span_of_month(self.months[-1])

    @property
    def version(self) -> int:
        """The newest modification time of the files, in seconds: grows when a span is re-dropped."""
        return int(max(info.updated for info in self.files))

    @property
    def fingerprint(self) -> str:
        """A digest of the files' names, sizes and generations (mtimes for local files)."""
        digest = hashlib.sha256()
        for info in self.files:
            digest.update(f"{info.name}\t{info.size}\t{info.generation}\n".encode())
        return digest.hexdigest()

    @property
    def total_bytes(self) -> int:
        return sum(info.size for info in self.files)


def pattern_regex(impressions_pattern: str) -> re.Pattern[str]:
    """The regex matching object names of the pattern, with the month in group "span".

    Glob wildcards (``*``, ``?``, ``[...]``) never cross a "/".

    Raises:
        SpanError: the pattern does not contain ``{span}`` exactly once.
    """
    if impressions_pattern.count(SPAN_FIELD) != 1:
        raise SpanError(
            f"dataset.impressions_pattern {impressions_pattern!r} must contain {SPAN_FIELD} once"
        )
    before, after = impressions_pattern.split(SPAN_FIELD)
    return re.compile(_glob_regex(before) + _MONTH + _glob_regex(after) + r"\Z")


def _glob_regex(glob: str) -> str:
    # Like fnmatch, except that wildcards never cross a "/": a pattern names files of one folder.
    parts, i = [], 0
    while i < len(glob):
        char = glob[i]
        close = glob.find("]", i + 2) if char == "[" else -1
        if char == "*":
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
        elif close > 0:
            members = glob[i + 1 : close]
            negate = members.startswith("!")
            members = re.escape(members[1:] if negate else members).replace(r"\-", "-")
            parts.append(f"[^/{members}]" if negate else f"[{members}]")
            i = close
        else:
            parts.append(re.escape(char))
        i += 1
    return "".join(parts)


def _fixed_prefix(glob: str) -> str:
    """The part of a pattern before its first wildcard: the prefix to list."""
    return glob[: min((glob.find(c) for c in "*?[" if c in glob), default=len(glob))]


def _matching(
    storage: Storage, pattern: str, regex: re.Pattern[str], prefix: str
) -> Iterator[tuple[ObjectInfo, re.Match]]:
    """The objects under `prefix` whose names match `regex`, with the match.

    Raises:
        SpanError: nothing at all under the source, or no object matches the pattern.
        StorageError: the bucket or folder does not exist, or cannot be read.
    """
    listed = found = 0
    for info in storage.list(prefix):
        listed += 1
        match = regex.match(info.name)
        if match:
            found += 1
            yield info, match
    if not found:
        where = f"{storage.uri}/{prefix}"
        if not listed and not any(True for _ in storage.list("")):
            raise SpanError(f"nothing found under {storage.uri}: check dataset.source")
        raise SpanError(
            f"no impressions matching {pattern!r} under {where} "
            f"(found {listed} other objects there): check dataset.impressions_pattern"
        )


def list_months(storage: Storage, impressions_pattern: str) -> dict[str, list[ObjectInfo]]:
    """Every month folder present under the source with its matching files.

    Raises:
        SpanError: nothing at all under the source, or no file matches the pattern.
        StorageError: the bucket or folder does not exist, or cannot be read.
    """
    regex = pattern_regex(impressions_pattern)
    prefix = _fixed_prefix(impressions_pattern.split(SPAN_FIELD)[0])
    months: dict[str, list[ObjectInfo]] = {}
    for info, match in _matching(storage, impressions_pattern, regex, prefix):
        months.setdefault(match.group("span"), []).append(info)
    return months


def scan_months(
    storage: Storage, impressions_pattern: str, span_column: str, span_format: str = ""
) -> dict[str, list[ObjectInfo]]:
    """Every month with rows in the files of the pattern, by their span column, with the files
    holding rows of it.

    Raises:
        SpanError: no file matches the pattern, or a file lacks the span column.
        StorageError: the bucket or folder does not exist, or cannot be read.
    """
    if SPAN_FIELD in impressions_pattern:
        raise SpanError(
            f"dataset.impressions_pattern {impressions_pattern!r} names {SPAN_FIELD}, but dataset.span_column "
            "finds each row's month: name the files without it"
        )
    regex = re.compile(_glob_regex(impressions_pattern) + r"\Z")
    months: dict[str, list[ObjectInfo]] = {}
    for info, _ in _matching(storage, impressions_pattern, regex, _fixed_prefix(impressions_pattern)):
        for month in file_months(storage, info, span_column, span_format):
            months.setdefault(month, []).append(info)
    return months


class _ChunkStream(io.RawIOBase):
    """A readable stream over an iterator of byte chunks, for Arrow's CSV reader."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._rest:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._rest = chunk
        size = min(len(buffer), len(self._rest))
        buffer[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        return size


def file_months(storage: Storage, info: ObjectInfo, span_column: str, span_format: str = "") -> dict[str, int]:
    """How many rows of each month one file holds, by its span column (timestamps that do not
    parse are left to ingestion's quarantine). Remembered per file version in this process.

    Arrow's CSV reader reads only that column; a row it cannot split is skipped here (ingestion
    reads every row by the raw-row contract; this only tells which months exist).

    Raises:
        SpanError: the file's header has no such column.
    """
    key = (storage.uri, info.name, info.size, info.generation, span_column, span_format)
    if key in _SCANNED:
        return _SCANNED[key]
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv

    first = next(rows.iter_records(storage.read_chunks(info, chunk_bytes=HEADER_BYTES)), None)
    counts: Counter[str] = Counter()
    if first is not None:
        header = [c.strip() for c in rows.split_fields(first[1].removeprefix(rows.UTF8_BOM).decode("utf-8", "replace"))]
        if span_column not in header:
            raise SpanError(
                f"{storage.uri}/{info.name}: no column {span_column!r} (dataset.span_column); "
                f"the header has: {', '.join(header)}"
            )
        names = [f"c{i}" for i in range(len(header))]
        wanted = names[header.index(span_column)]
        reader = csv.open_csv(
            io.BufferedReader(_ChunkStream(storage.read_chunks(info)), SCAN_BLOCK_BYTES),
            read_options=csv.ReadOptions(column_names=names, skip_rows=1, block_size=SCAN_BLOCK_BYTES),
            parse_options=csv.ParseOptions(newlines_in_values=True, invalid_row_handler=lambda row: "skip"),
            convert_options=csv.ConvertOptions(
                include_columns=[wanted], column_types={wanted: pa.string()}, check_utf8=False
            ),
        )
        for batch in reader:
            found = pc.value_counts(rows.timestamp_months(batch.column(0), span_format))
            months, numbers = found.field("values").to_pylist(), found.field("counts").to_pylist()
            counts.update({month: n for month, n in zip(months, numbers, strict=True) if month})
    if len(_SCANNED) >= _SCANNED_MAX:
        _SCANNED.clear()
    _SCANNED[key] = dict(counts)
    return _SCANNED[key]


def resolve_spans(
    source: str,
    impressions_pattern: str,
    span: str,
    window: int,
    storage: Storage | None = None,
    *,
    span_column: str = "",
    span_format: str = "",
) -> SpanSelection:
    """Resolves "latest" or a month, with a rolling window, to concrete months and files.

    Args:
        source: ``gs://bucket/prefix``, ``file:///path`` or a local path.
        impressions_pattern: e.g. ``impressions/{span}/*.csv``, relative to the source; with a
            span column, the files without ``{span}``, e.g. ``trips/*.csv``.
        span: "latest" or a month "YYYY-MM"; the window ends at this month.
        window: how many calendar months to ingest, ending at the span.
        storage: an open storage for the source; opened from `source` when None.
        span_column: the timestamp column whose month is a row's span; "" for month folders.
        span_format: its strptime format; "" for ISO 8601.

    Returns:
        The months, their files and the fingerprint of those files.

    Raises:
        SpanError: the source, prefix or a month of the window is missing, a month has no
            files, or the files of the window hold no bytes at all.
    """
    if window < 1:
        raise SpanError(f"dataset.window must be at least 1, got {window}")
    if span != LATEST and not is_month(span):
        raise SpanError(f"dataset.span must be 'latest' or a month like 2026-10, got {span!r}")
    try:
        storage = storage or open_storage(source)
        if span_column:
            available = scan_months(storage, impressions_pattern, span_column, span_format)
        else:
            available = list_months(storage, impressions_pattern)
    except StorageError as exc:
        raise SpanError(str(exc)) from None
    if not available:
        raise SpanError(
            f"no row of {impressions_pattern!r} under {storage.uri} has a {span_column} timestamp that parses "
            f"({span_format or 'ISO 8601'}): check dataset.span_column and dataset.span_format"
        )
    latest = max(available)
    end = latest if span == "latest" else span
    if end not in available:
        where = (
            f"no row with {span_column} in {end} in {impressions_pattern}"
            if span_column
            else f"no {impressions_pattern.replace(SPAN_FIELD, end)}"
        )
        raise SpanError(f"span {end} not found: {where} under {storage.uri} (available: {_describe(available)})")
    months = previous_months(end, window)
    missing = [month for month in months if month not in available]
    if missing:
        raise SpanError(
            f"span {_listed(missing)} of the {window}-month window ending {end} not found "
            f"under {storage.uri} (available: {_describe(available)}): lower dataset.window "
            "or add the missing months"
        )
    # With a span column a file may hold several months of the window: each file once.
    files = tuple(sorted({info for month in months for info in available[month]}, key=_name))
    if not any(info.size for info in files):
        raise SpanError(f"span {', '.join(months)} under {storage.uri} is empty: its files hold no bytes")
    return SpanSelection(source=source, months=months, files=files)


def _listed(months: list[str]) -> str:
    return ", ".join(months) if len(months) <= 6 else f"{', '.join(months[:3])} ... {months[-1]} ({len(months)} months)"


def _name(info: ObjectInfo) -> str:
    return info.name


def _describe(available: dict[str, list[ObjectInfo]]) -> str:
    months = sorted(available)
    return ", ".join(months) if len(months) <= 6 else f"{months[0]} .. {months[-1]}, {len(months)} months"
