"""The evaluation gate, measured: speed against TFMA, exactness, re-run cost and cold-start quality.

    TF_USE_LEGACY_KERAS=1 .venv/bin/python -m benchmarks.eval_bench [--impressions 100000]
        [--work DIR] [--only pipeline,speed,cold-start]

One command, four measurements on the same artifacts, in one run:

1. **pipeline** — generates two demo months (seed 0) and runs `clickpipe run` on each in a
   fresh home (month 2 is gated against month 1's pushed model), then runs month 2 again
   unchanged: wall time of each run, and the re-run's share of the full run.
2. **speed** — EvaluateModel on month 2's artifacts (eval split, trained model, month 1's
   model as the baseline), today's and after, in this process, alternating `--rounds` times:
   *today* is TFX's own Evaluator executor with the TFMA `EvalConfig` clickpipe shipped until
   now (`legacy_eval_config`, a frozen copy), *after* is `components.evaluate.executor`.
   Also where *after*'s time goes (stage by stage), and a cProfile of one run.
3. **precision** — every AUC the gate decides on (overall and each slice), ours and TFMA's,
   against `sklearn.metrics.roc_auc_score` on the same predictions.
4. **cold-start** — month 1's model (as trained by the pipeline, `training.id_dropout` at its
   default) and the same model trained without id dropout (*today*), each on: month 1's eval
   split, and month 2's rows whose ad never occurs in month 1's training split (new ads, as the
   served model meets them), beside the best achievable AUC on the same rows (the
   generator's true probabilities).

Prints Markdown tables and writes WORK/eval_bench.json.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MONTHS = ("2026-09", "2026-10")
PARTS = ("pipeline", "speed", "cold-start")
NODES = ("IngestImpressions", "TransformFeatures", "TrainModel", "FindProductionModel", "EvaluateModel", "PushModel")


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


# --- 1. pipeline runs -----------------------------------------------------------------------


def _config_file(work: Path, data: Path) -> Path:
    path = work / "bench.toml"
    path.write_text(f'[pipeline]\nhome = "{work / "home"}"\n\n[dataset]\nsource = "{data}"\n')
    return path


def _artifacts(config_path: Path) -> dict[str, dict[str, str]]:
    """The URIs of the latest run's outputs, by node and output key."""
    from pipeline.config import load_config
    from pipeline.local import metadata

    config = load_config(config_path)
    store = metadata.open_store(config.pipeline.metadata_path)
    found = {}
    for node in NODES:
        record = metadata.latest_node_record(store, config.pipeline.name, node)
        found[node] = {key: artifacts[0].uri for key, artifacts in (record.outputs if record else {}).items()}
    return found


def run_month(config_path: Path, month: str, ground_truth: Path) -> dict:
    """`clickpipe run` in a fresh process, as a person would run it; wall time and summary."""
    command = [sys.executable, "-m", "pipeline.cli", "run", "--config", str(config_path), "--span", month,
               "--ground-truth", str(ground_truth)]
    load_before = load_average()
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 3):
        raise RuntimeError(f"clickpipe run --span {month} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return {"month": month, "seconds": seconds, "exit": done.returncode, "load": f"{load_before} -> {load_average()}",
            "summary": done.stdout.strip().splitlines(), "artifacts": _artifacts(config_path)}


def pipeline_part(work: Path, impressions: int) -> dict:
    from datagen.generator import GeneratorSettings, generate

    data = work / "data"
    if not (data / "impressions" / MONTHS[-1]).is_dir():
        generate(str(data), list(MONTHS), GeneratorSettings(impressions=impressions, seed=0))
    config_path = _config_file(work, data)
    runs = [run_month(config_path, month, data / "ground_truth") for month in MONTHS]
    runs.append(run_month(config_path, MONTHS[-1], data / "ground_truth"))
    for run in runs:
        print(f"\n$ clickpipe run --span {run['month']}  ({run['seconds']:.0f} s, load {run['load']})")
        print("\n".join(run["summary"]))
    return {"config": str(config_path), "data": str(data), "runs": runs,
            "rerun_share": runs[2]["seconds"] / runs[1]["seconds"]}


# --- 2. speed: today's TFMA Evaluator vs the gate ---------------------------------------------


