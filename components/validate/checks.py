"""Anomalies, drift and skew with TFDV, turned into problems a person can act on.

Pure functions over statistics and schema protos: no TFX, no I/O. The executor and
`clickpipe monitor` are thin adapters around `validate_span` and `validate_serving`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from components.validate.comparators import DRIFT_SPLIT, SERVING, TRAINING, Comparator

SCHEMA, DRIFT, SKEW = "schema", "drift", "skew"
# TFDV's names of the comparator measurements, as a person reads them.
MEASURE_NAMES = {
    "L_INFTY": "L-infinity distance",
    "JENSEN_SHANNON_DIVERGENCE": "approx. Jensen-Shannon divergence",
    "NORMALIZED_ABSOLUTE_DIFFERENCE": "normalized absolute difference",
}
DATASET = "(whole dataset)"
_MOST_CHANGED = "The feature value with maximum difference is:"


class StatisticsWithoutSchema(ValueError):
    """Statistics computed without the schema: categorical integers look numeric."""


@dataclass(frozen=True)
class Measurement:
    """One comparator measurement of one feature.

    Attributes:
        feature: the feature compared.
        split: the split compared (e.g. train), or "requests" for serving skew.
        measure: TFDV's measurement type, e.g. L_INFTY.
        value: the measured distance.
        threshold: the configured limit.
    """

    feature: str
    split: str
    measure: str
    value: float
    threshold: float

    @property
    def breached(self) -> bool:
        return self.value > self.threshold

    def describe(self) -> str:
        """E.g. 'L-infinity distance 0.0460 > 0.0100'."""
        sign = ">" if self.breached else "<="
        return f"{MEASURE_NAMES.get(self.measure, self.measure)} {self.value:.4f} {sign} {self.threshold:.4f}"


@dataclass
class Problem:
    """One thing wrong with a span, in every split where it was found.

    Attributes:
        feature: the feature at fault, or DATASET.
        check: "schema", "drift" or "skew".
        what: TFDV's short description, e.g. "Unexpected string values".
        detail: TFDV's description in the first split, e.g. "... missing from the schema: crypto (~5%)."
        splits: the splits it was found in.
        measure: for drift and skew, the measurement against its threshold.
    """

    feature: str
    check: str
    what: str
    detail: str
    splits: list[str] = field(default_factory=list)
    measure: str = ""


@dataclass
class Verdict:
    """The outcome of validating one span (or one set of serving requests).

    Attributes:
        span: the month validated, YYYY-MM.
        against: what drift/skew was measured against ("2026-09", "serving requests"), or "".
        problems: everything that must stop the run; empty when the data passed.
        anomalies: per split, TFDV's Anomalies proto.
        measurements: every comparator measurement, breached or not.
        notes: things a person should know that are not problems (e.g. no previous span).
    """

    span: str
    against: str = ""
    problems: list[Problem] = field(default_factory=list)
    anomalies: dict = field(default_factory=dict)
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def with_comparators(schema, comparators: Mapping[str, Comparator], field_name: str):
    """A copy of `schema` with a drift or skew comparator on each named feature present.

    Args:
        schema: a tensorflow_metadata Schema proto.
        comparators: per feature, the comparator kind and threshold.
        field_name: "drift_comparator" or "skew_comparator".
    """
    copy = type(schema)()
    copy.CopyFrom(schema)
    for feature in copy.feature:
        comparator = comparators.get(feature.name)
        if comparator is not None:
            getattr(getattr(feature, field_name), comparator.kind).threshold = comparator.threshold
    return copy


def _categorical_ints(schema) -> set[str]:
    from tensorflow_metadata.proto.v0 import schema_pb2

    return {
        f.name
        for f in schema.feature
        if f.type == schema_pb2.INT and (f.HasField("bool_domain") or f.int_domain.is_categorical)
    }


def check_computed_with_schema(statistics, schema) -> None:
    """Raises StatisticsWithoutSchema when categorical integers have numeric statistics.

    TFDV's L-infinity comparator needs value counts; StatisticsGen computes them for an
    integer feature (such as a 0/1 label) only when it is given the schema.
    """
    categorical = _categorical_ints(schema)
    for dataset in statistics.datasets:
        for feature in dataset.features:
            name = _path_name(feature.path) or feature.name
            if name in categorical and feature.HasField("num_stats"):
                raise StatisticsWithoutSchema(
                    f"statistics of {name} are numeric but the schema makes it categorical: "
                    "compute statistics with the schema (StatisticsGen(schema=...))"
                )


def _path_name(path) -> str:
    return ".".join(path.step)


def _reason_type_name(reason_type: int) -> str:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    return anomalies_pb2.AnomalyInfo.Type.Name(reason_type)


def measurements_of(anomalies, split: str, check: str) -> list[Measurement]:
    """The drift (or skew) measurements TFDV recorded in `anomalies`."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    kind_name = anomalies_pb2.DriftSkewInfo.Measurement.Type.Name
    found = []
    for info in anomalies.drift_skew_info:
        values = info.drift_measurements if check == DRIFT else info.skew_measurements
        for measurement in values:
            found.append(
                Measurement(
                    feature=_path_name(info.path),
                    split=split,
                    measure=kind_name(measurement.type),
                    value=measurement.value,
                    threshold=measurement.threshold,
                )
            )
    return found


