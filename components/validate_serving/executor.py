"""ValidateServing's executor: a thin adapter over `serving_check.validate`."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components import artifacts
from serving.warmup import warmup_path

MODEL_KEY = "model"
EXAMPLES_KEY = "examples"
BLESSING_KEY = "blessing"
NUM_REQUESTS_KEY = "num_requests"
DEFAULT_NUM_REQUESTS = 8
MAX_NUM_REQUESTS = 1000
EVAL_SPLIT = "eval"
# As TFX's InfraValidator writes them, so tools that read its blessings read ours.
BLESSED_FILE = "INFRA_BLESSED"
NOT_BLESSED_FILE = "INFRA_NOT_BLESSED"


def mark(blessing: types.Artifact, verdict) -> None:
    """Writes a verdict onto the InfraBlessing artifact: property, marker file, warmup records."""
    from tfx.dsl.io import fileio
    from tfx.utils import io_utils

    fileio.makedirs(blessing.uri)
    marker = BLESSED_FILE if verdict.blessed else NOT_BLESSED_FILE
    io_utils.write_string_file(os.path.join(blessing.uri, marker), "")
    blessing.set_int_custom_property(artifacts.BLESSED, int(verdict.blessed))
    blessing.set_string_custom_property(artifacts.BLESSING_REASON, verdict.reason)
    if verdict.warmup_records:
        io_utils.write_tfrecord_file(warmup_path(blessing.uri), *verdict.warmup_records)


class Executor(base_executor.BaseExecutor):
    """Serves the candidate in-process, probes it, and blesses it or not (never raises for it)."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        from components.validate_serving import serving_check

        model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        blessing = artifact_utils.get_single_instance(output_dict[BLESSING_KEY])
        model_dir = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
        count = int(exec_properties.get(NUM_REQUESTS_KEY) or DEFAULT_NUM_REQUESTS)
        eval_uri = artifact_utils.get_split_uri([examples], EVAL_SPLIT)
        serialized = serving_check.read_examples(eval_uri, count)
        with tempfile.TemporaryDirectory(prefix="validate-serving-") as workdir:
            verdict = serving_check.validate(model_dir, serialized, workdir)
        mark(blessing, verdict)
        for check in verdict.checks:
            logging.info("ValidateServing: passed %s", check)
        if verdict.blessed:
            logging.info("ValidateServing: %s is blessed; %d warmup records in %s", model_dir,
                         len(verdict.warmup_records), warmup_path(blessing.uri))
        else:
            logging.warning("ValidateServing: %s is NOT blessed: %s", model_dir, verdict.reason)
