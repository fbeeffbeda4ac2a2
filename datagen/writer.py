"""Formats impressions as CSV text, fast: per column, mostly by indexing arrays of strings.

No value contains a comma, quote or newline (names, titles and numbers are built that way),
so rows are joined without quoting.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from datagen.catalog import Catalog
from datagen.sampling import Impressions
from datagen.settings import COLUMNS, NEW_VALUES, Drift

HOURS = np.array([str(hour) for hour in range(24)], dtype=object)
HOURS_AS_TEXT = np.array([f"{hour:02d}:00" for hour in range(24)], dtype=object)
CLICKED = np.array(["0", "1"], dtype=object)
CATEGORICAL = ("ad_id", "advertiser", "campaign", "ad_category", "site", "slot_position",
               "device_type", "region", "user_age_bucket")


def impression_ids(month: str, rows: int) -> list[str]:
    """Ids `imp-YYYY-MM-0000001` onwards for a month's rows: unique across months and stable."""
    width = max(7, len(str(rows)))
    return [f"imp-{month}-{number:0{width}d}" for number in range(1, rows + 1)]


def _names(catalog: Catalog, column: str) -> np.ndarray:
    unseen = (NEW_VALUES[column],) if column in NEW_VALUES else ()
    return np.array(catalog.values[column] + unseen, dtype=object)


def csv_text(impressions: Impressions, clicked: np.ndarray, ids: list[str], rows: slice,
             catalog: Catalog, drift: Drift) -> str:
    """The CSV (header and rows, `\\n`-terminated) of `impressions[rows]`.

    Args:
        impressions: the month's impressions.
        clicked: each impression's realised click.
        ids: the impression ids of `rows`.
        rows: which impressions to write.
        catalog: the value names.
        drift: its `drop_column` and `retype_column` shape the output.
    """
    seconds = impressions.timestamp[rows].astype("datetime64[s]")
    columns = {
        "impression_id": ids,
        "timestamp": np.datetime_as_string(seconds, unit="s", timezone="UTC").tolist(),
        "hour": HOURS[impressions.hour[rows]].tolist(),
        "user_prior_clicks": list(map(str, impressions.user_prior_clicks[rows].tolist())),
        "bid_price": list(map("{:.4f}".format, impressions.bid_price[rows].tolist())),
        "ad_title": np.array(catalog.titles, dtype=object)[impressions.title[rows]].tolist(),
        "clicked": CLICKED[clicked[rows].astype(np.int64)].tolist(),
    }
    for column in CATEGORICAL:
        columns[column] = _names(catalog, column)[impressions.codes[column][rows]].tolist()
    if drift.retype_column == "hour":
        columns["hour"] = HOURS_AS_TEXT[impressions.hour[rows]].tolist()
    elif drift.retype_column == "user_prior_clicks":
        columns["user_prior_clicks"] = [f"{value} clicks" for value in columns["user_prior_clicks"]]
    elif drift.retype_column == "bid_price":
        columns["bid_price"] = [f"${value}" for value in columns["bid_price"]]
    names = [column for column in COLUMNS if column != drift.drop_column]
    lines = map(",".join, zip(*(columns[name] for name in names), strict=True))
    return ",".join(names) + "\n" + "\n".join(lines) + "\n"


def ground_truth_text(ids: list[str], probabilities: np.ndarray) -> str:
    """`impression_id,click_probability` CSV text."""
    lines = map("{},{:.8f}".format, ids, probabilities.tolist())
    return "impression_id,click_probability\n" + "\n".join(lines) + "\n"


def write_atomically(path: Path, data: bytes) -> None:
    """Writes `data` to `path` through a temporary file, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_bytes(data)
    os.replace(temporary, path)
