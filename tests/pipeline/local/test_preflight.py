"""Pre-flight checks: a config that does not fit the span's rows or its schema file stops the run
before TFX starts, with the key to fix named."""

from __future__ import annotations

import pytest

from components.ingest.span_selection import resolve_spans
from components.ingest.storage import open_storage
from pipeline.config import load_config
from pipeline.local.preflight import PreflightError, check_rows, check_schema
from pipeline.local.runner import run_local
from tests.components.ingest import dataset

MONTH = "2026-10"


@pytest.fixture
def source(tmp_path):
    root = tmp_path / "data"
    dataset.write_months(root, {MONTH: 40})
    return root


def _config(source, tmp_path, **dataset_keys):
    config = load_config().with_overrides(
        dataset={"source": str(source), "span": MONTH, **dataset_keys}, pipeline={"home": str(tmp_path / "home")}
    )
    return config


def _check_rows(config) -> None:
    storage = open_storage(config.dataset.source)
    selection = resolve_spans(config.dataset.source, config.dataset.impressions_pattern, MONTH, 1, storage)
    check_rows(config, storage, selection)


def _without(config, feature: str) -> list[dict]:
    return [f.model_dump() for f in config.dataset.features if f.name != feature]


def test_rows_that_fit_the_config_pass(source, tmp_path):
    _check_rows(_config(source, tmp_path))


def test_a_label_on_a_numeric_column_names_dataset_label(source, tmp_path):
    base = _config(source, tmp_path)
    config = _config(source, tmp_path, label="hour", features=_without(base, "hour"))

    with pytest.raises(PreflightError) as error:
        _check_rows(config)

    message = str(error.value)
    assert message.startswith("dataset.label 'hour': 20 of the first 20 rows of ")
    assert "would be quarantined (bad_value_type: hour='10' is not 0 or 1); point dataset.label at the 0/1" in message


def test_a_label_the_header_lacks_is_named(source, tmp_path):
    config = _config(source, tmp_path, label="bought")

    with pytest.raises(PreflightError, match=r"^dataset\.label 'bought': .*header lacks column\(s\) bought"):
        _check_rows(config)


def test_a_numeric_feature_on_a_text_column_names_the_feature(source, tmp_path):
    base = _config(source, tmp_path)
    features = [
        {**f, "kind": "numeric"} if f["name"] == "ad_title" else f
        for f in (feature.model_dump() for feature in base.dataset.features)
    ]
    config = _config(source, tmp_path, features=features)

    with pytest.raises(PreflightError, match=r"^dataset\.features \(ad_title, kind numeric\): 20 of the first 20"):
        _check_rows(config)


def test_a_wrong_creative_template_names_the_image_feature(source, tmp_path):
    base = _config(source, tmp_path)
    features = [
        {**f, "uri_template": "images/{ad_id}.jpg"} if f["name"] == "creative" else f
        for f in (feature.model_dump() for feature in base.dataset.features)
    ]

    with pytest.raises(PreflightError, match=r"^dataset\.features \(creative\): .*no creative images/ad_0\.jpg"):
        _check_rows(_config(source, tmp_path, features=features))


def test_a_few_dirty_rows_are_left_to_the_quarantine(tmp_path):
    root = tmp_path / "data"
    lines = dataset.good_lines(MONTH, 30)
    lines[3:6] = [dataset.csv_line(dataset.row(f"bad-{i}", clicked="yes")) for i in range(3)]
    dataset.write_span(root, MONTH, lines)
    dataset.write_creatives(root, [f"ad_{i}" for i in range(3)])

    _check_rows(_config(root, tmp_path))


def test_the_built_in_schema_passes_and_a_missing_or_broken_one_is_named(tmp_path):
    config = load_config()
    check_schema(config)

    missing = tmp_path / "none.pbtxt"
    with pytest.raises(PreflightError, match=rf"^validation\.schema_file '{missing}': no such file$"):
        check_schema(config.with_overrides(validation={"schema_file": str(missing)}))
    broken = tmp_path / "broken.pbtxt"
    broken.write_text("feature { name: 'x' type: NOT_A_TYPE }")
    with pytest.raises(PreflightError, match=rf"^validation\.schema_file '{broken}' is not a Schema text proto: "):
        check_schema(config.with_overrides(validation={"schema_file": str(broken)}))


def test_a_run_stops_before_tfx_on_a_config_that_does_not_fit(source, tmp_path):
    base = _config(source, tmp_path)
    config = _config(source, tmp_path, label="hour", features=_without(base, "hour"))

    with pytest.raises(PreflightError, match=r"^dataset\.label 'hour'"):
        run_local(config, on_event=lambda node: None)

    # Nothing of TFX ran: no run log, no ML Metadata.
    assert not (tmp_path / "home" / "logs").exists()
    assert not (tmp_path / "home" / "metadata.sqlite").exists()
