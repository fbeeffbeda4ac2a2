"""Small monthly spans as the pipeline sees them: generator CSV -> ingestion rows -> statistics.

The rows go through the ingestion component's own parser and tf.Example builder, in process
(no Beam), and statistics are computed in memory with TFDV, so a test takes seconds.
"""

from __future__ import annotations

from pathlib import Path

from trainer import rows

EVAL_PERCENT = 20


def month_examples(data_dir: str | Path, month: str, registry) -> dict[str, list[bytes]]:
    """Per split, the serialized tf.Examples of one generated month."""
    data_dir = Path(data_dir)
    examples: dict[str, list[bytes]] = {rows.TRAIN: [], rows.EVAL: []}
    creatives: dict[str, bytes] = {}
    for path in sorted((data_dir / "impressions" / month).glob("*.csv")):
        records = rows.iter_records([path.read_bytes()])
        parser = rows.RowParser(registry, rows.parse_header(next(records)[1], registry, str(path)))
        for _, line in records:
            row = parser.parse(line)
            assert not isinstance(row, rows.Rejected), row
            images = {}
            for name, key in row.creatives.items():
                if key not in creatives:
                    creatives[key] = (data_dir / key).read_bytes()
                images[name] = creatives[key]
            split = rows.split_of(row.example_id, EVAL_PERCENT)
            examples[split].append(rows.build_example(row, images).SerializeToString())
    return examples


def statistics(serialized: list[bytes], schema=None):
    """TFDV statistics of serialized tf.Examples, with the schema when given."""
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl
    from tfx_bsl.coders import example_coder

    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(serialized)
    return stats_impl.generate_statistics_in_memory(batch, tfdv.StatsOptions(schema=schema))


def span_statistics(examples: dict[str, list[bytes]], schema=None) -> dict:
    """Per split, the statistics of `month_examples`' output."""
    return {split: statistics(serialized, schema) for split, serialized in examples.items()}
