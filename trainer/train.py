"""Training on transformed examples: the input pipeline, the fit loop and the final metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx_bsl.public import tfxio

from trainer.features import FeatureRegistry, transformed_name
from trainer.model import build_model, input_specs
from trainer.preprocessing import transform_facts
from trainer.settings import TrainingSettings

# (file patterns, options, schema) -> dataset; TFX's `fn_args.data_accessor.tf_dataset_factory`.
DatasetFactory = Callable[..., tf.data.Dataset]


def tfrecord_dataset_factory(file_patterns: Sequence[str], options, schema) -> tf.data.Dataset:
    """Reads (possibly gzipped) TFRecords of tf.Examples through tfxio, as TFX's data accessor
    does for Transform's output; for use outside a TFX run."""
    source = tfxio.TFExampleRecord(file_pattern=list(file_patterns), schema=schema)
    return source.TensorFlowDataset(options)


def make_dataset(file_patterns: Sequence[str], tf_transform_output, registry: FeatureRegistry,
                 batch_size: int, *, shuffle: bool, seed: int | None = None,
                 factory: DatasetFactory = tfrecord_dataset_factory,
                 repeat: bool = False) -> tf.data.Dataset:
    """(features, label) batches of transformed examples: one epoch, or endless with `repeat`.

    Only the features the model reads are kept, flattened to the shapes it expects.
    """
    options = tfxio.TensorFlowDatasetOptions(
        batch_size=batch_size, label_key=transformed_name(registry.label),
        num_epochs=None if repeat else 1, shuffle=shuffle, shuffle_seed=seed)
    dataset = factory(list(file_patterns), options, tf_transform_output.transformed_metadata.schema)
    specs = input_specs(registry)

    def to_model_inputs(features: dict, label: tf.Tensor):
        batch = {name: tf.reshape(features[name], [-1, *spec.shape[1:]])
                 for name, spec in specs.items()}
        return batch, tf.reshape(label, [-1, 1])

    return dataset.map(to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)


def count_examples(file_patterns: Sequence[str], tf_transform_output, registry: FeatureRegistry,
                   factory: DatasetFactory = tfrecord_dataset_factory) -> int:
    """The number of transformed examples, reading only their labels."""
    label = transformed_name(registry.label)
    schema = schema_pb2.Schema()
    schema.feature.extend(f for f in tf_transform_output.transformed_metadata.schema.feature
                          if f.name == label)
    options = tfxio.TensorFlowDatasetOptions(batch_size=4096, num_epochs=1, shuffle=False)
    dataset = factory(list(file_patterns), options, schema)
    return int(dataset.reduce(np.int64(0), lambda n, batch: n + tf.shape(
        batch[label], out_type=tf.int64)[0]))


def training_dataset(file_patterns: Sequence[str], tf_transform_output,
                     registry: FeatureRegistry, settings: TrainingSettings, *,
                     factory: DatasetFactory = tfrecord_dataset_factory
                     ) -> tuple[tf.data.Dataset, int]:
    """Endless shuffled training batches and the number of steps that make one epoch.

    Repeating before shuffling keeps the shuffle buffer full across epochs instead of
    refilling it (while the model waits) at the start of each one.
    """
    examples = count_examples(file_patterns, tf_transform_output, registry, factory)
    if not examples:
        raise ValueError(f"no training examples in {', '.join(file_patterns)}")
    dataset = make_dataset(file_patterns, tf_transform_output, registry, settings.batch_size,
                           shuffle=True, seed=settings.seed, factory=factory, repeat=True)
    return dataset, -(-examples // settings.batch_size)


def train(train_files: Sequence[str], eval_files: Sequence[str], tf_transform_output,
          registry: FeatureRegistry, settings: TrainingSettings, *,
          factory: DatasetFactory = tfrecord_dataset_factory,
          train_steps: int | None = None, callbacks: Sequence = ()) -> tf.keras.Model:
    """Builds and fits the model, stopping early on the eval split's log-loss.

    Args:
        train_files: file patterns of transformed training examples.
        eval_files: file patterns of transformed eval examples.
        tf_transform_output: a `tft.TFTransformOutput` of the same transform.
        registry: the feature registry.
        settings: hyperparameters.
        factory: how to read the files (TFX's data accessor inside a pipeline).
        train_steps: when given, stop after this many batches in total instead of after
            `settings.epochs` passes.
        callbacks: extra Keras callbacks, e.g. TensorBoard.

    Returns:
        The fitted model, with the weights of its best eval epoch.
    """
    model = build_model(registry, transform_facts(registry, tf_transform_output), settings)
    train_data, steps_per_epoch = training_dataset(train_files, tf_transform_output, registry,
                                                   settings, factory=factory)
    eval_data = make_dataset(eval_files, tf_transform_output, registry, settings.batch_size,
                             shuffle=False, factory=factory)
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
    """Click probabilities and labels over one pass of a (features, label) dataset."""
    probabilities, labels = [], []
    for features, label in dataset:
        probabilities.append(model(features, training=False).numpy().reshape(-1))
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
             registry: FeatureRegistry, batch_size: int = 1024, *,
             factory: DatasetFactory = tfrecord_dataset_factory) -> dict[str, float]:
    """The model's AUC and log-loss on transformed eval examples."""
    dataset = make_dataset(eval_files, tf_transform_output, registry, batch_size, shuffle=False,
                           factory=factory)
    return binary_metrics(*predict_with_labels(model, dataset))

