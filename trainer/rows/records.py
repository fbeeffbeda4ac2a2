"""CSV records: a byte stream to records (RFC 4180), a record to fields, a header to column names."""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable, Iterator

from trainer.features import FeatureRegistry

UTF8_BOM = b"\xef\xbb\xbf"
# A quoted field may hold line breaks; a record spanning more lines than this has a stray quote.
MAX_RECORD_LINES = 64


class HeaderError(ValueError):
    """A header that does not give the columns the registry needs, once each."""


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
