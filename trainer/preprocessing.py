"""The TF Transform `preprocessing_fn`, driven by the feature registry.

Every transformation a prediction needs runs here, in the TF graph, so the exported model
takes raw features and training and serving cannot drift apart:

- categorical: a vocabulary of the most frequent values plus OOV buckets, or a hash into
  `hash_buckets` buckets when set; ids in ``[0, cardinality)``;
- numeric: a z-score (deep part) and a quantile bucket (wide part);
- text: lower-cased word tokens, a vocabulary with OOV buckets, padded or cut to
  `text_max_tokens` ids where 0 means "no token";
- image: `trainer.images.model_input`: PNG/JPEG bytes decoded, resized to `image_size`, 64
  levels a channel, and kept as a lossless PNG of the resized image (3 channels), once per
  distinct creative of a batch, in Transform and in every serving signature alike. Serving clients send the
  creative's file; ingested eval examples already hold that PNG (computed once per creative
  with the same function), which this keeps as it is, undecoded, and training examples its
  key (`trainer.images.thumbnail_key`), also kept, which the trainer resolves from the
  creatives stored once (`trainer.thumbnail_table`) to their pixels, decoded once per run. The
  model decodes and scales the PNG (`trainer.model.Pixels`), once per distinct creative of a
  batch, or scales the trainer's pixels;
- label: kept as int64 under its transformed name; its class counts are stored as a TFT
  vocabulary so training can start from the class prior.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf
import tensorflow_transform as tft

from trainer.features import Feature, FeatureRegistry, Kind, transformed_name
from trainer.images import model_input

NUMERIC_BUCKETS = 10
LABEL_COUNTS_VOCAB = "label_class_counts"
# Characters that separate words in ad titles, besides whitespace.
_PUNCTUATION = r"[!\"#$%&()*+,./:;<=>?@\[\\\]^_`{|}~'-]"


def bucket_name(name: str) -> str:
    """The transformed name of a numeric feature's quantile bucket."""
    return transformed_name(f"{name}_bucket")


def preprocessing_fn(inputs: dict, custom_config: dict) -> dict:
    """Turns raw features into model inputs; called by TFX Transform.

    Args:
        inputs: raw features as parsed by TFT: dense ``[batch]`` or ``[batch, 1]`` tensors, or
            sparse tensors of one value per row, keyed by raw feature name.
        custom_config: ``{"registry": FeatureRegistry.to_dict()}``.

    Returns:
        Transformed features keyed by `transformed_name`, plus the label.
    """
    registry = FeatureRegistry.from_dict(custom_config["registry"])
    outputs = {}
    for feature in registry.features:
        outputs.update(_TRANSFORMS[feature.kind](inputs[feature.name], feature, registry))
    label = _dense(inputs[registry.label], 0)
    tft.vocabulary(tf.strings.as_string(label), vocab_filename=LABEL_COUNTS_VOCAB,
                   store_frequency=True)
    outputs[transformed_name(registry.label)] = label
    return outputs


def _dense(tensor: tf.Tensor | tf.SparseTensor, default) -> tf.Tensor:
    """One value per row as a ``[batch]`` tensor, whatever form the schema gave it."""
    if isinstance(tensor, tf.SparseTensor):
        tensor = tf.sparse.to_dense(tf.sparse.reset_shape(tensor, [tensor.dense_shape[0], 1]),
                                    default_value=tf.cast(default, tensor.dtype))
    elif isinstance(tensor, tf.RaggedTensor):
        tensor = tensor.to_tensor(default_value=tf.cast(default, tensor.dtype), shape=[None, 1])
    return tf.reshape(tensor, [-1])


def _categorical(raw, feature: Feature, registry: FeatureRegistry) -> dict:
    values = _dense(raw, "")
    if feature.hash_buckets:
        ids = tft.hash_strings(values, feature.hash_buckets)
    else:
        ids = tft.compute_and_apply_vocabulary(
            values, top_k=feature.vocab_size, num_oov_buckets=feature.oov_buckets,
            vocab_filename=feature.name)
    return {transformed_name(feature.name): ids}


def _numeric(raw, feature: Feature, registry: FeatureRegistry) -> dict:
    values = tf.cast(_dense(raw, feature.default), tf.float32)
    return {
        transformed_name(feature.name): tft.scale_to_z_score(values),
        bucket_name(feature.name): tft.bucketize(values, NUMERIC_BUCKETS),
    }


def tokenize(text: tf.Tensor, max_tokens: int) -> tf.RaggedTensor:
    """Lower-cased words of each text, at most `max_tokens` of them."""
    words = tf.strings.regex_replace(tf.strings.lower(text), _PUNCTUATION, " ")
    return tf.strings.split(words)[:, :max_tokens]


def _text(raw, feature: Feature, registry: FeatureRegistry) -> dict:
    tokens = tokenize(_dense(raw, ""), registry.text_max_tokens)
    ids = tft.compute_and_apply_vocabulary(
        tokens.to_sparse(), top_k=feature.vocab_size, num_oov_buckets=feature.oov_buckets,
        vocab_filename=feature.name)
    # Shift by one so that 0 pads short titles, and fix the width for the model.
    padded = tf.RaggedTensor.from_sparse(ids).to_tensor(
        default_value=-1, shape=[None, registry.text_max_tokens])
    return {transformed_name(feature.name): padded + 1}


def _image(raw, feature: Feature, registry: FeatureRegistry) -> dict:
    # Impressions repeat a few creatives: decode, resize and encode each distinct one once per batch.
    distinct, index = tf.unique(_dense(raw, ""))
    return {transformed_name(feature.name): tf.gather(model_input(distinct, registry.image_size), index)}


_TRANSFORMS = {
    Kind.CATEGORICAL: _categorical,
    Kind.NUMERIC: _numeric,
    Kind.TEXT: _text,
    Kind.IMAGE: _image,
}


@dataclass(frozen=True)
class TransformFacts:
    """What the model must know about the analysed data to build its layers.

    Attributes:
        cardinalities: ids per categorical and numeric-bucket input, by transformed name.
        text_ids: ids per text input including the padding id 0, by transformed name.
        positive_rate: the fraction of positive labels in the analysed (training) data.
    """

    cardinalities: dict[str, int]
    text_ids: dict[str, int]
    positive_rate: float


def transform_facts(registry: FeatureRegistry, tf_transform_output) -> TransformFacts:
    """Reads vocabulary sizes and the class prior from a TFT output.

    Args:
        registry: the feature registry the transform was built with.
        tf_transform_output: a `tft.TFTransformOutput`.
    """
    cardinalities, text_ids = {}, {}
    for feature in registry.features:
        name = transformed_name(feature.name)
        if feature.kind is Kind.CATEGORICAL:
            cardinalities[name] = feature.hash_buckets or (
                tf_transform_output.vocabulary_size_by_name(feature.name) + feature.oov_buckets)
        elif feature.kind is Kind.NUMERIC:
            cardinalities[bucket_name(feature.name)] = NUMERIC_BUCKETS
        elif feature.kind is Kind.TEXT:
            text_ids[name] = (tf_transform_output.vocabulary_size_by_name(feature.name)
                              + feature.oov_buckets + 1)
    counts = {}
    for line in tf_transform_output.vocabulary_by_name(LABEL_COUNTS_VOCAB):
        count, value = line.split(b" ", 1)
        counts[value] = int(count)
    total = sum(counts.values())
    positive_rate = sum(n for value, n in counts.items() if value != b"0") / max(total, 1)
    return TransformFacts(cardinalities, text_ids, positive_rate)
