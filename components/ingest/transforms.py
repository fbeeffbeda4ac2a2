"""The Beam part of ingestion: stream each impressions file into train, eval and quarantine.

One element per file: a worker streams the file in chunks, so memory does not grow with the
span. Every row read is counted and ends in exactly one of the three outputs; with a span
column, the rows of other months than the window's are counted apart (they are other spans).

Creatives are read once per run, not once per file or worker: a first pass over the files
collects the creative paths their rows name, Beam makes them distinct across the whole run,
batches of them are fetched in parallel and turned into model input (`PrepareCreatives`), and
that small map of path to thumbnail is the side input rows are encoded with.

Each distinct model input is written once, to the artifact's `Creatives/` folder, and a training
row carries only its key (`trainer.images.thumbnail_key`), so what the training split stores,
and what statistics, Transform and every training epoch read per impression, does not grow with
the creative. Eval rows carry the input itself: they are what the gate and the serving checks
send to the model's serving signatures, as a client would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter

from components import artifacts
from components.ingest.attempts import Attempt, drop_attempts
from components.ingest.creatives import DEFAULT_FETCH_WORKERS, Creative, fetch_pool, prepare_creatives
from components.ingest.storage import ObjectInfo, open_storage
from trainer import rows
from trainer.features import FeatureRegistry
from trainer.thumbnail_table import record

METRICS_NAMESPACE = "clickpipe.ingest"
QUARANTINE = "quarantine"
# File names as TFX's ExampleGen writes them: Split-<name>/data_tfrecord-*.gz.
EXAMPLES_FILE = "data_tfrecord"
QUARANTINE_FILE = "quarantined_rows"
# Rows parsed, checked and encoded together.
BATCH_ROWS = 8192
# Distinct creatives fetched and decoded together: enough to keep the fetch pool busy.
CREATIVE_BATCH = 256


@dataclass
class IngestCounts:
    """How many rows were read, written per split, and quarantined per reason; how many distinct
    creatives were fetched."""

    read: int = 0
    written: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    other_months: int = 0
    creatives: int = 0

    @property
    def rows_written(self) -> int:
        return sum(self.written.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(self.quarantined.values())

    @property
    def quarantined_fraction(self) -> float:
        return self.rows_quarantined / self.read if self.read else 0.0

    def describe_quarantine(self) -> str:
        """E.g. "bad_value_type 3, missing_creative 1"."""
        return ", ".join(f"{reason} {n}" for reason, n in self.quarantined.items() if n) or "none"

    @classmethod
    def from_metrics(cls, result) -> IngestCounts:
        """The committed counters of a finished Beam pipeline result."""
        found = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
        values: dict[str, int] = {}
        for counter in found["counters"]:
            name = counter.key.metric.name
            values[name] = values.get(name, 0) + counter.committed
        return cls(
            read=values.get("rows_read", 0),
            written={split: values.get(f"rows_written_{split}", 0) for split in rows.SPLITS},
            quarantined={r: values.get(f"rows_quarantined_{r}", 0) for r in rows.REASONS},
            other_months=values.get("rows_other_months", 0),
            creatives=values.get("creatives_fetched", 0),
        )


class IngestFile(beam.DoFn):
    """Parses one impressions file in batches, joins creatives, and writes its examples by split
    and its quarantined rows to files of its own, named after the file's index. Each attempt
    writes apart and publishes by renaming (`Attempt`), so a retried bundle leaves the same files,
    never a duplicate row or a half-written file. With a span column, only the rows of `months` are read;
    the others are counted as other months'."""

    def __init__(
        self,
        source: str,
        registry: dict,
        eval_percent: int,
        examples_uri: str,
        quarantine_uri: str,
        files: int,
        months: tuple[str, ...] | None = None,
    ) -> None:
        self._source = source
        self._registry_dict = registry
        self._eval_percent = eval_percent
        self._examples_uri = examples_uri
        self._quarantine_uri = quarantine_uri
        self._files = files
        self._months = months
        self._read = Metrics.counter(METRICS_NAMESPACE, "rows_read")
        self._other_months = Metrics.counter(METRICS_NAMESPACE, "rows_other_months")
        self._written = {s: Metrics.counter(METRICS_NAMESPACE, f"rows_written_{s}") for s in rows.SPLITS}
        self._quarantined = {r: Metrics.counter(METRICS_NAMESPACE, f"rows_quarantined_{r}") for r in rows.REASONS}

    def setup(self) -> None:
        # Clients are not picklable: each worker opens its own.
        self._storage = open_storage(self._source)
        self._registry = FeatureRegistry.from_dict(self._registry_dict)
        self._prepared = None

    def process(self, element: tuple[int, ObjectInfo], creatives: dict[str, Creative]):
        import tensorflow as tf

        index, info = element
        if creatives is not self._prepared:
            self._prepared = creatives
            # What eval rows carry instead of the key, built once per side input.
            self._thumbnails = {c.key: c.thumbnail for c in creatives.values() if c.thumbnail}
        # Level 1: gzip's fastest; the examples are read a few times and stay small either way.
        gzip_fast = tf.io.TFRecordOptions(compression_type="GZIP", compression_level=1)
        opened = open_records(self._storage, info, self._registry, self._months)
        if opened is None:
            return
        parser, records = opened
        suffix = f"{index:05d}-of-{self._files:05d}"
        attempt = Attempt()
        writers = {
            split: tf.io.TFRecordWriter(
                attempt.stage(self._examples_uri, f"Split-{split}/{EXAMPLES_FILE}-{suffix}.gz"), gzip_fast
            )
            for split in rows.SPLITS
        }
        quarantine_path = attempt.stage(self._quarantine_uri, f"{QUARANTINE_FILE}-{suffix}.jsonl")
        with tf.io.gfile.GFile(quarantine_path, "w") as quarantine:
            # Blank lines hold no row (as in Python's csv module).
            batch = []
            for numbered in records:
                if numbered[1].strip():
                    batch.append(numbered)
                if len(batch) == BATCH_ROWS:
                    self._ingest_batch(info.name, parser, batch, writers, quarantine)
                    batch = []
            if batch:
                self._ingest_batch(info.name, parser, batch, writers, quarantine)
        for writer in writers.values():
            writer.close()
        attempt.publish()

    def _ingest_batch(self, file: str, parser: rows.RowParser, batch: list, writers: dict, quarantine) -> None:
        lines = [line for _, line in batch]
        table = rows.attach_images(parser.parse_records(lines), self._creative)
        self._read.inc(len(batch) - len(table.outside))
        self._other_months.inc(len(table.outside))
        for position, rejected in sorted(table.rejected.items()):
            self._quarantined[rejected.reason].inc()
            line_number, line = batch[position]
            quarantine.write(rows.quarantine_record(file, line_number, line, rejected) + "\n")
        splits = [rows.split_of(example_id, self._eval_percent) for example_id in table.example_ids]
        for split, serialized in zip(splits, rows.encode(with_eval_inputs(table, splits, self._thumbnails)),
                                     strict=True):
            writers[split].write(serialized)
        for split in rows.SPLITS:
            self._written[split].inc(splits.count(split))

    def _creative(self, name: str) -> bytes | rows.Rejected:
        # Prepared once per run by PrepareCreatives: the thumbnail's key, or why it has none.
        creative = self._prepared[name]
        return creative.rejected or creative.key


