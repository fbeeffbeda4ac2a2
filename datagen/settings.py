"""What the generator is asked for: the world's size (`GeneratorSettings`) and per-month drift.

Both are frozen dataclasses validated on construction, so a bad value fails at once with the
field named, before any file is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

# The CSV columns, in order; equal to the default config's `registry().csv_columns`.
COLUMNS = (
    "impression_id",
    "timestamp",
    "ad_id",
    "advertiser",
    "campaign",
    "ad_category",
    "site",
    "slot_position",
    "device_type",
    "region",
    "user_age_bucket",
    "hour",
    "user_prior_clicks",
    "bid_price",
    "ad_title",
    "clicked",
)

CREATIVE_FORMATS = ("png", "jpeg")
CREATIVE_TEXTURES = ("flat", "photo")
# The file extension each creative format is written with.
CREATIVE_EXTENSIONS = {"png": "png", "jpeg": "jpg"}

SLOT_POSITIONS = ("top_banner", "in_feed", "sidebar", "footer")
DEVICE_TYPES = ("mobile", "desktop", "tablet")
AGE_BUCKETS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")

# Columns drift may give an unseen value, and the value it gives.
NEW_VALUES = {
    "ad_category": "crypto",
    "site": "site-new",
    "slot_position": "interstitial",
    "device_type": "smart_tv",
    "region": "antarctica",
    "user_age_bucket": "unknown",
}
# Numeric columns drift may scale or shift (hour must stay consistent with timestamp).
SHIFTABLE = ("bid_price", "user_prior_clicks")
# Numeric columns drift may write as text, e.g. hour as "07:00".
RETYPEABLE = ("hour", "user_prior_clicks", "bid_price")


def is_month(text: str) -> bool:
    """True for a month written as YYYY-MM."""
    return bool(MONTH_RE.match(text))


@dataclass(frozen=True)
class GeneratorSettings:
    """The size and shape of the synthetic world; the same settings give the same files.

    Attributes:
        impressions: rows per month.
        seed: the world (ads, creatives, effects) and every month's rows follow from it.
        base_ctr: the click-through rate the intercept is calibrated to (2-5% is realistic).
        n_ads: evergreen ads, which run every month; each has one creative and keeps it.
        n_advertisers: advertisers; each ad belongs to one.
        n_campaigns: campaigns; each belongs to one advertiser (at least one per advertiser).
        n_categories: ad categories.
        n_sites: publisher sites.
        n_regions: user regions.
        slot_positions: where on the page the ad is shown.
        device_types: the user's device.
        age_buckets: the user's age bucket.
        titles_per_ad: title variants per ad (so the title varies within an ad).
        creative_size: creative width in pixels (and height, unless `creative_height` is set).
        creative_height: creative height in pixels; 0 makes square creatives.
        creative_format: "png" (written as creatives/<ad_id>.png) or "jpeg" (<ad_id>.jpg).
        creative_texture: "flat" (solid fills, as icons) or "photo" (light falloff and grain,
            as photographed banners).
        jpeg_quality: the JPEG quality of "jpeg" creatives.
        shard_rows: rows per impressions CSV shard.
        new_ads_per_month: ads each month launches beside the evergreen ones (0: none).
        ad_lifetime_months: months a launched ad runs, its launch month included.
    """

    impressions: int = 100_000
    seed: int = 0
    base_ctr: float = 0.03
    n_ads: int = 200
    n_advertisers: int = 40
    n_campaigns: int = 400
    n_categories: int = 12
    n_sites: int = 30
    n_regions: int = 10
    slot_positions: tuple[str, ...] = SLOT_POSITIONS
    device_types: tuple[str, ...] = DEVICE_TYPES
    age_buckets: tuple[str, ...] = AGE_BUCKETS
    titles_per_ad: int = 3
    creative_size: int = 64
    creative_height: int = 0
    creative_format: str = "png"
    creative_texture: str = "flat"
    jpeg_quality: int = 92
    shard_rows: int = 250_000
    new_ads_per_month: int = 30
    ad_lifetime_months: int = 3

    def __post_init__(self) -> None:
        positive = ("impressions", "n_ads", "n_advertisers", "n_campaigns", "n_categories",
                    "n_sites", "n_regions", "titles_per_ad", "shard_rows", "ad_lifetime_months")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"GeneratorSettings.{name} must be a positive integer, got {value!r}"
                )
        for name in ("seed", "new_ads_per_month"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"GeneratorSettings.{name} must be a non-negative integer, got {value!r}"
                )
        if not 0 < self.base_ctr < 0.5:
            raise ValueError(
                f"GeneratorSettings.base_ctr must be in (0, 0.5), got {self.base_ctr!r}"
            )
        if self.n_campaigns < self.n_advertisers:
            raise ValueError("GeneratorSettings.n_campaigns must be at least n_advertisers")
        if not 16 <= self.creative_size <= 512:
            raise ValueError("GeneratorSettings.creative_size must be between 16 and 512")
        if self.creative_height and not 16 <= self.creative_height <= 512:
            raise ValueError("GeneratorSettings.creative_height must be 0 or between 16 and 512")
        if self.creative_format not in CREATIVE_FORMATS:
            raise ValueError(f"GeneratorSettings.creative_format must be one of {', '.join(CREATIVE_FORMATS)}, "
                             f"got {self.creative_format!r}")
        if self.creative_texture not in CREATIVE_TEXTURES:
            raise ValueError(f"GeneratorSettings.creative_texture must be one of "
                             f"{', '.join(CREATIVE_TEXTURES)}, got {self.creative_texture!r}")
        if not 1 <= self.jpeg_quality <= 95:
            raise ValueError("GeneratorSettings.jpeg_quality must be between 1 and 95")
        for name in ("slot_positions", "device_types", "age_buckets"):
            values = getattr(self, name)
            if not values or len(set(values)) != len(values):
                raise ValueError(f"GeneratorSettings.{name} must be non-empty and unique")
            if any(not v or "," in v or '"' in v or "\n" in v for v in values):
                raise ValueError(f"GeneratorSettings.{name} values need text without , or \"")


@dataclass(frozen=True)
class Drift:
    """How one month departs from the others, so that validation has something to catch.

    The ground truth is computed from the rows as written (after drift), with unseen values
    having no effect of their own.

    Attributes:
        ctr_multiplier: the month's click-through rate is `base_ctr * ctr_multiplier`.
        new_value_column: a categorical column that gets an unseen value (see `NEW_VALUES`).
        new_value_fraction: the fraction of rows given that unseen value.
        numeric_column: `bid_price` or `user_prior_clicks`, to scale and shift.
        numeric_scale: multiplies `numeric_column`.
        numeric_shift: then added to `numeric_column` (results are clipped at 0).
        drop_column: a column left out of the CSV (any but impression_id).
        retype_column: a numeric column written as text: hour "07:00", user_prior_clicks
            "3 clicks", bid_price "$0.4210".
    """

    ctr_multiplier: float = 1.0
    new_value_column: str = "ad_category"
    new_value_fraction: float = 0.0
    numeric_column: str = "bid_price"
    numeric_scale: float = 1.0
    numeric_shift: float = 0.0
    drop_column: str = ""
    retype_column: str = ""

    def __post_init__(self) -> None:
        if not self.ctr_multiplier > 0:
            raise ValueError(f"ctr_multiplier must be positive, got {self.ctr_multiplier!r}")
        if self.new_value_column not in NEW_VALUES:
            raise ValueError(
                f"new_value_column must be one of {', '.join(NEW_VALUES)}, "
                f"got {self.new_value_column!r}"
            )
        if not 0 <= self.new_value_fraction <= 1:
            raise ValueError(
                f"new_value_fraction must be in [0, 1], got {self.new_value_fraction!r}"
            )
        if self.numeric_column not in SHIFTABLE:
            raise ValueError(
                f"numeric_column must be one of {', '.join(SHIFTABLE)}, got {self.numeric_column!r}"
            )
        if self.drop_column and (self.drop_column not in COLUMNS or self.drop_column == COLUMNS[0]):
            raise ValueError(
                "drop_column must be a CSV column other than impression_id, "
                f"got {self.drop_column!r}"
            )
        if self.retype_column and self.retype_column not in RETYPEABLE:
            raise ValueError(
                f"retype_column must be one of {', '.join(RETYPEABLE)}, got {self.retype_column!r}"
            )

    def changes(self) -> dict[str, object]:
        """The fields that differ from no drift at all."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) != f.default}

    @classmethod
    def from_strings(cls, values: dict[str, str]) -> Drift:
        """A drift from text values (e.g. parsed from the command line), typed by field.

        Raises:
            ValueError: an unknown key or a value of the wrong type, named in the message.
        """
        types = {f.name: f.type for f in fields(cls)}
        typed: dict[str, object] = {}
        for key, text in values.items():
            if key not in types:
                raise ValueError(f"unknown drift key {key!r} (known: {', '.join(types)})")
            if types[key] == "float":
                try:
                    typed[key] = float(text)
                except ValueError:
                    raise ValueError(f"drift key {key} needs a number, got {text!r}") from None
            else:
                typed[key] = text
        return cls(**typed)
