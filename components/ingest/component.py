"""IngestImpressions: monthly impressions + creatives from GCS (or a folder) to TFX Examples.

Unlike TFX's ExampleGen it resolves its span inside the executor, since the open-source Kubeflow
backend runs no ExampleGen driver, and it quarantines bad rows instead of failing on them.
"""

from __future__ import annotations

from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import Channel, artifact, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.ingest import executor

# Only part of the cache key: a digest of the creatives the image features can name.
CREATIVES_FINGERPRINT_KEY = "creatives_fingerprint"


class QuarantinedRows(artifact.Artifact):
    """Rows that did not become examples, one JSON object per line with file, line and reason."""

    # "namespace.Class": KFP v2 needs this form, and TFX imports the class by it in the container.
    TYPE_NAME = "components.QuarantinedRows"


class IngestImpressionsSpec(ComponentSpec):
    """Parameters and outputs of IngestImpressions."""

    PARAMETERS = {
        executor.SOURCE_KEY: ExecutionParameter(type=str),
        executor.PATTERN_KEY: ExecutionParameter(type=str),
        executor.SPAN_KEY: ExecutionParameter(type=str),
        executor.WINDOW_KEY: ExecutionParameter(type=int),
        executor.EVAL_PERCENT_KEY: ExecutionParameter(type=int),
        executor.MAX_QUARANTINED_KEY: ExecutionParameter(type=float),
        executor.REGISTRY_KEY: ExecutionParameter(type=str),
        # Only part of the cache key: a digest of the span's files, set by the local runner.
        executor.FINGERPRINT_KEY: ExecutionParameter(type=str, optional=True),
        CREATIVES_FINGERPRINT_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {
        executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        executor.QUARANTINE_KEY: ChannelParameter(type=QuarantinedRows),
    }


class IngestImpressions(base_beam_component.BaseBeamComponent):
    """Ingests one span (or a window of months) of impressions with their creatives.

    Outputs `examples` (Split-train/, Split-eval/ gzipped TFRecords of tf.Example, with span,
    version, split_names and row counts) and `quarantine` (the rows left out, with reasons).
    """

    SPEC_CLASS = IngestImpressionsSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        source: str,
        impressions_pattern: str,
        span: str,
        window: int,
        eval_percent: int,
        max_quarantined_fraction: float,
        registry: str,
        fingerprint: str = "",
        creatives_fingerprint: str = "",
    ) -> None:
        """Builds the component.

        Args:
            source: ``gs://BUCKET/PREFIX``, ``file:///path`` or a local folder.
            impressions_pattern: e.g. ``impressions/{span}/*.csv``, relative to `source`.
            span: "latest" or a month "YYYY-MM"; the window ends there.
            window: how many calendar months to ingest.
            eval_percent: the share of impressions, by a hash of their id, in "eval".
            max_quarantined_fraction: above this share of quarantined rows the run fails.
            registry: ``json.dumps(FeatureRegistry.to_dict())``.
            fingerprint: a digest of the span's files; only a cache key.
            creatives_fingerprint: a digest of the stored creatives (names and content
                digests); only a cache key, so a creative replaced under its name is read again.
        """
        spec = IngestImpressionsSpec(
            source=source,
            impressions_pattern=impressions_pattern,
            span=span,
            window=window,
            eval_percent=eval_percent,
            max_quarantined_fraction=max_quarantined_fraction,
            registry=registry,
            fingerprint=fingerprint,
            creatives_fingerprint=creatives_fingerprint,
            examples=Channel(type=standard_artifacts.Examples),
            quarantine=Channel(type=QuarantinedRows),
        )
        super().__init__(spec=spec)