def with_eval_inputs(table: rows.Table, splits: list[str], thumbnails: dict[bytes, bytes]) -> rows.Table:
    """The table, whose images are keys, with the eval rows' keys replaced by the model inputs
    they name (`thumbnails`): eval rows go to the serving signatures as a client's would."""
    import pyarrow as pa
    import pyarrow.compute as pc

    evaluated = pa.array([split == rows.EVAL for split in splits], pa.bool_())
    images = {}
    for name, column in table.images.items():
        distinct = pc.unique(column)
        inputs = pa.array([thumbnails[key] for key in distinct.to_pylist()], pa.binary())
        images[name] = pc.if_else(evaluated, inputs.take(pc.index_in(column, value_set=distinct)), column)
    return replace(table, images=images)


def open_records(storage, info: ObjectInfo, registry: FeatureRegistry, months: tuple[str, ...] | None):
    """A file's row parser and its numbered records after the header; None for an empty file."""
    reader = rows.Records(storage.read_chunks(info))
    records = iter(reader)
    _, header_line = next(records, (0, None))
    if header_line is None:
        return None
    parser = rows.RowParser(registry, rows.parse_header(header_line, registry, info.name), months=months)
    reader.width = parser.width
    return parser, records


class CreativeNames(beam.DoFn):
    """The distinct creative paths the rows of one impressions file name (a first, light pass:
    rows are parsed, nothing is written)."""

    def __init__(self, source: str, registry: dict, months: tuple[str, ...] | None = None) -> None:
        self._source = source
        self._registry_dict = registry
        self._months = months

    def setup(self) -> None:
        self._storage = open_storage(self._source)
        self._registry = FeatureRegistry.from_dict(self._registry_dict)

    def process(self, element: tuple[int, ObjectInfo]):
        import pyarrow.compute as pc

        opened = open_records(self._storage, element[1], self._registry, self._months)
        if opened is None:
            return
        parser, records = opened
        names: set[str] = set()
        batch: list[bytes] = []
        for _, line in records:
            if line.strip():
                batch.append(line)
            if len(batch) == BATCH_ROWS:
                names.update(_named(parser.parse_records(batch), pc))
                batch = []
        if batch:
            names.update(_named(parser.parse_records(batch), pc))
        yield from sorted(names)


