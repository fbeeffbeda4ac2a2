"""FindProductionModel's executor: copy the served SavedModel into the output Model artifact.

Beside it goes the index of every pushed version (`push_records.PUSHED_INDEX`), from which
EvaluateModel tells a candidate that was already pushed.
"""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components import artifacts, push_records

MODEL_KEY = "model"
MODEL_BASE_PATH_KEY = "model_base_path"
FINGERPRINT_KEY = "fingerprint"


def describe(model, record: push_records.PushRecord | None) -> None:
    """Sets the flag and the record's fields as custom properties of the output Model."""
    model.set_int_custom_property(artifacts.FOUND, int(record is not None))
    if record is None:
        return
    model.set_int_custom_property(artifacts.PRODUCTION_VERSION, record.version)
    model.set_string_custom_property(artifacts.SPAN, record.span)
    model.set_string_custom_property(artifacts.RUN_ID, record.run_id)
    model.set_string_custom_property(artifacts.PUSHED_AT, record.pushed_at)
    model.set_string_custom_property(artifacts.SOURCE_PATH, record.path)
    if record.rollback_of is not None:
        model.set_int_custom_property(artifacts.ROLLBACK_OF, record.rollback_of)


class ProductionModelError(RuntimeError):
    """The served version cannot be read; the message names the version and its folder."""


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
        base = exec_properties[MODEL_BASE_PATH_KEY]
        record = push_records.latest_pushed(base)
        describe(model, record)
        push_records.write_index(model.uri, push_records.pushed_versions(base))
        if record is None:
            logging.info(
                "No model in production under %s: absolute thresholds only.",
                exec_properties[MODEL_BASE_PATH_KEY],
            )
            return
        try:
            io_utils.copy_dir(record.path, path_utils.serving_model_dir(model.uri))
        except Exception as exc:  # noqa: BLE001 - any storage error: the run must stop with the version named
            raise ProductionModelError(
                f"the model in production, version {record.version} ({record.path}), cannot be copied: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; "
                "restore it or serve an earlier version (clickpipe models rollback VERSION)"
            ) from None
        logging.info(
            "Model in production: version %d (%s), copied to %s.",
            record.version,
            record.path,
            model.uri,
        )
