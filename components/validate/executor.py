"""ValidateImpressions's executor: validate, write the pages, then either fail or publish the span."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components import artifacts
from components.spans import month_of_span
from components.validate import checks, report
from components.validate.comparators import DRIFT_SPLIT, Comparator, comparators_from_json
from components.validate.store import StatisticsStore, load_split_statistics, read_schema

STATISTICS_KEY = "statistics"
SCHEMA_KEY = "schema"
ANOMALIES_KEY = "anomalies"
VALIDATED_SCHEMA_KEY = "validated_schema"
STORE_KEY = "store"
COMPARATORS_KEY = "drift_comparators"
DRIFT_SPLIT_KEY = "drift_split"
FINGERPRINT_KEY = "fingerprint"
ANOMALIES_FILE = "SchemaDiff.pb"
SCHEMA_FILE = "schema.pbtxt"


class ValidationFailed(RuntimeError):
    """The span must not be trained on; the message is the readable summary."""


@dataclass
class GateResult:
    """A verdict and where its pages were written."""

    verdict: checks.Verdict
    report_dir: str

    @property
    def report_path(self) -> str:
        return f"{self.report_dir}/{report.ANOMALIES_PAGE}"


def write_pages(report_dir: str, verdict: checks.Verdict, current: dict, previous: dict | None) -> None:
    """Writes the statistics view and the validation report of one span."""
    sections = []
    for split, statistics in sorted(current.items(), key=lambda item: (item[0] != DRIFT_SPLIT, item[0])):
        datasets = [(f"{verdict.span} {split}", statistics.datasets[0])]
        if previous and split in previous:
            datasets.append((f"{verdict.against} {split}", previous[split].datasets[0]))
        sections.append((f"Split {split}", datasets))
    report.write_text(
        f"{report_dir}/{report.STATISTICS_PAGE}",
        report.statistics_page(f"Statistics of span {verdict.span}", sections),
    )
    report.write_text(
        f"{report_dir}/{report.ANOMALIES_PAGE}",
        report.verdict_page(f"Validation of span {verdict.span}", verdict),
    )


def run_gate(
    statistics_uri: str,
    splits: list[str],
    month: str,
    schema,
    comparators: dict[str, Comparator],
    store: StatisticsStore,
    drift_split: str = DRIFT_SPLIT,
) -> GateResult:
    """Validates a span's statistics against the schema and the previous validated span.

    Writes the statistics view and the report to the store's `reports/<month>/`.
    """
    current = load_split_statistics(statistics_uri, splits)
    previous_month = store.previous(month)
    previous = store.load(previous_month) if previous_month else None
    verdict = checks.validate_span(month, current, schema, comparators, previous_month, previous, drift_split)
    report_dir = store.report_dir(month)
    write_pages(report_dir, verdict, current, previous)
    return GateResult(verdict, report_dir)


class Executor(base_executor.BaseExecutor):
    """Fails with the readable summary, or publishes the span's statistics to the store."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        import tensorflow as tf
        from tfx.utils import io_utils

        statistics = artifact_utils.get_single_instance(input_dict[STATISTICS_KEY])
        schema_uri = artifact_utils.get_single_uri(input_dict[SCHEMA_KEY])
        schema = read_schema(schema_uri)
        try:
            month = month_of_span(statistics.span)
        except ValueError as exc:
            raise ValidationFailed(f"cannot tell which month the statistics are of: {exc}") from None
        splits = artifact_utils.decode_split_names(statistics.split_names)
        store = StatisticsStore(exec_properties[STORE_KEY])
        comparators = comparators_from_json(exec_properties[COMPARATORS_KEY])
        drift_split = exec_properties.get(DRIFT_SPLIT_KEY) or DRIFT_SPLIT
        result = run_gate(statistics.uri, splits, month, schema, comparators, store, drift_split)

        anomalies = artifact_utils.get_single_instance(output_dict[ANOMALIES_KEY])
        anomalies.span = statistics.span
        anomalies.split_names = artifact_utils.encode_split_names(sorted(result.verdict.anomalies))
        for split, proto in result.verdict.anomalies.items():
            io_utils.write_bytes_file(f"{anomalies.uri}/Split-{split}/{ANOMALIES_FILE}", proto.SerializeToString())
        for page in (report.STATISTICS_PAGE, report.ANOMALIES_PAGE):
            tf.io.gfile.copy(f"{result.report_dir}/{page}", f"{anomalies.uri}/{page}", overwrite=True)
        anomalies.set_int_custom_property(artifacts.PROBLEMS, len(result.verdict.problems))
        anomalies.set_string_custom_property(artifacts.COMPARED_WITH, result.verdict.against)
        anomalies.set_string_custom_property(artifacts.REPORT, result.report_path)

        message = checks.summary(result.verdict, result.report_path)
        if not result.verdict.passed:
            raise ValidationFailed(message)
        logging.info(message)
        store.publish(month, statistics.uri, splits)
        validated = artifact_utils.get_single_uri(output_dict[VALIDATED_SCHEMA_KEY])
        io_utils.copy_file(io_utils.get_only_uri_in_dir(schema_uri), f"{validated}/{SCHEMA_FILE}", overwrite=True)
