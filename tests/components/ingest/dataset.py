"""Tiny impressions datasets for ingestion tests: CSV spans and PNG creatives on disk."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from pipeline.config import load_config


def registry():
    """The default config's feature registry."""
    return load_config().registry()


def png(shade: int = 120, size: int = 4) -> bytes:
    """A small valid PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (shade, 30, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def row(impression_id: str, ad_id: str = "ad_1", **values: str) -> dict[str, str]:
    """A valid impression row of the default registry, with some values replaced."""
    base = {
        "impression_id": impression_id,
        "timestamp": "2026-10-03T10:00:00Z",
        "ad_id": ad_id,
        "advertiser": "adv_1",
        "campaign": "camp_7",
        "ad_category": "sports",
        "site": "news.example",
        "slot_position": "top",
        "device_type": "mobile",
        "region": "eu",
        "user_age_bucket": "25-34",
        "hour": "10",
        "user_prior_clicks": "2",
        "bid_price": "0.42",
        "ad_title": "Fast shoes, for runners",
        "clicked": "1",
    }
    base.update(values)
    return base


def csv_line(values: dict[str, str]) -> str:
    """One CSV line in `registry().csv_columns` order, quoting values with commas."""
    cells = [values[c] for c in registry().csv_columns]
    return ",".join(f'"{cell}"' if "," in cell else cell for cell in cells)


def write_span(root: Path, month: str, lines: list[str], shards: int = 1) -> None:
    """Writes `lines` (without header) as `shards` CSV files of impressions/<month>/."""
    folder = root / "impressions" / month
    folder.mkdir(parents=True, exist_ok=True)
    header = ",".join(registry().csv_columns)
    for shard in range(shards):
        part = lines[shard::shards]
        body = "".join(f"{line}\n" for line in part)
        path = folder / f"impressions-{shard:05d}-of-{shards:05d}.csv"
        path.write_text(f"{header}\n{body}")


def write_creatives(root: Path, ad_ids: list[str]) -> None:
    """A valid PNG creative for each ad."""
    folder = root / "creatives"
    folder.mkdir(parents=True, exist_ok=True)
    for index, ad_id in enumerate(ad_ids):
        (folder / f"{ad_id}.png").write_bytes(png(shade=index * 20 % 256))


def good_lines(month: str, count: int, ads: int = 3) -> list[str]:
    """`count` valid rows of `month` spread over `ads` ads."""
    return [csv_line(row(f"{month}-imp-{i:05d}", ad_id=f"ad_{i % ads}")) for i in range(count)]


def write_months(root: Path, counts: dict[str, int], ads: int = 3) -> None:
    """A dataset of valid rows: `counts` maps month to rows, plus creatives and ground truth."""
    for month, count in counts.items():
        write_span(root, month, good_lines(month, count, ads), shards=2)
    write_creatives(root, [f"ad_{i}" for i in range(ads)])
    # Ingestion must ignore anything else under the source, like datagen's ground truth.
    truth = root / "ground_truth"
    truth.mkdir(exist_ok=True)
    (truth / "weights.json").write_text("{}")
