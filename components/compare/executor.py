"""CompareModels's executor: the gate's evaluation + artifact facts -> report.html, summary.md, JSON."""

from __future__ import annotations

import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components import artifacts, evaluation_results
from components.compare import html
from components.compare.files import write_report

EVALUATION_KEY = "evaluation"
BLESSING_KEY = "blessing"
MODEL_KEY = "model"
BASELINE_MODEL_KEY = "baseline_model"
EXAMPLES_KEY = "examples"
REPORT_KEY = "report"
SPAN_KEY = "span"

# Examples custom properties worth showing with the data (set by the ingest step), and labels.
EXAMPLES_FACTS = {artifacts.SPAN_MONTHS: "span"}
# Counts among them: ML Metadata on Kubeflow hands numbers back as doubles, shown as integers.
EXAMPLES_COUNTS = {
    artifacts.split_rows("eval"): "eval split rows",
    artifacts.ROWS_READ: "rows read",
    artifacts.ROWS_WRITTEN: "rows written",
    artifacts.ROWS_QUARANTINED: "rows quarantined",
}


def _single(input_dict: dict, key: str):
    given = input_dict.get(key) or []
    return given[0] if given else None


def _property(artifact: types.Artifact, name: str):
    if artifact.has_property(name):
        return getattr(artifact, name)
    if artifact.has_custom_property(name):
        return artifact.get_custom_property(name)
    return None


def blessed(blessing: types.Artifact | None) -> bool | None:
    """The Evaluator's verdict from its blessing artifact; None without one."""
    if blessing is None or not blessing.has_custom_property(artifacts.BLESSED):
        return None
    return bool(blessing.get_int_custom_property(artifacts.BLESSED))


def baseline_text(baseline: types.Artifact | None) -> str:
    """The production model in words, from FindProductionModel's custom properties."""
    if baseline is None or not baseline.get_int_custom_property(artifacts.FOUND):
        return ""
    text = f"version {baseline.get_int_custom_property(artifacts.PRODUCTION_VERSION)}"
    origin = (artifacts.SPAN, artifacts.RUN_ID, artifacts.PUSHED_AT)
    details = [f"{k} {_property(baseline, k)}" for k in origin if _property(baseline, k)]
    if baseline.get_int_custom_property(artifacts.ROLLBACK_OF):
        details.append(f"rollback of version {baseline.get_int_custom_property(artifacts.ROLLBACK_OF)}")
    return text + (f" ({', '.join(details)})" if details else "")


def data_facts(examples: types.Artifact | None, span: str) -> dict[str, str]:
    """Which data the evaluation ran on: span, examples URI, ingest counts."""
    facts = {"span": span} if span else {}
    if examples is not None:
        facts["examples"] = os.path.join(examples.uri, "Split-eval")
        for name, label in EXAMPLES_FACTS.items():
            value = _property(examples, name)
            if value not in (None, "") and label not in facts:
                facts[label] = str(value)
        for name, label in EXAMPLES_COUNTS.items():
            if examples.has_custom_property(name):
                facts[label] = str(examples.get_int_custom_property(name))
    return facts


class Executor(base_executor.BaseExecutor):
    """Reads the Evaluator's output and writes the comparison report."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        evaluation_artifact = artifact_utils.get_single_instance(input_dict[EVALUATION_KEY])
        report = artifact_utils.get_single_instance(output_dict[REPORT_KEY])
        evaluation = evaluation_results.load(evaluation_artifact.uri)
        model = _single(input_dict, MODEL_KEY)
        context = html.ReportContext(
            candidate=model.uri if model is not None else "the Evaluator's candidate model",
            baseline=baseline_text(_single(input_dict, BASELINE_MODEL_KEY)) if evaluation.has_baseline else "",
            data=data_facts(_single(input_dict, EXAMPLES_KEY), exec_properties.get(SPAN_KEY) or ""),
            blessed=blessed(_single(input_dict, BLESSING_KEY)),
            created_at=_now(),
        )
        path = write_report(report.uri, evaluation, context)
        report.set_int_custom_property(artifacts.BLESSED, int(bool(context.blessed)))
        report.set_int_custom_property(artifacts.FAILURES, len(evaluation.failures))
        report.set_string_custom_property(artifacts.REPORT_HTML, path)
        logging.info("Comparison report written to %s", path)


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
