"""Synthetic monthly spans of ad impressions with a known ground truth.

Layout written under the output folder (a contract with the ingestion component):

    impressions/YYYY-MM/impressions-00000-of-0000N.csv   header + rows, columns = COLUMNS
    creatives/<ad_id>.png (or .jpg)                      one per ad, shared by all months
    ground_truth/YYYY-MM/ground_truth.csv                impression_id,click_probability
    ground_truth/YYYY-MM/summary.json                    rows, CTRs, drift, seed, settings

The true click probability is `sigmoid(logit)`, where the logit adds an intercept calibrated
to the configured CTR, effects of advertiser, ad, campaign, category, site and region, two
crosses (device_type x slot_position, ad_category x user_age_bucket), an hour-of-day curve,
log user_prior_clicks, a weak bid_price term, words of ad_title (text only) and three
creative traits (warm colour, high contrast, call-to-action button) visible only in the
creative's pixels. `datagen.clickmodel` holds the exact formula and weights; docs/datagen.md
explains them. Every random draw comes from a stream keyed by the seed (and month), so the
same arguments write byte-identical files.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from datagen.catalog import Catalog, build_catalog
from datagen.clickmodel import (
    ClickModel,
    calibrate_intercept,
    draw_click_model,
    logit_parts,
    sigmoid,
)
from datagen.creatives import render_creative
from datagen.launches import Launch, live_launches, month_world
from datagen.limits import auc, log_loss
from datagen.sampling import Impressions, apply_drift, sample_impressions
from datagen.settings import COLUMNS, CREATIVE_EXTENSIONS, Drift, GeneratorSettings, is_month
from datagen.writer import csv_text, ground_truth_text, impression_ids, write_atomically

__all__ = ["COLUMNS", "Drift", "GenerationSummary", "GeneratorSettings", "MonthSummary", "creative_name", "generate"]

# Undrifted impressions the intercept is calibrated on: fixed, so it is the same every month.
REFERENCE_ROWS = 100_000
REFERENCE_MONTH = "2000-01"


@dataclass(frozen=True)
class MonthSummary:
    """What was written for one month.

    Attributes:
        month: YYYY-MM.
        rows: impressions written.
        clicks: impressions clicked.
        realised_ctr: clicks / rows.
        configured_ctr: base_ctr times the month's drift multiplier.
        mean_click_probability: mean of the true probabilities.
        best_auc: AUC of the true probabilities on these rows (no model can beat it); None
            when every row has the same label.
        best_log_loss: log-loss of the true probabilities on these rows.
        files: the files written, relative to the output folder.
        new_ads: ads launched this month.
        new_ad_rows: impressions of the ads launched this month.
    """

    month: str
    rows: int
    clicks: int
    realised_ctr: float
    configured_ctr: float
    mean_click_probability: float
    best_auc: float | None
    best_log_loss: float
    files: tuple[str, ...]
    new_ads: int = 0
    new_ad_rows: int = 0


@dataclass(frozen=True)
class GenerationSummary:
    """What `generate` wrote: the months and how many creatives were new."""

    out_dir: str
    months: tuple[MonthSummary, ...]
    creatives_written: int
    creatives_unchanged: int


def _check_request(months: list[str], settings: GeneratorSettings,
                   drift: dict[str, Drift]) -> None:
    bad = [m for m in months if not isinstance(m, str) or not is_month(m)]
    if bad or not months:
        raise ValueError(f"months must be YYYY-MM, e.g. 2026-09; got {bad or 'none'}")
    if len(set(months)) != len(months):
        raise ValueError(f"months must not repeat, got {', '.join(months)}")
    unknown = sorted(set(drift) - set(months))
    if unknown:
        raise ValueError(f"drift names months not generated: {', '.join(unknown)}")
    for month, change in drift.items():
        if settings.base_ctr * change.ctr_multiplier >= 1:
            raise ValueError(f"drift for {month}: base_ctr x ctr_multiplier must stay below 1")


def creative_name(ad_id: str, settings: GeneratorSettings) -> str:
    """An ad's creative path under the output folder, e.g. ``creatives/ad-0001.png``."""
    return f"creatives/{ad_id}.{CREATIVE_EXTENSIONS[settings.creative_format]}"


