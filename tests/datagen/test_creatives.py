"""The creatives: one PNG per ad whose pixels, and only they, carry three click-relevant traits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image

from datagen.catalog import build_catalog
from datagen.limits import read_ground_truth
from tests.datagen.conftest import SETTINGS
from tests.datagen.helpers import pixel_traits, read_month

TRAITS = ("warm", "high_contrast", "cta")


def test_creatives_are_small_rgb_pngs(base):
    out, _ = base
    image = Image.open(out / "creatives" / "ad-0001.png")
    assert (image.format, image.mode, image.size) == ("PNG", "RGB", (64, 64))


def test_traits_read_back_from_the_pixels_are_the_drawn_ones(base):
    out, _ = base
    catalog = build_catalog(SETTINGS)
    for index, ad_id in enumerate(catalog.values["ad_id"]):
        seen = pixel_traits(out / "creatives" / f"{ad_id}.png")
        assert seen == {t: bool(getattr(catalog, t)[index]) for t in TRAITS}, ad_id


def test_traits_are_independent_of_the_tabular_world():
    # Drawn from their own stream: changing every tabular cardinality leaves them unchanged.
    catalog = build_catalog(SETTINGS)
    other = build_catalog(replace(SETTINGS, n_categories=5, n_advertisers=7, n_sites=3))
    for trait in TRAITS:
        assert (getattr(catalog, trait) == getattr(other, trait)).all()
    assert not (catalog.ad_category == other.ad_category).all()


def test_each_pixel_trait_raises_the_click_rate(base):
    out, _ = base
    truth = read_ground_truth(out / "ground_truth")
    rows = read_month(out, "2026-09") + read_month(out, "2026-10")
    traits = {path.stem: pixel_traits(path) for path in (out / "creatives").glob("*.png")}
    for trait in TRAITS:
        has = np.array([traits[r["ad_id"]][trait] for r in rows])
        clicked = np.array([int(r["clicked"]) for r in rows])
        probability = np.array([truth[r["impression_id"]] for r in rows])
        assert clicked[has].mean() > 1.2 * clicked[~has].mean(), trait
        assert probability[has].mean() > 1.2 * probability[~has].mean(), trait


def test_banner_traits_survive_the_shrink_to_the_models_input(tmp_path):
    import itertools

    from datagen.creatives import render_creative
    from trainer import images

    drawn = list(itertools.product((False, True), repeat=3)) * 3
    banners = [render_creative(*traits, 300, np.random.default_rng(i), height=250, texture="photo",
                               image_format="jpeg", quality=92) for i, traits in enumerate(drawn)]
    for i, (traits, thumbnail) in enumerate(zip(drawn, images.thumbnails(banners, 32), strict=True)):
        path = tmp_path / f"{i}.png"
        path.write_bytes(thumbnail)
        assert pixel_traits(path) == dict(zip(TRAITS, traits, strict=True)), (i, traits)
