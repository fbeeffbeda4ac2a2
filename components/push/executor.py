"""Executor of PushModel: a thin adapter over `components.push_records`.

A model is pushed once: when its files (by digest) are already a complete version, nothing is
pushed and `already_pushed_version` names it; when a failed push left a version without
``saved_model.pb`` for this model, that version is finished instead of a new one being added.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components import artifacts, push_records

# Overall metrics copied into the push record, by TFMA metric name.
RECORD_METRICS = ("auc", "auc_pr", "binary_crossentropy", "example_count", "mean_prediction", "mean_label")
def is_blessed(blessings: list[types.Artifact] | None) -> bool:
    """Whether the single blessing artifact says `blessed` (absent input: no veto)."""
    if not blessings:
        return True
    return bool(artifact_utils.get_single_instance(blessings).get_int_custom_property(artifacts.BLESSED))


def span_of(examples: list[types.Artifact] | None) -> str:
    """The months the model was trained on, from the ingestion output."""
    if not examples:
        return ""
    artifact = artifact_utils.get_single_instance(examples)
    if artifact.has_custom_property(artifacts.SPAN_MONTHS):
        return artifact.get_string_custom_property(artifacts.SPAN_MONTHS)
    return str(artifact.span)


def run_id(context, output_uri: str) -> str:
    """The pipeline run that pushes: TFX's run id, else the KFP run id in the output's URI.

    TFX's Kubeflow entrypoint gives executors no run id. The open-source KFP driver writes every
    output to ``<pipeline root>/<pipeline name>/<run id>/<task>/<uuid>/<output>``
    (`provisionOutputs` in kubeflow/pipelines backend/src/v2/driver), so the run id is read there.
    """
    if context is not None and context.pipeline_run_id:
        return str(context.pipeline_run_id)
    parts = output_uri.rstrip("/").split("/")
    if len(parts) >= 4:
        try:
            uuid.UUID(parts[-2])
        except ValueError:
            return ""
        return parts[-4]
    return ""


def warmup_files(infra_blessing: list[types.Artifact] | None) -> dict[str, str]:
    """The infra blessing's warmup records, by their place in a version (none if absent)."""
    from tfx.dsl.io import fileio

    from serving.warmup import WARMUP_DIR, WARMUP_FILE, warmup_path

    if not infra_blessing:
        return {}
    path = warmup_path(artifact_utils.get_single_instance(infra_blessing).uri)
    return {f"{WARMUP_DIR}/{WARMUP_FILE}": path} if fileio.exists(path) else {}


def overall_metrics(evaluation: list[types.Artifact] | None) -> dict[str, float]:
    """The candidate's overall metrics from the Evaluator's output."""
    if not evaluation:
        return {}
    from components import evaluation_results

    loaded = evaluation_results.load(artifact_utils.get_single_instance(evaluation).uri)
    candidate = loaded.metrics.get(evaluation_results.OVERALL, {}).get(evaluation_results.CANDIDATE, {})
    return {name: candidate[name] for name in RECORD_METRICS if name in candidate}


class Executor(base_executor.BaseExecutor):
    """Copies the model into a new version folder when both blessings allow it."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        pushed = artifact_utils.get_single_instance(output_dict["pushed_model"])
        if not (is_blessed(input_dict.get("model_blessing")) and is_blessed(input_dict.get("infra_blessing"))):
            logging.info("Model not blessed: nothing pushed.")
            pushed.set_int_custom_property(artifacts.PUSHED, 0)
            return
        model = artifact_utils.get_single_instance(input_dict["model"])
        model_dir = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
        base = exec_properties["model_base_path"]
        digest = push_records.model_digest(model_dir)
        existing = push_records.find_pushed(push_records.pushed_versions(base), digest, model.uri)
        if existing is not None:
            logging.info("Model already pushed as version %d: nothing pushed.", existing.version)
            pushed.set_int_custom_property(artifacts.PUSHED, 0)
            pushed.set_int_custom_property(artifacts.ALREADY_PUSHED_VERSION, existing.version)
            return
        version = push_records.unfinished_version(base, digest) or push_records.next_version(base)
        target = push_records.version_path(base, version)
        record = push_records.PushRecord(
            version=version,
            span=span_of(input_dict.get("examples")),
            run_id=run_id(self._context, pushed.uri),
            pushed_at=push_records.now(),
            blessed=True,
            metrics=overall_metrics(input_dict.get("evaluation")),
            model_uri=model.uri,
            model_digest=digest,
        )
        extra = warmup_files(input_dict.get("infra_blessing"))
        push_records.copy_version(model_dir, target, record, extra_files=extra)
        pushed.set_int_custom_property(artifacts.PUSHED, 1)
        pushed.set_string_custom_property(artifacts.PUSHED_DESTINATION, target)
        pushed.set_string_custom_property(artifacts.PUSHED_VERSION, str(version))
        if extra:
            logging.info("Warmup records from the infra blessing ship in the version.")
        logging.info("Model pushed to %s.", os.path.abspath(target) if "://" not in target else target)
