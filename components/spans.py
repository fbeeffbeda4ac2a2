"""The forms of a span, in one place.

A span is one month of impressions. It is written four ways:

- a month ``"2026-10"`` (folders, config, CLI, push records);
- TFX's span number ``202610`` (the Examples and statistics artifacts' ``span`` property);
- the months of a window ``"2026-09,2026-10"`` (the Examples' ``span_months`` property);
- ``"latest"`` (config and run parameter): the newest month present, resolved at run time.
"""

from __future__ import annotations

import re

LATEST = "latest"
# Where a month folder sits in `dataset.impressions_pattern`, e.g. ``impressions/{span}/*.csv``.
SPAN_FIELD = "{span}"
# A month as spans are named; the group lets other patterns embed it.
MONTH_PATTERN = r"\d{4}-(?:0[1-9]|1[0-2])"
_MONTH = re.compile(MONTH_PATTERN)


def is_month(text: str) -> bool:
    """True for a month written YYYY-MM."""
    return bool(_MONTH.fullmatch(text))


def check_span(text: str) -> str:
    """`text` when it is "latest" or a month; raises ValueError saying what is expected."""
    if text != LATEST and not is_month(text):
        raise ValueError(f"{text!r} is not a span: use 'latest' or a month like 2026-10")
    return text


def month_of_span(span: int) -> str:
    """The month of a TFX span number YYYYMM, as YYYY-MM."""
    year, month = divmod(int(span), 100)
    if year < 1000 or not 1 <= month <= 12:
        raise ValueError(f"span {span} is not a month written YYYYMM")
    return f"{year:04d}-{month:02d}"


def span_of_month(month: str) -> int:
    """The TFX span number YYYYMM of a month YYYY-MM."""
    if not is_month(month):
        raise ValueError(f"{month!r} is not a month written YYYY-MM")
    year, number = month.split("-")
    return int(year) * 100 + int(number)


def window_months(span_months: str) -> list[str]:
    """The months of a window as recorded on the Examples (``"2026-09,2026-10"``), oldest first."""
    return [month for month in span_months.split(",") if month]


def previous_months(month: str, count: int) -> tuple[str, ...]:
    """The `count` calendar months ending at `month`, oldest first."""
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1
    return tuple(f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1))
