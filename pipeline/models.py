"""Pushed models as records: list them, roll back, and compare any two models on a span.

The records live beside the models under the serving model base path (see
`components.push_records`); this module is what `clickpipe models` and `clickpipe report`
call, so every function takes plain values and returns plain values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from components import artifacts, push_records
from components.evaluation_results import AUC, LOG_LOSS
from components.spans import is_month
from pipeline.config import ClickpipeConfig

EXAMPLES_TYPE = "Examples"
EVAL_SPLIT = "Split-eval"
TRAIN_SPLIT = "Split-train"


class ModelsError(ValueError):
    """A model, version or data reference a user must fix; the message names it."""


def table(model_base_path: str) -> str:
    """The pushed versions as a text table, newest first, the served one marked ``*``."""
    pushed = push_records.pushed_versions(model_base_path)
    if not pushed:
        return f"no pushed models under {model_base_path}"
    served = pushed[-1].version
    header = ("", "version", "span", "run", "pushed at", "blessed", "AUC", "log-loss", "note")
    rows = [header]
    for record in reversed(pushed):
        note = f"rollback of {record.rollback_of}" if record.rollback_of is not None else ""
        rows.append(
            (
                "*" if record.version == served else "",
                str(record.version),
                record.span or "?",
                record.run_id or "?",
                record.pushed_at or "?",
                "yes" if record.blessed else "no",
                _metric(record, AUC),
                _metric(record, LOG_LOSS),
                note,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines) + f"\n* served by TF Serving (highest version) from {model_base_path}"


def _metric(record: push_records.PushRecord, name: str) -> str:
    value = record.metrics.get(name)
    return f"{value:.4f}" if value is not None else "-"


def rollback(model_base_path: str, version: int, who: str) -> push_records.PushRecord:
    """Serves `version` again by re-pushing it as the newest version.

    Raises:
        ModelsError: the version does not exist or is already served.
    """
    try:
        return push_records.rollback(model_base_path, version, run_id=who)
    except push_records.RecordError as exc:
        raise ModelsError(str(exc)) from None


def resolve_model(reference: str, model_base_path: str) -> str:
    """A SavedModel folder from a pushed version number, a SavedModel or a Model artifact folder.

    Raises:
        ModelsError: nothing loadable is there.
    """
    from tfx.dsl.io import fileio

    if reference.isdigit():
        record = push_records.read_record(model_base_path, int(reference))
        if record is None:
            raise ModelsError(f"no complete pushed version {reference} under {model_base_path}")
        return record.path
    for candidate in (reference, os.path.join(reference, "Format-Serving")):
        if fileio.exists(os.path.join(candidate, push_records.SAVED_MODEL)):
            return candidate
    raise ModelsError(f"no SavedModel at {reference} (give a folder with saved_model.pb, or a pushed version)")


@dataclass(frozen=True)
class EvalData:
    """Examples to evaluate on: a file pattern, the span when known, and the training examples
    of the same ingestion (for the new-values slice) when known."""

    pattern: str
    span: str = ""
    train_pattern: str = ""


def resolve_data(reference: str, metadata_path: str) -> EvalData:
    """The eval examples of a span (looked up in ML Metadata) or of a folder/file pattern.

    Args:
        reference: a month such as ``2026-10`` (the newest ingested Examples whose window ends
            with it), an Examples artifact folder (its ``Split-eval``), a folder of TFRecord
            files, or a glob pattern.
        metadata_path: the local ML Metadata SQLite file.

    Raises:
        ModelsError: no such span was ingested, or no files match.
    """
    from tfx.dsl.io import fileio

    if is_month(reference):
        uri = _examples_of_span(reference, metadata_path)
        return EvalData(os.path.join(uri, EVAL_SPLIT, "*"), span=reference, train_pattern=_train_split(uri))
    is_artifact = fileio.isdir(os.path.join(reference, EVAL_SPLIT))
    folder = os.path.join(reference, EVAL_SPLIT) if is_artifact else reference
    pattern = os.path.join(folder, "*") if fileio.isdir(folder) else folder
    if not fileio.glob(pattern):
        raise ModelsError(f"no examples match {pattern}")
    return EvalData(pattern, train_pattern=_train_split(reference) if is_artifact else "")


def _train_split(examples_uri: str) -> str:
    from tfx.dsl.io import fileio

    pattern = os.path.join(examples_uri, TRAIN_SPLIT, "*")
    return pattern if fileio.glob(pattern) else ""


def _examples_of_span(span: str, metadata_path: str) -> str:
    from pipeline.local import metadata

    if not Path(metadata_path).is_file():
        raise ModelsError(f"no ML Metadata at {metadata_path}: run the pipeline on {span} first, or give a folder")
    store = metadata.open_store(metadata_path)
    # Only published examples: a killed run leaves its outputs PENDING, possibly half written.
    matching = [
        artifact
        for artifact in store.get_artifacts_by_type(EXAMPLES_TYPE)
        if artifact.state == metadata.Artifact.LIVE
        and str(metadata.custom_property(artifact, artifacts.SPAN_MONTHS, "")).split(",")[-1] == span
    ]
    if not matching:
        raise ModelsError(f"span {span} was never ingested into {metadata_path}")
    return max(matching, key=lambda a: a.id).uri


def make_report(
    config: ClickpipeConfig,
    candidate: str,
    baseline: str | None,
    data: EvalData,
    output_dir: str,
) -> str:
    """Evaluates two SavedModels on the same examples with the gate and writes the report.

    Args:
        config: the project config (label, slices, `[evaluation]`).
        candidate: the candidate SavedModel folder.
        baseline: the baseline SavedModel folder; None for the floor only.
        data: the examples.
        output_dir: where the evaluation (``evaluation/``) and the report go.

    Returns:
        The path of ``report.html``.

    Raises:
        ModelsError: a model cannot be loaded or the examples cannot be read (named).
    """
    from components import evaluation_results
    from components.compare import html
    from components.compare.files import write_report
    from components.evaluate import scoring
    from pipeline import eval_config

    try:
        evaluation = scoring.evaluate(
            data.pattern, candidate, baseline, eval_config.build(config), data.train_pattern, f"the baseline {baseline}"
        )
    except (scoring.ModelLoadError, ValueError) as exc:
        raise ModelsError(str(exc)) from None
    evaluation_results.write(os.path.join(output_dir, "evaluation"), evaluation)
    facts = {"span": data.span} if data.span else {}
    facts["examples"] = data.pattern
    context = html.ReportContext(
        candidate=candidate,
        baseline=baseline or "",
        data=facts,
        created_at=push_records.now(),
        title="clickpipe: model comparison",
    )
    return write_report(output_dir, evaluation, context)
