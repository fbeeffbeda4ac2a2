"""The clickpipe DAG, built in exactly one place for every runner."""

from __future__ import annotations

import json
from dataclasses import dataclass

# The classes tfx.v1 re-exports, imported from their own modules: importing tfx.v1 also imports
# its extensions (Vertex AI's client among them), ~3 s of every run's start-up.
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.components.transform.component import Transform
from tfx.orchestration.metadata import sqlite_metadata_connection_config
from tfx.orchestration.pipeline import Pipeline
from tfx.proto.trainer_pb2 import EvalArgs, TrainArgs

from components.compare.component import CompareModels
from components.evaluate.component import EvaluateModel
from components.ingest.component import IngestImpressions
from components.production_model.component import FindProductionModel
from components.push.component import PushModel
from components.train.component import TrainModel
from components.validate.comparators import comparators_to_json
from components.validate.component import ValidateImpressions
from components.validate_serving.component import ValidateServing
from pipeline import eval_config, nodes, validation
from pipeline.config import ClickpipeConfig

TRANSFORM_FN = "trainer.preprocessing.preprocessing_fn"
RUN_FN = "trainer.run.run_fn"


@dataclass(frozen=True)
class CacheKeys:
    """Values that change a node's cache key without changing what it does.

    A locally cached execution is reused when the node's inputs and properties are unchanged;
    these make "unchanged" mean "the outside world it reads is unchanged". On Kubeflow they stay
    empty: the nodes that read outside state run uncached there.

    Attributes:
        span_files: a digest of the span's files (ingestion).
        creatives: a digest of the stored creatives by name and content (ingestion).
        production: a digest of the model in production (the production-model lookup).
        validation_baseline: the validated statistics the gate compares the span with.
    """

    span_files: str = ""
    creatives: str = ""
    production: str = ""
    validation_baseline: str = ""


@dataclass(frozen=True)
class RunTarget:
    """Where and how one pipeline run executes.

    Attributes:
        pipeline_root: where TFX writes artifacts (a local folder or gs://).
        metadata_path: the ML Metadata SQLite file; empty on Kubeflow, which brings its own.
        span: "latest" or a concrete month; the local runner resolves it before building
            so that a new month invalidates the cache, Kubeflow resolves it at run time.
        beam_args: Beam pipeline args for every Beam-based component.
        pipeline_dir: where the `pipeline` package is when the run executes ("" = here).
        report_view_image: on Kubeflow, the image of the step that shows the comparison
            report in the KFP UI (a container component, which LocalDagRunner cannot run).
        cache_keys: see `CacheKeys`.
    """

    pipeline_root: str
    metadata_path: str = ""
    span: str = "latest"
    beam_args: tuple[str, ...] = ()
    pipeline_dir: str = ""
    report_view_image: str = ""
    cache_keys: CacheKeys = CacheKeys()

    @classmethod
    def local(cls, config: ClickpipeConfig, span: str, span_files: str, creatives: str = "") -> RunTarget:
        """The embedded default: SQLite metadata under the pipeline home."""
        from components import push_records
        from components.validate.store import StatisticsStore

        store = StatisticsStore(validation.store_root(config, config.pipeline.pipeline_root))
        return cls(
            pipeline_root=config.pipeline.pipeline_root,
            metadata_path=config.pipeline.metadata_path,
            span=span,
            beam_args=tuple(config.pipeline.beam_args),
            cache_keys=CacheKeys(
                span_files=span_files,
                creatives=creatives,
                production=push_records.fingerprint(config.model_base_path),
                validation_baseline=store.baseline_key(span),
            ),
        )

    @classmethod
    def kubeflow(cls, config: ClickpipeConfig) -> RunTarget:
        """Kubeflow: spans resolved by the ingestion executor at run time."""
        return cls(
            pipeline_root=config.kubeflow.pipeline_root,
            span=config.dataset.span,
            beam_args=tuple(config.pipeline.beam_args),
            report_view_image=config.kubeflow.image,
            pipeline_dir=validation.IMAGE_PIPELINE_DIR,
        )


def _ingest(config: ClickpipeConfig, target: RunTarget) -> IngestImpressions:
    """The ingestion node, the same in the full pipeline and the statistics-only one."""
    dataset = config.dataset
    # Reads the month(s) from GCS or a folder, joins creatives, quarantines bad rows.
    return IngestImpressions(
        source=dataset.source,
        impressions_pattern=dataset.impressions_pattern,
        span=target.span,
        window=dataset.window,
        eval_percent=dataset.eval_percent,
        max_quarantined_fraction=dataset.max_quarantined_fraction,
        registry=json.dumps(config.registry().to_dict()),
        fingerprint=target.cache_keys.span_files,
        creatives_fingerprint=target.cache_keys.creatives,
    ).with_id(nodes.INGEST)


def _metadata(target: RunTarget):
    return (
        sqlite_metadata_connection_config(target.metadata_path)
        if target.metadata_path
        else None
    )


