"""Ablation: does every branch of the model earn its place? Quality against the limit.

    TF_USE_LEGACY_KERAS=1 .venv/bin/python -m benchmarks.ablation [--impressions 100000]
        [--seed 0] [--work DIR] [--only full,no-image,...]

On one month of demo data (transformed once with the real TF Transform, see
`benchmarks.train_bench.prepare_demo`), trains the full model and the model without the
image branch, without the text branch and without feature crosses, with the default
config's [training] settings, and scores each on the eval split beside the best achievable
(the generator's true probabilities on the same rows) and a constant predictor (the training
click rate). Prints a Markdown table and writes WORK/ablation.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time

VARIANTS = {"full": (), "no-image": ("image",), "no-text": ("text",),
            "no-crosses": ("crosses",)}


def _row(name: str, metrics: dict, best: dict, seconds: float | None = None) -> str:
    cells = [name, f"{metrics['auc']:.4f}", f"{metrics['auc'] / best['auc']:.3f}",
             f"{metrics['log_loss']:.4f}", f"{metrics['log_loss'] / best['log_loss']:.3f}",
             "" if seconds is None else f"{seconds:.0f}"]
    return "| " + " | ".join(cells) + " |"


def oracle_logistic_regression(train_rows: list[dict], eval_rows: list[dict],
                               seed: int) -> dict:
    """A reference no trained model should expect to beat by much: a logistic regression
    given exactly the terms of the generator's formula (one-hot main effects, both crosses,
    cos(hour), log1p(prior clicks), log(bid), title words and the creatives' true traits,
    read from the generator rather than the pixels), fitted on the same training rows."""
    import numpy as np
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    from datagen.catalog import build_catalog
    from datagen.clickmodel import PEAK_HOUR, REFERENCE_BID
    from datagen.generator import GeneratorSettings
    from trainer.train import binary_metrics

    catalog = build_catalog(GeneratorSettings(seed=seed))
    ads = {ad: i for i, ad in enumerate(catalog.values["ad_id"])}
    columns: dict[str, int] = {}

    def design(rows: list[dict], grow: bool):
        cells, numbers = [], []
        for row in rows:
            ad = ads[row["ad_id"]]
            names = [f"{c}={row[c]}" for c in ("ad_id", "advertiser", "campaign", "ad_category",
                                                 "site", "slot_position", "device_type",
                                                 "region", "user_age_bucket")]
            names += [f"device_slot={row['device_type']}/{row['slot_position']}",
                      f"category_age={row['ad_category']}/{row['user_age_bucket']}",
                      f"warm={catalog.warm[ad]}", f"contrast={catalog.high_contrast[ad]}",
                      f"cta={catalog.cta[ad]}"]
            names += [f"word={w}" for w in row["ad_title"].lower().split()]
            if grow:
                for name in names:
                    columns.setdefault(name, len(columns))
            cells.append([columns[n] for n in names if n in columns])
            numbers.append([np.cos(2 * np.pi * (float(row["hour"]) - PEAK_HOUR) / 24),
                            np.log1p(float(row["user_prior_clicks"])),
                            np.log(max(float(row["bid_price"]), 0.01) / REFERENCE_BID)])
        indptr = np.cumsum([0] + [len(c) for c in cells])
        onehot = sparse.csr_matrix((np.ones(indptr[-1]), np.concatenate(cells), indptr),
                                   shape=(len(rows), len(columns)))
        return sparse.hstack([onehot, sparse.csr_matrix(np.array(numbers))]).tocsr()

    train_x = design(train_rows, grow=True)
    eval_x = design(eval_rows, grow=False)
    labels = np.array([int(row["clicked"]) for row in train_rows])
    # C = 0.1 was the best of 0.1, 0.3 and 1 on the default demo data.
    model = LogisticRegression(C=0.1, max_iter=2000).fit(train_x, labels)
    return binary_metrics(model.predict_proba(eval_x)[:, 1],
                          np.array([int(row["clicked"]) for row in eval_rows]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impressions", type=int, default=100_000, help="as `clickpipe demo`")
    parser.add_argument("--seed", type=int, default=0, help="the generator's seed")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "clickpipe-bench"))
    parser.add_argument("--only", default=",".join(VARIANTS),
                        help=f"comma-separated variants among {', '.join(VARIANTS)}")
    parser.add_argument("--config", help="a clickpipe config (default: the packaged one)")
    args = parser.parse_args(argv)
    chosen = args.only.split(",")
    unknown = [name for name in chosen if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant {', '.join(unknown)}; choose among {', '.join(VARIANTS)}")

    import numpy as np
    import tensorflow_transform as tft

    from benchmarks.train_bench import MONTH, prepare_demo
    from datagen.limits import best_achievable, read_ground_truth
    from pipeline.config import load_config
    from trainer.preprocessing import transform_facts
    from trainer.settings import Branch, TrainingSettings
    from trainer.train import binary_metrics, evaluate, train

    config = load_config(args.config)
    registry = config.registry()
    base = TrainingSettings.from_dict(config.training.model_dump())
    transformed, train_rows, eval_rows = prepare_demo(args.work, args.impressions, args.seed,
                                                      config)
    tf_transform_output = tft.TFTransformOutput(transformed.transform_output)
    truth = read_ground_truth(os.path.join(args.work, f"demo-{args.impressions}-{args.seed}",
                                           "ground_truth", MONTH))
    labels = np.array([int(row[registry.label]) for row in eval_rows])
    best = best_achievable([truth[row[registry.example_id]] for row in eval_rows], labels)
    prior = transform_facts(registry, tf_transform_output).positive_rate
    constant = binary_metrics(np.full(labels.size, prior), labels)

    results = {"best_achievable": best, "constant": constant, "variants": {}}
    lines = ["| model | AUC | AUC / best | log-loss | log-loss / best | train s |",
             "|---|---|---|---|---|---|",
             _row("best achievable (true probabilities)", best, best),
             _row("constant (training click rate)", constant, best)]
    reference = oracle_logistic_regression(train_rows, eval_rows, args.seed)
    results["oracle_logistic_regression"] = reference
    lines.append(_row("reference: logistic regression on the generator's own terms",
                      reference, best))
    for name in chosen:
        settings = dataclasses.replace(base, without=frozenset(Branch(b) for b in VARIANTS[name]))
        start = time.perf_counter()
        model = train(transformed.train_files, transformed.eval_files, tf_transform_output,
                      registry, settings)
        seconds = time.perf_counter() - start
        metrics = evaluate(model, transformed.eval_files, tf_transform_output, registry)
        results["variants"][name] = {**metrics, "train_seconds": seconds}
        lines.append(_row(name, metrics, best, seconds))
        print(lines[-1], flush=True)
    path = os.path.join(args.work, f"ablation-{args.impressions}-{args.seed}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\neval rows: {labels.size}, clicks: {int(labels.sum())}; written to {path}\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
