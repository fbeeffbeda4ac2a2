"""`clickpipe run` (one pipeline run) and `clickpipe demo` (the main job)."""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

from pipeline.cli.common import EXIT_FAILED, EXIT_NOT_BLESSED, EXIT_OK, UserError, invocation, prepare_tensorflow
from pipeline.config import ClickpipeConfig, load_config

DEMO_MONTHS = ("2026-09", "2026-10")
DEMO_BUCKET = "gs://clickpipe-demo/ads"


def register(commands, group) -> None:
    """Adds `run` and `demo`."""
    run = commands.add_parser(
        "run",
        help="Run the pipeline once on one span (LocalDagRunner).",
        description="Ingest a span, validate, transform, train, evaluate against the model in "
        "production and push when blessed. Exit codes: 0 pushed, 3 completed but not blessed, "
        "1 failed.",
    )
    run.add_argument("--config", help="config TOML (default: the built-in ad-click config)")
    run.add_argument("--span", help="'latest' or a month such as 2026-10 (overrides dataset.span)")
    run.add_argument("--source", help="gs://BUCKET/PREFIX or a folder (overrides dataset.source)")
    run.add_argument("--home", help="pipeline home folder (overrides pipeline.home)")
    run.add_argument(
        "--ground-truth", help="the generator's ground_truth folder, to show the best achievable metrics"
    )
    run.set_defaults(handler=_run)

    demo = commands.add_parser(
        "demo",
        help="The main job: generate two months of demo data, run month 1, then month 2.",
        description="Generates two monthly spans of demo impressions if absent, uploads them to a "
        "local GCS emulator, runs the pipeline on month 1 and then on month 2 (evaluated "
        "against the model pushed from month 1), and prints where everything is.",
    )
    demo.add_argument("--data", default="demo-data", help="demo data folder (default: demo-data)")
    demo.add_argument("--home", default="clickpipe-home", help="pipeline home (default: clickpipe-home)")
    demo.add_argument("--impressions", type=int, default=100_000, help="impressions per month")
    demo.add_argument(
        "--no-emulator",
        action="store_true",
        help="read the demo folder directly instead of through the GCS emulator",
    )
    demo.set_defaults(handler=_demo)


def _prepare_environment() -> None:
    # TFX 1.16 trainers need tf_keras; quiet TensorFlow's C++ logs before TF is imported.
    prepare_tensorflow()
    # Google's clients warn on every import that Python 3.10 is old; TFX 1.16 needs it.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")


def run_and_report(config: ClickpipeConfig, ground_truth: str | None) -> int:
    """Runs the pipeline once, prints the summary, returns the exit code."""
    _prepare_environment()
    from components.ingest.span_selection import SpanError
    from pipeline.local import summary
    from pipeline.local.preflight import PreflightError
    from pipeline.local.runner import HomeInUse, run_local

    print(f"clickpipe: running {config.pipeline.name} on {config.dataset.source} (span {config.dataset.span})")
    started = time.monotonic()
    try:
        outcome = run_local(config)
    except (SpanError, PreflightError, HomeInUse) as exc:
        raise UserError(str(exc)) from None
    result = summary.collect(config, outcome)
    result.seconds = time.monotonic() - started
    if ground_truth and result.examples_uri:
        result.limits = eval_split_limits(config, result.examples_uri, ground_truth)
    print(summary.render(result), flush=True)
    codes = {"failed": EXIT_FAILED, "not-blessed": EXIT_NOT_BLESSED, "pushed": EXIT_OK, "already-serving": EXIT_OK}
    return codes[result.exit_state]


