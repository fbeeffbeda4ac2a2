"""Checks a local run makes before TFX starts, for mistakes that would otherwise fail minutes in.

- The curated schema (`validation.schema_file`) exists, parses and describes the examples the
  config makes: ImportSchema would fail on a broken one, and the gate would report every column
  of a schema made for another dataset.
- The span's first file has every column the config names, and its first rows go through the
  raw-row contract (`trainer.rows.RowParser`) with their creatives: a label or feature pointing
  at the wrong column rejects nearly every row, which ingestion would quarantine.
- Beam args for a runner outside this process (Flink) name a job-server jar on this machine,
  a JobManager that answers and the SDK worker pool the TaskManagers will use.

Dirty rows are ingestion's business (the quarantine and its cap); only a reason shared by most
sampled rows, which points at the config rather than the data, stops the run here.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from components.ingest.span_selection import SpanSelection
from components.ingest.storage import Storage, StorageError, open_storage
from pipeline import validation
from pipeline.config import ClickpipeConfig
from trainer import rows
from trainer.features import FeatureRegistry, Kind

SAMPLE_ROWS = 200
SAMPLE_BYTES = 1024 * 1024
# Creatives are read for this many sampled rows only (each may be a bucket read).
SAMPLE_CREATIVES = 20
# A reason shared by more than this share of the sampled rows is the config's, not the data's.
MOST = 0.5


class PreflightError(ValueError):
    """The config does not fit the data or the schema; the message names the key to fix."""


def check_schema(config: ClickpipeConfig, span: str = "SPAN") -> None:
    """The curated schema file exists, is a `Schema` text proto and names the features the
    config's examples hold.

    Args:
        config: the validated config.
        span: the month to name in the advice to propose a schema.

    Raises:
        PreflightError: naming `validation.schema_file`.
    """
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    path = validation.schema_file(config)
    key = f"validation.schema_file {path!r}" if config.validation.schema_file else f"the built-in schema {path}"
    try:
        if path.startswith("gs://"):
            folder, _, name = path.rpartition("/")
            data = open_storage(folder).read(name)
        else:
            data = Path(path).read_bytes() if Path(path).is_file() else None
    except (OSError, StorageError) as exc:
        raise PreflightError(f"{key}: cannot read it ({exc})") from None
    if data is None:
        raise PreflightError(f"{key}: no such file")
    schema = schema_pb2.Schema()
    try:
        text_format.Parse(data.decode("utf-8"), schema)
    except (UnicodeDecodeError, text_format.ParseError) as exc:
        raise PreflightError(f"{key} is not a Schema text proto: {exc}") from None
    _check_schema_names(config, key, {feature.name for feature in schema.feature}, span)


def _check_schema_names(config: ClickpipeConfig, key: str, named: set[str], span: str) -> None:
    registry = config.registry()
    made = {registry.label, *registry.passthrough, *registry.names} | ({registry.example_id} - {""})
    if named == made:
        return
    lacks, other = sorted(made - named), sorted(named - made)
    differences = "; ".join(
        part
        for part in (
            f"it lacks {', '.join(lacks)}" if lacks else "",
            f"it names {', '.join(other)}, which the examples do not hold" if other else "",
        )
        if part
    )
    where = f" --config {config.source_file}" if config.source_file and "built-in" not in config.source_file else ""
    raise PreflightError(
        f"{key} does not describe the config's examples ({differences}): propose a schema from the data with "
        f"`clickpipe schema infer {span}{where}`, review it and set validation.schema_file to it"
    )


def check_rows(config: ClickpipeConfig, storage: Storage, selection: SpanSelection) -> None:
    """The first rows of the span's first file fit the config's columns, label and features.

    Raises:
        PreflightError: the header lacks a column the config names, or most sampled rows are
            rejected for one reason; the message names the key to fix.
    """
    registry = config.registry()
    info = next((info for info in selection.files if info.size), None)
    if info is None:
        return
    chunk = next(iter(storage.read_chunks(info, chunk_bytes=SAMPLE_BYTES)), b"")
    where = f"{storage.uri.rstrip('/')}/{info.name}"
    reader = rows.Records([chunk])
    records = iter(reader)
    _, header_line = next(records, (0, None))
    if header_line is None:
        return
    try:
        header = rows.parse_header(header_line, registry, where)
    except rows.HeaderError as exc:
        raise PreflightError(f"{_keys_naming_missing(registry, header_line)}: {exc}") from None
    parser = rows.RowParser(registry, header)
    reader.width = parser.width
    sample = [line for _, line in records if line.strip()]
    # The chunk may end inside a row; that row is not a sample.
    sample = sample[:-1] if len(chunk) == SAMPLE_BYTES else sample
    table = parser.parse_records(sample[:SAMPLE_ROWS])
    # Creatives of the first rows only (each distinct one is a read from the source); those rows
    # come first, so their positions are the same in both tables.
    with_images = rows.attach_images(parser.parse_records(sample[:SAMPLE_CREATIVES]), rows.checked(storage.read))
    rejected = {**table.rejected, **with_images.rejected}
    _stop_on_a_shared_reason(registry, list(rejected.values()), table.size, where)


def _stop_on_a_shared_reason(registry: FeatureRegistry, rejected: list, sampled: int, where: str) -> None:
    if not rejected:
        return
    by_cause = Counter(_cause(registry, r) for r in rejected)
    (key, advice), count = by_cause.most_common(1)[0]
    if count <= MOST * sampled:
        return
    example = next(r for r in rejected if _cause(registry, r) == (key, advice))
    raise PreflightError(
        f"{key}: {count} of the first {sampled} rows of {where} would be quarantined "
        f"({example.reason}: {example.detail}); {advice}"
    )


def _cause(registry: FeatureRegistry, rejected: rows.Rejected) -> tuple[str, str]:
    """The config key a rejection points at, and what to do about it."""
    if rejected.reason in (rows.MISSING_CREATIVE, rows.UNDECODABLE_IMAGE):
        names = ", ".join(f.name for f in registry.of_kind(Kind.IMAGE))
        return f"dataset.features ({names})", "check the image feature's uri_template and source_column"
    column = rejected.detail.split("=", 1)[0]
    if registry.label_rule and f"so label {registry.label} (" in rejected.detail:
        return (
            f"dataset.label_rule ({registry.label_rule.describe()})",
            "check the rule's columns: they must be filled (and numbers, for a comparison with a number)",
        )
    if column == registry.label:
        return (
            f"dataset.label {registry.label!r}",
            "point dataset.label at the 0/1 label column, or derive the label with dataset.label_rule",
        )
    if registry.span_column and column == registry.span_column and "is not a timestamp" in rejected.detail:
        return (
            f"dataset.span_column {registry.span_column!r}",
            "set dataset.span_format to the timestamps' strptime format (e.g. \"%m/%d/%Y %I:%M:%S %p\")",
        )
    if registry.example_id and rejected.detail == f"{registry.example_id} is empty":
        return (
            f"dataset.example_id {registry.example_id!r}",
            "point it at a column that is never empty, or leave it out to key rows by a hash of their fields",
        )
    for feature in registry.features:
        if feature.name == column:
            return f"dataset.features ({column}, kind {feature.kind.value})", "check the feature's kind and column"
    return "dataset", "check that the files are CSV with one header line, as ingestion reads them"


def _keys_naming_missing(registry: FeatureRegistry, header_line: bytes) -> str:
    """The config keys naming a column the header lacks, e.g. `dataset.label 'clicked'`."""
    try:
        present = set(rows.split_fields(header_line.removeprefix(rows.UTF8_BOM).decode("utf-8")))
    except (UnicodeDecodeError, csv.Error):
        return "dataset"
    present = {column.strip() for column in present}
    named = [("example_id", registry.example_id), ("span_column", registry.span_column)]
    if registry.label_rule:
        named += [("label_rule", column) for column in registry.label_rule.columns]
    else:
        named.append(("label", registry.label))
    keys = [f"dataset.{key} {name!r}" for key, name in named if name and name not in present]
    if any(name not in present for name in registry.passthrough):
        keys.append("dataset.passthrough")
    if any(feature.csv_column not in present for feature in registry.features):
        keys.append("dataset.features")
    return ", ".join(keys) or "dataset"


def check_beam_args(beam_args: list[str] | tuple[str, ...]) -> None:
    """Beam args that send the Beam stages out of this process point at things that exist. For
    Flink: a job-server jar on this machine (without one, Beam downloads it at run time), a
    JobManager that answers, and the SDK worker pool of an EXTERNAL environment.

    Raises:
        PreflightError: naming `pipeline.beam_args` and what to start or fetch.
    """
    import socket
    import urllib.request

    from apache_beam.options.pipeline_options import (
        FlinkRunnerOptions,
        PipelineOptions,
        PortableOptions,
        StandardOptions,
    )

    options = PipelineOptions(list(beam_args))
    runner = options.view_as(StandardOptions).runner or ""
    if runner.rsplit(".", 1)[-1] != "FlinkRunner":
        return
    flink = options.view_as(FlinkRunnerOptions)
    jar = flink.flink_job_server_jar
    fetch = "`python -m benchmarks.flink_cluster jar` fetches it"
    if not jar:
        raise PreflightError(
            "pipeline.beam_args: --runner=FlinkRunner needs --flink_job_server_jar=PATH, Beam's Flink job server"
            f" ({fetch}); without it Beam downloads the jar at run time"
        )
    if "://" not in jar and not Path(jar).is_file():
        raise PreflightError(f"pipeline.beam_args: --flink_job_server_jar {jar!r} does not exist ({fetch})")
    master = flink.flink_master
    if master not in ("[local]", "[auto]"):
        url = master if "://" in master else f"http://{master}"
        try:
            with urllib.request.urlopen(f"{url}/config", timeout=5):
                pass
        except OSError:
            raise PreflightError(
                f"pipeline.beam_args: no Flink JobManager answers at --flink_master {master!r}"
                " (a local cluster: python -m benchmarks.flink_cluster up)"
            ) from None
    portable = options.view_as(PortableOptions)
    if (portable.environment_type or "").upper() == "EXTERNAL":
        address = portable.environment_config or ""
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host or "localhost", int(port)), timeout=5).close()
        except (OSError, ValueError):
            raise PreflightError(
                f"pipeline.beam_args: no Beam SDK worker pool listens at --environment_config {address!r}"
                " (start one: python -m apache_beam.runners.worker.worker_pool_main --service_port=PORT)"
            ) from None
