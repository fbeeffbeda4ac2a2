"""The generated spans: layout, formats, determinism, calibration and the signals they carry."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
import pytest

from datagen.clickmodel import WORD_EFFECTS
from datagen.generator import COLUMNS, GeneratorSettings, generate
from datagen.limits import best_achievable, read_ground_truth
from pipeline.config import load_config
from tests.datagen.conftest import MONTHS, SETTINGS
from tests.datagen.helpers import all_files, header, read_month

# Binomial standard error of the CTR of 20k rows at 3%: sqrt(0.03 * 0.97 / 20000) = 0.0012.
# Four of them (0.0048) also cover the small error of calibrating on a 100k-row reference
# sample; a correct generator fails this with probability below 1e-4.
CTR_TOLERANCE = 4 * math.sqrt(0.03 * 0.97 / 20_000)


def _column(rows, name, kind=str):
    return np.array([kind(row[name]) for row in rows])


def test_columns_equal_the_default_configs_csv_columns(base):
    out, _ = base
    expected = load_config().registry().csv_columns
    assert list(COLUMNS) == expected
    for month in MONTHS:
        assert header(out, month) == expected


def test_layout_and_shards(base):
    out, summary = base
    month = summary.months[0]
    shards = sorted((out / "impressions" / "2026-09").glob("*.csv"))
    assert [s.name for s in shards] == [f"impressions-0000{i}-of-00003.csv" for i in range(3)]
    assert [len(s.read_text().splitlines()) - 1 for s in shards] == [8000, 8000, 4000]
    assert month.files == (
        *(f"impressions/2026-09/{s.name}" for s in shards),
        "ground_truth/2026-09/ground_truth.csv",
        "ground_truth/2026-09/summary.json",
    )
    # The evergreen ads, and the launches of every month with an ad still running in 2026-09..10.
    launched = SETTINGS.new_ads_per_month * (SETTINGS.ad_lifetime_months + len(MONTHS) - 1)
    assert len(list((out / "creatives").glob("ad-*.png"))) == SETTINGS.n_ads + launched


def test_row_formats(base):
    out, _ = base
    rows = read_month(out, "2026-09")
    ids = _column(rows, "impression_id")
    assert len(set(ids)) == len(rows) == SETTINGS.impressions
    assert all(re.fullmatch(r"imp-2026-09-\d{7}", i) for i in ids)
    start = datetime(2026, 9, 1, tzinfo=timezone.utc)
    end = datetime(2026, 10, 1, tzinfo=timezone.utc)
    for row in rows:
        moment = datetime.strptime(row["timestamp"], "%Y-%m-%dT%H:%M:%S%z")
        assert start <= moment < end
        assert int(row["hour"]) == moment.hour
        assert re.fullmatch(r"\d+", row["user_prior_clicks"])
        assert re.fullmatch(r"\d+\.\d{4}", row["bid_price"])
        assert row["clicked"] in ("0", "1")
        assert row["ad_title"] and len(row["ad_title"].split()) >= 3
        assert (out / "creatives" / f"{row['ad_id']}.png").is_file()
    timestamps = _column(rows, "timestamp")
    assert (timestamps[:-1] <= timestamps[1:]).all()
    assert len({row["campaign"] for row in rows}) > 300


def test_same_arguments_write_byte_identical_files(base, tmp_path):
    out, _ = base
    generate(tmp_path, MONTHS, SETTINGS)
    assert all_files(tmp_path) == all_files(out)


def test_another_seed_writes_other_rows_and_creatives(base, tmp_path):
    out, _ = base
    generate(tmp_path, ["2026-09"], replace(SETTINGS, seed=12))
    theirs, ours = all_files(tmp_path), all_files(out)
    for name in ("impressions/2026-09/impressions-00000-of-00003.csv",
                 "ground_truth/2026-09/ground_truth.csv", "creatives/ad-0001.png"):
        assert theirs[name] != ours[name]


def test_months_get_different_rows_from_the_same_ads(base):
    out, _ = base
    september, october = read_month(out, "2026-09"), read_month(out, "2026-10")
    strip = [{k: v for k, v in row.items() if k not in ("impression_id", "timestamp")}
             for row in september[:500]]
    assert strip != [{k: v for k, v in row.items() if k not in ("impression_id", "timestamp")}
                     for row in october[:500]]
    titles = {row["ad_id"]: set() for row in september + october}
    for row in september + october:
        titles[row["ad_id"]].add(row["ad_title"])
    # Ads persist with their few title variants; the title varies within an ad.
    evergreen = {f"ad-{i:04d}" for i in range(1, SETTINGS.n_ads + 1)}
    assert evergreen <= {row["ad_id"] for row in september} & {row["ad_id"] for row in october}
    assert max(len(variants) for variants in titles.values()) == SETTINGS.titles_per_ad
    assert not set(_column(october, "impression_id")) & set(_column(september, "impression_id"))


def test_realised_ctr_is_the_configured_one(base):
    out, summary = base
    for month in summary.months:
        clicked = _column(read_month(out, month.month), "clicked", int)
        assert month.realised_ctr == clicked.mean()
        assert abs(clicked.mean() - 0.03) < CTR_TOLERANCE
        assert abs(month.mean_click_probability - 0.03) < CTR_TOLERANCE


def test_summary_json_and_ground_truth(base):
    out, summary = base
    report = json.loads((out / "ground_truth" / "2026-09" / "summary.json").read_text())
    assert report["rows"] == SETTINGS.impressions
    assert report["configured_ctr"] == 0.03
    assert report["realised_ctr"] == summary.months[0].realised_ctr
    assert report["seed"] == SETTINGS.seed
    assert report["drift"] is None
    truth = read_ground_truth(out / "ground_truth" / "2026-09")
    rows = read_month(out, "2026-09")
    assert set(truth) == {row["impression_id"] for row in rows}
    assert all(0 < p < 1 for p in truth.values())


def test_best_achievable_auc_is_clearly_above_chance_and_in_the_designed_range(base):
    out, summary = base
    truth = read_ground_truth(out / "ground_truth")
    rows = read_month(out, "2026-09") + read_month(out, "2026-10")
    metrics = best_achievable([truth[r["impression_id"]] for r in rows],
                              [int(r["clicked"]) for r in rows])
    assert 0.75 < metrics["auc"] < 0.85
    constant = -(0.03 * math.log(0.03) + 0.97 * math.log(0.97))
    assert metrics["log_loss"] < constant
    assert summary.months[0].best_auc > 0.7


def test_title_words_move_the_click_rate(base):
    out, _ = base
    truth = read_ground_truth(out / "ground_truth")
    rows = read_month(out, "2026-09") + read_month(out, "2026-10")
    positive = {w for w, e in WORD_EFFECTS.items() if e > 0}
    negative = {w for w, e in WORD_EFFECTS.items() if e < 0}

    def group(words):
        chosen = [r for r in rows if set(r["ad_title"].lower().split()) & words
                  and not set(r["ad_title"].lower().split()) & (positive | negative) - words]
        return (np.mean([int(r["clicked"]) for r in chosen]),
                np.mean([truth[r["impression_id"]] for r in chosen]))

    (good_ctr, good_p), (bad_ctr, bad_p) = group(positive), group(negative)
    assert good_ctr > 1.5 * bad_ctr
    assert good_p > 1.5 * bad_p
    # The words are drawn independently of the category: each shows up across categories.
    for word in WORD_EFFECTS:
        categories = {r["ad_category"] for r in rows if word in r["ad_title"].lower().split()}
        assert len(categories) >= 6, word


def test_device_by_slot_cross_reverses_between_devices(base):
    out, _ = base
    truth = read_ground_truth(out / "ground_truth" / "2026-09")
    rows = read_month(out, "2026-09")

    def mean_p(device, slot):
        return np.mean([truth[r["impression_id"]] for r in rows
                        if r["device_type"] == device and r["slot_position"] == slot])

    assert mean_p("mobile", "in_feed") > 2 * mean_p("mobile", "sidebar")
    assert mean_p("desktop", "sidebar") > mean_p("desktop", "in_feed")


def test_bad_requests_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="YYYY-MM"):
        generate(tmp_path, ["2026-9"], SETTINGS)
    with pytest.raises(ValueError, match="repeat"):
        generate(tmp_path, ["2026-09", "2026-09"], SETTINGS)
    with pytest.raises(ValueError, match="GeneratorSettings.impressions"):
        GeneratorSettings(impressions=0)
    with pytest.raises(ValueError, match="GeneratorSettings.base_ctr"):
        GeneratorSettings(base_ctr=1.5)
    with pytest.raises(ValueError, match="GeneratorSettings.n_campaigns"):
        GeneratorSettings(n_campaigns=10, n_advertisers=40)
    assert not any(tmp_path.iterdir())


def test_rewriting_keeps_creatives_and_replaces_shards(tmp_path):
    small = GeneratorSettings(impressions=3_000, seed=3, shard_rows=1_000, n_ads=20, new_ads_per_month=0)
    first = generate(tmp_path, ["2026-09"], small)
    assert (first.creatives_written, first.creatives_unchanged) == (20, 0)
    second = generate(tmp_path, ["2026-09"], replace(small, shard_rows=2_000))
    assert (second.creatives_written, second.creatives_unchanged) == (0, 20)
    shards = sorted(p.name for p in (tmp_path / "impressions" / "2026-09").iterdir())
    assert shards == ["impressions-00000-of-00002.csv", "impressions-00001-of-00002.csv"]


def test_another_seeds_creatives_stop_the_run_before_any_write(tmp_path):
    small = GeneratorSettings(impressions=1_000, seed=3, n_ads=20)
    generate(tmp_path, ["2026-09"], small)
    with pytest.raises(ValueError, match=r"ad-0001\.png differs"):
        generate(tmp_path, ["2026-10"], replace(small, seed=4))
    assert not (tmp_path / "impressions" / "2026-10").exists()


def test_each_month_launches_new_ads_that_run_for_their_lifetime(base):
    out, summary = base
    september, october = read_month(out, "2026-09"), read_month(out, "2026-10")
    launched_in = {month: {r["ad_id"] for r in rows if r["ad_id"].startswith(f"ad-{month.replace('-', '')}-")}
                   for month, rows in (("2026-09", september), ("2026-10", october))}

    assert len(launched_in["2026-10"]) == SETTINGS.new_ads_per_month
    # October's launches did not exist in September; September's still run in October.
    assert not launched_in["2026-10"] & {r["ad_id"] for r in september}
    assert launched_in["2026-09"] <= {r["ad_id"] for r in october}
    share = summary.months[1].new_ad_rows / summary.months[1].rows
    assert summary.months[1].new_ad_rows == sum(r["ad_id"] in launched_in["2026-10"] for r in october)
    assert 0.05 < share < 0.2  # a realistic share of a month's impressions on ads new that month


def test_a_launched_ads_creative_and_title_carry_its_effects(base):
    out, _ = base
    october = read_month(out, "2026-10")
    new = [r for r in october if r["ad_id"].startswith("ad-202610-")]

    assert all((out / "creatives" / f"{r['ad_id']}.png").is_file() for r in new)
    assert {len({r["ad_title"] for r in new if r["ad_id"] == ad}) for ad in {r["ad_id"] for r in new}} <= {1, 2, 3}


def test_a_months_launches_do_not_depend_on_the_other_months_generated(base, tmp_path):
    out, _ = base
    generate(tmp_path, ["2026-10"], SETTINGS)

    ours, alone = all_files(out), all_files(tmp_path)
    assert alone["impressions/2026-10/impressions-00000-of-00003.csv"] == (
        ours["impressions/2026-10/impressions-00000-of-00003.csv"]
    )
    assert alone["creatives/ad-202610-001.png"] == ours["creatives/ad-202610-001.png"]


def test_without_launches_every_month_has_the_evergreen_ads_only(tmp_path):
    summary = generate(tmp_path, ["2026-09"], GeneratorSettings(impressions=2_000, seed=3, new_ads_per_month=0))

    assert summary.months[0].new_ads == summary.months[0].new_ad_rows == 0
    assert summary.creatives_written == 200
