"""Drift does what it says, on the month it names, and leaves everything else as it was."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from datagen.generator import Drift, GeneratorSettings, generate
from datagen.settings import NEW_VALUES
from tests.datagen.conftest import DRIFT, SETTINGS
from tests.datagen.helpers import header, read_month

# Binomial standard errors at 20k rows: CTR 4.5% -> 0.0015, a 10% share -> 0.0021; 4 of each.
CTR_TOLERANCE = 4 * math.sqrt(0.045 * 0.955 / 20_000)
SHARE_TOLERANCE = 4 * math.sqrt(0.1 * 0.9 / 20_000)


def test_undrifted_month_is_untouched(base, drifted):
    assert read_month(base[0], "2026-09") == read_month(drifted[0], "2026-09")


def test_ctr_multiplier_shifts_the_click_rate(drifted):
    out, summary = drifted
    october = summary.months[1]
    assert october.configured_ctr == pytest.approx(0.045)
    clicked = np.array([int(r["clicked"]) for r in read_month(out, "2026-10")])
    assert abs(clicked.mean() - 0.045) < CTR_TOLERANCE
    report = json.loads((out / "ground_truth" / "2026-10" / "summary.json").read_text())
    assert report["drift"]["ctr_multiplier"] == 1.5


def test_new_value_appears_in_the_drifted_month_only(base, drifted):
    new = NEW_VALUES["device_type"]
    october = read_month(drifted[0], "2026-10")
    share = np.mean([r["device_type"] == new for r in october])
    assert abs(share - 0.1) < SHARE_TOLERANCE
    assert not any(r["device_type"] == new for r in read_month(drifted[0], "2026-09"))
    assert not any(r["device_type"] == new for r in read_month(base[0], "2026-10"))


def test_numeric_shift_changes_exactly_the_named_column(base, drifted):
    before, after = read_month(base[0], "2026-10"), read_month(drifted[0], "2026-10")
    assert [r["impression_id"] for r in before] == [r["impression_id"] for r in after]
    assert [r["ad_title"] for r in before] == [r["ad_title"] for r in after]
    bid_before = np.array([float(r["bid_price"]) for r in before])
    bid_after = np.array([float(r["bid_price"]) for r in after])
    change = DRIFT["2026-10"]
    np.testing.assert_allclose(bid_after, bid_before * change.numeric_scale + change.numeric_shift,
                               atol=1e-4 * change.numeric_scale + 1e-9)


def test_dropped_and_retyped_columns(tmp_path):
    settings = GeneratorSettings(impressions=2_000, seed=5, n_ads=20)
    drift = {"2026-10": Drift(drop_column="region", retype_column="hour"),
             "2026-11": Drift(numeric_column="user_prior_clicks", numeric_scale=2.0,
                              retype_column="user_prior_clicks")}
    generate(tmp_path, ["2026-09", "2026-10", "2026-11"], settings, drift)
    assert "region" in header(tmp_path, "2026-09")
    assert "region" not in header(tmp_path, "2026-10")
    for row in read_month(tmp_path, "2026-10"):
        assert row["hour"] == row["timestamp"][11:13] + ":00"
    november = read_month(tmp_path, "2026-11")
    assert all(re.fullmatch(r"\d+ clicks", r["user_prior_clicks"]) for r in november)
    assert all(int(r["user_prior_clicks"].split()[0]) % 2 == 0 for r in november)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ctr_multiplier": 0.0}, "ctr_multiplier"),
        ({"new_value_column": "ad_id"}, "new_value_column"),
        ({"new_value_fraction": 1.5}, "new_value_fraction"),
        ({"numeric_column": "hour"}, "numeric_column"),
        ({"drop_column": "impression_id"}, "drop_column"),
        ({"retype_column": "ad_title"}, "retype_column"),
    ],
)
def test_bad_drift_names_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        Drift(**changes)


def test_drift_from_strings_types_values_and_names_unknown_keys():
    assert Drift.from_strings({"ctr_multiplier": "2", "drop_column": "site"}) == Drift(
        ctr_multiplier=2.0, drop_column="site"
    )
    with pytest.raises(ValueError, match="unknown drift key 'ctr'"):
        Drift.from_strings({"ctr": "2"})
    with pytest.raises(ValueError, match="needs a number"):
        Drift.from_strings({"numeric_scale": "big"})


def test_drift_for_a_month_not_generated_is_refused(tmp_path):
    with pytest.raises(ValueError, match="2026-12"):
        generate(tmp_path, ["2026-09"], SETTINGS, {"2026-12": Drift(ctr_multiplier=2.0)})
    with pytest.raises(ValueError, match="below 1"):
        generate(tmp_path, ["2026-09"], SETTINGS, {"2026-09": Drift(ctr_multiplier=40.0)})
