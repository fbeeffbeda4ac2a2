"""The gate's statistics, simulated: interval coverage, false-block rate and power.

    .venv/bin/python -m benchmarks.gate_simulation [--seed 0] [--scale 1.0]

Numpy only (no TensorFlow), a few minutes on one core. Rows have a true click logit
``N(-3.3, 1.2)`` (a 6.2% click rate); a model is the true logit plus its own normal noise (its
quality), optionally shifted (miscalibrated) or scaled (over-confident). Each replicate draws
fresh rows, labels and model noise, so the truth a model is measured against is its expected
value over the population, computed once from 4 million rows.

1. **log-loss coverage** — how often the paired log-loss-change interval misses the true change,
   per tail, relative to the nominal rate, at 12, 40, 120 and 600 clicks, for the interval the
   gate uses (Student t) and the normal one it replaced; at a single 95% interval and at the
   simultaneous level of an overall-only gate (4 checks). "Blocking tail" is the lower bound
   above the truth: the direction in which a miss blocks a candidate that is fine.
2. **false blocks** — two equally good models (and two equally miscalibrated ones) through
   `gate.judge` with the default settings, overall and 11 guarded slices, at several split sizes.
3. **power** — how often a worse candidate is blocked: one over-predicting by +0.5 logit (log-loss
   barely moves), one with twice the noise, one blind on a category of ads.
4. **AUC floor** — a first-run candidate whose true AUC is 0.03 above the floor: how often the
   floor blocks it (the review found 32% at 12 clicks when the point AUC was compared).

Prints Markdown tables (as in docs/evaluation.md and benchmarks/README.md) and writes them,
with the raw counts, to `benchmarks/results/gate_simulation.json`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from components.evaluate import gate, statistics
from components.evaluate.gate import GateSettings, Scored
from components.evaluation_results import BASELINE, CANDIDATE

CLICKS = (12, 40, 120, 600)
DEVICES = np.array(["mobile", "desktop", "tablet"])
CATEGORIES = np.array(["travel", "games", "food", "auto", "home", "sports", "health", "finance"])
SLICED = GateSettings(label="clicked", slices=(("device_type",), ("ad_category",)))
RESULTS = Path(__file__).parent / "results" / "gate_simulation.json"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _model(truth: np.ndarray, rng: np.random.Generator, noise: float, shift: float = 0.0,
           scale: float = 1.0) -> np.ndarray:
    """A model's predictions: the true logit with its own noise, shifted and scaled about the mean."""
    logit = truth + rng.normal(scale=noise, size=truth.shape)
    return _sigmoid(-3.3 + scale * (logit + 3.3) + shift)


