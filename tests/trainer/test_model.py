"""The Keras model: its inputs, output, class prior and the branches an ablation drops."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import tensorflow as tf

from trainer.features import FeatureRegistry, transformed_name
from trainer.model import PROBABILITY, build_model, input_specs
from trainer.preprocessing import TransformFacts, transform_facts
from trainer.settings import Branch


@pytest.fixture(scope="module")
def facts(registry, tf_transform_output):
    return transform_facts(registry, tf_transform_output)


def _zeros(registry, rows=4):
    size = registry.image_size  # a black creative, as the transform writes it
    black = tf.io.encode_png(tf.zeros([size, size, 3], tf.uint8))
    return {name: tf.fill([rows], black) if spec.dtype == tf.string
            else tf.zeros([rows, *spec.shape[1:]], spec.dtype)
            for name, spec in input_specs(registry).items()}


def _layer_types(model):
    return {type(layer).__name__ for layer in model.layers}


def test_model_reads_every_transformed_feature_and_outputs_one_probability(
        registry, facts, settings):
    model = build_model(registry, facts, settings)
    assert set(model.input_names) == set(input_specs(registry))
    assert model.output_names == [PROBABILITY]
    probabilities = model(_zeros(registry)).numpy()
    assert probabilities.shape == (4, 1)
    assert ((probabilities > 0) & (probabilities < 1)).all()


def test_untrained_model_starts_at_the_class_prior(registry, settings):
    facts = TransformFacts({}, {}, 0.03)
    sizes = {name: 5 for name, spec in input_specs(registry).items() if spec.dtype == tf.int64}
    facts = dataclasses.replace(facts, cardinalities=sizes,
                                text_ids={transformed_name("ad_title"): 5})
    model = build_model(registry, facts, dataclasses.replace(settings, hidden_units=()))
    prior_bias = model.get_layer("prior_bias").get_weights()[1][0]
    assert prior_bias == pytest.approx(math.log(0.03 / 0.97), rel=1e-5)
    mean = model(_zeros(registry, 64)).numpy().mean()
    assert 0.015 < mean < 0.06


@pytest.mark.parametrize("branch, layer_type", [
    (Branch.IMAGE, "Conv2D"), (Branch.TEXT, "CategoryEncoding"),
    (Branch.CROSSES, "HashedCrossing"),
])
def test_ablation_drops_exactly_one_branch(registry, facts, settings, branch, layer_type):
    full = build_model(registry, facts, settings)
    ablated = build_model(registry, facts, dataclasses.replace(settings, without={branch}))
    assert layer_type in _layer_types(full)
    assert layer_type not in _layer_types(ablated)
    assert ablated.count_params() < full.count_params()
    assert ablated(_zeros(registry)).shape == (4, 1)


def test_crossing_a_text_feature_is_refused_with_its_name(registry, facts, settings):
    bad = FeatureRegistry.from_dict({**registry.to_dict(),
                                     "crosses": [["ad_title", "device_type"]]})
    with pytest.raises(ValueError, match="ad_title is text"):
        build_model(bad, facts, settings)


def test_same_seed_builds_the_same_weights(registry, facts, settings):
    first = build_model(registry, facts, settings).get_weights()
    second = build_model(registry, facts, settings).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_id_dropout_hides_a_share_of_creative_ids_in_training_only():
    from trainer.model import IdDropout

    ids = tf.constant(np.arange(10_000) % 50, tf.int64)
    layer = IdDropout(0.25, first_oov=50, oov_buckets=2, seed=3)

    trained = layer(ids, training=True).numpy()
    served = layer(ids, training=False).numpy()

    hidden = trained >= 50
    assert 0.22 < hidden.mean() < 0.28
    assert set(trained[hidden].tolist()) == {50, 51}  # the unknown ids, as an unseen ad gets
    assert (trained[~hidden] == ids.numpy()[~hidden]).all()
    assert (served == ids.numpy()).all()


def test_id_dropout_applies_to_the_ids_an_image_is_keyed_by(registry, facts, settings):
    from trainer.model import creative_ids

    image = next(f for f in registry.features if f.kind.value == "image")
    model = build_model(registry, facts, settings)
    hidden = [layer for layer in model.layers if type(layer).__name__ == "IdDropout"]

    assert creative_ids(registry) == {image.source_column}
    assert [layer.name for layer in hidden] == [f"new_{image.source_column}"]
    assert not [layer for layer in build_model(registry, facts, dataclasses.replace(settings, id_dropout=0.0)).layers
                if type(layer).__name__ == "IdDropout"]
