"""The ad world that persists across months: value names, ads, their titles and creative traits.

Everything here follows from the seed alone, so every month of one dataset shares the same
ads, titles and creatives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datagen.settings import GeneratorSettings

CATEGORY_NOUNS = {
    "fashion": ("sneakers", "jackets", "dresses"),
    "electronics": ("headphones", "laptops", "phones"),
    "travel": ("flights", "hotels", "city breaks"),
    "finance": ("credit cards", "loans", "insurance"),
    "gaming": ("games", "consoles", "gaming chairs"),
    "food": ("meal kits", "pizza", "coffee"),
    "auto": ("cars", "tyres", "car rentals"),
    "health": ("vitamins", "gym memberships", "running shoes"),
    "home": ("sofas", "lamps", "mattresses"),
    "education": ("online courses", "tutoring", "language lessons"),
    "entertainment": ("concert tickets", "movies", "streaming"),
    "sports": ("bikes", "tennis rackets", "football boots"),
}
GENERIC_NOUNS = ("products", "gadgets", "gifts")

# Title openers and closers are drawn independently of the category, so the words that move
# the click rate (see clickmodel.WORD_EFFECTS) carry a signal of their own.
TITLE_OPENERS = ("Free", "Save on", "Shop", "Discover", "Get", "Try", "Explore", "Meet", "Limited")
TITLE_CLOSERS = (
    "today",
    "online",
    "this week",
    "near you",
    "for everyone",
    "limited time",
    "fees apply",
    "subscription required",
    "terms apply",
    "free delivery",
    "save more",
    "in stock",
)
REGIONS = ("us-east", "us-west", "us-central", "canada", "uk", "germany", "france", "spain",
           "brazil", "japan")

# Ad popularity falls off as 1 / rank ** POPULARITY_EXPONENT (Zipf-like).
POPULARITY_EXPONENT = 0.8
# Categorical columns whose values are drawn per impression, with their name lists' keys.
IMPRESSION_COLUMNS = ("site", "slot_position", "device_type", "region", "user_age_bucket")


def _names(known: tuple[str, ...], prefix: str, count: int) -> tuple[str, ...]:
    """The first `count` known names, then `prefix-NN` names if more are asked for."""
    width = max(2, len(str(count)))
    extra = tuple(f"{prefix}-{i:0{width}d}" for i in range(len(known) + 1, count + 1))
    return (known + extra)[:count]


def _numbered(prefix: str, count: int, width: int) -> tuple[str, ...]:
    width = max(width, len(str(count)))
    return tuple(f"{prefix}-{i:0{width}d}" for i in range(1, count + 1))


@dataclass(frozen=True, eq=False)
class Catalog:
    """The persistent world: value names, per-ad attributes and traffic mix.

    Attributes:
        values: per categorical column, its value names (index = code used in arrays).
        weights: per categorical column drawn per impression, its traffic share.
        ad_weight: each ad's share of impressions.
        ad_advertiser: each ad's advertiser code.
        ad_category: each ad's category code.
        ad_base_bid: each ad's typical bid price.
        titles: all title variants; ad `a` owns `titles[a * titles_per_ad:(a + 1) * titles_per_ad]`.
        warm: per ad, whether its creative is dominated by a warm colour.
        high_contrast: per ad, whether its creative has high contrast.
        cta: per ad, whether its creative shows a call-to-action button.
        titles_per_ad: title variants per ad.
    """

    values: dict[str, tuple[str, ...]]
    weights: dict[str, np.ndarray]
    ad_weight: np.ndarray
    ad_advertiser: np.ndarray
    ad_category: np.ndarray
    ad_base_bid: np.ndarray
    titles: tuple[str, ...]
    warm: np.ndarray
    high_contrast: np.ndarray
    cta: np.ndarray
    titles_per_ad: int

    @property
    def n_ads(self) -> int:
        """How many ads the world has."""
        return len(self.values["ad_id"])


def draw_titles(rng: np.random.Generator, categories: tuple[str, ...], ad_category: np.ndarray,
                per_ad: int) -> tuple[str, ...]:
    """`per_ad` titles per ad: an opener, a noun of the ad's category and a closer."""
    titles = []
    for category in ad_category:
        nouns = CATEGORY_NOUNS.get(categories[category], GENERIC_NOUNS)
        for _ in range(per_ad):
            opener = TITLE_OPENERS[rng.integers(len(TITLE_OPENERS))]
            closer = TITLE_CLOSERS[rng.integers(len(TITLE_CLOSERS))]
            titles.append(f"{opener} {nouns[rng.integers(len(nouns))]} {closer}")
    return tuple(titles)


def build_catalog(settings: GeneratorSettings) -> Catalog:
    """The ads, titles, creative traits and traffic mix for `settings.seed`."""
    rng = np.random.default_rng([settings.seed, 0])
    values = {
        "ad_id": _numbered("ad", settings.n_ads, 4),
        "advertiser": _numbered("advertiser", settings.n_advertisers, 2),
        "campaign": _numbered("campaign", settings.n_campaigns, 3),
        "ad_category": _names(tuple(CATEGORY_NOUNS), "category", settings.n_categories),
        "site": _numbered("site", settings.n_sites, 2),
        "slot_position": settings.slot_positions,
        "device_type": settings.device_types,
        "region": _names(REGIONS, "region", settings.n_regions),
        "user_age_bucket": settings.age_buckets,
    }
    # Sites are skewed (a few big publishers); the other mixes are milder.
    concentration = {"site": 0.7, "slot_position": 6.0, "device_type": 4.0, "region": 3.0,
                     "user_age_bucket": 6.0}
    weights = {
        column: rng.dirichlet(np.full(len(values[column]), concentration[column]))
        for column in IMPRESSION_COLUMNS
    }
    # Ad popularity is Zipf-like, so many ads are rare and their pixels and titles matter.
    popularity = 1.0 / np.arange(1, settings.n_ads + 1) ** POPULARITY_EXPONENT
    ad_weight = rng.permutation(popularity / popularity.sum())
    ad_advertiser = rng.integers(settings.n_advertisers, size=settings.n_ads)
    ad_category = rng.integers(settings.n_categories, size=settings.n_ads)
    category_bid = rng.lognormal(np.log(0.8), 0.4, size=settings.n_categories)
    ad_base_bid = category_bid[ad_category] * rng.lognormal(0.0, 0.3, size=settings.n_ads)
    titles = draw_titles(rng, values["ad_category"], ad_category, settings.titles_per_ad)
    # Creative traits use their own stream: independent of every tabular attribute of the ad.
    traits = np.random.default_rng([settings.seed, 5]).random((3, settings.n_ads)) < 0.5
    return Catalog(
        values=values,
        weights=weights,
        ad_weight=ad_weight,
        ad_advertiser=ad_advertiser,
        ad_category=ad_category,
        ad_base_bid=ad_base_bid,
        titles=titles,
        warm=traits[0],
        high_contrast=traits[1],
        cta=traits[2],
        titles_per_ad=settings.titles_per_ad,
    )
