"""The whole local pipeline, timed: against TFX's own Chicago-taxi example at the same number of
rows, and on its own at scale (a 1,000,000-impression month) with its stage split.

    .venv/bin/python -m benchmarks.pipeline_bench [--impressions 15000] [--only clickpipe|taxi]
        [--beam-args ARGS] [--out DIR]

Each pipeline runs in its own fresh process (cold caches) with the `LocalDagRunner`; the taxi
example is the `_create_pipeline` of `tfx/examples/chicago_taxi_pipeline/
taxi_pipeline_native_keras.py` on the 15,000-row CSV that ships in the tfx wheel, with the same
Beam args as clickpipe. clickpipe runs one fresh month of demo data (seed 0, generated before
the clock starts) from a local folder: a first run, no model in production, every component.

Peak memory is the largest total RSS of the pipeline's process tree (Beam's worker processes
included), sampled every 0.2 s. For clickpipe the benchmark also records each component's time
and the pushed model's eval AUC beside the best achievable AUC on the same rows (the
generator's ground truth). Writes OUT/pipeline_bench.json (OUT/pipeline_bench_<N>.json for a
clickpipe-only run) and prints the Markdown tables benchmarks/README.md keeps.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MONTH = "2026-09"
TAXI_ROWS = 15_000
SAMPLE_SECONDS = 0.2


def _config(work: Path, beam_args: list[str] | None):
    from pipeline.config import load_config

    pipeline = {"home": str(work / "home")}
    if beam_args is not None:
        pipeline["beam_args"] = beam_args
    return load_config().with_overrides(
        pipeline=pipeline, dataset={"source": str(work / "data"), "span": MONTH})


def _generate(work: Path, impressions: int) -> None:
    from datagen.generator import GeneratorSettings, generate

    generate(str(work / "data"), [MONTH], GeneratorSettings(impressions=impressions, seed=0))


def _run_clickpipe(work: Path, beam_args: list[str] | None) -> dict:
    from pipeline.cli.run import eval_split_limits
    from pipeline.local import summary
    from pipeline.local.runner import run_local

    config = _config(work, beam_args)
    peak_after: dict[str, int] = {}

    def on_event(node) -> None:
        if node.status != "running":
            peak_after[node.node_id] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    start = time.perf_counter()
    outcome = run_local(config, on_event=on_event)
    wall = time.perf_counter() - start
    if not outcome.succeeded:
        raise SystemExit(f"clickpipe run failed: {outcome.error} (log: {outcome.log_path})")
    result = summary.collect(config, outcome)
    limits = eval_split_limits(config, result.examples_uri, str(work / "data" / "ground_truth"))
    auc = result.metrics.get("auc", 0.0)
    return {
        "wall_s": round(wall, 1),
        "stages_s": {node: round(progress.seconds, 1) for node, progress in outcome.nodes.items()},
        "process_peak_mib_after": peak_after,
        "rows": result.rows,
        "pushed": bool(result.pushed_version),
        "auc": round(auc, 4),
        "best_auc": round(limits.get("auc", 0.0), 4),
        "auc_ratio": round(auc / limits["auc"], 3) if limits.get("auc") else None,
        "beam_args": config.pipeline.beam_args,
    }


def _run_taxi(work: Path, beam_args: list[str] | None) -> dict:
    from tfx.examples.chicago_taxi_pipeline import taxi_pipeline_native_keras as taxi
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from pipeline.config import load_config

    beam_args = load_config().pipeline.beam_args if beam_args is None else beam_args
    example_dir = Path(taxi.__file__).parent
    pipeline = taxi._create_pipeline(  # noqa: SLF001 - the example exposes no public factory
        pipeline_name="chicago_taxi_native_keras",
        pipeline_root=str(work / "root"),
        data_root=str(example_dir / "data" / "simple"),
        module_file=str(example_dir / "taxi_utils_native_keras.py"),
        serving_model_dir=str(work / "serving"),
        metadata_path=str(work / "metadata.db"),
        beam_pipeline_args=beam_args,
    )
    start = time.perf_counter()
    LocalDagRunner().run(pipeline)
    return {"wall_s": round(time.perf_counter() - start, 1), "rows": {"read": TAXI_ROWS},
            "beam_args": beam_args}


def _child(which: str, work: Path, beam_args: list[str] | None) -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = _run_clickpipe(work, beam_args) if which == "clickpipe" else _run_taxi(work, beam_args)
    print(json.dumps(result))


def _tree_rss(process) -> int:
    """Bytes resident in `process` and all its descendants now."""
    import psutil

    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def measure(which: str, impressions: int, beam_args: list[str] | None, keep: str = "") -> dict:
    """Runs one pipeline in a fresh process; its result plus peak tree RSS and load averages.
    The run's data, home and logs go to a temporary folder, or stay in `keep` when given."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{which}-") as scratch:
        work = keep or scratch
        if keep:
            Path(keep).mkdir(parents=True)  # a fresh folder: an earlier run's home would be reused
        if which == "clickpipe":
            _generate(Path(work), impressions)
        command = [sys.executable, "-m", "benchmarks.pipeline_bench", "--child", which, "--work", work]
        if beam_args is not None:
            command += ["--beam-args", " ".join(beam_args)]
        return {"pipeline": which, **run_child(command, which)}


