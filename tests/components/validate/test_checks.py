"""The gate's verdicts on generated months: clean passes, each kind of bad month names its feature."""

from __future__ import annotations

import pytest

from components.validate import checks, comparators
from pipeline import validation
from tests.components.validate.conftest import (
    CLEAN,
    DOUBLED_CTR,
    NEW_CATEGORY,
    PREVIOUS,
    RARE_NEW_CATEGORY,
    SHIFTED_PRICE,
)
from tests.components.validate.spans import span_statistics


def _verdict(config, schema, statistics, month):
    return checks.validate_span(
        month,
        statistics[month],
        schema,
        validation.drift_comparators(config),
        PREVIOUS,
        statistics[PREVIOUS],
    )


def _problem_features(verdict) -> set[str]:
    return {problem.feature for problem in verdict.problems}


def test_clean_month_passes_with_every_drift_measured(config, curated_schema, month_statistics):
    verdict = _verdict(config, curated_schema, month_statistics, CLEAN)

    assert verdict.passed, checks.summary(verdict)
    assert verdict.against == PREVIOUS
    measured = {m.feature for m in verdict.measurements}
    assert measured == set(validation.drift_comparators(config))
    assert {m.split for m in verdict.measurements} == {comparators.DRIFT_SPLIT}


def test_new_category_beyond_the_domain_threshold_is_caught(config, curated_schema, month_statistics):
    verdict = _verdict(config, curated_schema, month_statistics, NEW_CATEGORY)

    assert _problem_features(verdict) == {"ad_category"}
    (problem,) = [p for p in verdict.problems if p.check == checks.SCHEMA]
    assert problem.what == "Unexpected string values"
    assert "crypto" in problem.detail
    assert problem.splits == ["train", "eval"]


def test_new_category_below_the_threshold_passes(config, curated_schema, month_statistics):
    verdict = _verdict(config, curated_schema, month_statistics, RARE_NEW_CATEGORY)

    assert verdict.passed, checks.summary(verdict)


def test_shifted_numeric_distribution_is_caught_as_drift(config, curated_schema, month_statistics):
    verdict = _verdict(config, curated_schema, month_statistics, SHIFTED_PRICE)

    assert _problem_features(verdict) == {"bid_price"}
    (problem,) = verdict.problems
    assert problem.check == checks.DRIFT
    assert problem.measure.startswith("approx. Jensen-Shannon divergence")
    assert problem.splits == [comparators.DRIFT_SPLIT]


def test_label_rate_shift_is_caught_on_the_label(config, curated_schema, month_statistics):
    verdict = _verdict(config, curated_schema, month_statistics, DOUBLED_CTR)

    assert _problem_features(verdict) == {config.dataset.label}
    (problem,) = verdict.problems
    assert problem.check == checks.DRIFT
    assert problem.measure.startswith("L-infinity distance")


def test_threshold_override_silences_only_that_feature(config, curated_schema, month_statistics):
    lenient = config.with_overrides(validation={"drift_thresholds": {"bid_price": 0.5}})
    verdict = checks.validate_span(
        SHIFTED_PRICE,
        month_statistics[SHIFTED_PRICE],
        curated_schema,
        validation.drift_comparators(lenient),
        PREVIOUS,
        month_statistics[PREVIOUS],
    )

    assert verdict.passed, checks.summary(verdict)


def _edited(serialized: list[bytes], edit) -> list[bytes]:
    from tensorflow.core.example import example_pb2

    out = []
    for record in serialized:
        example = example_pb2.Example.FromString(record)
        edit(example.features.feature)
        out.append(example.SerializeToString())
    return out


def test_missing_column_is_caught(config, curated_schema, months):
    examples = {split: _edited(rows, lambda f: f.pop("region")) for split, rows in months[CLEAN].items()}
    verdict = checks.validate_span(
        CLEAN, span_statistics(examples, curated_schema), curated_schema, validation.drift_comparators(config)
    )

    assert _problem_features(verdict) == {"region"}
    assert verdict.problems[0].what == "Column dropped"


