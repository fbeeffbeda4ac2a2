"""Training on transformed examples: the input pipeline, the fit loop and the final metrics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from trainer.features import FeatureRegistry, Kind, transformed_name
from trainer.model import build_model, input_specs
from trainer.preprocessing import transform_facts
from trainer.settings import TrainingSettings
from trainer.thumbnail_table import ThumbnailTable
from trainer.tracing import leave_keras_to_tracing

SHUFFLE_BUFFER = 10_000


def _records(file_patterns: Sequence[str]) -> tf.data.Dataset:
    """Serialized tf.Examples of every file the patterns match, in file-name order; gzipped
    files (Transform writes ``.gz``) are decompressed.

    Raises:
        ValueError: nothing matches, or gzipped and plain files are mixed.
    """
    files = sorted({path for pattern in file_patterns for path in tf.io.gfile.glob(pattern)})
    if not files:
        raise ValueError(f"no files match {', '.join(file_patterns)}")
    gzipped = {path.endswith(".gz") for path in files}
    if len(gzipped) > 1:
        raise ValueError(f"{', '.join(file_patterns)} mix gzipped and uncompressed files")
    return tf.data.TFRecordDataset(files, compression_type="GZIP" if gzipped.pop() else "")


def make_dataset(file_patterns: Sequence[str], tf_transform_output, registry: FeatureRegistry,
                 batch_size: int, *, shuffle: bool, seed: int | None = None,
                 repeat: bool = False, cache: bool = False,
                 thumbnails: ThumbnailTable | None = None) -> tf.data.Dataset:
    """(features, label) batches of transformed examples: one epoch, or endless with `repeat`.

    Plain tf.data over Transform's TFRecords: records are shuffled and batched, and each batch
    is parsed with one `tf.io.parse_example` of only the features the model reads. (tfxio's
    `TensorFlowDataset`, TFX's data accessor, interleaves even a single file; measured on this
    data, that doubled the reader's cost per example.) Repeating before shuffling keeps the
    shuffle buffer full across epochs instead of refilling it, while the model waits, at the
    start of each one. With `cache`, the decompressed records are kept in memory during the
    first pass, and later passes read them from there instead of the files. With `thumbnails`,
    the image features' keys (training rows name their creative's model input by key, stored
    once per run) are swapped for the inputs they name, batch by batch after the cache, so
    what is cached and re-read each epoch is the rows without their images.
    """
    specs = input_specs(registry)
    images = [transformed_name(f.name) for f in registry.of_kind(Kind.IMAGE)] if thumbnails else []
    label = transformed_name(registry.label)
    all_specs = tf_transform_output.transformed_feature_spec()
    parse_specs = {name: all_specs[name] for name in [*specs, label]}

    def to_model_inputs(serialized: tf.Tensor):
        features = tf.io.parse_example(serialized, parse_specs)
        for name in images:
            features[name] = thumbnails.resolve(features[name])
        batch = {name: tf.reshape(features[name], [-1, *spec.shape[1:]])
                 for name, spec in specs.items()}
        return batch, tf.reshape(features[label], [-1, 1])

    dataset = _records(file_patterns)
    if cache:
        dataset = dataset.cache()
    if repeat:
        dataset = dataset.repeat()
    if shuffle:
        dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed)
    return dataset.batch(batch_size).map(
        to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def count_records(file_patterns: Sequence[str]) -> tuple[int, int]:
    """The number of records in the files and their decompressed bytes, without parsing them."""

    def add(totals: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
        return totals + tf.stack([tf.size(batch, out_type=tf.int64),
                                  tf.reduce_sum(tf.cast(tf.strings.length(batch), tf.int64))])

    records, size = _records(file_patterns).batch(4096).reduce(
        tf.zeros([2], tf.int64), add).numpy()
    return int(records), int(size)


def fits_in_cache(size: int, settings: TrainingSettings) -> bool:
    """Whether a split of `size` decompressed bytes is kept in memory (`settings.cache_mb`)."""
    return size <= settings.cache_mb * 2**20


def training_dataset(file_patterns: Sequence[str], tf_transform_output,
                     registry: FeatureRegistry, settings: TrainingSettings,
                     thumbnails: ThumbnailTable | None = None) -> tuple[tf.data.Dataset, int]:
    """Endless shuffled training batches and the number of steps that make one epoch; the
    split is cached in memory after the first epoch when it fits in `settings.cache_mb`."""
    examples, size = count_records(file_patterns)
    if not examples:
        raise ValueError(f"no training examples in {', '.join(file_patterns)}")
    dataset = make_dataset(file_patterns, tf_transform_output, registry, settings.batch_size,
                           shuffle=True, seed=settings.seed, repeat=True,
                           cache=fits_in_cache(size, settings), thumbnails=thumbnails)
    return dataset, -(-examples // settings.batch_size)


def train(train_files: Sequence[str], eval_files: Sequence[str], tf_transform_output,
          registry: FeatureRegistry, settings: TrainingSettings, *,
          train_steps: int | None = None, callbacks: Sequence = (),
          thumbnails: ThumbnailTable | None = None) -> tf.keras.Model:
    """Builds and fits the model, stopping early on the eval split's log-loss.

    Args:
        train_files: file patterns of transformed training examples.
        eval_files: file patterns of transformed eval examples.
        tf_transform_output: a `tft.TFTransformOutput` of the same transform.
        registry: the feature registry.
        settings: hyperparameters.
        train_steps: when given, stop after this many batches in total instead of after
            `settings.epochs` passes.
        callbacks: extra Keras callbacks, e.g. TensorBoard.
        thumbnails: the creatives' model inputs that rows name by key, if they do.

    Returns:
        The fitted model, with the weights of its best eval epoch.
    """
    leave_keras_to_tracing()
    model = build_model(registry, transform_facts(registry, tf_transform_output), settings)
    train_data, steps_per_epoch = training_dataset(train_files, tf_transform_output, registry,
                                                   settings, thumbnails)
    eval_data = make_dataset(eval_files, tf_transform_output, registry, settings.batch_size,
                             shuffle=False, cache=fits_in_cache(count_records(eval_files)[1], settings),
                             thumbnails=thumbnails)
    if train_steps:
        steps_per_epoch = max(1, train_steps // settings.epochs)
    early_stopping = tf.keras.callbacks.EarlyStopping(
        # The eval log-loss, not val_loss: that one also counts the L2 penalty.
        monitor="val_log_loss", mode="min", patience=settings.early_stopping_patience,
        restore_best_weights=True)
    model.fit(train_data, validation_data=eval_data, epochs=settings.epochs,
              steps_per_epoch=steps_per_epoch, callbacks=[early_stopping, *callbacks], verbose=2)
    return model


def predict_with_labels(model: tf.keras.Model, dataset: tf.data.Dataset
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Click probabilities and labels over one pass of a (features, label) dataset.

    The model runs as one traced function, not layer by layer in eager mode: over the 200,000
    eval rows of a 1,000,000-impression banner month that took 104 s instead of 8 s (the image
    branch's per-creative PNG decode is a loop, which eager mode runs step by step in Python).
    """
    predict = tf.function(lambda features: model(features, training=False), reduce_retracing=True)
    probabilities, labels = [], []
    for features, label in dataset:
        probabilities.append(predict(features).numpy().reshape(-1))
        labels.append(label.numpy().reshape(-1))
    return np.concatenate(probabilities), np.concatenate(labels)