def run_child(command: list[str], label: str) -> dict:
    """Runs a benchmark child process; the JSON object it printed last, its peak tree RSS (MiB,
    sampled every `SAMPLE_SECONDS`) and the load averages before and after."""
    import psutil

    load_before = os.getloadavg()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        process, peak = psutil.Process(child.pid), 0
        while child.poll() is None:
            with contextlib.suppress(psutil.Error):  # the child may end between two calls
                peak = max(peak, _tree_rss(process))
            time.sleep(SAMPLE_SECONDS)
        out.seek(0)
        err.seek(0)
        if child.returncode:
            raise SystemExit(f"{label} failed:\n{out.read()[-2000:]}\n{err.read()[-4000:]}")
        result = json.loads(out.read().strip().splitlines()[-1])
    return {**result, "peak_mib": round(peak / 2**20),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()]}


def table(results: dict) -> str:
    """The Markdown rows benchmarks/README.md keeps."""
    lines = ["| pipeline | rows | wall s | peak tree RSS MiB | load before -> after |", "|---|---:|---:|---:|---|"]
    for which in ("taxi", "clickpipe"):
        if which in results:
            r = results[which]
            load = f"{' '.join(map(str, r['load_before']))} -> {' '.join(map(str, r['load_after']))}"
            lines.append(f"| {which} | {r['rows']['read']:,} | {r['wall_s']} | {r['peak_mib']:,} | {load} |")
    if "wall_ratio" in results:
        lines.append(f"| **ratio clickpipe / taxi** | | **{results['wall_ratio']}x** | "
                     f"**{results['memory_ratio']}x** | |")
    if "clickpipe" in results:
        ours = results["clickpipe"]
        lines += ["", "| clickpipe stage | s | main process peak RSS after it, MiB |", "|---|---:|---:|"]
        lines += [f"| {node} | {seconds} | {ours['process_peak_mib_after'].get(node, '')} |"
                  for node, seconds in ours["stages_s"].items()]
        lines += ["", f"pushed: {ours['pushed']}; eval AUC {ours['auc']} vs best achievable "
                  f"{ours['best_auc']} = **{ours['auc_ratio']}x**; Beam args "
                  f"`{' '.join(ours['beam_args'])}`"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impressions", type=int, default=TAXI_ROWS,
                        help=f"clickpipe demo rows, one month (default {TAXI_ROWS:,}: the taxi example's)")
    parser.add_argument("--only", choices=("clickpipe", "taxi"), help="run one pipeline, no ratio")
    parser.add_argument("--beam-args", help="Beam args for both pipelines, space-separated "
                        "(default: clickpipe's pipeline.beam_args)")
    parser.add_argument("--out", default="benchmarks/results", help="folder for the JSON results")
    parser.add_argument("--keep", default="", help="keep each run's data, home and logs in KEEP/<pipeline>")
    parser.add_argument("--child", choices=("clickpipe", "taxi"), help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    beam_args = args.beam_args.split() if args.beam_args is not None else None
    if args.child:
        _child(args.child, Path(args.work), beam_args)
        return 0
    results: dict = {}
    for which in ("taxi", "clickpipe"):
        if args.only in (None, which):
            keep = str(Path(args.keep) / which) if args.keep else ""
            results[which] = measure(which, args.impressions, beam_args, keep)
    if len(results) == 2:
        results["wall_ratio"] = round(results["clickpipe"]["wall_s"] / results["taxi"]["wall_s"], 2)
        results["memory_ratio"] = round(results["clickpipe"]["peak_mib"] / results["taxi"]["peak_mib"], 2)
    name = "pipeline_bench.json" if not args.only else f"pipeline_bench_{args.only}_{args.impressions}.json"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / name).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
