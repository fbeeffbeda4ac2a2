"""Choosing the months to ingest: the latest span, a rolling window, or an explicit month.

A span is one month of impressions, e.g. ``impressions/2026-10/*.csv`` for the pattern
``impressions/{span}/*.csv``. The ingestion executor resolves spans itself (the open-source
Kubeflow backend runs no ExampleGen driver), and the local runner calls `resolve_spans` before
building the pipeline so that its fingerprint becomes part of the cache key.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from components.ingest.storage import ObjectInfo, Storage, StorageError, open_storage
from components.spans import LATEST, MONTH_PATTERN, is_month, previous_months, span_of_month

SPAN_FIELD = "{span}"
_MONTH = f"(?P<span>{MONTH_PATTERN})"


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


def list_months(storage: Storage, impressions_pattern: str) -> dict[str, list[ObjectInfo]]:
    """Every month present under the source with its matching files.

    Raises:
        SpanError: nothing at all under the source, or no file matches the pattern.
        StorageError: the bucket or folder does not exist, or cannot be read.
    """
    regex = pattern_regex(impressions_pattern)
    prefix = impressions_pattern.split(SPAN_FIELD)[0]
    prefix = prefix[: min((prefix.find(c) for c in "*?[" if c in prefix), default=len(prefix))]
    months: dict[str, list[ObjectInfo]] = {}
    listed = 0
    for info in storage.list(prefix):
        listed += 1
        match = regex.match(info.name)
        if match:
            months.setdefault(match.group("span"), []).append(info)
    if not months:
        where = f"{storage.uri}/{prefix}"
        if not listed and not any(True for _ in storage.list("")):
            raise SpanError(f"nothing found under {storage.uri}: check dataset.source")
        raise SpanError(
            f"no impressions matching {impressions_pattern!r} under {where} "
            f"(found {listed} other objects there): check dataset.impressions_pattern"
        )
    return months


def resolve_spans(
    source: str, impressions_pattern: str, span: str, window: int, storage: Storage | None = None
) -> SpanSelection:
    """Resolves "latest" or a month, with a rolling window, to concrete months and files.

    Args:
        source: ``gs://bucket/prefix``, ``file:///path`` or a local path.
        impressions_pattern: e.g. ``impressions/{span}/*.csv``, relative to the source.
        span: "latest" or a month "YYYY-MM"; the window ends at this month.
        window: how many calendar months to ingest, ending at the span.
        storage: an open storage for the source; opened from `source` when None.

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
        available = list_months(storage, impressions_pattern)
    except StorageError as exc:
        raise SpanError(str(exc)) from None
    latest = max(available)
    end = latest if span == "latest" else span
    if end not in available:
        raise SpanError(
            f"span {end} not found: no {impressions_pattern.replace(SPAN_FIELD, end)} under "
            f"{storage.uri} (available: {_describe(available)})"
        )
    months = previous_months(end, window)
    missing = [month for month in months if month not in available]
    if missing:
        raise SpanError(
            f"span {', '.join(missing)} of the {window}-month window ending {end} not found "
            f"under {storage.uri} (available: {_describe(available)}): lower dataset.window "
            "or add the missing months"
        )
    files = tuple(info for month in months for info in sorted(available[month], key=_name))
    if not any(info.size for info in files):
        raise SpanError(f"span {', '.join(months)} under {storage.uri} is empty: its files hold no bytes")
    return SpanSelection(source=source, months=months, files=files)


def _name(info: ObjectInfo) -> str:
    return info.name


def _describe(available: dict[str, list[ObjectInfo]]) -> str:
    months = sorted(available)
    return ", ".join(months) if len(months) <= 6 else f"{months[0]} .. {months[-1]}, {len(months)} months"
