"""The Beam part of ingestion: stream each impressions file into train, eval and quarantine.

One element per file: a worker streams the file in chunks, so memory does not grow with the
span. Every line read is counted and ends in exactly one of the three outputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter

from components.ingest.creatives import CreativeCache
from components.ingest.storage import ObjectInfo, open_storage
from trainer import rows
from trainer.features import FeatureRegistry

METRICS_NAMESPACE = "clickpipe.ingest"
QUARANTINE = "quarantine"
# File names as TFX's ExampleGen writes them: Split-<name>/data_tfrecord-*.gz.
EXAMPLES_FILE = "data_tfrecord"
QUARANTINE_FILE = "quarantined_rows"


@dataclass
class IngestCounts:
    """How many rows were read, written per split, and quarantined per reason."""

    read: int = 0
    written: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)

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
        )


class IngestFile(beam.DoFn):
    """Parses one impressions file, joins creatives, and routes each row by split or to quarantine."""

    def __init__(self, source: str, registry: dict, eval_percent: int) -> None:
        self._source = source
        self._registry_dict = registry
        self._eval_percent = eval_percent
        self._read = Metrics.counter(METRICS_NAMESPACE, "rows_read")
        self._written = {s: Metrics.counter(METRICS_NAMESPACE, f"rows_written_{s}") for s in rows.SPLITS}
        self._quarantined = {
            r: Metrics.counter(METRICS_NAMESPACE, f"rows_quarantined_{r}") for r in rows.REASONS
        }

    def setup(self) -> None:
        # Clients are not picklable: each worker opens its own.
        self._storage = open_storage(self._source)
        self._registry = FeatureRegistry.from_dict(self._registry_dict)
        self._creatives = CreativeCache(self._storage.read)

    def process(self, info: ObjectInfo):
        reader = rows.Records(self._storage.read_chunks(info))
        records = iter(reader)
        _, header_line = next(records, (0, None))
        if header_line is None:
            return
        parser = rows.RowParser(self._registry, rows.parse_header(header_line, self._registry, info.name))
        reader.width = parser.width
        for line_number, line in records:
            # Blank lines hold no row (as in Python's csv module).
            if not line.strip():
                continue
            self._read.inc()
            parsed = parser.parse(line)
            if isinstance(parsed, rows.ParsedRow):
                parsed = self._with_creatives(parsed)
            if isinstance(parsed, rows.Rejected):
                self._quarantined[parsed.reason].inc()
                record = rows.quarantine_record(info.name, line_number, line, parsed)
                yield beam.pvalue.TaggedOutput(QUARANTINE, record)
                continue
            row, images = parsed
            split = rows.split_of(row.example_id, self._eval_percent)
            self._written[split].inc()
            yield beam.pvalue.TaggedOutput(split, rows.build_example(row, images).SerializeToString())

    def _with_creatives(self, row: rows.ParsedRow):
        images = {}
        for name, object_name in row.creatives.items():
            creative = self._creatives.get(object_name)
            if creative.rejected is not None:
                return creative.rejected
            images[name] = creative.data
        return row, images


def build_ingest(
    pipeline: beam.Pipeline,
    source: str,
    files: tuple[ObjectInfo, ...],
    registry: FeatureRegistry,
    eval_percent: int,
    examples_uri: str,
    quarantine_uri: str,
) -> None:
    """Adds ingestion to `pipeline`: the files in, gzipped TFRecords and quarantine JSONL out."""
    outputs = (
        pipeline
        | "ListFiles" >> beam.Create(files)
        # Spread files over workers before the (fused) per-row work.
        | "SpreadFiles" >> beam.Reshuffle()
        | "ParseAndJoin"
        >> beam.ParDo(IngestFile(source, registry.to_dict(), eval_percent)).with_outputs(
            *rows.SPLITS, QUARANTINE
        )
    )
    for split in rows.SPLITS:
        _ = outputs[split] | f"Write{split.title()}" >> beam.io.WriteToTFRecord(
            os.path.join(examples_uri, f"Split-{split}", EXAMPLES_FILE), file_name_suffix=".gz"
        )
    _ = outputs[QUARANTINE] | "WriteQuarantine" >> beam.io.WriteToText(
        os.path.join(quarantine_uri, QUARANTINE_FILE), file_name_suffix=".jsonl"
    )
