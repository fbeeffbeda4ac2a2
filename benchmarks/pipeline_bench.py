"""Full local pipeline vs TFX's own Chicago-taxi example, timed in the same run.

    .venv/bin/python -m benchmarks.pipeline_bench [--impressions 20000] [--out DIR]

Each pipeline runs in its own fresh process (cold caches, its own peak memory) with the
LocalDagRunner and the same Beam settings; the taxi example is the `_create_pipeline` of
`tfx/examples/chicago_taxi_pipeline/taxi_pipeline_native_keras.py` on the 15k-row CSV that
ships in the tfx wheel. Prints wall time and peak RSS of each and their ratio, and writes them
to OUT/pipeline_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MONTH = "2026-09"
BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _run_clickpipe(work: Path, impressions: int) -> None:
    from datagen.generator import GeneratorSettings, generate
    from pipeline.config import load_config
    from pipeline.local.runner import run_local

    data = work / "data"
    generate(str(data), [MONTH], GeneratorSettings(impressions=impressions, seed=0))
    config = load_config().with_overrides(
        pipeline={"home": str(work / "home"), "beam_args": BEAM_ARGS},
        dataset={"source": str(data), "span": MONTH},
    )
    outcome = run_local(config, on_event=lambda node: None)
    if not outcome.succeeded:
        raise SystemExit(f"clickpipe run failed: {outcome.error} (log: {outcome.log_path})")


def _run_taxi(work: Path) -> None:
    from tfx import v1 as tfx
    from tfx.examples.chicago_taxi_pipeline import taxi_pipeline_native_keras as taxi

    example_dir = Path(taxi.__file__).parent
    pipeline = taxi._create_pipeline(  # noqa: SLF001 - the example exposes no public factory
        pipeline_name="chicago_taxi_native_keras",
        pipeline_root=str(work / "root"),
        data_root=str(example_dir / "data" / "simple"),
        module_file=str(example_dir / "taxi_utils_native_keras.py"),
        serving_model_dir=str(work / "serving"),
        metadata_path=str(work / "metadata.db"),
        beam_pipeline_args=BEAM_ARGS,
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)


def _child(which: str, work: Path, impressions: int) -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    if which == "clickpipe":
        _run_clickpipe(work, impressions)
    else:
        _run_taxi(work)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_kib = max(peak_kib, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"pipeline": which, "wall_s": round(wall, 1), "peak_mib": round(peak_kib / 1024)}))


def _measure(which: str, impressions: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-{which}-") as work:
        command = [sys.executable, "-m", "benchmarks.pipeline_bench", "--child", which,
                   "--work", work, "--impressions", str(impressions)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"{which} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impressions", type=int, default=20000, help="clickpipe demo rows (one month)")
    parser.add_argument("--out", default="benchmarks/results", help="folder for pipeline_bench.json")
    parser.add_argument("--child", choices=("clickpipe", "taxi"), help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, Path(args.work), args.impressions)
        return
    taxi = _measure("taxi", args.impressions)
    ours = _measure("clickpipe", args.impressions)
    result = {
        "taxi": taxi,
        "clickpipe": {**ours, "impressions": args.impressions},
        "wall_ratio": round(ours["wall_s"] / taxi["wall_s"], 2),
        "memory_ratio": round(ours["peak_mib"] / taxi["peak_mib"], 2),
    }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "pipeline_bench.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'pipeline':<12}{'rows':>8}{'wall s':>9}{'peak MiB':>10}")
    print(f"{'taxi':<12}{15000:>8}{taxi['wall_s']:>9}{taxi['peak_mib']:>10}")
    print(f"{'clickpipe':<12}{args.impressions:>8}{ours['wall_s']:>9}{ours['peak_mib']:>10}")
    print(f"ratio clickpipe/taxi: wall {result['wall_ratio']}x, peak memory {result['memory_ratio']}x")


if __name__ == "__main__":
    main()
