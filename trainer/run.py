"""The TFX Trainer's entry point: a thin adapter from `FnArgs` to `trainer.train`.

Wired as ``TrainModel(run_fn="trainer.run.run_fn", custom_config={"registry": ...,
"training": ...})``: TFX's Trainer, also given the ingested examples (components/train), which
adds ``"thumbnails"``, the file pattern of the creatives' model inputs that the training rows
name by key (`trainer.thumbnail_table`). Without ``TrainArgs(num_steps=...)`` TFX passes
``train_steps=None`` and training runs ``training.epochs`` passes over the train split; the
whole eval split is used for early stopping and for the final metrics (``eval_steps`` is not
used).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf
import tensorflow_transform as tft

from trainer.export import export_serving_model
from trainer.features import FeatureRegistry
from trainer.settings import TrainingSettings
from trainer.thumbnail_table import ThumbnailTable
from trainer.train import evaluate, train

METRICS_FILE = "metrics.json"
# The custom_config key of the creatives' model inputs: a file pattern (`trainer.thumbnail_table`).
THUMBNAILS = "thumbnails"


def run_fn(fn_args) -> None:
    """Trains on Transform's output, writes eval metrics and exports the serving model.

    Args:
        fn_args: TFX's `FnArgs`; reads `custom_config` (``registry``, ``training`` and
            optionally ``thumbnails``), `train_files`, `eval_files`,
            `train_steps`, `transform_graph_path`, `serving_model_dir` and
            `model_run_dir`.

    Raises:
        ValueError: `custom_config` has no ``registry``.
    """
    custom_config = fn_args.custom_config or {}
    if "registry" not in custom_config:
        raise ValueError('Trainer custom_config needs "registry": registry.to_dict()')
    registry = FeatureRegistry.from_dict(custom_config["registry"])
    settings = TrainingSettings.from_dict(custom_config.get("training", {}))
    tf_transform_output = tft.TFTransformOutput(
        fn_args.transform_graph_path or fn_args.transform_output)
    thumbnails = ThumbnailTable.load([custom_config[THUMBNAILS]]) if THUMBNAILS in custom_config else None
    board = tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, profile_batch=0)
    model = train(fn_args.train_files, fn_args.eval_files, tf_transform_output, registry,
                  settings, train_steps=fn_args.train_steps, callbacks=[board], thumbnails=thumbnails)
    metrics = evaluate(model, fn_args.eval_files, tf_transform_output, registry, thumbnails=thumbnails)
    write_metrics(metrics, fn_args.model_run_dir)
    export_serving_model(model, tf_transform_output, registry, fn_args.serving_model_dir)


def write_metrics(metrics: dict, model_run_dir: str) -> str:
    """Writes the final eval metrics as ``metrics.json`` in `model_run_dir`; returns its path."""
    tf.io.gfile.makedirs(model_run_dir)
    path = os.path.join(model_run_dir, METRICS_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return path
