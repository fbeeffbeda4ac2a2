"""The exported SavedModel: raw features in, the label's probability out, with TF Serving's signatures.

The TF Transform graph is attached to the model, so every signature takes raw features. The
probability is named by the dataset (``registry.prediction``, e.g. ``click_probability``):

- ``serving_default`` (predict): ``examples``, serialized tf.Examples without the label
  → the probability, float32 ``[batch, 1]``; what the evaluation and batch scoring use;
- ``predict_raw`` (predict): one tensor per raw feature, named as the feature (strings, with
  the creative as raw PNG/JPEG bytes; numerics as float32) → the probability;
- ``classify`` (classify): ``inputs``, serialized tf.Examples → ``classes`` ``[batch, 2]``
  ("0", "1") and ``scores`` ``[batch, 2]``;
- ``regress`` (regress): ``inputs``, serialized tf.Examples → ``outputs`` ``[batch]``.

`tf.saved_model.save` marks every signature as predict; TF Serving's ``:classify`` and
``:regress`` need the classify/regress method names, which `set_signature_methods` writes
into ``saved_model.pb`` after saving.
"""

from __future__ import annotations

import os

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from trainer.features import FeatureRegistry, Kind
from trainer.tracing import leave_keras_to_tracing

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
SIGNATURE_METHODS = {"classify": CLASSIFY_METHOD, "regress": REGRESS_METHOD}
CLASSES = ("0", "1")


def raw_input_specs(registry: FeatureRegistry) -> dict[str, tf.TensorSpec]:
    """The `predict_raw` inputs: one value per row for each raw feature."""
    return {
        feature.name: tf.TensorSpec(
            [None], tf.float32 if feature.kind is Kind.NUMERIC else tf.string, name=feature.name)
        for feature in registry.features
    }


def _as_raw_spec(values: tf.Tensor, spec) -> tf.Tensor | tf.SparseTensor:
    """Shapes ``[batch]`` values the way the transform's raw schema parses that feature."""
    values = tf.cast(values, spec.dtype)
    if isinstance(spec, tf.io.FixedLenFeature):
        return tf.reshape(values, [-1, *spec.shape])
    if isinstance(spec, tf.io.VarLenFeature):
        rows = tf.range(tf.shape(values, out_type=tf.int64)[0])
        indices = tf.stack([rows, tf.zeros_like(rows)], axis=1)
        return tf.SparseTensor(indices, values, tf.stack([tf.size(rows, out_type=tf.int64), 1]))
    return tf.RaggedTensor.from_tensor(tf.reshape(values, [-1, 1]))


class _ServingModule(tf.Module):
    """Holds the model and the transform layer so their variables and assets are saved."""

    def __init__(self, model: tf.keras.Model, tf_transform_output, registry: FeatureRegistry):
        super().__init__()
        self.model = model
        self.tft_layer = tf_transform_output.transform_features_layer()
        self._registry = registry
        # A served tf.Example carries raw features only: the label is not asked for.
        self._example_spec = {
            name: spec for name, spec in tf_transform_output.raw_feature_spec().items()
            if name in {f.name for f in registry.features}
        }

    def probability(self, raw_features: dict) -> tf.Tensor:
        transformed = self.tft_layer(raw_features)
        inputs = {name: transformed[name] for name in self.model.input_names}
        return tf.reshape(self.model(inputs, training=False), [-1, 1])

    def from_examples(self, serialized: tf.Tensor) -> tf.Tensor:
        return self.probability(tf.io.parse_example(serialized, self._example_spec))

    def from_raw(self, features: dict) -> tf.Tensor:
        return self.probability({
            name: _as_raw_spec(features[name], spec) for name, spec in self._example_spec.items()
        })


def _signatures(module: _ServingModule, registry: FeatureRegistry) -> dict:
    examples_spec = tf.TensorSpec([None], tf.string, name="examples")
    inputs_spec = tf.TensorSpec([None], tf.string, name="inputs")

    output = registry.prediction

    @tf.function(input_signature=[examples_spec])
    def serving_default(examples):
        return {output: module.from_examples(examples)}

    @tf.function(input_signature=[raw_input_specs(registry)])
    def predict_raw(features):
        return {output: module.from_raw(features)}

    @tf.function(input_signature=[inputs_spec])
    def classify(inputs):
        probability = module.from_examples(inputs)
        scores = tf.concat([1.0 - probability, probability], axis=1)
        classes = tf.tile(tf.constant([CLASSES]), [tf.shape(scores)[0], 1])
        return {"classes": classes, "scores": scores}

    @tf.function(input_signature=[inputs_spec])
    def regress(inputs):
        return {"outputs": tf.reshape(module.from_examples(inputs), [-1])}

    return {
        "serving_default": serving_default.get_concrete_function(),
        "predict_raw": predict_raw.get_concrete_function(),
        "classify": classify.get_concrete_function(),
        "regress": regress.get_concrete_function(),
    }


def export_serving_model(model: tf.keras.Model, tf_transform_output, registry: FeatureRegistry,
                         serving_model_dir: str) -> None:
    """Saves the model with the transform graph and the four serving signatures.

    Args:
        model: the trained model over transformed features.
        tf_transform_output: a `tft.TFTransformOutput` of the transform it was trained on.
        registry: the feature registry.
        serving_model_dir: where the SavedModel goes (created if needed).
    """
    leave_keras_to_tracing()
    module = _ServingModule(model, tf_transform_output, registry)
    model.tft_layer = module.tft_layer
    model.save(serving_model_dir, save_format="tf", signatures=_signatures(module, registry))
    set_signature_methods(serving_model_dir, SIGNATURE_METHODS)


def set_signature_methods(saved_model_dir: str, methods: dict[str, str]) -> None:
    """Rewrites the method name of SignatureDefs in ``saved_model.pb``.

    Args:
        saved_model_dir: a SavedModel directory.
        methods: signature key → method name, e.g. ``{"classify": CLASSIFY_METHOD}``.

    Raises:
        KeyError: a named signature is not in the SavedModel.
    """
    path = os.path.join(saved_model_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        for key, method in methods.items():
            if key not in meta_graph.signature_def:
                raise KeyError(f"signature {key!r} not in {saved_model_dir}")
            meta_graph.signature_def[key].method_name = method
    # Write beside and rename, so a reader never sees a half-written saved_model.pb.
    with tf.io.gfile.GFile(path + ".tmp", "wb") as f:
        f.write(saved_model.SerializeToString())
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
