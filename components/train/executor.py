"""TrainModel's executor: TFX's GenericExecutor, with the creatives' location in `custom_config`."""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.components.trainer import executor as trainer_executor
from tfx.types import artifact_utils
from tfx.utils import json_utils

from components import artifacts
from trainer.run import THUMBNAILS

CREATIVES_KEY = "creatives"
CUSTOM_CONFIG_KEY = "custom_config"


class Executor(trainer_executor.GenericExecutor):
    """Runs the `run_fn` as TFX's Trainer does; `custom_config["thumbnails"]` is the file pattern
    of the model inputs the training rows name by key, stored in the ingested examples."""

    def Do(self, input_dict: dict[str, list[types.Artifact]],
           output_dict: dict[str, list[types.Artifact]],
           exec_properties: dict[str, Any]) -> None:
        input_dict = dict(input_dict)
        creatives = input_dict.pop(CREATIVES_KEY, None)
        if creatives:
            examples = artifact_utils.get_single_instance(creatives)
            custom_config = json_utils.loads(exec_properties.get(CUSTOM_CONFIG_KEY) or "null") or {}
            custom_config[THUMBNAILS] = artifacts.creatives_pattern(examples.uri)
            exec_properties = {**exec_properties, CUSTOM_CONFIG_KEY: json_utils.dumps(custom_config)}
        super().Do(input_dict, output_dict, exec_properties)
