"""Creatives: fetched once per ad, checked once, held in a cache of bounded size."""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from components.ingest.rows import MISSING_CREATIVE, UNDECODABLE_IMAGE, Rejected

IMAGE_FORMATS = ("PNG", "JPEG")
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


def image_problem(data: bytes) -> str | None:
    """Why `data` is not a decodable PNG or JPEG image, or None when it is."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in IMAGE_FORMATS:
                return f"{image.format} image, expected PNG or JPEG"
            # Decode every pixel: a truncated file opens fine but fails here.
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"not a decodable image ({exc})"
    return None


@dataclass(frozen=True)
class Creative:
    """A checked creative: its bytes, or why rows naming it are quarantined."""

    data: bytes | None
    rejected: Rejected | None = None


class CreativeCache:
    """Looks up creatives by object name, fetching and checking each one once.

    The cache holds at most `max_bytes` of image bytes (least recently used out first), so a
    month with many ads streams in bounded memory; impressions repeat ads, so most lookups hit.
    """

    def __init__(self, fetch: Callable[[str], bytes | None], max_bytes: int = DEFAULT_CACHE_BYTES):
        self._fetch = fetch
        self._max_bytes = max_bytes
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
        while self._held > self._max_bytes and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self._held -= len(evicted.data or b"")
        return creative

    def _load(self, name: str) -> Creative:
        self.fetches += 1
        data = self._fetch(name)
        if data is None:
            return Creative(None, Rejected(MISSING_CREATIVE, f"no creative {name}"))
        problem = image_problem(data)
        if problem:
            return Creative(None, Rejected(UNDECODABLE_IMAGE, f"{name}: {problem}"))
        return Creative(data)