def _write_creatives(out: Path, catalog: Catalog, launches: list[Launch],
                     settings: GeneratorSettings, workers: int = 1) -> tuple[int, int]:
    """Writes missing creatives of the evergreen and the launched ads; returns (written, unchanged).

    Creatives are rendered a chunk at a time (those already there twice: checked, then
    skipped), on `workers` processes when more than one, so memory does not grow with the
    number of ads; each has its own random stream, so the files are the same either way.

    Raises:
        ValueError: a creative already there differs (another seed's dataset), before any write.
    """
    wanted = [
        (creative_name(ad_id, settings), bool(catalog.warm[i]), bool(catalog.high_contrast[i]),
         bool(catalog.cta[i]), [settings.seed, 6, i])
        for i, ad_id in enumerate(catalog.values["ad_id"])
    ]
    for ads in launches:
        wanted += [(creative_name(ad_id, settings), bool(ads.warm[i]), bool(ads.high_contrast[i]),
                    bool(ads.cta[i]), ads.creative_key(i, settings.seed))
                   for i, ad_id in enumerate(ads.ad_ids)]
    existing = [item for item in wanted if (out / item[0]).exists()]
    missing = [item for item in wanted if not (out / item[0]).exists()]
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ProcessPoolExecutor(workers)) if workers > 1 else None
        for (name, *_), data in zip(existing, _rendered(existing, settings, pool), strict=True):
            if (out / name).read_bytes() != data:
                raise ValueError(
                    f"{out / name} differs from this seed's creative: {out} holds another dataset; "
                    "use an empty folder or the same settings"
                )
        for (name, *_), data in zip(missing, _rendered(missing, settings, pool), strict=True):
            write_atomically(out / name, data)
    return len(missing), len(existing)


def _rendered(wanted: list[tuple], settings: GeneratorSettings, pool) -> Iterator[bytes]:
    """Each wanted creative's bytes, in order; on the pool's processes when there is one."""
    render = functools.partial(_render, settings=settings)
    return pool.map(render, wanted, chunksize=64) if pool else map(render, wanted)


def _render(item: tuple, settings: GeneratorSettings) -> bytes:
    _, warm, contrast, cta, key = item
    return render_creative(warm, contrast, cta, settings.creative_size, np.random.default_rng(key),
                           height=settings.creative_height, texture=settings.creative_texture,
                           image_format=settings.creative_format, quality=settings.jpeg_quality)


def _logits(model: ClickModel, impressions: Impressions) -> np.ndarray:
    parts = logit_parts(model, impressions.codes, impressions.hour, impressions.user_prior_clicks,
                        impressions.bid_price, impressions.title)
    return sum(parts.values())