def problems_of(anomalies, split: str, comparison: str, only_comparators: bool = False) -> list[Problem]:
    """One problem per anomaly reason in `anomalies`, found in `split`.

    Args:
        anomalies: TFDV's Anomalies proto.
        split: the split the statistics came from.
        comparison: the check comparator reasons belong to ("drift" or "skew").
        only_comparators: keep only comparator reasons (for a skew run, where the training
            statistics' own schema anomalies are not the point).
    """
    measured = {m.feature: m for m in measurements_of(anomalies, split, comparison) if m.breached}
    problems = []
    infos = sorted(anomalies.anomaly_info.items())
    infos += [(DATASET, anomalies.dataset_anomaly_info)] if anomalies.HasField("dataset_anomaly_info") else []
    for name, info in infos:
        reasons = [(_reason_type_name(r.type), r.short_description, r.description) for r in info.reason]
        for type_name, short, description in reasons or [("", info.short_description, info.description)]:
            is_comparator = type_name.startswith("COMPARATOR_")
            if only_comparators and not is_comparator:
                continue
            measure = measured[name].describe() if is_comparator and name in measured else ""
            if measure and _MOST_CHANGED in description:
                measure += f" (most changed value: {description.split(_MOST_CHANGED)[1].strip()})"
            problems.append(
                Problem(
                    feature=name,
                    check=comparison if is_comparator else SCHEMA,
                    what=short or type_name,
                    detail=description,
                    splits=[split],
                    measure=measure,
                )
            )
    return problems


def merge_problems(problems: list[Problem]) -> list[Problem]:
    """Problems of the same feature, check and kind found in several splits, as one."""
    merged: dict[tuple[str, str, str], Problem] = {}
    for problem in problems:
        key = (problem.feature, problem.check, problem.what)
        if key in merged:
            merged[key].splits.extend(s for s in problem.splits if s not in merged[key].splits)
        else:
            merged[key] = Problem(**{**problem.__dict__, "splits": list(problem.splits)})
    return list(merged.values())


