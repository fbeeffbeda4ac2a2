"""Training throughput: the real input pipeline vs a plain Keras fit on in-memory tensors.

    TF_USE_LEGACY_KERAS=1 .venv/bin/python -m benchmarks.train_bench [--impressions 100000]
        [--epochs 4] [--rounds 2] [--work DIR]

Demo data from `datagen` goes through the real TF Transform (`trainer.local.transform`); then,
in the same process and alternating `--rounds` times, the same model (same seed) is fitted
(a) on the transformed TFRecords read through tf.data exactly as the Trainer does
(`trainer.train.training_dataset`), and (b) on the same examples held as in-memory tensors, the
compute limit. Each fit is timed from its 10th batch (Keras traces its training step on the
first) to its end, so the first epoch's file reads (and filling the in-memory cache, when the
split fits `training.cache_mb`) are counted. Prints examples/s of both, their ratio (of the
medians, and per round), and the input pipeline's own rate over its first epoch (batches read
from the files and parsed, no training), and writes them to WORK/train_bench.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import hashlib
import inspect
import itertools
import json
import os
import statistics
import tempfile
import time

MONTH = "2026-10"


def prepare_demo(work: str, impressions: int, seed: int = 0, config=None):
    """Generates one month of demo data, splits it as ingestion does and transforms it.

    Reuses earlier data and transforms in `work` made with the same arguments and registry.

    Args:
        work: the folder for data and transforms.
        impressions: rows of the month.
        seed: the generator's seed.
        config: a `ClickpipeConfig`; the packaged default when None.

    Returns:
        ``(TransformedData, train_rows, eval_rows)``, the rows being the raw impressions of
        each split in file order.
    """
    from datagen.generator import GeneratorSettings, generate
    from pipeline.config import load_config
    from trainer import local, preprocessing

    config = config or load_config()
    registry = config.registry()
    data = os.path.join(work, f"demo-{impressions}-{seed}")
    if not os.path.isdir(os.path.join(data, "impressions", MONTH)):
        generate(data, [MONTH], GeneratorSettings(impressions=impressions, seed=seed))
    rows = local.read_impressions(
        sorted(glob.glob(os.path.join(data, "impressions", MONTH, "*.csv"))), data, registry)
    train_rows, eval_rows = local.split_rows(rows, registry.example_id,
                                             config.dataset.eval_percent)
    # A transform made by other preprocessing code or for other features is not reused.
    key = hashlib.sha256(json.dumps(registry.to_dict(), sort_keys=True).encode()
                         + inspect.getsource(preprocessing).encode()).hexdigest()
    out = os.path.join(data, f"transform-{key[:12]}")
    done = os.path.join(out, "transformed.json")
    if not os.path.exists(done):
        os.makedirs(out, exist_ok=True)
        train_raw = local.write_examples(train_rows, registry, os.path.join(out, "train.tfrecord"))
        eval_raw = local.write_examples(eval_rows, registry, os.path.join(out, "eval.tfrecord"))
        transformed = local.transform(train_raw, eval_raw, registry, out)
        with open(done, "w") as f:
            json.dump(dataclasses.asdict(transformed), f)
    with open(done) as f:
        return local.TransformedData(**json.load(f)), train_rows, eval_rows


WARMUP_BATCHES = 10


def _timer(marks: list[float]):
    """A Keras callback that notes the time after the first `WARMUP_BATCHES` batches (Keras
    traces its training step on the first one) and when training ends."""
    import tensorflow as tf

    batches = itertools.count(1)

    def batch_end(batch, logs):
        if next(batches) == WARMUP_BATCHES:
            marks.append(time.perf_counter())

    return tf.keras.callbacks.LambdaCallback(
        on_train_batch_end=batch_end,
        on_train_end=lambda logs: marks.append(time.perf_counter()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impressions", type=int, default=100_000, help="as `clickpipe demo`")
    parser.add_argument("--epochs", type=int, default=4, help="per fit")
    parser.add_argument("--rounds", type=int, default=2, help="alternating fits of each kind")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "clickpipe-bench"))
    parser.add_argument("--config", help="a clickpipe config (default: the packaged one)")
    args = parser.parse_args(argv)
    if args.epochs < 2 or args.rounds < 1:
        parser.error("--epochs must be at least 2 and --rounds at least 1")

    import numpy as np
    import tensorflow as tf
    import tensorflow_transform as tft

    from pipeline.config import load_config
    from trainer.model import build_model
    from trainer.preprocessing import transform_facts
    from trainer.settings import TrainingSettings
    from trainer.train import make_dataset, training_dataset

    config = load_config(args.config)
    registry = config.registry()
    settings = TrainingSettings.from_dict(config.training.model_dump())
    transformed, _, _ = prepare_demo(args.work, args.impressions, config=config)
    tf_transform_output = tft.TFTransformOutput(transformed.transform_output)
    facts = transform_facts(registry, tf_transform_output)

    batches = list(make_dataset(transformed.train_files, tf_transform_output, registry,
                                settings.batch_size, shuffle=False))
    features = {name: np.concatenate([b[0][name].numpy() for b in batches])
                for name in batches[0][0]}
    labels = np.concatenate([b[1].numpy() for b in batches])
    examples = len(labels)

    def fit(in_memory: bool) -> float:
        model = build_model(registry, facts, settings)
        marks: list[float] = []
        if in_memory:
            model.fit(features, labels, batch_size=settings.batch_size, epochs=args.epochs,
                      shuffle=True, callbacks=[_timer(marks)], verbose=0)
            trained = args.epochs * examples
        else:
            # Exactly what `trainer.train.train` feeds the model.
            dataset, steps = training_dataset(transformed.train_files, tf_transform_output,
                                              registry, settings)
            model.fit(dataset, epochs=args.epochs, steps_per_epoch=steps,
                      callbacks=[_timer(marks)], verbose=0)
            trained = args.epochs * steps * settings.batch_size
        start, end = marks
        return (trained - WARMUP_BATCHES * settings.batch_size) / (end - start)

    def read_only() -> float:
        """The input pipeline alone: its first epoch (from the files) read and parsed."""
        dataset, steps = training_dataset(transformed.train_files, tf_transform_output,
                                          registry, settings)
        batches = iter(dataset)
        next(batches)  # fills the shuffle buffer
        start = time.perf_counter()
        for _ in range(steps):
            next(batches)
        return steps * settings.batch_size / (time.perf_counter() - start)

    results: dict[str, list[float]] = {"pipeline": [], "in_memory": [], "read_only": []}
    for _ in range(args.rounds):
        for kind in results:
            results[kind].append(read_only() if kind == "read_only" else fit(kind == "in_memory"))
            print(f"{kind:>9}: {results[kind][-1]:8.0f} examples/s", flush=True)
    pipeline_rate = statistics.median(results["pipeline"])
    memory_rate = statistics.median(results["in_memory"])
    # Each round's two fits ran back to back, so their ratio sees the same machine load.
    round_ratios = [p / m for p, m in zip(results["pipeline"], results["in_memory"], strict=True)]
    report = {
        "train_examples": examples, "epochs_per_fit": args.epochs,
        "untimed_warmup_batches": WARMUP_BATCHES,
        "rounds": args.rounds, "batch_size": settings.batch_size,
        "pipeline_examples_per_s": pipeline_rate, "in_memory_examples_per_s": memory_rate,
        "ratio": pipeline_rate / memory_rate, "round_ratios": round_ratios,
        "median_round_ratio": statistics.median(round_ratios),
        "read_only_examples_per_s": statistics.median(results["read_only"]), "all": results,
        "tensorflow": tf.__version__,
    }
    path = os.path.join(args.work, "train_bench.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print(f"input pipeline {pipeline_rate:.0f} examples/s, in-memory {memory_rate:.0f} "
          f"examples/s, ratio {report['ratio']:.2f} (target >= 0.8; per round "
          f"{', '.join(f'{r:.2f}' for r in round_ratios)}); the input pipeline "
          f"alone reads {report['read_only_examples_per_s']:.0f} examples/s; written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
