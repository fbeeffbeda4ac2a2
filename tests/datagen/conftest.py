"""Small generated datasets shared by the datagen tests (20k rows a month: fast, still signal)."""

from __future__ import annotations

import pytest

from datagen.generator import Drift, GeneratorSettings, generate

SETTINGS = GeneratorSettings(impressions=20_000, seed=11, shard_rows=8_000)
MONTHS = ["2026-09", "2026-10"]
DRIFT = {
    "2026-10": Drift(
        ctr_multiplier=1.5,
        new_value_column="device_type",
        new_value_fraction=0.1,
        numeric_column="bid_price",
        numeric_scale=1.5,
        numeric_shift=0.2,
    )
}


@pytest.fixture(scope="session")
def base(tmp_path_factory):
    """Two months without drift; returns (out folder, summary)."""
    out = tmp_path_factory.mktemp("base")
    return out, generate(out, MONTHS, SETTINGS)


@pytest.fixture(scope="session")
def drifted(tmp_path_factory):
    """The same two months, 2026-10 drifted by DRIFT; returns (out folder, summary)."""
    out = tmp_path_factory.mktemp("drifted")
    return out, generate(out, MONTHS, SETTINGS, DRIFT)