def _write_month(out: Path, month: str, settings: GeneratorSettings, catalog: Catalog,
                 model: ClickModel, intercept: float, drift: Drift | None) -> MonthSummary:
    year, number = (int(part) for part in month.split("-"))
    launches = live_launches(settings, catalog, month)
    catalog, model = month_world(catalog, model, launches)
    # This month's launches are the last ad codes.
    fresh = len(launches[-1].ad_ids) if launches else 0

    def stream(purpose: int) -> np.random.Generator:
        # Rows, drift and clicks each have their own stream: drift leaves the rest unchanged.
        return np.random.default_rng([settings.seed, purpose, year, number])

    change = drift or Drift()
    impressions = sample_impressions(catalog, settings.impressions, month, stream(2))
    impressions = apply_drift(impressions, change, catalog, stream(3))
    probabilities = sigmoid(intercept + _logits(model, impressions))
    clicked = stream(4).random(len(impressions)) < probabilities
    rows = len(impressions)
    ids = impression_ids(month, rows)

    shards = math.ceil(rows / settings.shard_rows)
    folder = out / "impressions" / month
    # A month written again replaces its shards, which may have been split differently.
    for stale in folder.glob("impressions-*-of-*.csv"):
        stale.unlink()
    files = []
    for shard in range(shards):
        start, stop = shard * settings.shard_rows, min(rows, (shard + 1) * settings.shard_rows)
        path = folder / f"impressions-{shard:05d}-of-{shards:05d}.csv"
        text = csv_text(impressions, clicked, ids[start:stop], slice(start, stop), catalog, change)
        write_atomically(path, text.encode())
        files.append(path)

    truth_folder = out / "ground_truth" / month
    truth_text = ground_truth_text(ids, probabilities)
    write_atomically(truth_folder / "ground_truth.csv", truth_text.encode())
    files += [truth_folder / "ground_truth.csv", truth_folder / "summary.json"]
    labels = clicked.astype(np.int64)
    clicks = int(labels.sum())
    summary = MonthSummary(
        month=month,
        rows=rows,
        clicks=clicks,
        realised_ctr=float(clicked.mean()),
        configured_ctr=settings.base_ctr * change.ctr_multiplier,
        mean_click_probability=float(probabilities.mean()),
        best_auc=auc(probabilities, labels) if 0 < clicks < rows else None,
        best_log_loss=log_loss(probabilities, labels),
        files=tuple(str(path.relative_to(out)) for path in files),
        new_ads=fresh,
        new_ad_rows=int((impressions.codes["ad_id"] >= catalog.n_ads - fresh).sum()) if fresh else 0,
    )
    report = {
        **asdict(summary),
        "intercept": intercept,
        "seed": settings.seed,
        "drift": asdict(drift) if drift else None,
        "settings": asdict(settings),
    }
    write_atomically(truth_folder / "summary.json", (json.dumps(report, indent=2) + "\n").encode())
    return summary


def generate(out_dir: str | Path, months: list[str], settings: GeneratorSettings | None = None,
             drift: dict[str, Drift] | None = None, workers: int = 1) -> GenerationSummary:
    """Writes impressions, creatives and ground truth for each month under `out_dir`.

    Args:
        out_dir: the output folder (created if missing). Creatives already there are kept
            when identical; a month already there is replaced.
        months: months as YYYY-MM; each gets different rows from the same ads.
        settings: the world's size and seed; defaults to `GeneratorSettings()`.
        drift: per month, how it departs from the others; months not named have no drift.
        workers: processes rendering creatives (the same files whatever the number).

    Returns:
        Per month: rows, realised and configured CTR, best achievable metrics, files.

    Raises:
        ValueError: a month is not YYYY-MM or repeats, drift names a month not generated, or
            `out_dir` holds creatives of another seed.
    """
    settings = settings or GeneratorSettings()
    drift = drift or {}
    _check_request(months, settings, drift)
    out = Path(out_dir)
    catalog = build_catalog(settings)
    model = draw_click_model(settings, catalog)
    launches = {ads.month: ads for month in months for ads in live_launches(settings, catalog, month)}
    written, unchanged = _write_creatives(out, catalog, list(launches.values()), settings, workers)
    reference = sample_impressions(catalog, REFERENCE_ROWS, REFERENCE_MONTH,
                                   np.random.default_rng([settings.seed, 7]))
    reference_logits = _logits(model, reference)
    intercepts: dict[float, float] = {}
    summaries = []
    for month in months:
        change = drift.get(month)
        target = settings.base_ctr * (change.ctr_multiplier if change else 1.0)
        if target not in intercepts:
            intercepts[target] = calibrate_intercept(reference_logits, target)
        summaries.append(
            _write_month(out, month, settings, catalog, model, intercepts[target], change)
        )
    return GenerationSummary(str(out), tuple(summaries), written, unchanged)
