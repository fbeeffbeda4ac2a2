"""Creatives: fetched once per ad, checked once, held in a cache of bounded size."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from trainer.rows import Rejected, check_creative

DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
# Missing creatives hold no bytes; this bounds how many of them (and of all entries) are kept.
DEFAULT_CACHE_ENTRIES = 100_000


@dataclass(frozen=True)
class Creative:
    """A checked creative: its bytes, or why rows naming it are quarantined."""

    data: bytes | None
    rejected: Rejected | None = None


class CreativeCache:
    """Looks up creatives by object name, fetching and checking each one once.

    The cache holds at most `max_bytes` of image bytes and `max_entries` entries (least recently
    used out first), so a month with many ads, or many missing ones, streams in bounded memory;
    impressions repeat ads, so most lookups hit.
    """

    def __init__(
        self,
        fetch: Callable[[str], bytes | None],
        max_bytes: int = DEFAULT_CACHE_BYTES,
        max_entries: int = DEFAULT_CACHE_ENTRIES,
    ):
        self._fetch = fetch
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._held = 0
        self._entries: OrderedDict[str, Creative] = OrderedDict()
        self.fetches = 0

    def get(self, name: str) -> Creative:
        """The checked creative stored under `name` (relative to the source)."""
        creative = self._entries.get(name)
        if creative is not None:
            self._entries.move_to_end(name)
            return creative
        creative = self._load(name)
        self._entries[name] = creative
        self._held += len(creative.data or b"")
        while (self._held > self._max_bytes or len(self._entries) > self._max_entries) and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self._held -= len(evicted.data or b"")
        return creative

    def _load(self, name: str) -> Creative:
        self.fetches += 1
        data = self._fetch(name)
        rejected = check_creative(name, data)
        return Creative(None, rejected) if rejected else Creative(data)