def test_type_change_is_caught(config, curated_schema, months):
    def hour_as_text(features):
        hour = features["hour"].float_list.value[0]
        features["hour"].ClearField("float_list")
        features["hour"].bytes_list.value.append(f"{int(hour):02d}:00".encode())

    examples = {split: _edited(rows, hour_as_text) for split, rows in months[CLEAN].items()}
    verdict = checks.validate_span(
        CLEAN, span_statistics(examples, curated_schema), curated_schema, validation.drift_comparators(config)
    )

    assert _problem_features(verdict) == {"hour"}
    assert "FLOAT" in verdict.problems[0].detail


def test_without_a_previous_span_drift_is_noted_not_measured(config, curated_schema, month_statistics):
    verdict = checks.validate_span(
        SHIFTED_PRICE, month_statistics[SHIFTED_PRICE], curated_schema, validation.drift_comparators(config)
    )

    assert verdict.passed
    assert verdict.measurements == []
    assert "drift not measured" in verdict.notes[0]


def test_statistics_computed_without_the_schema_are_refused(config, curated_schema, months):
    without_schema = span_statistics(months[CLEAN])

    with pytest.raises(checks.StatisticsWithoutSchema, match="clicked"):
        checks.validate_span(CLEAN, without_schema, curated_schema, validation.drift_comparators(config))


def test_summary_names_span_feature_check_and_how_bad(config, curated_schema, month_statistics):
    verdict = _verdict(config, curated_schema, month_statistics, SHIFTED_PRICE)

    text = checks.summary(verdict, "/reports/anomalies.html")

    first, line = text.splitlines()
    assert first == f"span {SHIFTED_PRICE} failed validation: 1 problem (report: /reports/anomalies.html)"
    assert line.split()[0] == "bid_price"
    assert f"drift vs {PREVIOUS} [train]" in line
    assert "> 0.0600" in line


def test_merge_problems_joins_splits_of_the_same_problem():
    found = [
        checks.Problem("site", checks.SCHEMA, "Unexpected string values", "x (~2%)", ["train"]),
        checks.Problem("site", checks.SCHEMA, "Unexpected string values", "x (~3%)", ["eval"]),
        checks.Problem("site", checks.DRIFT, "High Linfty distance", "y", ["train"]),
    ]

    merged = checks.merge_problems(found)

    assert [(p.check, p.splits, p.detail) for p in merged] == [
        (checks.SCHEMA, ["train", "eval"], "x (~2%)"),
        (checks.DRIFT, ["train"], "y"),
    ]


def test_problems_of_reads_reasons_dataset_anomalies_and_measurements():
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    anomalies = anomalies_pb2.Anomalies()
    info = anomalies.anomaly_info["site"]
    info.reason.add(
        type=anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH,
        short_description="High Linfty distance",
        description="The Linfty distance is 0.2. The feature value with maximum difference is: site-07",
    )
    drift = anomalies.drift_skew_info.add()
    drift.path.step.append("site")
    drift.drift_measurements.add(type=anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY, value=0.2, threshold=0.05)
    anomalies.dataset_anomaly_info.short_description = "Low num examples"
    anomalies.dataset_anomaly_info.description = "The dataset has 3 examples."

    problems = checks.problems_of(anomalies, "train", checks.DRIFT)

    assert [(p.feature, p.check, p.what) for p in problems] == [
        ("site", checks.DRIFT, "High Linfty distance"),
        (checks.DATASET, checks.SCHEMA, "Low num examples"),
    ]
    assert problems[0].measure == "L-infinity distance 0.2000 > 0.0500 (most changed value: site-07)"
    assert checks.problems_of(anomalies, "train", checks.DRIFT, only_comparators=True)[0].feature == "site"