def _expected_log_loss(truth: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    p = np.clip(predictions, statistics.EPSILON, 1 - statistics.EPSILON)
    q = _sigmoid(truth)
    return -(q * np.log(p) + (1 - q) * np.log1p(-p))


# name -> (candidate's model, baseline's model) as keyword arguments of `_model`.
SCENARIOS = {
    "equally good": ({"noise": 0.6}, {"noise": 0.6}),
    "candidate noisier": ({"noise": 0.9}, {"noise": 0.4}),
    "candidate over-confident": ({"noise": 0.3, "scale": 1.5}, {"noise": 0.6}),
}


def log_loss_coverage(rng: np.random.Generator, reps: int) -> list[dict]:
    """Miss rates of the paired log-loss-change interval per tail, relative to nominal."""
    population = rng.normal(scale=1.2, size=4_000_000) - 3.3
    click_rate = float(_sigmoid(population).mean())
    levels = {"95% alone": statistics.simultaneous_z(0.95, 1),
              "simultaneous, 4 checks": statistics.simultaneous_z(0.95, 4)}
    rows = []
    for scenario, (candidate_model, baseline_model) in SCENARIOS.items():
        truth_rng = np.random.default_rng(1)
        true_change = float(np.mean(
            _expected_log_loss(population, _model(population, truth_rng, **candidate_model))
            - _expected_log_loss(population, _model(population, truth_rng, **baseline_model))))
        for clicks in CLICKS:
            n = int(round(clicks / click_rate))
            # Fewer replicates of the larger splits: their normal approximation is the safest.
            count = max(2_000, int(reps * min(1.0, 40 / clicks)))
            misses = {(level, method, tail): 0 for level in levels for method in ("t", "normal")
                      for tail in ("blocking", "other")}
            done = 0
            while done < count:
                chunk = min(2_000, count - done)
                truth = rng.normal(scale=1.2, size=(chunk, n)) - 3.3
                labels = rng.random((chunk, n)) < _sigmoid(truth)
                differences = (statistics.log_losses(labels, _model(truth, rng, **candidate_model))
                               - statistics.log_losses(labels, _model(truth, rng, **baseline_model)))
                mean = differences.mean(axis=1)
                error = differences.std(axis=1, ddof=1) / np.sqrt(n)
                for level, z in levels.items():
                    for method, quantile in (("t", statistics.student_quantile(z, n)), ("normal", z)):
                        misses[(level, method, "blocking")] += int(np.sum(mean - quantile * error > true_change))
                        misses[(level, method, "other")] += int(np.sum(mean + quantile * error < true_change))
                done += chunk
            for level, z in levels.items():
                nominal = 1 - statistics.NormalDist().cdf(z)
                rows.append({
                    "scenario": scenario, "clicks": clicks, "rows": n, "replicates": done, "level": level,
                    "nominal_tail": nominal, "true_change": true_change,
                    **{f"{method}_{tail}": misses[(level, method, tail)] / done / nominal
                       for method in ("t", "normal") for tail in ("blocking", "other")},
                })
            print(f"  coverage: {scenario}, {clicks} clicks done", flush=True)
    return rows


def _world(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    truth = rng.normal(scale=1.2, size=rows) - 3.3
    labels = (rng.random(rows) < _sigmoid(truth)).astype(np.int64)
    columns = {"device_type": DEVICES[rng.integers(3, size=rows)],
               "ad_category": CATEGORIES[rng.integers(CATEGORIES.size, size=rows)]}
    return truth, labels, columns


def _blocked(rng: np.random.Generator, rows: int, pairs: int, candidate: dict, baseline: dict,
             broken_category: str = "") -> dict:
    """How often `gate.judge` (default settings, 2 slicings) blocks, and on which rules."""
    blocked, rules = 0, {}
    for _ in range(pairs):
        truth, labels, columns = _world(rng, rows)
        predictions = _model(truth, rng, **candidate)
        if broken_category:
            blind = _sigmoid(rng.normal(scale=1.2, size=rows) - 3.3)
            predictions = np.where(columns["ad_category"] == broken_category, blind, predictions)
        evaluation = gate.judge(
            Scored(labels, {CANDIDATE: predictions, BASELINE: _model(truth, rng, **baseline)}, columns), SLICED)
        blocked += not evaluation.validation_ok
        for metric in {f.metric for f in evaluation.failures}:
            rules[metric] = rules.get(metric, 0) + 1
    return {"rows": rows, "clicks": int(round(rows * 0.0617)), "pairs": pairs, "blocked": blocked,
            "rate": blocked / pairs, "by_rule": rules}


def false_blocks(rng: np.random.Generator, pairs: int) -> list[dict]:
    """Equally good pairs (and equally miscalibrated ones) blocked by the default gate."""
    found = []
    for rows, share in ((650, 1.0), (2_000, 1.0), (8_000, 0.5), (32_000, 0.125)):
        count = max(1, int(pairs * share))
        found.append({"pair": "equally good", **_blocked(rng, rows, count, {"noise": 0.6}, {"noise": 0.6})})
        found.append({"pair": "both over-predicting by +0.3 logit", **_blocked(
            rng, rows, count // 2, {"noise": 0.6, "shift": 0.3}, {"noise": 0.6, "shift": 0.3})})
        print(f"  false blocks: {rows} rows done", flush=True)
    return found


def power(rng: np.random.Generator, pairs: int) -> list[dict]:
    """Worse candidates blocked by the default gate, against a sound production model."""
    found = []
    for rows, share in ((650, 1.0), (2_000, 1.0), (8_000, 0.5)):
        pairs_here = max(1, int(pairs * share))
        found.append({"candidate": "over-predicting by +0.5 logit",
                      **_blocked(rng, rows, pairs_here, {"noise": 0.6, "shift": 0.5}, {"noise": 0.6})})
        found.append({"candidate": "twice the noise (0.6 -> 1.2)",
                      **_blocked(rng, rows, pairs_here, {"noise": 1.2}, {"noise": 0.6})})
        found.append({"candidate": "blind on travel ads (1/8 of rows)",
                      **_blocked(rng, rows, pairs_here, {"noise": 0.6}, {"noise": 0.6}, broken_category="travel")})
        print(f"  power: {rows} rows done", flush=True)
    return found


def floor_blocks(rng: np.random.Generator, reps: int) -> list[dict]:
    """A first-run candidate 0.03 above the floor in true AUC, blocked by the floor how often."""
    population = rng.normal(scale=1.2, size=2_000_000) - 3.3
    population_labels = rng.random(population.size) < _sigmoid(population)
    click_rate = float(population_labels.mean())
    noise = 0.6
    true_auc = statistics.auc(population_labels, _model(population, rng, noise=noise))
    floor = true_auc - 0.03
    settings = GateSettings(label="clicked", min_auc=floor, check_calibration=False, min_clicks=2)
    found = []
    for clicks in CLICKS:
        n = int(round(clicks / click_rate))
        blocked = point_below = 0
        for _ in range(reps):
            truth = rng.normal(scale=1.2, size=n) - 3.3
            labels = (rng.random(n) < _sigmoid(truth)).astype(np.int64)
            if min(labels.sum(), n - labels.sum()) < 2:
                continue
            predictions = _model(truth, rng, noise=noise)
            blocked += not gate.judge(Scored(labels, {CANDIDATE: predictions}), settings).validation_ok
            point_below += statistics.auc(labels, predictions) < floor
        found.append({"clicks": clicks, "rows": n, "true_auc": true_auc, "floor": floor, "replicates": reps,
                      "blocked_on_interval": blocked / reps, "point_below_floor": point_below / reps})
    return found


def _coverage_table(rows: list[dict]) -> list[str]:
    lines = ["| scenario | level | clicks | t: blocking tail | t: other tail | normal: blocking tail "
             "| normal: other tail |", "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['scenario']} | {r['level']} | {r['clicks']} | {r['t_blocking']:.2f}x | {r['t_other']:.2f}x "
              f"| {r['normal_blocking']:.2f}x | {r['normal_other']:.2f}x |" for r in rows]
    return lines


def _blocks_table(rows: list[dict], first: str) -> list[str]:
    lines = [f"| {first} | rows | clicks | blocked | rate | by rule |", "|---|---:|---:|---:|---:|---|"]
    lines += [f"| {r[first]} | {r['rows']:,} | {r['clicks']:,} | {r['blocked']} / {r['pairs']} | {r['rate']:.1%} "
              f"| {', '.join(f'{k} {v}' for k, v in sorted(r['by_rule'].items())) or '-'} |" for r in rows]
    return lines


def _floor_table(rows: list[dict]) -> list[str]:
    lines = ["| clicks | rows | blocked (interval below the floor) | point AUC below the floor |",
             "|---:|---:|---:|---:|"]
    lines += [f"| {r['clicks']} | {r['rows']:,} | {r['blocked_on_interval']:.1%} | {r['point_below_floor']:.1%} |"
              for r in rows]
    return lines


def main(argv: list[str] | None = None) -> None:
    """Runs the four simulations, prints their tables and writes the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every replicate count")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    results = {
        "coverage": log_loss_coverage(rng, int(20_000 * args.scale)),
        "false_blocks": false_blocks(rng, int(300 * args.scale)),
        "power": power(rng, int(100 * args.scale)),
        "floor": floor_blocks(rng, int(1_000 * args.scale)),
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    tables = [
        "Log-loss change interval, miss rate per tail / nominal (1.00x is nominal):", "",
        *_coverage_table(results["coverage"]), "",
        "Equally good models through the default gate (false blocks):", "",
        *_blocks_table(results["false_blocks"], "pair"), "",
        "Worse candidates through the default gate (power):", "",
        *_blocks_table(results["power"], "candidate"), "",
        "First run, floor 0.03 below the true AUC:", "",
        *_floor_table(results["floor"]), "",
        f"({results['seconds']} s, seed {args.seed}, scale {args.scale})",
    ]
    print("\n".join(tables))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**results, "tables": tables}, indent=1))


if __name__ == "__main__":
    main()