def eval_split_limits(config: ClickpipeConfig, examples_uri: str, ground_truth_dir: str) -> dict[str, float]:
    """Best achievable AUC and log-loss on the eval split, from the generator's ground truth, and
    the best achievable AUC on its new-values rows (`new_auc`, e.g. new ads) when judgeable."""
    import tensorflow as tf

    from components.evaluate.scoring import distinct_values
    from datagen.limits import best_achievable, read_ground_truth

    truth = read_ground_truth(ground_truth_dir)
    id_key, label_key = config.dataset.example_id, config.dataset.label
    column = config.evaluation.new_column
    probabilities, labels, values = [], [], []
    files = tf.io.gfile.glob(str(Path(examples_uri) / "Split-eval" / "*"))
    spec = {id_key: tf.io.FixedLenFeature([], tf.string), label_key: tf.io.FixedLenFeature([], tf.int64)}
    if column:
        spec[column] = tf.io.FixedLenFeature([], tf.string)
    for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096):
        parsed = {name: tensor.numpy() for name, tensor in tf.io.parse_example(batch, spec).items()}
        for i, impression in enumerate(parsed[id_key]):
            if (probability := truth.get(impression.decode())) is not None:
                probabilities.append(probability)
                labels.append(int(parsed[label_key][i]))
                values.append(parsed[column][i].decode() if column else "")
    if not labels:
        return {}
    limits = best_achievable(probabilities, labels)
    if column:
        known = distinct_values(str(Path(examples_uri) / "Split-train" / "*"), column, "bytes")
        new = [i for i, value in enumerate(values) if value not in known]
        new_labels = [labels[i] for i in new]
        if 0 < sum(new_labels) < len(new_labels):
            limits["new_auc"] = best_achievable([probabilities[i] for i in new], new_labels)["auc"]
    return limits


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config).with_flags(
        {
            "--span": ("dataset.span", args.span),
            "--source": ("dataset.source", args.source),
            "--home": ("pipeline.home", args.home),
        }
    )
    return run_and_report(config, args.ground_truth)


def _demo(args: argparse.Namespace) -> int:
    _prepare_environment()
    from datagen.generator import GeneratorSettings, generate

    data = Path(args.data)
    if not (data / "impressions" / DEMO_MONTHS[-1]).is_dir():
        print(f"clickpipe: generating demo data for {', '.join(DEMO_MONTHS)} in {data}/", flush=True)
        generate(str(data), list(DEMO_MONTHS), GeneratorSettings(impressions=args.impressions))
    else:
        summary = data / "ground_truth" / DEMO_MONTHS[-1] / "summary.json"
        rows = json.loads(summary.read_text())["rows"] if summary.is_file() else "an unknown number of"
        print(f"clickpipe: using the demo data already in {data}/ ({rows} impressions a month; "
              "remove the folder to generate it anew)", flush=True)
    config = load_config().with_flags({"--home": ("pipeline.home", args.home)})
    codes = []
    if args.no_emulator:
        source = str(data.resolve())
        for month in DEMO_MONTHS:
            codes.append(_demo_month(config, source, month, data))
    else:
        from pipeline.local.gcs import emulator, upload_dir

        with emulator() as host:
            print(f"clickpipe: GCS emulator on {host}; uploading {data}/ to {DEMO_BUCKET}", flush=True)
            upload_dir(str(data), DEMO_BUCKET)
            for month in DEMO_MONTHS:
                codes.append(_demo_month(config, DEMO_BUCKET, month, data))
    print("\nWhere things are:")
    print(f"  models    {config.model_base_path}/<version>/")
    serving = config.serving
    command = invocation()
    print(f"  serve     {command} serve --model_name {serving.model_name} --model_base_path {config.model_base_path}")
    print(f"  list      {command} models list --home {config.pipeline.home}")
    print(f"  metadata  {config.pipeline.metadata_path}")
    print(f"  logs      {config.pipeline.logs_dir}/")
    print(f"  reports   {Path(config.pipeline.pipeline_root) / 'CompareModels'}/")
    if command.endswith("bin/clickpipe"):
        print(f"  (after `source {Path(command).parent}/activate` the command is just `clickpipe`)")
    return EXIT_FAILED if EXIT_FAILED in codes else EXIT_OK


def _demo_month(config: ClickpipeConfig, source: str, month: str, data: Path) -> int:
    print(f"\n== month {month} ==", flush=True)
    month_config = config.with_overrides(dataset={"source": source, "span": month})
    return run_and_report(month_config, str(data / "ground_truth"))
