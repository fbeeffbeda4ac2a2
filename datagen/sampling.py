"""One month of impressions as arrays of codes and numbers, and the drift applied to them."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import numpy as np

from datagen.catalog import IMPRESSION_COLUMNS, Catalog
from datagen.settings import Drift

# Share of traffic by hour of day (UTC): quiet at night, busiest in the evening.
_TRAFFIC = 1.0 + 0.7 * np.cos(2 * np.pi * (np.arange(24) - 19) / 24)
TRAFFIC_BY_HOUR = _TRAFFIC / _TRAFFIC.sum()
MEAN_PRIOR_CLICKS = 2.0
PRIOR_CLICKS_DISPERSION = 1.5
BID_NOISE = 0.25


@dataclass(frozen=True, eq=False)
class Impressions:
    """One month's impressions before formatting, in timestamp order.

    Attributes:
        timestamp: seconds since the Unix epoch (UTC).
        hour: hour of day of the timestamp.
        codes: per categorical column (ad_id, advertiser, campaign, ad_category, site,
            slot_position, device_type, region, user_age_bucket), each row's value code;
            the code `len(catalog.values[column])` is the unseen value drift introduces.
        title: each row's title variant (index into `Catalog.titles`).
        user_prior_clicks: the user's earlier clicks.
        bid_price: the bid, rounded to 4 decimals as written.
    """

    timestamp: np.ndarray
    hour: np.ndarray
    codes: dict[str, np.ndarray]
    title: np.ndarray
    user_prior_clicks: np.ndarray
    bid_price: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamp)


def month_bounds(month: str) -> tuple[int, int]:
    """The month's first second (Unix time, UTC) and its number of days."""
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=timezone.utc)
    return int(start.timestamp()), calendar.monthrange(year, number)[1]


def sample_impressions(catalog: Catalog, rows: int, month: str,
                       rng: np.random.Generator) -> Impressions:
    """Draws `rows` impressions of `month` from the catalog's traffic mix."""
    ad = rng.choice(catalog.n_ads, size=rows, p=catalog.ad_weight)
    advertiser = catalog.ad_advertiser[ad]
    n_advertisers = len(catalog.values["advertiser"])
    # Campaign i belongs to advertiser i % n_advertisers; pick one of the ad's advertiser's.
    owned = (len(catalog.values["campaign"]) - advertiser + n_advertisers - 1) // n_advertisers
    campaign = advertiser + n_advertisers * (rng.random(rows) * owned).astype(np.int64)
    codes = {"ad_id": ad, "advertiser": advertiser, "campaign": campaign,
             "ad_category": catalog.ad_category[ad]}
    for column in IMPRESSION_COLUMNS:
        weights = catalog.weights[column]
        codes[column] = rng.choice(len(weights), size=rows, p=weights)
    start, days = month_bounds(month)
    hour = rng.choice(24, size=rows, p=TRAFFIC_BY_HOUR)
    seconds = rng.integers(days, size=rows) * 86400 + hour * 3600 + rng.integers(3600, size=rows)
    title = ad * catalog.titles_per_ad + rng.integers(catalog.titles_per_ad, size=rows)
    # Older users have clicked a little more before.
    mean_clicks = MEAN_PRIOR_CLICKS * (0.7 + 0.15 * codes["user_age_bucket"])
    prior_clicks = rng.negative_binomial(
        PRIOR_CLICKS_DISPERSION, PRIOR_CLICKS_DISPERSION / (PRIOR_CLICKS_DISPERSION + mean_clicks)
    )
    bid = np.round(catalog.ad_base_bid[ad] * rng.lognormal(0.0, BID_NOISE, size=rows), 4)
    order = np.argsort(seconds, kind="stable")
    return Impressions(
        timestamp=start + seconds[order],
        hour=hour[order],
        codes={column: values[order] for column, values in codes.items()},
        title=title[order],
        user_prior_clicks=prior_clicks[order].astype(np.int64),
        bid_price=bid[order],
    )


def apply_drift(impressions: Impressions, drift: Drift, catalog: Catalog,
                rng: np.random.Generator) -> Impressions:
    """The impressions with the drift's unseen values and numeric change applied.

    `ctr_multiplier` acts on the intercept and `drop_column`/`retype_column` on the CSV, so
    neither is applied here.
    """
    codes = dict(impressions.codes)
    if drift.new_value_fraction > 0:
        column = drift.new_value_column
        unseen = rng.random(len(impressions)) < drift.new_value_fraction
        codes[column] = np.where(unseen, len(catalog.values[column]), codes[column])
    changed = replace(impressions, codes=codes)
    if drift.numeric_scale != 1.0 or drift.numeric_shift != 0.0:
        values = getattr(impressions, drift.numeric_column)
        values = np.maximum(values * drift.numeric_scale + drift.numeric_shift, 0.0)
        if drift.numeric_column == "user_prior_clicks":
            values = np.round(values).astype(np.int64)
        else:
            values = np.round(values, 4)
        changed = replace(changed, **{drift.numeric_column: values})
    return changed
