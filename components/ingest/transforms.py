"""The Beam part of ingestion: stream each impressions file into train, eval and quarantine.

One element per file: a worker streams the file in chunks, so memory does not grow with the
span. Every row read is counted and ends in exactly one of the three outputs; with a span
column, the rows of other months than the window's are counted apart (they are other spans).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter

from components.ingest.attempts import Attempt, drop_attempts
from components.ingest.creatives import CreativeCache
from components.ingest.storage import ObjectInfo, open_storage
from trainer import rows
from trainer.features import FeatureRegistry

METRICS_NAMESPACE = "clickpipe.ingest"
QUARANTINE = "quarantine"
# File names as TFX's ExampleGen writes them: Split-<name>/data_tfrecord-*.gz.
EXAMPLES_FILE = "data_tfrecord"
QUARANTINE_FILE = "quarantined_rows"
# Rows parsed, checked and encoded together.
BATCH_ROWS = 8192


@dataclass
class IngestCounts:
    """How many rows were read, written per split, and quarantined per reason."""

    read: int = 0
    written: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    other_months: int = 0

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
        self._creatives = CreativeCache(self._storage.read)

    def process(self, element: tuple[int, ObjectInfo]):
        import tensorflow as tf

        index, info = element
        # Level 1: gzip's fastest; the examples are read a few times and stay small either way.
        gzip_fast = tf.io.TFRecordOptions(compression_type="GZIP", compression_level=1)
        reader = rows.Records(self._storage.read_chunks(info))
        records = iter(reader)
        _, header_line = next(records, (0, None))
        if header_line is None:
            return
        header = rows.parse_header(header_line, self._registry, info.name)
        parser = rows.RowParser(self._registry, header, months=self._months)
        reader.width = parser.width
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
        for split, serialized in zip(splits, rows.encode(table), strict=True):
            writers[split].write(serialized)
        for split in rows.SPLITS:
            self._written[split].inc(splits.count(split))

    def _creative(self, name: str) -> bytes | rows.Rejected:
        # The cache fetches and checks each creative once per worker.
        creative = self._creatives.get(name)
        return creative.rejected or creative.data


def build_ingest(
    pipeline: beam.Pipeline,
    source: str,
    files: tuple[ObjectInfo, ...],
    registry: FeatureRegistry,
    eval_percent: int,
    examples_uri: str,
    quarantine_uri: str,
    months: tuple[str, ...] | None = None,
) -> None:
    """Adds ingestion to `pipeline`: the files in, gzipped TFRecords and quarantine JSONL out.

    Each file is one element; the worker that takes it writes its rows straight to
    ``Split-<split>/data_tfrecord-<file>-of-<files>.gz`` and its quarantined rows beside, so no
    row crosses Beam one by one; once all are in, what killed attempts left is removed.
    `months`: with the registry's span column, the months to keep.
    """
    import tensorflow as tf

    for split in rows.SPLITS:
        tf.io.gfile.makedirs(os.path.join(examples_uri, f"Split-{split}"))
    tf.io.gfile.makedirs(quarantine_uri)
    ingest_file = IngestFile(
        source, registry.to_dict(), eval_percent, examples_uri, quarantine_uri, len(files), months
    )
    ingested = (
        pipeline
        | "ListFiles" >> beam.Create(list(enumerate(files)))
        # Spread files over workers before the per-row work.
        | "SpreadFiles" >> beam.Reshuffle()
        | "IngestFiles" >> beam.ParDo(ingest_file)
    )
    # After the last file: the folders of attempts that died (see Attempt).
    _ = (
        ingested
        | "AllFilesIn" >> beam.combiners.Count.Globally()
        | "DropAttempts" >> beam.Map(lambda _: drop_attempts(examples_uri, quarantine_uri))
    )