def legacy_eval_config(config, has_baseline: bool):
    """The TFMA `EvalConfig` clickpipe's gate used until this change (pipeline/eval_config.py at
    85cd133), frozen here as the measurement's baseline."""
    import tensorflow_model_analysis as tfma

    def metric(class_name: str, name: str, **options):
        return tfma.MetricConfig(class_name=class_name, config=json.dumps({"name": name, **options}))

    evaluation = config.evaluation
    auc = metric("AUC", "auc", num_thresholds=10000)
    limits = [([], evaluation.min_auc, evaluation.max_auc_drop)]
    limits += [(list(t.slice), t.min_auc, t.max_auc_drop) for t in evaluation.slice_thresholds]
    for keys, min_auc, max_drop in limits:
        threshold = tfma.MetricThreshold()
        if min_auc is not None:
            threshold.value_threshold.lower_bound.value = min_auc
        if max_drop is not None and has_baseline:
            threshold.change_threshold.direction = tfma.MetricDirection.HIGHER_IS_BETTER
            threshold.change_threshold.absolute.value = -max_drop
        if threshold.ByteSize():
            auc.per_slice_thresholds.append(tfma.PerSliceMetricThreshold(
                slicing_specs=[tfma.SlicingSpec(feature_keys=keys)], threshold=threshold))
    log_loss = metric("BinaryCrossEntropy", "binary_crossentropy")
    if has_baseline:
        threshold = tfma.MetricThreshold()
        threshold.change_threshold.direction = tfma.MetricDirection.LOWER_IS_BETTER
        threshold.change_threshold.absolute.value = evaluation.max_log_loss_increase
        log_loss.per_slice_thresholds.append(
            tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold))
    metrics = [
        metric("ExampleCount", "example_count"), auc,
        metric("AUCPrecisionRecall", "auc_pr", num_thresholds=10000), log_loss,
        metric("Calibration", "calibration"), metric("MeanPrediction", "mean_prediction"),
        metric("MeanLabel", "mean_label"),
        metric("ConfusionMatrixPlot", "confusion_matrix_plot", num_thresholds=200),
        metric("CalibrationPlot", "calibration_plot", num_buckets=20),
    ]
    common = {"signature_name": "serving_default", "label_key": config.dataset.label,
              "prediction_key": "click_probability"}
    specs = ([tfma.ModelSpec(name="candidate", **common), tfma.ModelSpec(name="baseline", is_baseline=True, **common)]
             if has_baseline else [tfma.ModelSpec(**common)])
    return tfma.EvalConfig(
        model_specs=specs,
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=k) for k in config.dataset.slices],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
    )


def _artifact(kind: str, uri: str, **properties):
    from tfx.types import standard_artifacts

    artifact = getattr(standard_artifacts, kind)()
    artifact.uri = uri
    for name, value in properties.items():
        setattr(artifact, name, value)
    return artifact


def _baseline_model(uri: str, version: int):
    from components import artifacts

    model = _artifact("Model", uri)
    model.set_int_custom_property(artifacts.FOUND, 1)
    model.set_int_custom_property(artifacts.PRODUCTION_VERSION, version)
    return model


def run_today(config, examples_uri: str, model_uri: str, baseline_uri: str | None, out: Path) -> float:
    """TFX's Evaluator executor with the legacy TFMA config; returns Do()'s wall seconds."""
    from google.protobuf import json_format
    from tfx.components.evaluator import executor as evaluator

    examples = _artifact("Examples", examples_uri, split_names='["train", "eval"]')
    inputs = {"examples": [examples], "model": [_artifact("Model", model_uri)]}
    if baseline_uri:
        inputs["baseline_model"] = [_artifact("Model", baseline_uri)]
    outputs = {"evaluation": [_artifact("ModelEvaluation", str(out / "evaluation"))],
               "blessing": [_artifact("ModelBlessing", str(out / "blessing"))]}
    properties = {
        "eval_config": json_format.MessageToJson(legacy_eval_config(config, bool(baseline_uri))),
        "example_splits": "null",
        "fairness_indicator_thresholds": "null",
    }
    for artifacts in outputs.values():
        os.makedirs(artifacts[0].uri, exist_ok=True)
    beam = evaluator.Executor(evaluator.Executor.Context(
        beam_pipeline_args=list(config.pipeline.beam_args), tmp_dir=str(out / "tmp"), unique_id="bench"))
    start = time.perf_counter()
    beam.Do(inputs, outputs, properties)
    return time.perf_counter() - start


