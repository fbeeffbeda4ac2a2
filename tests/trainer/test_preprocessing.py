"""The TF Transform step on three hand-written impressions, and its pure helpers."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from trainer.features import Kind, transformed_name
from trainer.images import encode_pixels, input_pixels, model_input, pixels_value
from trainer.model import Pixels
from trainer.preprocessing import (
    NUMERIC_BUCKETS,
    _dense,
    bucket_name,
    tokenize,
    transform_facts,
)
from trainer.train import make_dataset


@pytest.fixture(scope="module")
def batch(transformed, tf_transform_output, registry):
    dataset = make_dataset(transformed.train_files, tf_transform_output, registry, 3,
                           shuffle=False)
    return next(iter(dataset))


def test_every_feature_is_transformed_with_the_shape_the_model_reads(batch, registry):
    features, label = batch
    size = registry.image_size
    for feature in registry.features:
        value = features[transformed_name(feature.name)]
        expected = {
            Kind.CATEGORICAL: [3], Kind.NUMERIC: [3],
            Kind.TEXT: [3, registry.text_max_tokens], Kind.IMAGE: [3],
        }[feature.kind]
        assert value.shape.as_list() == expected, feature.name
        if feature.kind is Kind.IMAGE:
            shapes = [tf.io.decode_png(png).shape.as_list() for png in value.numpy()]
            assert shapes == [[size, size, 3]] * 3
    assert sorted(label.numpy().reshape(-1).tolist()) == [0, 0, 1]


def test_categorical_ids_fall_inside_the_vocabulary_and_oov_buckets(batch, registry,
                                                                    tf_transform_output):
    features, _ = batch
    facts = transform_facts(registry, tf_transform_output)
    for feature in registry.of_kind(Kind.CATEGORICAL):
        name = transformed_name(feature.name)
        ids = features[name].numpy()
        assert ids.min() >= 0 and ids.max() < facts.cardinalities[name], feature.name
    # Three distinct ad ids make a three-word vocabulary plus the OOV bucket.
    assert facts.cardinalities[transformed_name("ad_id")] == 3 + registry["ad_id"].oov_buckets
    assert facts.cardinalities[transformed_name("campaign")] == registry["campaign"].hash_buckets


def test_numerics_are_z_scored_and_bucketized(batch, registry):
    features, _ = batch
    for feature in registry.of_kind(Kind.NUMERIC):
        scaled = features[transformed_name(feature.name)].numpy()
        assert abs(scaled.mean()) < 1e-5 and abs(scaled.std() - 1) < 1e-3, feature.name
        buckets = features[bucket_name(feature.name)].numpy()
        assert buckets.min() >= 0 and buckets.max() < NUMERIC_BUCKETS


def test_titles_become_padded_word_ids(batch, registry, rows, tf_transform_output):
    features, _ = batch
    title = registry.of_kind(Kind.TEXT)[0].name
    ids = features[transformed_name(title)].numpy()
    words = [len(tokenize(tf.constant([row[title]]), registry.text_max_tokens)[0])
             for row in rows]
    assert sorted((ids > 0).sum(axis=1).tolist()) == sorted(words)
    # Padding (0) only after the words.
    for row in ids:
        assert (np.diff((row > 0).astype(int)) <= 0).all()
    facts = transform_facts(registry, tf_transform_output)
    assert ids.max() < facts.text_ids[transformed_name(title)]


def test_creatives_are_decoded_and_resized_to_the_pixels_the_model_scales(batch, registry):
    features, _ = batch
    size = registry.image_size
    image = Pixels(size)(features[transformed_name("creative")]).numpy()
    assert image.shape == (3, size, size, 3)
    assert image.min() >= 0.0 and image.max() <= 1.0
    # The first row's creative is mostly red.
    red = image[0, ..., 0].mean()
    assert red > image[0, ..., 1].mean() and red > image[0, ..., 2].mean()


def test_class_prior_comes_from_the_transform(registry, tf_transform_output):
    assert transform_facts(registry, tf_transform_output).positive_rate == pytest.approx(1 / 3)


def test_tokenize_lowercases_splits_on_punctuation_and_cuts():
    tokens = tokenize(tf.constant(["Cheap flights, to Lisbon!", "a b c d e"]), 3)
    assert tokens.to_list() == [[b"cheap", b"flights", b"to"], [b"a", b"b", b"c"]]


def test_dense_accepts_the_shapes_a_schema_can_give():
    dense = tf.constant([["x"], ["y"]])
    sparse = tf.SparseTensor([[0, 0]], ["x"], [2, 1])
    ragged = tf.ragged.constant([["x"], []])
    assert _dense(dense, "").numpy().tolist() == [b"x", b"y"]
    assert _dense(sparse, "-").numpy().tolist() == [b"x", b"-"]
    assert _dense(ragged, "-").numpy().tolist() == [b"x", b"-"]


def test_resized_creatives_travel_as_lossless_pngs_the_model_decodes():
    pixels = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)
    encoded = encode_pixels(tf.constant(pixels)).numpy()
    assert [data[:8] for data in encoded] == [b"\x89PNG\r\n\x1a\n"] * 2
    scaled = Pixels(4)(tf.constant(encoded)).numpy()
    assert scaled.min() >= 0 and scaled.max() <= 1
    assert np.array_equal(np.rint(scaled * 255).astype(np.uint8), pixels)


def test_the_model_takes_pixels_decoded_once_beside_pngs_and_sees_the_same():
    pixels = np.random.default_rng(1).integers(0, 256, (3, 4, 4, 3), dtype=np.uint8)
    encoded = encode_pixels(tf.constant(pixels)).numpy().tolist()
    mixed = [pixels_value(pixels[0]), encoded[1], pixels_value(pixels[2])]
    assert np.array_equal(Pixels(4)(tf.constant(mixed)).numpy(), Pixels(4)(tf.constant(encoded)).numpy())
    assert np.array_equal(input_pixels(tf.constant(mixed[:1]), 4).numpy(), pixels[:1])
    # Pixels of another size are refused, not cut or padded.
    with pytest.raises(tf.errors.InvalidArgumentError, match="not 5x5x3"):
        input_pixels(tf.constant(mixed[:1]), 5)


def test_the_image_transform_rejects_bytes_that_are_not_an_image():
    with pytest.raises(tf.errors.InvalidArgumentError):
        model_input(tf.constant([b"not a png"]), 8)
    # What only the trainer gives the model is not something serving takes.
    pixels = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(tf.errors.InvalidArgumentError):
        model_input(tf.constant([pixels_value(pixels)]), 8)
