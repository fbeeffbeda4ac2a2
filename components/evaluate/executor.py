"""EvaluateModel's executor: a thin adapter over `scoring.evaluate` and the push records.

A candidate whose files are already a pushed version (an unchanged re-run, a retry) is not
scored again: it is blessed when it is the model in production and not blessed when it was
pushed earlier and replaced since (re-pushing it would undo that). Otherwise both models are
scored on the eval split and `gate.judge` decides. The outputs keep TFX's Evaluator contract:
a `ModelEvaluation` folder (here `evaluation.json`) and a `ModelBlessing` with the `blessed`
custom property and a ``BLESSED``/``NOT_BLESSED`` marker file, which PushModel, the report and
Kubeflow read.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components import artifacts, evaluation_results, push_records
from components.evaluate import scoring, tfma_export
from components.evaluate.gate import GateSettings, Scored, judge

EXAMPLES_KEY = "examples"
MODEL_KEY = "model"
BASELINE_MODEL_KEY = "baseline_model"
EVALUATION_KEY = "evaluation"
BLESSING_KEY = "blessing"
GATE_KEY = "gate"
EVAL_SPLIT = "eval"
TRAIN_SPLIT = "train"
# TFX's Evaluator contract (tfx.components.evaluator.constants); property names in `artifacts`.
BLESSED_FILE, NOT_BLESSED_FILE = "BLESSED", "NOT_BLESSED"


def production_of(baseline: types.Artifact | None) -> tuple[str, int] | None:
    """The production SavedModel folder and version in FindProductionModel's output, if any."""
    if baseline is None:
        return None
    model_dir = path_utils.serving_model_dir(baseline.uri)
    from tfx.dsl.io import fileio

    if not fileio.exists(os.path.join(model_dir, push_records.SAVED_MODEL)):
        return None
    return model_dir, baseline.get_int_custom_property(artifacts.PRODUCTION_VERSION)


def already_pushed(candidate_dir: str, candidate_uri: str, baseline: types.Artifact | None
                   ) -> evaluation_results.AlreadyPushed | None:
    """Whether the candidate's files are already a pushed version, and which one.

    The production model is compared by the digest of its files as copied here, other pushed
    versions by their records (digest, or the Trainer artifact for records older than digests).
    """
    production = production_of(baseline)
    if production is None:
        return None
    production_dir, production_version = production
    digest = push_records.model_digest(candidate_dir)
    if push_records.model_digest(production_dir) == digest:
        return evaluation_results.AlreadyPushed(production_version, production_version)
    found = push_records.find_pushed(push_records.read_index(baseline.uri), digest, candidate_uri)
    return evaluation_results.AlreadyPushed(found.version, production_version) if found else None


def baseline_name(baseline: types.Artifact) -> str:
    """The production model in words, for errors."""
    version = baseline.get_int_custom_property(artifacts.PRODUCTION_VERSION)
    has_source = baseline.has_custom_property(artifacts.SOURCE_PATH)
    source = baseline.get_string_custom_property(artifacts.SOURCE_PATH) if has_source else ""
    return f"the model in production, version {version}" + (f" ({source})" if source else "")


def write_blessing(blessing: types.Artifact, evaluation: evaluation_results.Evaluation, model: types.Artifact,
                   baseline: types.Artifact | None) -> None:
    """The ModelBlessing as TFX's Evaluator writes it, plus why and what was already pushed."""
    from tfx.dsl.io import fileio

    blessed = evaluation.validation_ok
    fileio.makedirs(blessing.uri)
    with fileio.open(os.path.join(blessing.uri, BLESSED_FILE if blessed else NOT_BLESSED_FILE), "w") as f:
        f.write("")
    blessing.set_int_custom_property(artifacts.BLESSED, int(blessed))
    blessing.set_string_custom_property(artifacts.CURRENT_MODEL, model.uri)
    blessing.set_int_custom_property(artifacts.CURRENT_MODEL_ID, model.id)
    if evaluation.has_baseline and baseline is not None:
        blessing.set_string_custom_property(artifacts.BASELINE_MODEL, baseline.uri)
        blessing.set_int_custom_property(artifacts.BASELINE_MODEL_ID, baseline.id)
    blessing.set_string_custom_property(artifacts.BLESSING_MESSAGE, evaluation_results.headline(evaluation))
    if evaluation.already_pushed is not None:
        blessing.set_int_custom_property(artifacts.ALREADY_PUSHED_VERSION, evaluation.already_pushed.version)


@dataclasses.dataclass
class Judged:
    """One candidate's evaluation with what TFMA's files need besides it.

    Attributes:
        evaluation: the gate's evaluation (or the note that the candidate was already pushed).
        settings: the settings it was judged with.
        scored: the scored eval rows (None when the candidate was not scored).
        model_locations: ``candidate``/``baseline`` -> SavedModel folder.
        data_location: the eval split's file pattern.
    """

    evaluation: evaluation_results.Evaluation
    settings: GateSettings
    scored: Scored | None = None
    model_locations: dict[str, str] = dataclasses.field(default_factory=dict)
    data_location: str = ""


def evaluate_candidate(examples_uri: str, candidate_dir: str, model_uri: str, baseline: types.Artifact | None,
                       settings: GateSettings) -> Judged:
    """The gate's evaluation of one candidate, or the note that it was already pushed."""
    already = already_pushed(candidate_dir, model_uri, baseline)
    if already is not None:
        return Judged(evaluation_results.Evaluation(has_baseline=True, validated=False,
                                                    validation_ok=already.serving, already_pushed=already), settings)
    from tfx.dsl.io import fileio

    production = production_of(baseline)
    train_pattern = scoring.split_pattern(examples_uri, TRAIN_SPLIT)
    eval_pattern = scoring.split_pattern(examples_uri, EVAL_SPLIT)
    scored, settings = scoring.score(
        eval_pattern,
        candidate_dir,
        production[0] if production else None,
        settings,
        # Without a train split nothing can be called new.
        train_pattern=train_pattern if fileio.glob(train_pattern) else "",
        baseline_name=baseline_name(baseline) if production else "",
    )
    locations = {evaluation_results.CANDIDATE: candidate_dir}
    if production:
        locations[evaluation_results.BASELINE] = production[0]
    return Judged(judge(scored, settings), settings, scored, locations, eval_pattern)


class Executor(base_executor.BaseExecutor):
    """Evaluates the candidate against the model in production and writes the blessing."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        settings = GateSettings.from_json(exec_properties[GATE_KEY])
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
        baselines = input_dict.get(BASELINE_MODEL_KEY) or []
        baseline = baselines[0] if baselines else None
        candidate_dir = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
        judged = evaluate_candidate(examples.uri, candidate_dir, model.uri, baseline, settings)
        evaluation = judged.evaluation
        evaluation_uri = artifact_utils.get_single_uri(output_dict[EVALUATION_KEY])
        evaluation_results.write(evaluation_uri, evaluation)
        tfma_export.write(evaluation_uri, evaluation, judged.settings, judged.scored, judged.model_locations,
                          judged.data_location)
        write_blessing(artifact_utils.get_single_instance(output_dict[BLESSING_KEY]), evaluation, model, baseline)
        logging.info("EvaluateModel: %s", evaluation_results.headline(evaluation))
        for failure in evaluation.failures:
            logging.info("  %s", failure)
        for bad in evaluation.bad_rows.values():
            logging.warning("EvaluateModel: the %s model gave %s", bad.model, bad)