def run_after(config, examples_uri: str, model_uri: str, baseline_uri: str | None, out: Path) -> float:
    """clickpipe's EvaluateModel executor; returns Do()'s wall seconds."""
    from components.evaluate import executor
    from pipeline import eval_config

    inputs = {"examples": [_artifact("Examples", examples_uri, split_names='["train", "eval"]')],
              "model": [_artifact("Model", model_uri)]}
    if baseline_uri:
        inputs["baseline_model"] = [_baseline_model(baseline_uri, 1)]
    outputs = {"evaluation": [_artifact("ModelEvaluation", str(out / "evaluation"))],
               "blessing": [_artifact("ModelBlessing", str(out / "blessing"))]}
    start = time.perf_counter()
    executor.Executor().Do(inputs, outputs, {"gate": eval_config.build(config).to_json()})
    return time.perf_counter() - start


def stages_after(config, examples_uri: str, model_uri: str, baseline_uri: str) -> dict[str, float]:
    """Where the gate's time goes: the same steps as `scoring.evaluate`, timed one by one."""
    import dataclasses as dc

    from components.evaluate import gate, scoring
    from pipeline import eval_config

    settings = eval_config.build(config)
    timings, start = {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal start
        timings[name] = time.perf_counter() - start
        start = time.perf_counter()

    scorers = {"candidate": scoring.load_scorer(f"{model_uri}/Format-Serving", "candidate")}
    scorers["baseline"] = scoring.load_scorer(f"{baseline_uri}/Format-Serving", "baseline")
    lap("load both SavedModels")
    scored = scoring.score_split(scoring.split_pattern(examples_uri, "eval"), scorers, settings)
    lap("read + score the eval split (both models)")
    known = scoring.distinct_values(scoring.split_pattern(examples_uri, "train"), settings.new_column, "bytes")
    lap("ad ids of the train split")
    scored = dc.replace(scored, new=gate.new_value_mask(scored.columns[settings.new_column], known))
    gate.judge(scored, settings)
    lap("metrics, DeLong intervals, curves, rule")
    return timings


def profile_after(config, examples_uri: str, model_uri: str, baseline_uri: str, out: Path) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    run_after(config, examples_uri, model_uri, baseline_uri, out)
    profiler.disable()
    profiler.dump_stats(str(out / "after.prof"))
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
    return text.getvalue()


def speed_part(work: Path, runs: dict, rounds: int) -> dict:
    from pipeline.config import load_config

    config = load_config(runs["config"])
    month2 = runs["runs"][1]["artifacts"]
    examples, model = month2["IngestImpressions"]["examples"], month2["TrainModel"]["model"]
    baseline = runs["runs"][0]["artifacts"]["TrainModel"]["model"]
    measured = {"today": [], "after": [], "load": []}
    for i in range(rounds):
        measured["load"].append(load_average())
        measured["today"].append(run_today(config, examples, model, baseline, work / f"today-{i}"))
        measured["after"].append(run_after(config, examples, model, baseline, work / f"after-{i}"))
        print(f"round {i + 1}: today {measured['today'][-1]:.1f} s, after {measured['after'][-1]:.1f} s, "
              f"load {measured['load'][-1]} -> {load_average()}", flush=True)
    measured["load"].append(load_average())
    stages = stages_after(config, examples, model, baseline)
    profile = profile_after(config, examples, model, baseline, work / "after-0")
    precision = precision_part(config, examples, model, baseline, work / "today-0", work / "after-0")
    ratio = sorted(measured["today"])[rounds // 2] / sorted(measured["after"])[rounds // 2]
    return {**measured, "speedup_of_medians": ratio, "stages": stages, "profile": profile, "precision": precision,
            "artifacts": {"examples": examples, "model": model, "baseline": baseline}}


# --- 3. precision against a reference -----------------------------------------------------------


def _tfma_aucs(evaluation_uri: str) -> dict[tuple[str, str], float]:
    import tensorflow_model_analysis as tfma

    from components.evaluation_results import OVERALL

    found = {}
    for for_slice in tfma.load_metrics(evaluation_uri):
        key = tfma.slicer.deserialize_slice_key(for_slice.slice_key)
        name = ", ".join(f"{c}={v.decode() if isinstance(v, bytes) else v}" for c, v in key) or OVERALL
        for item in for_slice.metric_keys_and_values:
            if item.key.name == "auc" and not item.key.is_diff and not item.key.HasField("sub_key"):
                found[(item.key.model_name or "candidate", name)] = item.value.double_value.value
    return found


def precision_part(config, examples_uri: str, model_uri: str, baseline_uri: str, today: Path, after: Path) -> dict:
    """Largest |AUC - reference| over the overall slice and every slice, ours and TFMA's."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from components import evaluation_results
    from components.evaluate import scoring
    from pipeline import eval_config

    settings = eval_config.build(config)
    scored = scoring.score_split(scoring.split_pattern(examples_uri, "eval"), {
        "candidate": scoring.load_scorer(f"{model_uri}/Format-Serving", "candidate"),
        "baseline": scoring.load_scorer(f"{baseline_uri}/Format-Serving", "baseline"),
    }, settings)
    ours = evaluation_results.load(str(after / "evaluation"))
    tfma_aucs = _tfma_aucs(str(today / "evaluation"))
    worst = {"ours": 0.0, "tfma": 0.0}
    compared = 0
    for item in ours.slices:
        if item.name == ours.new_slice or not item.examples:
            continue
        mask = np.ones(scored.labels.size, dtype=bool)
        for part in ([] if item.name == "overall" else item.name.split(", ")):
            column, value = part.split("=", 1)
            mask &= scored.columns[column] == value
        if len(set(scored.labels[mask].tolist())) < 2:
            continue
        for model in ("candidate", "baseline"):
            reference = roc_auc_score(scored.labels[mask], scored.predictions[model][mask])
            worst["ours"] = max(worst["ours"], abs(item.metrics[model]["auc"] - reference))
            if (model, item.name) in tfma_aucs:
                worst["tfma"] = max(worst["tfma"], abs(tfma_aucs[(model, item.name)] - reference))
            compared += 1
    return {"aucs_compared": compared, "max_abs_error_ours": worst["ours"], "max_abs_error_tfma": worst["tfma"]}


# --- 4. cold start ---------------------------------------------------------------------------------


def _retrain(month1: dict, config, id_dropout: float, out: Path) -> str:
    """Month 1's model trained again with another `id_dropout`, exported like the Trainer does."""
    import tensorflow_transform as tft

    from components.artifacts import creatives_pattern
    from trainer.export import export_serving_model
    from trainer.settings import TrainingSettings
    from trainer.thumbnail_table import ThumbnailTable
    from trainer.train import train

    transform = month1["TransformFeatures"]
    settings = dataclasses.replace(TrainingSettings.from_dict(config.training.model_dump()), id_dropout=id_dropout)
    output = tft.TFTransformOutput(transform["transform_graph"])
    examples = transform["transformed_examples"]
    registry = config.registry()
    # The training rows name their creatives by key, as TrainModel reads them.
    thumbnails = ThumbnailTable.load([creatives_pattern(month1["IngestImpressions"]["examples"])])
    model = train([f"{examples}/Split-train/*"], [f"{examples}/Split-eval/*"], output, registry, settings,
                  thumbnails=thumbnails)
    export_serving_model(model, output, registry, str(out / "Format-Serving"))
    return str(out)


def _quality(model_uri: str, pattern: str, known_ads: set[str], truth: dict, config, new_only: bool) -> dict:
    import numpy as np

    from components.evaluate import gate, scoring, statistics
    from datagen.limits import best_achievable
    from pipeline import eval_config

    settings = dataclasses.replace(eval_config.build(config), column_kinds={"ad_id": "bytes", "impression_id": "bytes"})
    scored = scoring.score_split(pattern, {"candidate": scoring.load_scorer(f"{model_uri}/Format-Serving", "m")},
                                 settings)
    rows = gate.new_value_mask(scored.columns["ad_id"], known_ads) if new_only else np.ones(scored.labels.size, bool)
    labels, predictions = scored.labels[rows], scored.predictions["candidate"][rows]
    best = best_achievable([truth[i] for i in scored.columns["impression_id"][rows]], labels.tolist())
    auc = statistics.auc(labels, predictions)
    return {"rows": int(rows.sum()), "clicks": int(labels.sum()), "auc": auc, "best_auc": best["auc"],
            "auc_ratio": auc / best["auc"], "log_loss": statistics.log_loss(labels, predictions),
            "best_log_loss": best["log_loss"]}


def cold_start_part(work: Path, runs: dict, retrain: list[float]) -> dict:
    from components.evaluate import scoring
    from datagen.limits import read_ground_truth
    from pipeline.config import load_config
    from trainer.settings import TrainingSettings

    config = load_config(runs["config"])
    month1, month2 = (run["artifacts"] for run in runs["runs"][:2])
    truth = read_ground_truth(Path(runs["data"]) / "ground_truth")
    month1_examples, month2_examples = month1["IngestImpressions"]["examples"], month2["IngestImpressions"]["examples"]
    known = scoring.distinct_values(scoring.split_pattern(month1_examples, "train"), "ad_id", "bytes")
    models = {f"pipeline's model (id_dropout {TrainingSettings().id_dropout})": month1["TrainModel"]["model"]}
    for rate in retrain:
        start = time.perf_counter()
        models[f"retrained, id_dropout {rate}"] = _retrain(month1, config, rate, work / f"retrained-{rate}")
        print(f"retrained with id_dropout {rate} in {time.perf_counter() - start:.0f} s", flush=True)
    found = {}
    for name, uri in models.items():
        found[name] = {
            "month 1 eval split": _quality(uri, scoring.split_pattern(month1_examples, "eval"), known, truth, config,
                                           new_only=False),
            "month 2, ads new since month 1's training": _quality(
                uri, f"{month2_examples}/Split-*/*", known, truth, config, new_only=True),
        }
        print(name, json.dumps(found[name]), flush=True)
    return found


# --- report -------------------------------------------------------------------------------------


def markdown(results: dict) -> str:
    lines = []
    if "pipeline" in results:
        runs = results["pipeline"]["runs"]
        lines += ["| run | wall s | load before -> after | exit |", "|---|---:|---|---:|"]
        names = [f"full, {runs[0]['month']} (first month)", f"full, {runs[1]['month']} (gated)",
                 f"unchanged re-run, {runs[2]['month']}"]
        lines += [f"| {n} | {r['seconds']:.0f} | {r['load']} | {r['exit']} |" for n, r in zip(names, runs, strict=True)]
        lines.append(f"\nre-run / full run of the same month: **{results['pipeline']['rerun_share']:.3f}**\n")
    if "speed" in results:
        speed = results["speed"]
        lines += ["| EvaluateModel, with a baseline | " + " | ".join(f"round {i + 1}" for i in
                                                                    range(len(speed["today"]))) + " |",
                  "|---|" + "---:|" * len(speed["today"])]
        lines.append("| today: TFX Evaluator + TFMA (s) | " + " | ".join(f"{v:.1f}" for v in speed["today"]) + " |")
        lines.append("| after: clickpipe gate (s) | " + " | ".join(f"{v:.1f}" for v in speed["after"]) + " |")
        lines.append(f"\nspeed-up (median today / median after): **{speed['speedup_of_medians']:.1f}x**; "
                     f"load averages {' | '.join(speed['load'])}\n")
        lines += ["| after: stage | s |", "|---|---:|"]
        lines += [f"| {name} | {seconds:.2f} |" for name, seconds in speed["stages"].items()]
        precision = speed["precision"]
        lines.append(f"\nAUC vs sklearn's roc_auc_score on the same predictions ({precision['aucs_compared']} AUCs, "
                     f"overall and every slice, both models): largest error ours "
                     f"{precision['max_abs_error_ours']:.1e}, TFMA {precision['max_abs_error_tfma']:.1e}\n")
    if "cold-start" in results:
        lines += ["| model (trained on month 1) | rows | AUC | best | AUC / best | log-loss / best |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, parts in results["cold-start"].items():
            for part, q in parts.items():
                lines.append(f"| {name}: {part} | {q['rows']:,} ({q['clicks']} clicks) | {q['auc']:.4f} | "
                             f"{q['best_auc']:.4f} | {q['auc_ratio']:.3f} | {q['log_loss'] / q['best_log_loss']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impressions", type=int, default=100_000, help="per month, as `clickpipe demo`")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "clickpipe-eval-bench"))
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts among {', '.join(PARTS)}")
    parser.add_argument("--rounds", type=int, default=1, help="speed: today/after pairs, alternating")
    parser.add_argument("--retrain", default="0", help="cold-start: id_dropout rates to train month 1 again with")
    args = parser.parse_args(argv)
    parts = args.only.split(",")
    if unknown := [p for p in parts if p not in PARTS]:
        parser.error(f"unknown part {', '.join(unknown)}; choose among {', '.join(PARTS)}")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "eval_bench.json"
    results = json.loads(saved.read_text()) if saved.is_file() else {}
    results["load_start"] = load_average()
    if "pipeline" in parts:
        results["pipeline"] = pipeline_part(work, args.impressions)
    if "pipeline" not in results:
        parser.error(f"no pipeline runs in {work}: run the pipeline part first")
    with contextlib.redirect_stderr(io.StringIO()):
        if "speed" in parts:
            results["speed"] = speed_part(work, results["pipeline"], args.rounds)
            print(results["speed"]["profile"])
        if "cold-start" in parts:
            results["cold-start"] = cold_start_part(work, results["pipeline"],
                                                    [float(r) for r in args.retrain.split(",") if r])
    results["load_end"] = load_average()
    saved.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nload average at start {results['load_start']}, at end {results['load_end']}; written to {saved}\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
