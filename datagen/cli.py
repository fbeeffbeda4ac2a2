"""`clickpipe data generate`: synthetic monthly spans of impressions (see datagen.generator)."""

from __future__ import annotations

import argparse
import sys

GENERATE_HELP = (
    "Write synthetic monthly spans: impressions CSV shards, one PNG or JPEG creative per ad and the "
    "true click probabilities (ground_truth/), under --out."
)
DRIFT_HELP = (
    "make one month drift, e.g. 2026-10:ctr_multiplier=1.5,new_value_fraction=0.1; keys: "
    "ctr_multiplier, new_value_column (ad_category, site, slot_position, device_type, region, "
    "user_age_bucket), new_value_fraction, numeric_column (bid_price, user_prior_clicks), "
    "numeric_scale, numeric_shift, drop_column, retype_column (hour, user_prior_clicks, "
    "bid_price). Repeat for more months."
)


class _BadArgument(ValueError):
    """A command-line value the user must fix; the message names the option."""


def register(commands, group) -> None:
    """Adds `data generate`."""
    data = group("data", "Generate, upload and inspect impression data.")
    generate = data.add_parser("generate", help=GENERATE_HELP, description=GENERATE_HELP)
    generate.add_argument("--months", required=True,
                          help="comma-separated months to write, e.g. 2026-09,2026-10")
    generate.add_argument("--impressions", default="100000",
                          help="impressions per month (default 100000)")
    generate.add_argument("--out", default="demo-data",
                          help="local output folder (default demo-data, the config's default)")
    generate.add_argument("--seed", default="0",
                          help="the same seed writes byte-identical files (default 0)")
    generate.add_argument("--base-ctr", default="0.03",
                          help="click-through rate the model is calibrated to (default 0.03)")
    generate.add_argument("--shard-rows", default="250000",
                          help="rows per impressions CSV shard (default 250000)")
    generate.add_argument("--ads", default="200",
                          help="evergreen ads, each with its own creative (default 200; 100000 for a "
                               "month of many distinct creatives)")
    generate.add_argument("--creative-size", default="64", metavar="W[xH]",
                          help="creative width x height in pixels, e.g. 300x250 for banners "
                               "(default 64: 64x64 icons; 16 to 512 each)")
    generate.add_argument("--creative-format", default="png", choices=("png", "jpeg"),
                          help="png (creatives/<ad_id>.png, default) or jpeg (creatives/<ad_id>.jpg; "
                               "set the image feature's uri_template to match)")
    generate.add_argument("--creative-texture", default="flat", choices=("flat", "photo"),
                          help="flat fills (icons, default) or a photo-like light falloff and grain "
                               "(banners: ~20 KB as 300x250 JPEG)")
    generate.add_argument("--jpeg-quality", default="92", help="JPEG quality, 1 to 95 (default 92)")
    generate.add_argument("--drift", action="append", default=[], metavar="MONTH:KEY=VAL,...",
                          help=DRIFT_HELP)
    generate.set_defaults(handler=run_generate)