def binary_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """AUC (exact, rank based) and mean log-loss of click probabilities.

    Raises:
        ValueError: there are no examples, or only one class among the labels.
    """
    labels = np.asarray(labels).astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if not positives or not negatives:
        raise ValueError("AUC needs both clicks and non-clicks among the labels")
    ranks = _average_ranks(np.asarray(probabilities, dtype=np.float64))
    auc = (ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    log_loss = -np.mean(np.where(labels, np.log(clipped), np.log1p(-clipped)))
    return {"auc": float(auc), "log_loss": float(log_loss), "examples": int(labels.size)}


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (as the Mann-Whitney U statistic needs)."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], values.size] - 1
    average = (first + last) / 2 + 1
    ranks = np.empty(values.size)
    ranks[order] = average[group]
    return ranks


def evaluate(model: tf.keras.Model, eval_files: Sequence[str], tf_transform_output,
             registry: FeatureRegistry, batch_size: int = 1024,
             thumbnails: ThumbnailTable | None = None) -> dict[str, float]:
    """The model's AUC and log-loss on transformed eval examples."""
    dataset = make_dataset(eval_files, tf_transform_output, registry, batch_size, shuffle=False,
                           thumbnails=thumbnails)
    return binary_metrics(*predict_with_labels(model, dataset))

