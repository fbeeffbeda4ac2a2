"""`clickpipe schema infer SPAN` (a schema proposal) and `clickpipe monitor` (serving skew)."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from components import artifacts
from components.spans import is_month, span_of_month
from pipeline.cli.common import EXIT_OK, UserError, command_log, quiet_libraries
from pipeline.config import ClickpipeConfig, load_config

# `clickpipe monitor` found anomalies or skew beyond a threshold: a scheduler should alert.
EXIT_ALERT = 4
STATISTICS_TYPE = "ExampleStatistics"


def register(commands, group) -> None:
    """Adds `schema infer` and `monitor`."""
    schema = group("schema", "The curated data schema: propose one from a span's statistics.")
    infer = schema.add_parser(
        "infer",
        help="Write a schema proposal from the statistics of a span.",
        description="Infers a schema from the statistics of SPAN (from --statistics, else the "
        "newest ComputeStatistics output for that span in the local ML Metadata, else the "
        "statistics store, else computed now by ingesting the span as a run would), shapes it "
        "with the config's feature registry, writes it as a "
        "commented text proto and lists how it differs from the curated schema. Review it, then "
        "check it in as pipeline/schema/schema.pbtxt or point validation.schema_file at it.",
    )
    infer.add_argument("span", help="the month whose statistics to use, e.g. 2026-10")
    infer.add_argument("--config", help="config TOML (default: the built-in ad-click config)")
    infer.add_argument("--home", help="pipeline home folder (overrides pipeline.home)")
    infer.add_argument(
        "--statistics", help="a statistics artifact folder (with Split-*/FeatureStats.pb), local or gs://"
    )
    infer.add_argument("--out", help="where to write the proposal (default: <home>/schema/proposal-SPAN.pbtxt)")
    infer.set_defaults(handler=_infer)

    monitor = commands.add_parser(
        "monitor",
        help="Compare logged serving requests with a training span (training/serving skew).",
        description="Computes statistics of the logged requests under --requests (tf.Example "
        "TFRecords as `clickpipe serve --request_log_dir` writes them, or JSONL of raw feature "
        "dicts), validates them against the curated schema's SERVING environment and compares "
        "them with the validated statistics of the training span (L-infinity for categorical "
        "and text features, Jensen-Shannon for numeric ones). Writes an HTML report. Exit codes: "
        f"0 no problem, {EXIT_ALERT} anomalies or skew beyond a threshold (alert), 1 failed.",
    )
    monitor.add_argument("--requests", required=True, help="folder of logged requests (local or gs://)")
    monitor.add_argument("--span", required=True, help="the training span to compare with, e.g. 2026-10")
    monitor.add_argument("--config", help="config TOML (default: the built-in ad-click config)")
    monitor.add_argument("--home", help="pipeline home folder (overrides pipeline.home)")
    monitor.add_argument("--store", help="statistics store root (overrides validation.store)")
    monitor.add_argument("--out", help="report folder (default: <store>/reports/SPAN/serving-<UTC time>)")
    monitor.set_defaults(handler=_monitor)


def _config(args: argparse.Namespace, span_flag: str) -> ClickpipeConfig:
    if not is_month(args.span):
        raise UserError(f"{span_flag} {args.span!r}: use a month like 2026-10")
    return load_config(args.config).with_flags({"--home": ("pipeline.home", args.home)})


def _statistics_from_metadata(config: ClickpipeConfig, span: int) -> str:
    """The URI of the newest ExampleStatistics of `span` in the local ML Metadata, or ""."""
    if not Path(config.pipeline.metadata_path).is_file():
        return ""
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.local import metadata

    store = metadata.open_store(config.pipeline.metadata_path)
    live = metadata_store_pb2.Artifact.LIVE
    matching = [
        artifact
        for artifact in store.get_artifacts_by_type(STATISTICS_TYPE)
        if artifact.state == live
        and artifact.properties[artifacts.SPAN].int_value == span
        and Path(artifact.uri).is_dir()
    ]
    return max(matching, key=lambda a: a.id).uri if matching else ""


def _load_statistics(args: argparse.Namespace, config: ClickpipeConfig) -> tuple[dict, str]:
    import tensorflow as tf

    from components.validate.store import StatisticsStore, load_split_statistics
    from pipeline.validation import store_root

    if args.statistics:
        if not tf.io.gfile.isdir(args.statistics):
            raise UserError(f"--statistics {args.statistics} is not a folder")
        splits = sorted(
            name.rstrip("/").removeprefix("Split-")
            for name in tf.io.gfile.listdir(args.statistics)
            if name.startswith("Split-")
        )
        if not splits:
            raise UserError(f"--statistics {args.statistics} holds no Split-*/FeatureStats.pb")
        return load_split_statistics(args.statistics, splits), args.statistics
    uri = _statistics_from_metadata(config, span_of_month(args.span))
    store = StatisticsStore(store_root(config, config.pipeline.pipeline_root))
    if not uri and args.span in store.months():
        return store.load(args.span), store.month_dir(args.span)
    uri = uri or _compute_statistics(config, args.span)
    splits = sorted(p.name.removeprefix("Split-") for p in Path(uri).glob("Split-*"))
    return load_split_statistics(uri, splits), uri


def _compute_statistics(config: ClickpipeConfig, span: str) -> str:
    """Ingests the span and computes its statistics (a run's first two steps, which need no
    schema), so a new dataset gets its first schema without a failing run; the next run on the
    span takes the ingestion from the cache. Returns the statistics artifact's folder."""
    from components.ingest.span_selection import SpanError
    from pipeline.local.preflight import PreflightError
    from pipeline.local.runner import HomeInUse, run_local

    print(f"clickpipe: no statistics of span {span} yet: ingesting it and computing them", flush=True)
    try:
        outcome = run_local(config.with_overrides(dataset={"span": span}), statistics_only=True)
    except (SpanError, PreflightError, HomeInUse) as exc:
        raise UserError(str(exc)) from None
    if not outcome.succeeded:
        raise UserError(
            f"the statistics of span {span} failed in {outcome.failed_node or 'the pipeline'}: {outcome.error}\n"
            f"  log: {outcome.log_path}"
        )
    return _statistics_from_metadata(config, span_of_month(span))


