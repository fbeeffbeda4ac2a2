"""Running the transform outside a pipeline: for tests, benchmarks and ablations.

Inside clickpipe, the ingestion component writes raw tf.Examples and TFX Transform runs
`trainer.preprocessing.preprocessing_fn`. These functions do the same on a small dataset with
TF Transform's Beam API directly, writing the same layout the Trainer receives: gzipped
TFRecords of transformed examples and a transform output directory with the raw metadata.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import tensorflow as tf

from trainer import rows
from trainer.features import FeatureRegistry, Kind


def raw_feature_spec(registry: FeatureRegistry) -> dict:
    """The raw tf.Example spec: one value per feature, as SchemaGen infers for complete data."""
    spec = {registry.label: tf.io.FixedLenFeature([1], tf.int64)}
    if registry.example_id:
        # Without an example id column, rows are keyed by a hash the examples do not carry.
        spec[registry.example_id] = tf.io.FixedLenFeature([1], tf.string)
    for name in registry.passthrough:
        spec[name] = tf.io.FixedLenFeature([1], tf.string)
    for feature in registry.features:
        dtype = tf.float32 if feature.kind is Kind.NUMERIC else tf.string
        spec[feature.name] = tf.io.FixedLenFeature([1], dtype)
    return spec


def to_example(row: Mapping, registry: FeatureRegistry, *, with_label: bool = True) -> tf.train.Example:
    """A raw tf.Example of one row, through the raw-row contract (`trainer.rows`).

    Args:
        row: raw values by column (numbers as numbers or strings); each image feature given
            inline as bytes under its own name.
        registry: the feature registry.
        with_label: include the label, as ingestion does; serving requests have none.

    Raises:
        ValueError: the row is rejected by the contract (the message says why).
    """
    parsed = rows.parse_mapping(registry, row, with_label=with_label)
    if isinstance(parsed, rows.Rejected):
        raise ValueError(f"row rejected ({parsed.reason}): {parsed.detail}")
    images = rows.row_images(parsed, lambda relative: None)
    if isinstance(images, rows.Rejected):
        raise ValueError(f"row rejected ({images.reason}): {images.detail}")
    return rows.build_example(parsed, images, with_label=with_label)


def read_impressions(csv_paths: Iterable[str], source: str, registry: FeatureRegistry) -> list[dict]:
    """Impression rows of CSV files with each image feature's file read as bytes.

    Args:
        csv_paths: impression CSV files.
        source: the dataset root that image `uri_template`s are relative to.
        registry: the feature registry.
    """
    result = []
    images = registry.of_kind(Kind.IMAGE)
    cache: dict[str, bytes] = {}
    for path in csv_paths:
        with open(path, "rb") as f:
            records = rows.iter_records(f)
            header = rows.parse_header(next(records)[1], registry, path)
            for _, record in records:
                row = dict(zip(header, rows.split_fields(record.decode("utf-8")), strict=True))
                for feature in images:
                    uri = os.path.join(source, feature.uri_template.format(**row))
                    if uri not in cache:
                        with tf.io.gfile.GFile(uri, "rb") as image:
                            cache[uri] = image.read()
                    row[feature.name] = cache[uri]
                result.append(row)
    return result


def write_examples(impressions: Iterable[Mapping], registry: FeatureRegistry, path: str) -> str:
    """Writes rows as raw tf.Examples to one TFRecord file and returns its path."""
    with tf.io.TFRecordWriter(path) as writer:
        for row in impressions:
            writer.write(to_example(row, registry).SerializeToString())
    return path


@dataclass(frozen=True)
class TransformedData:
    """Where a local transform wrote its results."""

    transform_output: str
    train_files: list[str]
    eval_files: list[str]


def transform(train_raw: str, eval_raw: str, registry: FeatureRegistry, out_dir: str,
              preprocessing_fn: Callable | None = None) -> TransformedData:
    """Analyses the training examples and transforms both splits with TF Transform on Beam.

    Args:
        train_raw: a TFRecord file pattern of raw training tf.Examples.
        eval_raw: a TFRecord file pattern of raw eval tf.Examples.
        registry: the feature registry.
        out_dir: receives ``transform_graph/`` and ``transformed_examples/{train,eval}/``.
        preprocessing_fn: defaults to `trainer.preprocessing.preprocessing_fn`.
    """
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils
    from tfx_bsl.coders.example_coder import RecordBatchToExamplesEncoder
    from tfx_bsl.public import tfxio

    from trainer.preprocessing import preprocessing_fn as default_fn

    fn = functools.partial(preprocessing_fn or default_fn,
                           custom_config={"registry": registry.to_dict()})
    schema = schema_utils.schema_from_feature_spec(raw_feature_spec(registry))
    graph_dir = os.path.join(out_dir, "transform_graph")
    files = {}
    options = beam.options.pipeline_options.PipelineOptions(
        ["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    tf.io.gfile.makedirs(out_dir)
    # Exits run in reverse: the pipeline runs before its temporary folder is removed.
    with tempfile.TemporaryDirectory(dir=out_dir) as temp_dir, beam.Pipeline(
            options=options) as pipeline, tft_beam.Context(temp_dir=temp_dir):
        sources = {split: tfxio.TFExampleRecord(pattern, schema=schema)
                   for split, pattern in (("train", train_raw), ("eval", eval_raw))}
        raw = {split: (pipeline | f"Read{split}" >> source.BeamSource(),
                       source.TensorAdapterConfig()) for split, source in sources.items()}
        transformed_train, transform_fn = raw["train"] | tft_beam.AnalyzeAndTransformDataset(
            fn, output_record_batches=True)
        transformed_eval = (raw["eval"], transform_fn) | tft_beam.TransformDataset(
            output_record_batches=True)
        _ = transform_fn | tft_beam.WriteTransformFn(graph_dir)
        _ = (dataset_metadata.DatasetMetadata(schema)
             | tft_beam.WriteMetadata(os.path.join(graph_dir, tft.TFTransformOutput
                                                   .RAW_METADATA_DIR), pipeline))
        for split, (batches, _metadata) in (("train", transformed_train),
                                            ("eval", transformed_eval)):
            prefix = os.path.join(out_dir, "transformed_examples", split, "examples")
            files[split] = [f"{prefix}*.gz"]
            _ = (batches
                 | f"Encode{split}" >> beam.FlatMapTuple(
                     lambda batch, _: RecordBatchToExamplesEncoder().encode(batch))
                 | f"Write{split}" >> beam.io.WriteToTFRecord(prefix, file_name_suffix=".gz"))
    return TransformedData(graph_dir, files["train"], files["eval"])


def split_rows(impressions: list[dict], key: str, eval_percent: int) -> tuple[list[dict], list[dict]]:
    """Train and eval rows, split by the example id as ingestion splits them (`rows.split_of`)."""
    train_rows, eval_rows = [], []
    for row in impressions:
        in_eval = rows.split_of(str(row[key]), eval_percent) == rows.EVAL
        (eval_rows if in_eval else train_rows).append(row)
    return train_rows, eval_rows
