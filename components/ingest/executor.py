"""The IngestImpressions executor: resolve the span, stream it to Examples, account for every row."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from components import artifacts
from components.ingest.span_selection import SpanSelection, resolve_spans
from components.ingest.storage import Storage, open_storage
from components.ingest.transforms import QUARANTINE_FILE, IngestCounts, build_ingest
from trainer import rows
from trainer.features import FeatureRegistry

EXAMPLES_KEY = "examples"
QUARANTINE_KEY = "quarantine"
SOURCE_KEY = "source"
PATTERN_KEY = "impressions_pattern"
SPAN_KEY = "span"
WINDOW_KEY = "window"
EVAL_PERCENT_KEY = "eval_percent"
MAX_QUARANTINED_KEY = "max_quarantined_fraction"
REGISTRY_KEY = "registry"
FINGERPRINT_KEY = "fingerprint"

# Custom properties, as TFX's ExampleGen sets them, so TFX's readers know the format.
FILE_FORMAT = "tfrecords_gzip"
PAYLOAD_FORMAT = "FORMAT_TF_EXAMPLE"
SAMPLE_ROWS = 3
# A quarantined row is shown in an error message up to this many characters.
SAMPLE_CHARS = 300


class IngestError(RuntimeError):
    """Ingestion stopped before training; the message says why and what to fix."""


@dataclass(frozen=True)
class IngestSettings:
    """The execution properties of one ingestion run."""

    source: str
    impressions_pattern: str
    span: str
    window: int
    eval_percent: int
    max_quarantined_fraction: float
    registry: FeatureRegistry
    fingerprint: str = ""

    @classmethod
    def from_exec_properties(cls, props: dict[str, Any]) -> IngestSettings:
        return cls(
            source=props[SOURCE_KEY],
            impressions_pattern=props[PATTERN_KEY],
            span=props[SPAN_KEY],
            window=int(props[WINDOW_KEY]),
            eval_percent=int(props[EVAL_PERCENT_KEY]),
            max_quarantined_fraction=float(props[MAX_QUARANTINED_KEY]),
            registry=FeatureRegistry.from_dict(json.loads(props[REGISTRY_KEY])),
            fingerprint=props.get(FINGERPRINT_KEY) or "",
        )


def check_headers(storage: Storage, selection: SpanSelection, registry: FeatureRegistry) -> None:
    """Reads each file's header before any row, so a wrong file stops the run with its name.

    Raises:
        rows.HeaderError: a header lacks a column the config names.
    """
    for info in selection.files:
        first = next(rows.iter_records(storage.read_chunks(info, chunk_bytes=64 * 1024)), None)
        if first is not None:
            rows.parse_header(first[1], registry, f"{storage.uri}/{info.name}")


def check_counts(counts: IngestCounts, selection: SpanSelection, max_fraction: float, samples: list[str]) -> None:
    """Stops the run when the span gave no examples or too many rows were quarantined.

    The message's first line already says why the first row was quarantined, since a terminal
    or a log reader may show only that line; the rows follow, one a line.

    Raises:
        IngestError: no rows, no examples, rows unaccounted for, or a quarantined fraction
            above `max_fraction`; the message has the counts and a few quarantined rows.
    """
    months = ", ".join(selection.months)
    if counts.read != counts.rows_written + counts.rows_quarantined:
        raise IngestError(
            f"span {months}: {counts.read} rows read but {counts.rows_written} written and "
            f"{counts.rows_quarantined} quarantined"
        )
    if counts.read == 0:
        raise IngestError(f"span {months} under {selection.source} is empty: its files hold no rows")
    shown = "".join(f"\n  {_cut(line)}" for line in samples)
    first = f"; the first: {_why(samples[0])}" if samples else ""
    if counts.quarantined_fraction > max_fraction:
        raise IngestError(
            f"span {months}: {counts.rows_quarantined} of {counts.read} rows "
            f"({counts.quarantined_fraction:.2%}) quarantined, above "
            f"dataset.max_quarantined_fraction={max_fraction} ({counts.describe_quarantine()}{first}); "
            f"fix the data or the config, or raise the limit. First quarantined rows:{shown}"
        )
    if counts.rows_written == 0:
        raise IngestError(
            f"span {months}: every row was quarantined ({counts.describe_quarantine()}{first}){shown}"
        )


def _why(sample: str) -> str:
    """Where a quarantined row (a quarantine JSON line) was and why, in a few words."""
    try:
        record = json.loads(sample)
        return f"{record['file']} line {record['line']}, {record['reason']}: {_cut(record['detail'])}"
    except (ValueError, KeyError, TypeError):
        return _cut(sample)


def _cut(text: str) -> str:
    return text if len(text) <= SAMPLE_CHARS else f"{text[:SAMPLE_CHARS]}... ({len(text)} characters)"


def ingest(
    settings: IngestSettings,
    make_pipeline,
    examples_uri: str,
    quarantine_uri: str,
    storage: Storage | None = None,
) -> tuple[SpanSelection, IngestCounts]:
    """Resolves the span and writes its examples and quarantined rows.

    Args:
        settings: what to read and how to split it.
        make_pipeline: returns a new Beam pipeline (the executor's, with its beam args).
        examples_uri: the Examples artifact's folder (gets Split-train/ and Split-eval/).
        quarantine_uri: the quarantine artifact's folder.
        storage: an open storage for the source; opened from the settings when None.

    Returns:
        The span that was read and the row counts.

    Raises:
        SpanError: the source, prefix or span is missing or empty.
        HeaderError: a file lacks a column the config names.
        IngestError: no examples, or too many rows quarantined.
    """
    storage = storage or open_storage(settings.source)
    registry = settings.registry
    selection = resolve_spans(
        settings.source, settings.impressions_pattern, settings.span, settings.window, storage,
        span_column=registry.span_column, span_format=registry.span_format,
    )
    if settings.fingerprint and settings.fingerprint != selection.fingerprint:
        logging.warning("span %s changed after the run was planned; ingesting it as it is now",
                        ",".join(selection.months))
    logging.info("ingesting %s: %d files, %d bytes from %s", ",".join(selection.months),
                 len(selection.files), selection.total_bytes, storage.uri)
    check_headers(storage, selection, settings.registry)
    # A retried execution may find a partial earlier attempt here: start clean, no duplicates.
    for uri in (examples_uri, quarantine_uri):
        if fileio.exists(uri):
            fileio.rmtree(uri)
        fileio.makedirs(uri)
    pipeline = make_pipeline()
    build_ingest(pipeline, settings.source, selection.files, registry, settings.eval_percent,
                 examples_uri, quarantine_uri, selection.months if registry.span_column else None)
    result = pipeline.run()
    result.wait_until_finish()
    counts = IngestCounts.from_metrics(result)
    logging.info("ingested %s: read %d, written %s, quarantined %s, rows of other months %d",
                 ",".join(selection.months), counts.read, counts.written, counts.describe_quarantine(),
                 counts.other_months)
    check_counts(counts, selection, settings.max_quarantined_fraction,
                 first_quarantined(quarantine_uri, SAMPLE_ROWS))
    return selection, counts


def first_quarantined(quarantine_uri: str, limit: int) -> list[str]:
    """Up to `limit` quarantined rows (JSON lines), for error messages."""
    found: list[str] = []
    for path in sorted(fileio.glob(f"{quarantine_uri}/{QUARANTINE_FILE}*")):
        with fileio.open(path, "r") as stream:
            for line in stream:
                found.append(line.rstrip("\n"))
                if len(found) >= limit:
                    return found
    return found


def record_properties(examples, quarantine, selection: SpanSelection, counts: IngestCounts) -> None:
    """Span, version, splits and counts on the artifacts, as TFX's ExampleGen records them."""
    examples.split_names = artifact_utils.encode_split_names(list(rows.SPLITS))
    examples.span = selection.span
    examples.version = selection.version
    examples.set_string_custom_property(artifacts.FILE_FORMAT, FILE_FORMAT)
    examples.set_string_custom_property(artifacts.PAYLOAD_FORMAT, PAYLOAD_FORMAT)
    examples.set_string_custom_property(artifacts.INPUT_FINGERPRINT, selection.fingerprint)
    examples.set_string_custom_property(artifacts.SPAN_MONTHS, ",".join(selection.months))
    for artifact in (examples, quarantine):
        artifact.set_int_custom_property(artifacts.ROWS_READ, counts.read)
        artifact.set_int_custom_property(artifacts.ROWS_WRITTEN, counts.rows_written)
        artifact.set_int_custom_property(artifacts.ROWS_QUARANTINED, counts.rows_quarantined)
        artifact.set_int_custom_property(artifacts.ROWS_OTHER_MONTHS, counts.other_months)
        for reason, count in counts.quarantined.items():
            artifact.set_int_custom_property(artifacts.quarantined_rows(reason), count)
    for split, count in counts.written.items():
        examples.set_int_custom_property(artifacts.split_rows(split), count)
    quarantine.set_string_custom_property(artifacts.SPAN_MONTHS, ",".join(selection.months))


class Executor(base_beam_executor.BaseBeamExecutor):
    """Reads the span's impressions and creatives into train/eval Examples and a quarantine."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:  # noqa: N802 - TFX API
        examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        quarantine = artifact_utils.get_single_instance(output_dict[QUARANTINE_KEY])
        settings = IngestSettings.from_exec_properties(exec_properties)
        selection, counts = ingest(settings, self._make_beam_pipeline, examples.uri, quarantine.uri)
        record_properties(examples, quarantine, selection, counts)
