"""The click model: wide (linear terms and feature crosses) plus deep (embeddings, text, image).

It reads the transformed features of `trainer.preprocessing` and outputs the click
probability. The two parts add up in logit space; the output bias starts at the class prior,
which is how class imbalance is handled without reweighting (reweighting would bias the
probabilities and hurt log-loss).
"""

from __future__ import annotations

import math

import tensorflow as tf

from trainer.features import PREDICTION_OUTPUT, FeatureRegistry, Kind, transformed_name
from trainer.images import input_pixels
from trainer.preprocessing import TransformFacts, bucket_name
from trainer.settings import Branch, TrainingSettings

PROBABILITY = PREDICTION_OUTPUT


def input_specs(registry: FeatureRegistry) -> dict[str, tf.TensorSpec]:
    """The transformed features the model reads, with their per-batch shapes."""
    specs = {}
    for feature in registry.features:
        name = transformed_name(feature.name)
        if feature.kind is Kind.CATEGORICAL:
            specs[name] = tf.TensorSpec([None], tf.int64)
        elif feature.kind is Kind.NUMERIC:
            specs[name] = tf.TensorSpec([None], tf.float32)
            specs[bucket_name(feature.name)] = tf.TensorSpec([None], tf.int64)
        elif feature.kind is Kind.TEXT:
            specs[name] = tf.TensorSpec([None, registry.text_max_tokens], tf.int64)
        else:
            specs[name] = tf.TensorSpec([None], tf.string)
    return specs


@tf.keras.utils.register_keras_serializable(package="clickpipe")
class Pixels(tf.keras.layers.Layer):
    """The transform's PNG of a ``size`` x ``size`` image, one string per row (or the pixels the
    trainer decoded it to once per run: `trainer.images.input_pixels`), as
    ``[batch, size, size, 3]`` floats in ``[0, 1]``."""

    def __init__(self, size: int, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, data: tf.Tensor) -> tf.Tensor:
        return tf.cast(input_pixels(data, self.size), tf.float32) / 255.0

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size}


