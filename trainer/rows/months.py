"""Span column timestamps to months, and which rows fall in the months a span asks for."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from trainer.features import FeatureRegistry
from trainer.rows.rejections import BAD_VALUE_TYPE, Rejected, shown

# An ISO 8601 date or date-time: 2019-01-05, 2019-01-05 13:04, 2019-01-05T13:04:05.25+01:00.
_ISO_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::(?:[0-5]\d|60)(?:[.,]\d+)?)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?)?$"
)


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


def by_month(registry: FeatureRegistry, stamps: list[str], months: Collection[str] | None):
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
        i: Rejected(BAD_VALUE_TYPE, f"{registry.span_column}={shown(stamps[i])} is not a timestamp ({form})")
        for i in pc.indices_nonzero(unreadable).to_pylist()
    }
    return rejected, pc.indices_nonzero(outside).to_pylist(), pc.indices_nonzero(wanted).to_pylist()