def create_statistics_pipeline(config: ClickpipeConfig, target: RunTarget) -> Pipeline:
    """Ingestion and statistics only, without a schema: what `clickpipe schema infer` proposes a
    schema from before a dataset has one. Same pipeline name and node ids as `create_pipeline`,
    so the next full run on the span takes the ingestion from the cache."""
    ingest = _ingest(config, target)
    # Statistics of every split; no schema yet, that is what they are for.
    statistics = StatisticsGen(examples=ingest.outputs["examples"]).with_id(nodes.STATISTICS)
    return Pipeline(
        pipeline_name=config.pipeline.name,
        pipeline_root=target.pipeline_root,
        components=[ingest, statistics],
        enable_cache=config.pipeline.enable_cache,
        metadata_connection_config=_metadata(target),
        beam_pipeline_args=list(target.beam_args),
    )


def create_pipeline(config: ClickpipeConfig, target: RunTarget) -> Pipeline:
    """Builds the clickpipe TFX pipeline.

    Args:
        config: the validated project config.
        target: where the run executes (see `RunTarget`).

    Returns:
        The pipeline, ready for `LocalDagRunner().run` or `KubeflowV2DagRunner().run`.
    """
    registry = config.registry()
    ingest = _ingest(config, target)

    # The curated, checked-in schema the data must follow (not re-inferred every run).
    schema = ImportSchemaGen(
        schema_file=validation.schema_file(config, target.pipeline_dir or None)
    ).with_id(nodes.IMPORT_SCHEMA)

    # Statistics over every split, with the schema so categorical integers (the label) get value counts.
    statistics = StatisticsGen(
        examples=ingest.outputs["examples"], schema=schema.outputs["schema"]
    ).with_id(nodes.STATISTICS)

    # The gate: schema anomalies and drift from the previous validated span stop the run here.
    validate = ValidateImpressions(
        statistics=statistics.outputs["statistics"],
        schema=schema.outputs["schema"],
        store=validation.store_root(config, target.pipeline_root),
        drift_comparators=comparators_to_json(validation.drift_comparators(config)),
        fingerprint=target.cache_keys.validation_baseline,
    ).with_id(nodes.VALIDATE)
    # Transform and the Trainer take the gate's schema, so they run only after it passed.
    validated_schema = validate.outputs["validated_schema"]

    # Preprocessing inside the graph, so serving takes raw features.
    transform = Transform(
        examples=ingest.outputs["examples"],
        schema=validated_schema,
        preprocessing_fn=TRANSFORM_FN,
        custom_config={"registry": registry.to_dict()},
        # ComputeStatistics already describes the raw span; Transform's own pre- and
        # post-transform statistics would be a second and third full TFDV pass nobody reads.
        disable_statistics=True,
    ).with_id(nodes.TRANSFORM)

    # The Keras model on tabular, text and creative features: TFX's Trainer, also given the
    # ingested examples, where the creatives that training rows name by key are stored once.
    trainer = TrainModel(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=validated_schema,
        creatives=ingest.outputs["examples"],
        train_args=TrainArgs(),
        eval_args=EvalArgs(),
        custom_config={"registry": registry.to_dict(), "training": config.training.model_dump()},
    ).with_id(nodes.TRAIN)

    # Loads the candidate in our TF-Serving-compatible server and queries it (TFX's InfraValidator
    # needs Docker or Kubernetes); its requests become the pushed model's warmup records.
    infra = ValidateServing(model=trainer.outputs["model"], examples=ingest.outputs["examples"]).with_id(
        nodes.VALIDATE_SERVING
    )

    # The model now in production, read from the pushed-model records (no Resolver node).
    baseline = FindProductionModel(
        model_base_path=config.model_base_path, fingerprint=target.cache_keys.production
    ).with_id(nodes.PRODUCTION_MODEL)

    # The gate: both models scored on the same eval rows; blessed unless significantly worse than
    # production overall or on a slice, or below the floor. An already pushed candidate is not scored again.
    evaluator = EvaluateModel(
        examples=ingest.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        gate=eval_config.build(config).to_json(),
    ).with_id(nodes.EVALUATE)

    # Only a blessed model reaches the serving model base path, and never twice.
    pusher = PushModel(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra.outputs["blessing"],
        model_base_path=config.model_base_path,
        examples=ingest.outputs["examples"],
        evaluation=evaluator.outputs["evaluation"],
    ).with_id(nodes.PUSH)

    # The HTML comparison of candidate and production model a person opens.
    report = CompareModels(
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        examples=ingest.outputs["examples"],
    ).with_id(nodes.COMPARE)

    components = [
        ingest,
        schema,
        statistics,
        validate,
        transform,
        trainer,
        infra,
        baseline,
        evaluator,
        pusher,
        report,
    ]
    if target.report_view_image:
        from components.compare.kubeflow_view import report_view_component

        # The report as an HTML/Markdown output in the Kubeflow UI.
        components.append(
            report_view_component(target.report_view_image)(report=report.outputs["report"]).with_id(nodes.SHOW_REPORT)
        )
    return Pipeline(
        pipeline_name=config.pipeline.name,
        pipeline_root=target.pipeline_root,
        components=components,
        enable_cache=config.pipeline.enable_cache,
        metadata_connection_config=_metadata(target),
        beam_pipeline_args=list(target.beam_args),
    )