@tf.keras.utils.register_keras_serializable(package="clickpipe")
class Distinct(tf.keras.layers.Layer):
    """The distinct values of a ``[batch]`` tensor and, per row, the index of its value."""

    def call(self, values: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        distinct, index = tf.unique(values)
        return distinct, index


@tf.keras.utils.register_keras_serializable(package="clickpipe")
class PerRow(tf.keras.layers.Layer):
    """``[values of each distinct input, index per row]`` back to one value per row."""

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        values, index = inputs
        return tf.gather(values, index)


@tf.keras.utils.register_keras_serializable(package="clickpipe")
class IdDropout(tf.keras.layers.Layer):
    """In training only, replaces a share `rate` of ids with one of the out-of-vocabulary ids
    ``[first_oov, first_oov + oov_buckets)``, which is what an unseen value (a new ad) maps to."""

    def __init__(self, rate: float, first_oov: int, oov_buckets: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.first_oov, self.oov_buckets, self.seed = rate, first_oov, oov_buckets, seed

    def call(self, ids: tf.Tensor, training=None) -> tf.Tensor:
        if not training or not self.rate:
            return ids
        drop = tf.random.uniform(tf.shape(ids), seed=self.seed) < self.rate
        other_seed = None if self.seed is None else self.seed + 1
        unknown = self.first_oov + tf.random.uniform(tf.shape(ids), maxval=self.oov_buckets, dtype=ids.dtype,
                                                     seed=other_seed)
        return tf.where(drop, unknown, ids)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "first_oov": self.first_oov,
                "oov_buckets": self.oov_buckets, "seed": self.seed}


def creative_ids(registry: FeatureRegistry) -> set[str]:
    """Categorical features that name an image's creative (its source column, e.g. ad_id):
    the ids a new ad arrives without, whose creative and title must then carry the prediction."""
    sources = {f.source_column for f in registry.of_kind(Kind.IMAGE)}
    return {f.name for f in registry.of_kind(Kind.CATEGORICAL) if f.name in sources and not f.hash_buckets}


def _cross_inputs(registry: FeatureRegistry, cross: tuple[str, ...]) -> list[str]:
    """The transformed inputs a cross combines: categorical ids or numeric buckets."""
    names = []
    for raw in cross:
        kind = registry[raw].kind
        if kind is Kind.CATEGORICAL:
            names.append(transformed_name(raw))
        elif kind is Kind.NUMERIC:
            names.append(bucket_name(raw))
        else:
            raise ValueError(f"cross {list(cross)}: {raw} is {kind.value}; "
                             "only categorical and numeric features can be crossed")
    return names


def _image_tower(image: tf.Tensor, width: int) -> tuple[tf.Tensor, tf.Tensor]:
    """A small conv net over a creative: features for the deep part and for a linear term.

    Average pooling sees how much of a colour or texture there is, max pooling whether a
    small element (such as a button) is there at all.
    """
    layers = tf.keras.layers
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(image)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    pooled = layers.Concatenate()([layers.GlobalAveragePooling2D()(x),
                                   layers.GlobalMaxPooling2D()(x)])
    return layers.Dense(width, activation="relu")(pooled), pooled


def build_model(registry: FeatureRegistry, facts: TransformFacts,
                settings: TrainingSettings) -> tf.keras.Model:
    """A compiled wide-and-deep Keras model over the transformed features.

    Args:
        registry: the features, their kinds and the crosses.
        facts: vocabulary sizes and the class prior from the transform.
        settings: hyperparameters; `settings.without` drops branches (for ablations).

    Raises:
        ValueError: a cross names a text or image feature.
    """
    layers = tf.keras.layers
    tf.keras.utils.set_random_seed(settings.seed)
    # An L2 penalty is a Gaussian prior on every weight: rare values shrink towards zero.
    penalty = tf.keras.regularizers.L2(settings.l2) if settings.l2 else None

    def weights(size: int, dim: int, name: str) -> tf.keras.layers.Embedding:
        # Linear (wide) weights start at zero, so the untrained model predicts the prior.
        start = "zeros" if dim == 1 else "uniform"
        return layers.Embedding(size, dim, embeddings_initializer=start,
                                embeddings_regularizer=penalty, name=name)

    def linear(units: int, name: str, start: str = "zeros") -> tf.keras.layers.Dense:
        return layers.Dense(units, use_bias=False, kernel_initializer=start,
                            kernel_regularizer=penalty, name=name)

    specs = input_specs(registry)
    inputs = {name: tf.keras.Input(type_spec=spec, name=name) for name, spec in specs.items()}
    dropped = creative_ids(registry) if settings.id_dropout else set()
    wide, deep = [], []
    for feature in registry.features:
        name = transformed_name(feature.name)
        if feature.kind is Kind.CATEGORICAL:
            size = facts.cardinalities[name]
            ids = inputs[name]
            if feature.name in dropped:
                # Rows that look like a new ad teach the model to predict one from its creative and title.
                ids = IdDropout(settings.id_dropout, size - feature.oov_buckets, feature.oov_buckets,
                                seed=settings.seed, name=f"new_{feature.name}")(ids)
            wide.append(weights(size, 1, f"wide_{feature.name}")(ids))
            deep.append(weights(size, settings.embedding_dim, f"embed_{feature.name}")(ids))
        elif feature.kind is Kind.NUMERIC:
            bucket = bucket_name(feature.name)
            wide.append(weights(facts.cardinalities[bucket], 1, f"wide_{feature.name}")(
                inputs[bucket]))
            deep.append(layers.Reshape((1,))(inputs[name]))
        elif feature.kind is Kind.TEXT and Branch.TEXT not in settings.without:
            # Bags of words: a weight (wide) and an embedding (deep) per occurrence; a
            # title without words still has its padding count, so nothing divides by zero.
            counts = layers.CategoryEncoding(facts.text_ids[name], output_mode="count")(
                inputs[name])
            wide.append(linear(1, f"wide_{feature.name}")(counts))
            deep.append(linear(settings.embedding_dim, f"embed_{feature.name}", "uniform")(counts))
        elif feature.kind is Kind.IMAGE and Branch.IMAGE not in settings.without:
            # Impressions repeat a few creatives: the tower runs once per distinct one in a batch.
            distinct, index = Distinct(name=f"distinct_{feature.name}")(inputs[name])
            image = Pixels(registry.image_size, name=f"pixels_{feature.name}")(distinct)
            features, pooled = _image_tower(image, settings.embedding_dim)
            features, pooled = (PerRow()([x, index]) for x in (features, pooled))
            deep.append(features)
            # Creative traits move the click logit additively, as words do.
            wide.append(linear(1, f"wide_{feature.name}")(pooled))
    if Branch.CROSSES not in settings.without:
        for cross in registry.crosses:
            crossed = layers.HashedCrossing(settings.cross_hash_buckets)(
                tuple(inputs[name] for name in _cross_inputs(registry, cross)))
            wide.append(weights(settings.cross_hash_buckets, 1,
                                f"cross_{'_x_'.join(cross)}")(crossed))
    hidden = layers.Concatenate()(deep)
    for units in settings.hidden_units:
        hidden = layers.Dense(units, activation="relu", kernel_regularizer=penalty)(hidden)
        if settings.dropout:
            hidden = layers.Dropout(settings.dropout, seed=settings.seed)(hidden)
    logits = [layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="deep_logit")(hidden)]
    logits += [layers.Reshape((1,))(term) for term in wide]
    prior = min(max(facts.positive_rate, 1e-4), 1 - 1e-4)
    logit = layers.Add()(logits) if len(logits) > 1 else logits[0]
    logit = layers.Dense(1, name="prior_bias", kernel_initializer="ones",
                         bias_initializer=tf.keras.initializers.Constant(
                             math.log(prior / (1 - prior))))(logit)
    probability = layers.Activation("sigmoid", name=PROBABILITY)(logit)
    model = tf.keras.Model(inputs=inputs, outputs=probability)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(settings.learning_rate),
        loss=tf.keras.losses.BinaryCrossentropy(),
        metrics=[tf.keras.metrics.AUC(name="auc"),
                 tf.keras.metrics.BinaryCrossentropy(name="log_loss")],
    )
    return model
