"""TrainModel: TFX's Trainer, told where the ingested examples store their creatives."""

from __future__ import annotations

import json

from tfx.components.trainer import executor as trainer_executor
from tfx.types import standard_artifacts, standard_component_specs

from components import artifacts
from components.train import executor
from components.train.component import TrainModel
from trainer.run import THUMBNAILS


def _examples(uri: str):
    examples = standard_artifacts.Examples()
    examples.uri = uri
    return examples


def channel(kind):
    from tfx import types

    return types.Channel(type=kind)


def test_run_fn_gets_the_creatives_pattern_beside_the_config_it_was_given(monkeypatch):
    seen = {}
    monkeypatch.setattr(trainer_executor.GenericExecutor, "Do",
                        lambda self, inputs, outputs, properties: seen.update(inputs=inputs, properties=properties))
    config = {"registry": {"features": []}, "training": {"epochs": 2}}
    executor.Executor().Do(
        {"examples": [_examples("/t/transformed")], executor.CREATIVES_KEY: [_examples("gs://b/ingested/7")]},
        {}, {"custom_config": json.dumps(config), "run_fn": "trainer.run.run_fn"})
    assert json.loads(seen["properties"]["custom_config"]) == {
        **config, THUMBNAILS: "gs://b/ingested/7/Creatives/thumbnails-*"}
    assert seen["properties"]["custom_config"] != json.dumps(config)
    assert artifacts.creatives_pattern("gs://b/ingested/7/") == "gs://b/ingested/7/Creatives/thumbnails-*"
    # TFX's executor sees the Trainer's own inputs only.
    assert set(seen["inputs"]) == {"examples"}


def test_without_creatives_the_config_is_passed_as_given(monkeypatch):
    seen = {}
    monkeypatch.setattr(trainer_executor.GenericExecutor, "Do",
                        lambda self, inputs, outputs, properties: seen.update(properties=properties))
    properties = {"custom_config": json.dumps({"registry": {}}), "run_fn": "trainer.run.run_fn"}
    executor.Executor().Do({"examples": [_examples("/t/transformed")]}, {}, properties)
    assert seen["properties"] == properties


def test_the_component_has_the_trainer_spec_and_the_creatives_input():
    trainer = TrainModel(run_fn="trainer.run.run_fn", examples=channel(standard_artifacts.Examples),
                         transform_graph=channel(standard_artifacts.TransformGraph),
                         schema=channel(standard_artifacts.Schema),
                         creatives=channel(standard_artifacts.Examples), custom_config={"a": 1})
    assert set(TrainModel.SPEC_CLASS.INPUTS) == {*standard_component_specs.TrainerSpec.INPUTS, executor.CREATIVES_KEY}
    assert set(trainer.inputs) == {"examples", "transform_graph", "schema", executor.CREATIVES_KEY}
    assert set(trainer.outputs) == {"model", "model_run"}
    assert json.loads(trainer.exec_properties["custom_config"]) == {"a": 1}