def _infer(args: argparse.Namespace) -> int:
    config = _config(args, "SPAN")
    with quiet_libraries(command_log(config.pipeline.home, "schema")):
        return _propose(args, config)


def _propose(args: argparse.Namespace, config: ClickpipeConfig) -> int:
    from components.validate import proposal
    from components.validate.store import read_schema
    from pipeline.validation import schema_file

    statistics, source = _load_statistics(args, config)
    proposed = proposal.propose_schema(statistics, config.registry())
    out = Path(args.out or Path(config.pipeline.home) / "schema" / f"proposal-{args.span}.pbtxt")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(proposal.schema_text(proposed, args.span))
    print(f"clickpipe: schema proposal from {source} written to {out}")
    curated_path = schema_file(config)
    try:
        curated = read_schema(curated_path)
    except Exception as exc:  # noqa: BLE001 - a missing or broken curated schema is only reported
        print(f"  (cannot read the curated schema {curated_path} to compare: {exc})")
        return EXIT_OK
    changes = proposal.compare(proposed, curated)
    print(f"  against {curated_path}: " + ("no feature, type or domain change" if not changes else ""))
    for change in changes:
        print(f"    {change}")
    print(f"  review it, then set validation.schema_file = \"{out}\" in your config (or check it in)")
    return EXIT_OK


def _monitor(args: argparse.Namespace) -> int:
    config = _config(args, "--span")
    with quiet_libraries(command_log(config.pipeline.home, "monitor")):
        return _compare_requests(args, config)


def _compare_requests(args: argparse.Namespace, config: ClickpipeConfig) -> int:
    from components.validate import checks, report
    from components.validate.comparators import DRIFT_SPLIT
    from components.validate.requests import RequestLogError, request_statistics
    from components.validate.store import StatisticsStore, read_schema
    from pipeline.validation import schema_file, skew_comparators, store_root

    store = StatisticsStore(args.store or store_root(config, config.pipeline.pipeline_root))
    try:
        training = store.load(args.span)[DRIFT_SPLIT]
    except (FileNotFoundError, KeyError):
        raise UserError(
            f"no validated {DRIFT_SPLIT} statistics of span {args.span} in {store.root}: run the "
            f"pipeline on {args.span} first, or pass --store"
        ) from None
    schema = read_schema(schema_file(config))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = (args.out or f"{store.report_dir(args.span)}/serving-{stamp}").rstrip("/")
    print(f"clickpipe: statistics of the requests under {args.requests}", flush=True)
    try:
        serving, conversion, files = request_statistics(args.requests, schema, out, config.pipeline.beam_args)
    except RequestLogError as exc:
        raise UserError(str(exc)) from None
    verdict = checks.validate_serving(args.span, training, serving, schema, skew_comparators(config))
    verdict.notes.append(
        f"{serving.datasets[0].num_examples} requests from {len(files.tfrecords)} TFRecord and "
        f"{len(files.jsonl)} JSONL file(s)"
    )
    if conversion.quarantined:
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(conversion.quarantined.items()))
        verdict.notes.append(f"JSONL lines quarantined ({reasons}): {out}/quarantine.jsonl")
    datasets = [("serving requests", serving.datasets[0]), (f"{args.span} {DRIFT_SPLIT}", training.datasets[0])]
    report.write_text(
        f"{out}/{report.STATISTICS_PAGE}",
        report.statistics_page(f"Serving requests vs span {args.span}", [("Requests", datasets)]),
    )
    report.write_text(
        f"{out}/{report.ANOMALIES_PAGE}",
        report.verdict_page(f"Serving skew vs span {args.span}", verdict),
    )
    print(checks.summary(verdict, f"{out}/{report.ANOMALIES_PAGE}", subject=f"serving requests vs span {args.span}"))
    for note in verdict.notes:
        print(f"  {note}")
    return EXIT_OK if verdict.passed else EXIT_ALERT
