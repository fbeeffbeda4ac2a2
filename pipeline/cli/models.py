"""`clickpipe models list|rollback` and `clickpipe report`."""

from __future__ import annotations

import argparse
import contextlib
import getpass
from datetime import datetime, timezone
from pathlib import Path

from pipeline.cli.common import EXIT_OK, UserError, command_log, prepare_tensorflow, quiet_libraries
from pipeline.config import ClickpipeConfig, load_config


def register(commands, group) -> None:
    """Adds the `models` group and `report`."""
    models = group("models", "Pushed model versions: list them, roll back to an earlier one.")
    listing = models.add_parser(
        "list",
        help="Show pushed versions with span, run, key metrics and blessing.",
        description="Lists the versions under the serving model base path, newest first; the one "
        "TF Serving serves (the highest) is marked with *.",
    )
    _common(listing)
    listing.set_defaults(handler=_list)

    rollback = models.add_parser(
        "rollback",
        help="Serve an earlier version again.",
        description="Re-pushes VERSION's files as a new highest version (TF Serving picks it up "
        "on its next poll); the new version's record says which version it rolls back to.",
    )
    rollback.add_argument("version", type=int, metavar="VERSION", help="the pushed version to serve again")
    _common(rollback)
    rollback.set_defaults(handler=_rollback)

    report = commands.add_parser(
        "report",
        help="Compare two SavedModels on a span with the gate and write the HTML report.",
        description="Scores a candidate and a baseline model (by default the model in production) "
        "on the span's eval examples with the pipeline's gate (paired intervals per slice, "
        "results in TFMA's format) and writes the same comparison report a pipeline run makes.",
    )
    report.add_argument(
        "--candidate", required=True, help="SavedModel folder, Model artifact folder, or pushed version"
    )
    report.add_argument(
        "--baseline",
        help="as --candidate; default: the model in production; 'none' for absolute thresholds only",
    )
    report.add_argument(
        "--data",
        required=True,
        help="a span such as 2026-10 (from ML Metadata), an Examples folder, or a TFRecord glob",
    )
    report.add_argument("--output", help="output folder (default: <pipeline home>/reports/<time>)")
    _common(report)
    report.set_defaults(handler=_report)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="config TOML (default: the built-in ad-click config)")
    parser.add_argument("--home", help="pipeline home folder (overrides pipeline.home)")
    parser.add_argument("--model-base-path", help="serving model base path (overrides serving.model_base_path)")


def _config(args: argparse.Namespace) -> ClickpipeConfig:
    return load_config(args.config).with_flags(
        {
            "--home": ("pipeline.home", args.home),
            "--model-base-path": ("serving.model_base_path", args.model_base_path),
        }
    )


def _quiet(config: ClickpipeConfig):
    return quiet_libraries(command_log(config.pipeline.home, "models"))


def _list(args: argparse.Namespace) -> int:
    from components.push_records import RecordError
    from pipeline import models

    config = _config(args)
    # A local folder is read without TensorFlow; a bucket is read through it, noise to the log.
    remote = "://" in config.model_base_path
    with _quiet(config) if remote else contextlib.nullcontext():
        try:
            table = models.table(config.model_base_path)
        except RecordError as exc:
            raise UserError(str(exc)) from None
    print(table)
    return EXIT_OK


def _rollback(args: argparse.Namespace) -> int:
    from pipeline import models

    config = _config(args)
    with _quiet(config):
        try:
            record = models.rollback(config.model_base_path, args.version, who=f"cli:{getpass.getuser()}")
        except models.ModelsError as exc:
            raise UserError(str(exc)) from None
    print(f"clickpipe: version {args.version} is served again as version {record.version} ({record.path})")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    # The models are tf_keras SavedModels, as TFX 1.16 requires; quiet TF's C++ logs before TF loads.
    prepare_tensorflow()
    from pipeline.local.runner import logs_to_file

    config = _config(args)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    output = args.output or str(Path(config.pipeline.reports_dir) / f"report-{stamp}")
    log_path = Path(config.pipeline.logs_dir) / f"report-{stamp}.log"
    # TF logs a lot: it goes to a file, the terminal gets the verdict.
    with logs_to_file(log_path) as terminal:
        from pipeline import blessing, models

        candidate, baseline, data = _report_inputs(args, config)
        against = baseline or "no baseline (absolute thresholds only)"
        print(f"clickpipe: evaluating {candidate} against {against} on {data.pattern}", file=terminal, flush=True)
        try:
            path = models.make_report(config, candidate, baseline, data, output)
        except models.ModelsError as exc:
            raise UserError(str(exc)) from None
        evaluation = str(Path(output) / "evaluation")
        verdict, failures = blessing.headline(evaluation), blessing.explain(evaluation)
    print(f"  verdict  {verdict}")
    for failure in failures:
        print(f"           {failure}")
    print(f"  report   {path}")
    print(f"  log      {log_path}")
    return EXIT_OK


def _report_inputs(args: argparse.Namespace, config: ClickpipeConfig):
    """Candidate and baseline SavedModel folders and the eval data named on the command line."""
    from components import push_records
    from pipeline import models

    base = config.model_base_path
    try:
        candidate = models.resolve_model(args.candidate, base)
        if args.baseline == "none":
            baseline = None
        elif args.baseline:
            baseline = models.resolve_model(args.baseline, base)
        else:
            production = push_records.latest_pushed(base)
            baseline = production.path if production else None
        data = models.resolve_data(args.data, config.pipeline.metadata_path)
    except (models.ModelsError, push_records.RecordError) as exc:
        raise UserError(str(exc)) from None
    return candidate, baseline, data
