"""Generated monthly spans with the generator's drift settings, as statistics (session-wide)."""

from __future__ import annotations

import pytest

from tests.components.validate.spans import month_examples, span_statistics

IMPRESSIONS = 10_000
PREVIOUS, CLEAN = "2026-07", "2026-08"
NEW_CATEGORY, RARE_NEW_CATEGORY, SHIFTED_PRICE, DOUBLED_CTR = "2026-09", "2026-10", "2026-11", "2026-12"


@pytest.fixture(scope="session")
def config():
    from pipeline.config import load_config

    return load_config()


@pytest.fixture(scope="session")
def curated_schema():
    from components.validate.store import read_schema
    from pipeline.config import load_config
    from pipeline.validation import schema_file

    return read_schema(schema_file(load_config()))


@pytest.fixture(scope="session")
def months(tmp_path_factory, config):
    """Per month, per split, the serialized tf.Examples the ingestion would write."""
    from datagen.generator import Drift, GeneratorSettings, generate

    data = tmp_path_factory.mktemp("validate-data")
    drift = {
        NEW_CATEGORY: Drift(new_value_column="ad_category", new_value_fraction=0.05),
        RARE_NEW_CATEGORY: Drift(new_value_column="ad_category", new_value_fraction=0.003),
        SHIFTED_PRICE: Drift(numeric_column="bid_price", numeric_scale=1.6),
        DOUBLED_CTR: Drift(ctr_multiplier=2.0),
    }
    names = [PREVIOUS, CLEAN, *drift]
    generate(data, names, GeneratorSettings(impressions=IMPRESSIONS, seed=3), drift)
    return {month: month_examples(data, month, config.registry()) for month in names}


@pytest.fixture(scope="session")
def month_statistics(months, curated_schema):
    """Per month, per split, statistics computed with the curated schema (as StatisticsGen does)."""
    return {month: span_statistics(examples, curated_schema) for month, examples in months.items()}