def _named(table: rows.Table, pc) -> set[str]:
    return {name for paths in table.creatives.values() for name in pc.unique(paths).to_pylist()}


class PrepareCreatives(beam.DoFn):
    """A batch of distinct creative paths to (path, `Creative`): fetched in parallel with at most
    `workers` requests in flight, each distinct content decoded once. No side effects, so a
    retried bundle gives the same output."""

    def __init__(self, source: str, size: int, workers: int = DEFAULT_FETCH_WORKERS) -> None:
        self._source = source
        self._size = size
        self._workers = workers
        self._fetched = Metrics.counter(METRICS_NAMESPACE, "creatives_fetched")

    def setup(self) -> None:
        from trainer.images import MAX_BYTES

        self._storage = open_storage(self._source)
        # One byte past the limit is enough to know a creative is too large.
        self._limit = MAX_BYTES + 1
        self._pool = fetch_pool(self._workers)

    def process(self, names: list[str]):
        self._fetched.inc(len(names))
        yield from prepare_creatives(names, self._fetch, self._size, self._workers, self._pool)

    def teardown(self) -> None:
        self._pool.shutdown(cancel_futures=True)

    def _fetch(self, name: str) -> bytes | None:
        return self._storage.read(name, limit=self._limit)


def build_ingest(
    pipeline: beam.Pipeline,
    source: str,
    files: tuple[ObjectInfo, ...],
    registry: FeatureRegistry,
    eval_percent: int,
    examples_uri: str,
    quarantine_uri: str,
    months: tuple[str, ...] | None = None,
    fetch_workers: int = DEFAULT_FETCH_WORKERS,
) -> None:
    """Adds ingestion to `pipeline`: the files in, gzipped TFRecords and quarantine JSONL out.

    Each file is one element; the worker that takes it writes its rows straight to
    ``Split-<split>/data_tfrecord-<file>-of-<files>.gz`` and its quarantined rows beside, so no
    row crosses Beam one by one; once all are in, what killed attempts left is removed.
    `months`: with the registry's span column, the months to keep.
    The distinct creatives of all files are prepared once, `fetch_workers` fetches at a time,
    and their model inputs written once to ``Creatives/thumbnails-*.gz``.
    """
    import tensorflow as tf

    for split in rows.SPLITS:
        tf.io.gfile.makedirs(os.path.join(examples_uri, f"Split-{split}"))
    tf.io.gfile.makedirs(quarantine_uri)
    ingest_file = IngestFile(
        source, registry.to_dict(), eval_percent, examples_uri, quarantine_uri, len(files), months
    )
    # Spread files over workers before the per-row work.
    spread = pipeline | "ListFiles" >> beam.Create(list(enumerate(files))) | "SpreadFiles" >> beam.Reshuffle()
    creatives = (
        spread
        | "CreativeNames" >> beam.ParDo(CreativeNames(source, registry.to_dict(), months))
        # Once per run, however many files, impressions or workers name a creative.
        | "DistinctCreatives" >> beam.Distinct()
        | "BatchCreatives" >> beam.BatchElements(min_batch_size=CREATIVE_BATCH, max_batch_size=CREATIVE_BATCH)
        | "PrepareCreatives" >> beam.ParDo(PrepareCreatives(source, registry.image_size, fetch_workers))
    )
    ingested = spread | "IngestFiles" >> beam.ParDo(ingest_file, creatives=beam.pvalue.AsDict(creatives))
    # Beam's file sink writes to a temporary folder and renames when done: a retried bundle
    # leaves no duplicate.
    _ = (
        creatives
        | "Thumbnails" >> beam.FlatMap(lambda named: [named[1].thumbnail] if named[1].thumbnail else [])
        | "DistinctThumbnails" >> beam.Distinct()
        | "Records" >> beam.Map(record)
        | "WriteCreatives" >> beam.io.WriteToTFRecord(
            os.path.join(examples_uri, artifacts.CREATIVES_FOLDER, artifacts.THUMBNAILS_FILE),
            file_name_suffix=".gz")
    )
    # After the last file: the folders of attempts that died (see Attempt).
    _ = (
        ingested
        | "AllFilesIn" >> beam.combiners.Count.Globally()
        | "DropAttempts" >> beam.Map(lambda _: drop_attempts(examples_uri, quarantine_uri))
    )
