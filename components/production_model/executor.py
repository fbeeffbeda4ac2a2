"""FindProductionModel's executor: copy the served SavedModel into the output Model artifact."""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.push import records

MODEL_KEY = "model"
MODEL_BASE_PATH_KEY = "model_base_path"
FINGERPRINT_KEY = "fingerprint"
# Custom properties of the output Model: the flag, and where the model came from.
FOUND_PROPERTY = "found"


def describe(model, record: records.PushRecord | None) -> None:
    """Sets the flag and the record's fields as custom properties of the output Model."""
    model.set_int_custom_property(FOUND_PROPERTY, int(record is not None))
    if record is None:
        return
    model.set_int_custom_property("production_version", record.version)
    model.set_string_custom_property("span", record.span)
    model.set_string_custom_property("run_id", record.run_id)
    model.set_string_custom_property("pushed_at", record.pushed_at)
    model.set_string_custom_property("source_path", record.path)
    if record.rollback_of is not None:
        model.set_int_custom_property("rollback_of", record.rollback_of)


class Executor(base_executor.BaseExecutor):
    """Finds the served version and copies it; leaves the artifact empty when there is none."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        from tfx.utils import io_utils

        model = artifact_utils.get_single_instance(output_dict[MODEL_KEY])
        record = records.latest_pushed(exec_properties[MODEL_BASE_PATH_KEY])
        describe(model, record)
        if record is None:
            logging.info(
                "No model in production under %s: absolute thresholds only.",
                exec_properties[MODEL_BASE_PATH_KEY],
            )
            return
        io_utils.copy_dir(record.path, path_utils.serving_model_dir(model.uri))
        logging.info(
            "Model in production: version %d (%s), copied to %s.",
            record.version,
            record.path,
            model.uri,
        )
