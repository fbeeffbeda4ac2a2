"""CSV numbers: what a number looks like in a CSV field, and whether a float32 can hold it."""

from __future__ import annotations

FLOAT32_MAX = 3.4028234663852886e38
# What a CSV number looks like (Python's float() also takes "nan", "inf" and "1_000").
_NUMBER_PATTERN = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"


def numbers(texts):
    """CSV numbers of a string array: (float64 values, blank mask, is-a-float32-number mask)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(texts)
    empty = pc.equal(trimmed, "")
    number = pc.match_substring_regex(trimmed, _NUMBER_PATTERN)
    parsed = pc.cast(pc.if_else(number, pc.replace_substring_regex(trimmed, r"^\+", ""), "0"), pa.float64())
    fits = pc.and_(number, pc.less_equal(pc.abs(parsed), FLOAT32_MAX))
    return parsed, empty, fits
