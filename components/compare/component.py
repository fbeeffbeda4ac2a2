"""CompareModels: the HTML comparison of candidate and production model, every run."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.types.experimental.simple_artifacts import File

from components.compare import executor as report_executor


class CompareModelsSpec(types.ComponentSpec):
    """Inputs: the Evaluator's outputs, and optionally the models and data for the facts."""

    PARAMETERS = {report_executor.SPAN_KEY: ExecutionParameter(type=str, optional=True)}
    INPUTS = {
        report_executor.EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
        report_executor.BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
        report_executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
        report_executor.BASELINE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
        report_executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
    }
    # A standard type: on Kubeflow, TFX's entrypoint must import every artifact class by title.
    OUTPUTS = {report_executor.REPORT_KEY: ChannelParameter(type=File)}


class CompareModels(base_component.BaseComponent):
    """Writes `report.html` (self-contained), `summary.md` and `comparison.json` into `report`.

    The report compares candidate and production model overall and per slice, with pass/fail
    per threshold, ROC, precision-recall and calibration plots and AUC per slice; without a
    model in production it says that only absolute thresholds applied.
    """

    SPEC_CLASS = CompareModelsSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(report_executor.Executor)

    def __init__(
        self,
        evaluation: types.BaseChannel,
        blessing: types.BaseChannel | None = None,
        model: types.BaseChannel | None = None,
        baseline_model: types.BaseChannel | None = None,
        examples: types.BaseChannel | None = None,
        span: str = "",
    ):
        """Builds the component.

        Args:
            evaluation: the Evaluator's `evaluation`.
            blessing: the Evaluator's `blessing`, for the verdict.
            model: the candidate (the Trainer's `model`), to name it.
            baseline_model: FindProductionModel's `model`, to name the production version.
            examples: the evaluated Examples, to name the data.
            span: the span in words (e.g. ``2026-10``), when known at build time.
        """
        super().__init__(
            spec=CompareModelsSpec(
                evaluation=evaluation,
                blessing=blessing,
                model=model,
                baseline_model=baseline_model,
                examples=examples,
                span=span,
                report=types.Channel(type=File),
            )
        )
