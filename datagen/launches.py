"""New ads every month: the ads a month launches, and the world as it stands in a month.

Real platforms bring new ads every month, and a model trained on last month meets them with no
history of their own: only the advertiser, category, title and creative say how they will do.
Each month launches `new_ads_per_month` ads that run for `ad_lifetime_months` months (the launch
month included) beside the catalog's evergreen ads. A launched ad belongs to an existing
advertiser and category, has its own titles, creative traits and effect drawn like an evergreen
ad's, and a popularity drawn from the same Zipf-like curve. Everything about a month's launches
follows from the seed and that month alone, so a month's rows never depend on which other
months were generated with it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from datagen.catalog import POPULARITY_EXPONENT, Catalog, draw_titles
from datagen.clickmodel import CREATIVE_EFFECTS, MAIN_EFFECT_SCALES, ClickModel, title_effect
from datagen.settings import GeneratorSettings

# Random streams of the launches (the catalog, effects and rows use 0-7).
LAUNCH_STREAM = 8
CREATIVE_STREAM = 9
# A launched ad's popularity rank is drawn below the evergreen ads' top 1 / NEW_AD_TOP_RANK_SHARE.
NEW_AD_TOP_RANK_SHARE = 10


@dataclass(frozen=True, eq=False)
class Launch:
    """The ads one month launches, with everything the catalog and the click model hold per ad.

    Attributes:
        month: YYYY-MM.
        ad_ids: e.g. ``ad-202610-001``.
        advertiser, category: codes in the catalog's value lists.
        base_bid: typical bid price.
        titles: `titles_per_ad` title variants per ad, in ad order.
        warm, high_contrast, cta: creative traits.
        popularity: impression weight on the evergreen ads' scale (their weights sum to 1).
        effect: each ad's own logit effect.
    """

    month: str
    ad_ids: tuple[str, ...]
    advertiser: np.ndarray
    category: np.ndarray
    base_bid: np.ndarray
    titles: tuple[str, ...]
    warm: np.ndarray
    high_contrast: np.ndarray
    cta: np.ndarray
    popularity: np.ndarray
    effect: np.ndarray

    def creative_stream(self, index: int, seed: int) -> np.random.Generator:
        """The stream a launched ad's creative is drawn from."""
        return np.random.default_rng(self.creative_key(index, seed))

    def creative_key(self, index: int, seed: int) -> list[int]:
        """The entropy of `creative_stream` (a plain list, so another process can rebuild it)."""
        year, number = (int(part) for part in self.month.split("-"))
        return [seed, CREATIVE_STREAM, year, number, index]


def months_before(month: str, count: int) -> list[str]:
    """`month` and the `count - 1` months before it, oldest first."""
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


def launch(settings: GeneratorSettings, catalog: Catalog, month: str) -> Launch:
    """The ads `month` launches (none when `settings.new_ads_per_month` is 0)."""
    year, number = (int(part) for part in month.split("-"))
    rng = np.random.default_rng([settings.seed, LAUNCH_STREAM, year, number])
    count = settings.new_ads_per_month
    category = rng.integers(len(catalog.values["ad_category"]), size=count)
    advertiser = rng.integers(len(catalog.values["advertiser"]), size=count)
    # The evergreen ads' typical bid by category, and their spread around it.
    category_bid = np.array([
        np.exp(np.log(catalog.ad_base_bid[catalog.ad_category == c]).mean()) if (catalog.ad_category == c).any()
        else float(np.median(catalog.ad_base_bid))
        for c in range(len(catalog.values["ad_category"]))
    ])
    base_bid = category_bid[category] * rng.lognormal(0.0, 0.3, size=count)
    titles = draw_titles(rng, catalog.values["ad_category"], category, settings.titles_per_ad)
    traits = rng.random((3, count)) < 0.5
    # A rank on the evergreen ads' popularity curve, normalised like theirs, outside its head:
    # a new ad starts without the reach of the established best sellers.
    curve = 1.0 / np.arange(1, settings.n_ads + 1) ** POPULARITY_EXPONENT
    popularity = curve[rng.integers(settings.n_ads // NEW_AD_TOP_RANK_SHARE, settings.n_ads, size=count)] / curve.sum()
    width = max(3, len(str(count)))
    return Launch(
        month=month,
        ad_ids=tuple(f"ad-{year:04d}{number:02d}-{i:0{width}d}" for i in range(1, count + 1)),
        advertiser=advertiser,
        category=category,
        base_bid=base_bid,
        titles=titles,
        warm=traits[0],
        high_contrast=traits[1],
        cta=traits[2],
        popularity=popularity,
        effect=rng.normal(0.0, MAIN_EFFECT_SCALES["ad_id"], size=count),
    )


def live_launches(settings: GeneratorSettings, catalog: Catalog, month: str) -> list[Launch]:
    """The launches whose ads still run in `month`, oldest first (this month's last)."""
    if not settings.new_ads_per_month:
        return []
    return [launch(settings, catalog, m) for m in months_before(month, settings.ad_lifetime_months)]


def month_world(catalog: Catalog, model: ClickModel, launches: list[Launch]) -> tuple[Catalog, ClickModel]:
    """The catalog and click model of a month: the evergreen ads, then each launch's ads.

    Ad codes keep their meaning: evergreen ads first, launched ads after them in launch order,
    so a launched ad's titles, traits and effects sit at its code in every array.
    """
    if not launches:
        return catalog, model

    def joined(base, part: str):
        return np.concatenate([base, *(getattr(ads, part) for ads in launches)])

    weight = joined(catalog.ad_weight, "popularity")
    titles = catalog.titles + tuple(t for ads in launches for t in ads.titles)
    month_catalog = replace(
        catalog,
        values={**catalog.values, "ad_id": catalog.values["ad_id"] + tuple(a for ads in launches for a in ads.ad_ids)},
        ad_weight=weight / weight.sum(),
        ad_advertiser=joined(catalog.ad_advertiser, "advertiser"),
        ad_category=joined(catalog.ad_category, "category"),
        ad_base_bid=joined(catalog.ad_base_bid, "base_bid"),
        titles=titles,
        warm=joined(catalog.warm, "warm"),
        high_contrast=joined(catalog.high_contrast, "high_contrast"),
        cta=joined(catalog.cta, "cta"),
    )
    creative = (CREATIVE_EFFECTS["warm"] * month_catalog.warm + CREATIVE_EFFECTS["high_contrast"]
                * month_catalog.high_contrast + CREATIVE_EFFECTS["cta"] * month_catalog.cta)
    month_model = replace(
        model,
        main={**model.main, "ad_id": joined(model.main["ad_id"], "effect")},
        title_effect=np.concatenate([model.title_effect,
                                     [title_effect(t) for t in titles[len(catalog.titles):]]]),
        creative_effect=creative.astype(np.float64),
    )
    return month_catalog, month_model
