"""Reading generated spans back, and recomputing creative traits from pixels, for the tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from datagen.creatives import BUTTON_BOX, TOP_BAND


def read_month(out: Path, month: str) -> list[dict[str, str]]:
    """Every impression row of a month, shards in order."""
    rows: list[dict[str, str]] = []
    for shard in sorted((out / "impressions" / month).glob("*.csv")):
        with shard.open(newline="") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def header(out: Path, month: str) -> list[str]:
    """The header of the month's first shard."""
    first = sorted((out / "impressions" / month).glob("*.csv"))[0]
    return first.read_text().splitlines()[0].split(",")


def all_files(out: Path) -> dict[str, bytes]:
    """Relative path -> content of every file under `out`."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def pixel_traits(path: Path) -> dict[str, bool]:
    """The creative traits as seen in the pixels, computed independently of the generator.

    warm: red outweighs blue; high contrast: the brightest and darkest pixels of the top band
    differ a lot in HSV value; cta: most of the button box is near-white.
    """
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(np.float64)
    size = pixels.shape[0]
    value = pixels[: int(TOP_BAND * size)].max(axis=-1)
    left, top, right, bottom = (int(f * size) for f in BUTTON_BOX)
    button = pixels[top:bottom, left:right]
    return {
        "warm": pixels[..., 0].mean() > pixels[..., 2].mean(),
        "high_contrast": np.percentile(value, 99) - np.percentile(value, 1) > 100,
        "cta": (button.min(axis=-1) > 230).mean() > 0.5,
    }
