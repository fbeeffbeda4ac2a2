"""The ground-truth click model: the true click probability of every generated impression.

    logit = intercept
          + advertiser[a] + ad[ad_id] + campaign[c] + ad_category[k] + site[s] + region[r]
          + device_x_slot[device_type, slot_position]      (designed: in_feed on mobile is
                                                              great, sidebar on mobile is bad)
          + category_x_age[ad_category, user_age_bucket]    (random, pure interaction)
          + HOUR_AMPLITUDE * cos(2 pi (hour - PEAK_HOUR) / 24)
          + PRIOR_CLICKS_WEIGHT * log1p(user_prior_clicks)
          + BID_WEIGHT * log(bid_price / REFERENCE_BID)    (weak)
          + sum of WORD_EFFECTS over the words of ad_title  (text only)
          + CREATIVE_EFFECTS of warm colour, high contrast, call-to-action button
                                                             (pixels only)
    p = sigmoid(logit)

The intercept is solved (bisection) so that the mean probability over a fixed reference
sample of undrifted impressions equals the configured CTR (times a drift's multiplier).
Values that drift introduces have no effect of their own (0 in every table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datagen.catalog import Catalog
from datagen.settings import GeneratorSettings

# Spread (standard deviation of the logit effect) of each random main effect.
MAIN_EFFECT_SCALES = {
    "advertiser": 0.35,
    "ad_id": 0.2,
    "campaign": 0.1,
    "ad_category": 0.3,
    "site": 0.3,
    "region": 0.1,
}
CATEGORY_AGE_SCALE = 0.5
# Device x slot effects by design; pairs not listed (custom names) are drawn at this scale.
DEVICE_SLOT_SCALE = 0.4
DEVICE_SLOT = {
    ("mobile", "top_banner"): 0.0,
    ("mobile", "in_feed"): 0.8,
    ("mobile", "sidebar"): -1.0,
    ("mobile", "footer"): -0.5,
    ("desktop", "top_banner"): 0.35,
    ("desktop", "in_feed"): 0.05,
    ("desktop", "sidebar"): 0.3,
    ("desktop", "footer"): -0.3,
    ("tablet", "top_banner"): 0.2,
    ("tablet", "in_feed"): 0.45,
    ("tablet", "sidebar"): -0.35,
    ("tablet", "footer"): -0.4,
}
HOUR_AMPLITUDE = 0.3
PEAK_HOUR = 21
PRIOR_CLICKS_WEIGHT = 0.35
BID_WEIGHT = 0.12
REFERENCE_BID = 0.8
# Words of ad_title that move the click rate, independent of the ad's category.
WORD_EFFECTS = {
    "free": 0.7,
    "save": 0.5,
    "today": 0.45,
    "limited": 0.4,
    "fees": -0.5,
    "subscription": -0.45,
    "terms": -0.4,
    "required": -0.25,
}
# Creative traits visible only in the pixels.
CREATIVE_EFFECTS = {"warm": 0.5, "high_contrast": 0.4, "cta": 0.6}


@dataclass(frozen=True, eq=False)
class ClickModel:
    """The effect tables of the ground-truth model for one seed.

    Attributes:
        main: per categorical column, the logit effect of each value.
        device_slot: effect of each (device_type, slot_position) pair.
        category_age: effect of each (ad_category, user_age_bucket) pair.
        title_effect: effect of each title variant (sum of its words' effects).
        creative_effect: effect of each ad's creative (sum of its traits' effects).
    """

    main: dict[str, np.ndarray]
    device_slot: np.ndarray
    category_age: np.ndarray
    title_effect: np.ndarray
    creative_effect: np.ndarray


def title_effect(title: str) -> float:
    """The logit effect of a title: the sum of its words' effects."""
    return sum(WORD_EFFECTS.get(word, 0.0) for word in title.lower().split())


def draw_click_model(settings: GeneratorSettings, catalog: Catalog) -> ClickModel:
    """The effect tables for `settings.seed`, consistent with `catalog`."""
    rng = np.random.default_rng([settings.seed, 1])
    main = {c: rng.normal(0.0, s, len(catalog.values[c])) for c, s in MAIN_EFFECT_SCALES.items()}
    devices, slots = catalog.values["device_type"], catalog.values["slot_position"]
    drawn = rng.normal(0.0, DEVICE_SLOT_SCALE, (len(devices), len(slots)))
    device_slot = np.array(
        [[DEVICE_SLOT.get((d, s), drawn[i, j]) for j, s in enumerate(slots)]
         for i, d in enumerate(devices)]
    )
    pairs = rng.normal(0.0, CATEGORY_AGE_SCALE, (settings.n_categories, len(settings.age_buckets)))
    # Remove row and column means: the cross adds only what the two main effects cannot.
    category_age = pairs - pairs.mean(0) - pairs.mean(1, keepdims=True) + pairs.mean()
    creative = (
        CREATIVE_EFFECTS["warm"] * catalog.warm
        + CREATIVE_EFFECTS["high_contrast"] * catalog.high_contrast
        + CREATIVE_EFFECTS["cta"] * catalog.cta
    )
    return ClickModel(
        main=main,
        device_slot=device_slot,
        category_age=category_age,
        title_effect=np.array([title_effect(t) for t in catalog.titles]),
        creative_effect=creative.astype(np.float64),
    )


def _lookup(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
    # One extra 0 at the end: the code of a value drift introduced.
    return np.append(table, 0.0)[codes]


def _lookup2(table: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    return np.pad(table, ((0, 1), (0, 1)))[rows, columns]


def logit_parts(model: ClickModel, codes: dict[str, np.ndarray], hour: np.ndarray,
                user_prior_clicks: np.ndarray, bid_price: np.ndarray,
                title: np.ndarray) -> dict[str, np.ndarray]:
    """Each term of the logit (without the intercept), per impression.

    Args:
        model: the effect tables.
        codes: per categorical column, each impression's value code.
        hour: hour of day, 0-23.
        user_prior_clicks: the user's earlier clicks.
        bid_price: the bid.
        title: each impression's title variant code.

    Returns:
        Term name -> logit contribution; the terms sum to the logit minus the intercept.
    """
    parts = {c: _lookup(t, codes[c]) for c, t in model.main.items()}
    parts["device_x_slot"] = _lookup2(
        model.device_slot, codes["device_type"], codes["slot_position"]
    )
    parts["category_x_age"] = _lookup2(
        model.category_age, codes["ad_category"], codes["user_age_bucket"]
    )
    parts["hour"] = HOUR_AMPLITUDE * np.cos(2 * np.pi * (hour - PEAK_HOUR) / 24)
    parts["user_prior_clicks"] = PRIOR_CLICKS_WEIGHT * np.log1p(user_prior_clicks)
    parts["bid_price"] = BID_WEIGHT * np.log(np.maximum(bid_price, 0.01) / REFERENCE_BID)
    parts["text"] = model.title_effect[title]
    parts["image"] = model.creative_effect[codes["ad_id"]]
    return parts


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def calibrate_intercept(logits: np.ndarray, target_ctr: float) -> float:
    """The intercept that makes the mean of `sigmoid(intercept + logits)` equal `target_ctr`."""
    if not 0 < target_ctr < 1:
        raise ValueError(f"the target click-through rate must be in (0, 1), got {target_ctr}")
    low, high = -30.0, 30.0
    # The mean probability grows with the intercept, so bisection converges.
    for _ in range(60):
        middle = (low + high) / 2
        if sigmoid(middle + logits).mean() < target_ctr:
            low = middle
        else:
            high = middle
    return (low + high) / 2
