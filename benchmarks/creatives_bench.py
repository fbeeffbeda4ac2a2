"""Creatives at scale: the same month with 64 px PNG icons and with 300x250 JPEG banners, end to end;
and fetching many distinct creatives from a GCS emulator that answers in 30 ms, one by one and in
parallel.

    .venv/bin/python -m benchmarks.creatives_bench [--impressions 30000] [--ads 5000]
        [--data DIR] [--out DIR] [--keep DIR] [--rounds 1]
    .venv/bin/python -m benchmarks.creatives_bench --prepare [--impressions N] [--ads N] [--rounds 2]
    .venv/bin/python -m benchmarks.creatives_bench --fetch 20000 [--latency-ms 30] [--workers 32]

Both worlds are the generator's with the same seed, ads and impressions (byte-identical CSVs);
only the creatives differ: `icons` are 64x64 PNGs with flat fills, `banners` 300x250 JPEGs
with a photo-like texture (~20 KB). Data is generated into DIR/<impressions>-<ads>/<world> before
any clock starts (and reused when already there). Each world then runs, in a fresh process,
the whole local pipeline on one month (`benchmarks.pipeline_bench.measure`'s child: a first
run, every component, default config and Beam args, the image feature's `uri_template`
pointed at the world's files), one world after the other in the same sitting.

Reported per world: raw examples stored by IngestImpressions (bytes of its Examples artifact),
each stage's seconds and the bytes its outputs wrote, the whole run, the peak RSS of the
process tree, the eval AUC against the generator's best achievable, and the banners / icons
ratios. Writes OUT/creatives_bench_<impressions>.json and prints the tables kept in
benchmarks/README.md.

`--rounds 2` runs the pair twice, icons, banners, banners, icons (ABBA), so that a load that
drifts through the sitting weighs on both worlds alike, and prints every run's times, each world's
sums and their ratio, whole run and per stage, as well (a stage moves by 10-25% between runs on
this machine; one run per world cannot tell 1.15x from 1.24x). The main tables show each world's first run.

`--prepare` times only ingestion's creative preparation (read, hash, header check, each distinct
content decoded once to the model's input; `prepare_creatives` on local files) per creative in
both worlds, ABBA (`--rounds`, at least 2); writes OUT/creatives_prepare_<impressions>.json.

`--fetch N` uploads N distinct creatives (taken from the icons world's, generated if needed) to
the emulator behind `pipeline.local.latency`'s proxy, then times `fetch_in_order` over all N
with `--workers` in flight, and one at a time over a sample (`--sequential-sample`, default
1,000: the sequential time is linear in N, so the full 20,000 would take ten minutes to say the
same); writes OUT/creatives_fetch_<N>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

MONTH = "2026-09"
WORLDS = ("icons", "banners")


def world_settings(world: str, impressions: int, ads: int):
    """The generator's settings of one world: same seed, ads and impressions, other creatives."""
    from datagen.settings import GeneratorSettings

    base = GeneratorSettings(impressions=impressions, seed=0, n_ads=ads,
                             n_campaigns=max(GeneratorSettings.n_campaigns, ads // 10))
    if world == "icons":
        return base
    return replace(base, creative_size=300, creative_height=250, creative_format="jpeg",
                   creative_texture="photo")


def generate_world(data: Path, world: str, impressions: int, ads: int) -> Path:
    """DATA/<impressions>-<ads>/<world>, generated unless a finished one is there already."""
    from datagen.generator import generate

    folder = data / f"{impressions}-{ads}" / world
    done = folder / "generated.json"
    if not done.exists():
        start = time.perf_counter()
        summary = generate(str(folder), [MONTH], world_settings(world, impressions, ads), workers=os.cpu_count() or 1)
        done.write_text(json.dumps({"seconds": round(time.perf_counter() - start, 1),
                                    "creatives": summary.creatives_written}) + "\n")
    return folder


def folder_bytes(folder: Path) -> int:
    """Bytes of every file below `folder`."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def uri_template(world: str) -> str:
    """Where a world's creatives are, as the image feature's `uri_template`."""
    return "creatives/{ad_id}.jpg" if world == "banners" else "creatives/{ad_id}.png"


def _config(data: Path, home: Path, world: str):
    from pipeline.config import load_config

    config = load_config()
    features = [
        {**feature, "uri_template": uri_template(world)} if feature["kind"] == "image" else feature
        for feature in config.model_dump()["dataset"]["features"]
    ]
    return config.with_overrides(pipeline={"home": str(home)},
                                 dataset={"source": str(data), "span": MONTH, "features": features})


def _child(data: Path, home: Path, world: str) -> None:
    """Runs the pipeline on one world and prints its figures as one JSON line."""
    from pipeline.cli.run import eval_split_limits
    from pipeline.local import summary
    from pipeline.local.runner import run_local

    config = _config(data, home, world)
    start = time.perf_counter()
    outcome = run_local(config)
    wall = time.perf_counter() - start
    if not outcome.succeeded:
        raise SystemExit(f"{world} run failed: {outcome.error} (log: {outcome.log_path})")
    result = summary.collect(config, outcome)
    limits = eval_split_limits(config, result.examples_uri, str(data / "ground_truth"))
    root = Path(config.pipeline.pipeline_root)
    written = {node.name: folder_bytes(node) for node in sorted(root.iterdir()) if node.is_dir()}
    auc = result.metrics.get("auc", 0.0)
    print(json.dumps({
        "wall_s": round(wall, 1),
        "stages_s": {node: round(progress.seconds, 1) for node, progress in outcome.nodes.items()},
        "bytes_written": written,
        "raw_examples_bytes": folder_bytes(Path(result.examples_uri)),
        "rows": result.rows,
        "auc": round(auc, 4),
        "best_auc": round(limits.get("auc", 0.0), 4),
        "auc_ratio": round(auc / limits["auc"], 3) if limits.get("auc") else None,
    }))


def measure_world(data: Path, world: str, keep: str = "") -> dict:
    """One world's pipeline in a fresh process: its figures, peak tree RSS and load averages."""
    from benchmarks.pipeline_bench import run_child

    with tempfile.TemporaryDirectory(prefix=f"creatives-{world}-") as scratch:
        home = Path(keep) / world if keep else Path(scratch)
        command = [sys.executable, "-m", "benchmarks.creatives_bench", "--child", world,
                   "--work", str(data), "--home", str(home)]
        return {"world": world, **run_child(command, world)}


def table(results: dict) -> str:
    """The Markdown tables benchmarks/README.md keeps."""
    icons, banners = results["icons"], results["banners"]

    def ratio(a, b):
        return f"**{b / a:.2f}x**" if a else ""

    def row(label, a, b, unit=""):
        return f"| {label} | {a:,}{unit} | {b:,}{unit} | {ratio(a, b)} |"

    lines = [
        f"| {results['impressions']:,} impressions, {results['creatives']:,} distinct creatives | "
        "64 px PNG icons | 300x250 JPEG banners | ratio |",
        "|---|---:|---:|---:|",
        f"| creative files | {results['creative_bytes']['icons'] / 1e6:,.1f} MB | "
        f"{results['creative_bytes']['banners'] / 1e6:,.1f} MB | "
        f"{ratio(results['creative_bytes']['icons'], results['creative_bytes']['banners'])} |",
        row("raw examples stored by IngestImpressions, MB", round(icons["raw_examples_bytes"] / 1e6, 1),
            round(banners["raw_examples_bytes"] / 1e6, 1)),
    ]
    for stage in icons["stages_s"]:
        if stage in ("IngestImpressions", "ComputeStatistics", "TransformFeatures", "TrainModel", "EvaluateModel"):
            lines.append(row(f"{stage} s", icons["stages_s"][stage], banners["stages_s"].get(stage, 0)))
    lines += [
        row("whole run s", icons["wall_s"], banners["wall_s"]),
        row("peak RSS (process tree) MiB", icons["peak_mib"], banners["peak_mib"]),
        f"| eval AUC / best achievable | {icons['auc']} / {icons['best_auc']} = {icons['auc_ratio']}x | "
        f"{banners['auc']} / {banners['best_auc']} = {banners['auc_ratio']}x | |",
        f"| load before -> after | {' '.join(map(str, icons['load_before']))} -> "
        f"{' '.join(map(str, icons['load_after']))} | {' '.join(map(str, banners['load_before']))} -> "
        f"{' '.join(map(str, banners['load_after']))} | |",
        "",
        "| bytes written per stage, MB | icons | banners |",
        "|---|---:|---:|",
    ]
    for stage, size in icons["bytes_written"].items():
        lines.append(f"| {stage} | {size / 1e6:,.1f} | {banners['bytes_written'].get(stage, 0) / 1e6:,.1f} |")
    return "\n".join(lines)


def run_order(rounds: int) -> list[str]:
    """The worlds in the order they run: icons, banners, then banners, icons, and so on (ABBA),
    so that a load drifting through the sitting weighs on both worlds alike."""
    return [world for number in range(rounds) for world in (WORLDS if number % 2 == 0 else WORLDS[::-1])]


def runs_table(runs: list[dict]) -> str:
    """Every run's whole time and stages in order, each world's sums, and the ratio of the worlds'
    summed times, whole and per stage."""
    stages = ("IngestImpressions", "ComputeStatistics", "TransformFeatures", "TrainModel", "EvaluateModel")

    def cells(run: dict) -> list[float]:
        return [run["wall_s"], *(run["stages_s"].get(stage, 0) for stage in stages)]

    def row(first: str, second: str, values) -> str:
        return f"| {first} | {second} | {' | '.join(values)} |"

    lines = [f"| run | world | whole run s | {' | '.join(f'{stage} s' for stage in stages)} |",
             "|---:|---|---:|" + "---:|" * len(stages)]
    lines += [row(str(number), run["world"], (f"{value:,}" for value in cells(run)))
              for number, run in enumerate(runs, 1)]
    by_world = {world: [cells(run) for run in runs if run["world"] == world] for world in WORLDS}
    summed = {world: [round(sum(column), 1) for column in zip(*rows, strict=True)] for world, rows in by_world.items()}
    lines += [row("sum", world, (f"{value:,}" for value in summed[world])) for world in WORLDS]
    pairs = zip(summed["icons"], summed["banners"], strict=True)
    lines.append(row("ratio", "banners / icons", (f"{b / i:.2f}x" if i else "" for i, b in pairs)))
    total = {world: summed[world][0] for world in WORLDS}
    lines += ["", f"banners / icons, summed over every run: {total['banners']:,.1f} / {total['icons']:,.1f} s = "
              f"**{total['banners'] / total['icons']:.2f}x**"]
    return "\n".join(lines)


def measure_fetch(count: int, latency: float, workers: int, sample: int, data: Path, source: str = "") -> dict:
    """Times fetching `count` distinct creatives through the emulator with `latency` per request;
    they are the first `count` of the folder `source`, or of a generated icons world."""
    from components.ingest.creatives import fetch_in_order
    from components.ingest.storage import GcsStorage
    from pipeline.local.gcs import emulator, upload_dir
    from pipeline.local.latency import LatencyStats

    icons = Path(source) if source else generate_world(data, "icons", count, count) / "creatives"
    names = sorted(path.name for path in icons.iterdir())[:count]
    if len(names) < count:
        raise SystemExit(f"{icons} holds {len(names)} creatives, fewer than --fetch {count}")
    with tempfile.TemporaryDirectory(prefix="creatives-fetch-") as scratch:
        folder = Path(scratch) / "creatives"
        folder.mkdir()
        for name in names:
            shutil.copyfile(icons / name, folder / name)
        stats = LatencyStats()
        with emulator(latency=latency, stats=stats):
            upload_dir(scratch, "gs://fetch-bench/month", workers=64)
            storage = GcsStorage("gs://fetch-bench/month")
            keys = [f"creatives/{name}" for name in names]
            load_before = os.getloadavg()
            stats.most_in_flight = 0
            start = time.perf_counter()
            fetched = sum(data is not None for _, data in fetch_in_order(keys[:sample], storage.read, workers=1))
            sequential = (time.perf_counter() - start) * count / sample
            held = stats.most_in_flight
            stats.most_in_flight = 0
            start = time.perf_counter()
            parallel_found = sum(data is not None for _, data in fetch_in_order(keys, storage.read, workers=workers))
            parallel = time.perf_counter() - start
    return {
        "creatives": count, "latency_ms": latency * 1000, "workers": workers,
        "sequential_sample": sample, "sequential_found": fetched, "parallel_found": parallel_found,
        "sequential_s_estimated": round(sequential, 1), "parallel_s": round(parallel, 1),
        "ratio": round(parallel / sequential, 3), "most_in_flight_sequential": held,
        "most_in_flight": stats.most_in_flight,
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def measure_prepare(folders: dict[str, Path], rounds: int) -> dict:
    """Times ingestion's creative preparation (`prepare_creatives`: read, hash and header check on
    the fetch threads, each distinct content decoded once to the model's input) per creative, in
    each world, the worlds in `run_order(rounds)` after one untimed pass to load TensorFlow."""
    from components.ingest.creatives import fetch_pool, prepare_creatives
    from trainer.settings import TrainingSettings

    def per_creative(folder: Path) -> tuple[float, float]:
        names = sorted(path.name for path in folder.iterdir())
        with fetch_pool() as pool:
            wall, cpu = time.perf_counter(), time.process_time()
            prepared = sum(1 for _ in prepare_creatives(names, lambda name: (folder / name).read_bytes(),
                                                         TrainingSettings.image_size, pool=pool))
            return (time.perf_counter() - wall) / prepared * 1e6, (time.process_time() - cpu) / prepared * 1e6

    per_creative(folders["icons"] / "creatives")
    load_before = os.getloadavg()
    runs = [(world, per_creative(folders[world] / "creatives")) for world in run_order(rounds)]
    mean = {world: [round(sum(run[index] for name, run in runs if name == world) / rounds, 1) for index in (0, 1)]
            for world in WORLDS}
    return {
        "runs": [{"world": world, "wall_us": round(wall, 1), "cpu_us": round(cpu, 1)} for world, (wall, cpu) in runs],
        **{world: {"wall_us": mean[world][0], "cpu_us": mean[world][1]} for world in WORLDS},
        "ratio_wall": round(mean["banners"][0] / mean["icons"][0], 2),
        "ratio_cpu": round(mean["banners"][1] / mean["icons"][1], 2),
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impressions", type=int, default=30_000)
    parser.add_argument("--ads", type=int, default=5_000, help="evergreen ads, one creative each")
    parser.add_argument("--data", default="benchmarks/data", help="where generated worlds are kept")
    parser.add_argument("--out", default="benchmarks/results", help="folder for the JSON results")
    parser.add_argument("--keep", default="", help="keep each run's home and logs in KEEP/<world>")
    parser.add_argument("--generate-only", action="store_true", help="generate both worlds and stop")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the pair this many times, in the order icons, banners, banners, icons, ...")
    parser.add_argument("--prepare", action="store_true",
                        help="time ingestion's creative preparation per creative in both worlds instead")
    parser.add_argument("--fetch", type=int, default=0, help="measure fetching this many creatives instead")
    parser.add_argument("--latency-ms", type=float, default=30.0, help="the emulator's latency for --fetch")
    parser.add_argument("--workers", type=int, default=32, help="fetches in flight for --fetch")
    parser.add_argument("--sequential-sample", type=int, default=1_000)
    parser.add_argument("--fetch-from", default="", help="a folder of creatives for --fetch (default: generated)")
    parser.add_argument("--child", choices=WORLDS, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.child:
        _child(Path(args.work), Path(args.home), args.child)
        return 0
    if args.fetch:
        result = measure_fetch(args.fetch, args.latency_ms / 1000, args.workers, args.sequential_sample,
                               Path(args.data), args.fetch_from)
        (out / f"creatives_fetch_{args.fetch}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return 0
    folders = {world: generate_world(Path(args.data), world, args.impressions, args.ads) for world in WORLDS}
    if args.generate_only:
        return 0
    if args.prepare:
        result = measure_prepare(folders, max(args.rounds, 2))
        (out / f"creatives_prepare_{args.impressions}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return 0
    results: dict = {"impressions": args.impressions, "ads": args.ads,
                     "creatives": len(list((folders["icons"] / "creatives").iterdir())),
                     "creative_bytes": {world: folder_bytes(folder / "creatives") for world, folder in folders.items()}}
    runs = []
    for number, world in enumerate(run_order(args.rounds)):
        keep = f"{args.keep}/run-{number + 1}" if args.keep and args.rounds > 1 else args.keep
        runs.append(measure_world(folders[world], world, keep))
    # The tables' figures are each world's first run; every run's times are kept.
    results.update({world: next(run for run in runs if run["world"] == world) for world in WORLDS})
    results["runs"] = [{"world": run["world"], "wall_s": run["wall_s"], "stages_s": run["stages_s"]}
                       for run in runs]
    (out / f"creatives_bench_{args.impressions}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    if args.rounds > 1:
        print("\n" + runs_table(results["runs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