def _integer(option: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _BadArgument(f"{option} needs a whole number, got {text!r}") from None
    if value < minimum:
        raise _BadArgument(f"{option} must be at least {minimum}, got {value}")
    return value


def _months(text: str) -> list[str]:
    from datagen.settings import is_month

    months = [part.strip() for part in text.split(",") if part.strip()]
    bad = [month for month in months if not is_month(month)]
    if bad or not months:
        raise _BadArgument(f"--months: {bad[0] if bad else text!r} is not a month like 2026-09")
    if len(set(months)) != len(months):
        raise _BadArgument(f"--months lists a month twice: {text}")
    return months


def _drifts(items: list[str], months: list[str]) -> dict:
    from datagen.settings import Drift, is_month

    drifts = {}
    for item in items:
        month, _, assignments = item.partition(":")
        if not is_month(month) or not assignments:
            raise _BadArgument(
                f"--drift {item!r}: write MONTH:KEY=VALUE,..., e.g. 2026-10:ctr_multiplier=1.5"
            )
        if month not in months:
            raise _BadArgument(f"--drift names {month}, which is not in --months")
        if month in drifts:
            raise _BadArgument(f"--drift for {month} is given twice; put its keys in one --drift")
        values = {}
        for assignment in assignments.split(","):
            key, equals, value = assignment.partition("=")
            if not equals:
                raise _BadArgument(f"--drift {month}: {assignment!r} is not KEY=VALUE")
            values[key.strip()] = value.strip()
        try:
            drifts[month] = Drift.from_strings(values)
        except ValueError as exc:
            raise _BadArgument(f"--drift {month}: {exc}") from None
    return drifts


def _settings(args: argparse.Namespace):
    from datagen.generator import GeneratorSettings

    try:
        base_ctr = float(args.base_ctr)
    except ValueError:
        raise _BadArgument(f"--base-ctr needs a number, got {args.base_ctr!r}") from None
    if not 0 < base_ctr < 0.5:
        raise _BadArgument(f"--base-ctr must be between 0 and 0.5, got {base_ctr}")
    width, height = _creative_size(args.creative_size)
    quality = _integer("--jpeg-quality", args.jpeg_quality, 1)
    if quality > 95:
        raise _BadArgument(f"--jpeg-quality must be at most 95, got {quality}")
    ads = _integer("--ads", args.ads, 1)
    return GeneratorSettings(
        impressions=_integer("--impressions", args.impressions, 1),
        seed=_integer("--seed", args.seed, 0),
        base_ctr=base_ctr,
        shard_rows=_integer("--shard-rows", args.shard_rows, 1),
        n_ads=ads,
        # Campaigns belong to advertisers; a world of many ads keeps at least one per 10 ads.
        n_campaigns=max(GeneratorSettings.n_campaigns, ads // 10),
        creative_size=width,
        creative_height=height if height != width else 0,
        creative_format=args.creative_format,
        creative_texture=args.creative_texture,
        jpeg_quality=quality,
    )


def _creative_size(text: str) -> tuple[int, int]:
    """Width and height from ``W`` or ``WxH``."""
    parts = text.lower().split("x")
    if len(parts) > 2:
        raise _BadArgument(f"--creative-size needs W or WxH, e.g. 300x250, got {text!r}")
    width = _integer("--creative-size", parts[0], 16)
    height = _integer("--creative-size", parts[-1], 16)
    if max(width, height) > 512:
        raise _BadArgument(f"--creative-size must be at most 512x512, got {text}")
    return width, height


def run_generate(args: argparse.Namespace) -> int:
    """Generates the months and prints what was written where."""
    from datagen.generator import generate

    try:
        months = _months(args.months)
        settings = _settings(args)
        drift = _drifts(args.drift, months)
        if "://" in args.out:
            raise _BadArgument(
                "--out must be a local folder; upload it with `clickpipe data upload`"
            )
    except _BadArgument as exc:
        print(f"clickpipe: {exc}", file=sys.stderr)
        return 1
    print(f"generating {len(months)} month(s) x {settings.impressions} impressions in {args.out}/",
          flush=True)
    try:
        summary = generate(args.out, months, settings, drift)
    except OSError as exc:
        where = exc.filename or args.out
        print(f"clickpipe: cannot write {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"clickpipe: {exc}", file=sys.stderr)
        return 1
    print(f"creatives  {summary.creatives_written} written, {summary.creatives_unchanged} "
          f"unchanged in {args.out}/creatives/ ({settings.creative_format}, "
          f"{settings.creative_size}x{settings.creative_height or settings.creative_size})")
    for month in summary.months:
        changes = drift[month.month].changes() if month.month in drift else {}
        described = ", ".join(f"{key}={value}" for key, value in changes.items())
        best = "n/a (one class)" if month.best_auc is None else f"{month.best_auc:.3f}"
        launched = f", {month.new_ads} new ads ({month.new_ad_rows / month.rows:.1%} of rows)" if month.new_ads else ""
        print(f"{month.month}    {month.rows} rows, CTR {month.realised_ctr:.2%} (configured "
              f"{month.configured_ctr:.2%}), best achievable AUC {best}{launched}"
              + (f", drift: {described}" if described else ""))
    print(f"impressions {args.out}/impressions/<month>/*.csv, "
          f"truth {args.out}/ground_truth/<month>/ground_truth.csv")
    return 0
