"""ValidateImpressions: the gate between statistics and Transform.

It fails the run, with a readable summary as the error, when the span breaks the curated
schema or drifts from the previous validated span beyond the configured thresholds. Its
`validated_schema` output (the curated schema, passed through) is what Transform and the
Trainer take, so nothing downstream can run before the gate has passed, on every runner.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.validate import executor


class ValidateImpressionsSpec(types.ComponentSpec):
    """Inputs: statistics (computed with the schema) and the curated schema."""

    PARAMETERS = {
        executor.STORE_KEY: ExecutionParameter(type=str),
        executor.COMPARATORS_KEY: ExecutionParameter(type=str),
        executor.DRIFT_SPLIT_KEY: ExecutionParameter(type=str, optional=True),
        executor.FINGERPRINT_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        executor.STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
        executor.SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
    }
    OUTPUTS = {
        executor.ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies),
        executor.VALIDATED_SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
    }


class ValidateImpressions(base_component.BaseComponent):
    """Anomalies against the schema plus drift against the previous span; raises if any.

    Outputs: `anomalies` (per split `SchemaDiff.pb`, as ExampleValidator writes, plus the
    HTML pages) and `validated_schema` (the schema the span was validated against). The
    pages are also written to the store under `reports/YYYY-MM/`, where they survive a
    failed run.
    """

    SPEC_CLASS = ValidateImpressionsSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        statistics: types.BaseChannel,
        schema: types.BaseChannel,
        store: str,
        drift_comparators: str,
        drift_split: str = "train",
        fingerprint: str = "",
    ):
        """Builds the gate.

        Args:
            statistics: ExampleStatistics of the span, computed with the schema.
            schema: the curated schema (ImportSchemaGen's output).
            store: the statistics store root (`pipeline.validation.store_root`).
            drift_comparators: JSON from `components.validate.comparators.comparators_to_json`.
            drift_split: the split drift is measured on.
            fingerprint: only part of the cache key; pass `StatisticsStore.baseline_key(span)`
                where the pipeline is built per run, so that a cached verdict is never stale.
        """
        super().__init__(
            spec=ValidateImpressionsSpec(
                statistics=statistics,
                schema=schema,
                store=store,
                drift_comparators=drift_comparators,
                drift_split=drift_split,
                fingerprint=fingerprint,
                anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies),
                validated_schema=types.Channel(type=standard_artifacts.Schema),
            )
        )