def validate_span(
    span: str,
    current: Mapping[str, object],
    schema,
    comparators: Mapping[str, Comparator],
    previous_span: str = "",
    previous: Mapping[str, object] | None = None,
    drift_split: str = DRIFT_SPLIT,
) -> Verdict:
    """Validates each split of a span against the schema, and its drift from the previous span.

    Args:
        span: the month validated, YYYY-MM.
        current: per split, the span's DatasetFeatureStatisticsList.
        schema: the curated Schema proto.
        comparators: per feature, the drift comparator and its threshold.
        previous_span: the month `previous` belongs to; "" when there is none.
        previous: per split, the previous span's statistics, or None.
        drift_split: the split drift is measured on.

    Returns:
        The verdict; `verdict.passed` is False when anything must stop the run.

    Raises:
        StatisticsWithoutSchema: the statistics were computed without the schema.
    """
    import tensorflow_data_validation as tfdv

    drift_schema = with_comparators(schema, comparators, "drift_comparator")
    verdict = Verdict(span=span, against=previous_span if previous else "")
    if not previous:
        verdict.notes.append(f"no validated span before {span} in the store: drift not measured")
    elif drift_split not in previous or drift_split not in current:
        verdict.notes.append(f"split {drift_split} missing in {span} or {previous_span}: drift not measured")
    problems = []
    for split, statistics in sorted(current.items(), key=lambda item: (item[0] != drift_split, item[0])):
        check_computed_with_schema(statistics, schema)
        baseline = previous.get(drift_split) if previous and split == drift_split else None
        anomalies = tfdv.validate_statistics(
            statistics, drift_schema, environment=TRAINING, previous_statistics=baseline
        )
        verdict.anomalies[split] = anomalies
        verdict.measurements.extend(measurements_of(anomalies, split, DRIFT))
        problems.extend(problems_of(anomalies, split, DRIFT))
    verdict.problems = merge_problems(problems)
    return verdict


def validate_serving(
    span: str,
    training,
    serving,
    schema,
    comparators: Mapping[str, Comparator],
    training_split: str = DRIFT_SPLIT,
) -> Verdict:
    """Validates serving requests against the schema (SERVING environment) and their skew.

    Args:
        span: the training span the requests are compared with, YYYY-MM.
        training: that span's statistics (DatasetFeatureStatisticsList) of `training_split`.
        serving: the requests' statistics.
        schema: the curated Schema proto.
        comparators: per feature, the skew comparator and its threshold.
        training_split: the name shown for the training statistics.

    Returns:
        The verdict: anomalies of the requests plus skew beyond the thresholds.
    """
    import tensorflow_data_validation as tfdv

    check_computed_with_schema(training, schema)
    verdict = Verdict(span=span, against=f"{span} {training_split}")
    requests_anomalies = tfdv.validate_statistics(serving, schema, environment=SERVING)
    skew_anomalies = tfdv.validate_statistics(
        training,
        with_comparators(schema, comparators, "skew_comparator"),
        environment=SERVING,
        serving_statistics=serving,
    )
    verdict.anomalies = {"requests": requests_anomalies, "skew": skew_anomalies}
    verdict.measurements = measurements_of(skew_anomalies, "requests", SKEW)
    problems = problems_of(requests_anomalies, "requests", SKEW)
    problems += problems_of(skew_anomalies, "requests", SKEW, only_comparators=True)
    verdict.problems = merge_problems(problems)
    return verdict


def summary(verdict: Verdict, report_path: str = "", subject: str = "") -> str:
    """The readable multi-line summary: which span, and per problem feature, what and how bad.

    Args:
        verdict: the validation outcome.
        report_path: the HTML report, named on the first line.
        subject: what was validated; default "span YYYY-MM".
    """
    subject = subject or f"span {verdict.span}"
    where = f" (report: {report_path})" if report_path else ""
    if verdict.passed:
        return f"{subject} passed validation{where}"
    count = len(verdict.problems)
    lines = [f"{subject} failed validation: {count} problem{'s' * (count != 1)}{where}"]
    width = max(len(p.feature) for p in verdict.problems)
    for problem in verdict.problems:
        against = f" vs {verdict.against}" if problem.check in (DRIFT, SKEW) and verdict.against else ""
        how_bad = problem.measure or problem.detail
        lines.append(
            f"  {problem.feature:<{width}}  {problem.check}{against} [{', '.join(problem.splits)}]: "
            f"{problem.what}: {how_bad}"
        )
    return "\n".join(lines)
