"""The raw-row contract: one dataset row to one `tf.Example`, or to a rejection with its reason.

The only place where a raw row is parsed, validated and encoded. Ingestion (training data), the
serving requests of `clickpipe predict` and the local training helpers all go through it, so
training and serving cannot drift apart (infra validation sends eval examples that ingestion
encoded here; it parses no raw rows). Pure logic, no I/O; feature names and kinds come only from
the feature registry. It lives in `trainer/` because that is the lowest layer both ingestion
(`components/`) and `clickpipe predict` (`pipeline/`) may import. Import its names from here
(`from trainer import rows`); one module per concern:

| module | concern |
|---|---|
| `records` | CSV records of a byte stream, fields of a record, the header |
| `numbers`, `values` | value typing: CSV numbers, and every column's rules (`typed`) |
| `labels` | the label column, or the label a `LabelRule` derives |
| `months` | span column timestamps to months |
| `creatives` | image paths, inline images, the PNG/JPEG check once per distinct creative |
| `keys` | row key and train/eval split hash |
| `parser`, `mapping` | a file's records (`RowParser`), a single row by column name (`parse_mapping`) |
| `encoding` | accepted rows to `tf.Example`s, one row to raw-feature inputs |
| `table`, `rejections` | the typed rows, and why a row is rejected (with its quarantine record) |

The rules, for every path:
- a CSV record follows RFC 4180 (quoted fields may hold commas, quotes and newlines); a UTF-8
  byte-order mark at the start of a line is an encoding artifact and is dropped;
- a number is written as CSV numbers are (``12``, ``-0.5``, ``1e-3``; blank = the feature's
  default) and must fit a float32: no ``nan``, ``inf``, ``1_000`` or ``1e308``;
- the label is the integer 0 or 1, or derived from other columns by the registry's `LabelRule`
  (e.g. ``tip_amount > 0.2 * fare_amount``): its columns must then be non-blank (numbers for a
  numeric comparison), and serving requests need them only where they are features;
- the example id must not be blank; without an example id column, a row's key is the first 128
  bits of the SHA-256 of its raw fields (`row_key`), which examples do not carry;
- with a span column, its timestamp must parse (`timestamp_months`), and ingestion keeps the rows
  of its months only: the others are other spans, neither examples nor rejections;
- text and categorical values are kept byte for byte;
- an image feature's source column names the creative, which must be a decodable PNG or JPEG.
"""

from trainer.rows.creatives import (
    IMAGE_FORMATS,
    attach_images,
    check_creative,
    checked,
    image_problem,
    inline_image,
    row_images,
)
from trainer.rows.encoding import build_example, encode, raw_inputs
from trainer.rows.keys import EVAL, SPLITS, TRAIN, row_key, split_of
from trainer.rows.mapping import parse_mapping
from trainer.rows.months import timestamp_months
from trainer.rows.numbers import FLOAT32_MAX
from trainer.rows.parser import RowParser
from trainer.rows.records import (
    MAX_RECORD_LINES,
    UTF8_BOM,
    HeaderError,
    Records,
    iter_records,
    parse_header,
    split_fields,
)
from trainer.rows.rejections import (
    BAD_VALUE_TYPE,
    MISSING_CREATIVE,
    REASONS,
    UNDECODABLE_IMAGE,
    UNPARSEABLE_LINE,
    WRONG_COLUMN_COUNT,
    Rejected,
    quarantine_record,
)
from trainer.rows.table import BYTES, FLOAT, INT, ParsedRow, Table

__all__ = [
    "BAD_VALUE_TYPE",
    "BYTES",
    "EVAL",
    "FLOAT",
    "FLOAT32_MAX",
    "IMAGE_FORMATS",
    "INT",
    "MAX_RECORD_LINES",
    "MISSING_CREATIVE",
    "REASONS",
    "SPLITS",
    "TRAIN",
    "UNDECODABLE_IMAGE",
    "UNPARSEABLE_LINE",
    "UTF8_BOM",
    "WRONG_COLUMN_COUNT",
    "HeaderError",
    "ParsedRow",
    "Records",
    "Rejected",
    "RowParser",
    "Table",
    "attach_images",
    "build_example",
    "check_creative",
    "checked",
    "encode",
    "image_problem",
    "inline_image",
    "iter_records",
    "parse_header",
    "parse_mapping",
    "quarantine_record",
    "raw_inputs",
    "row_images",
    "row_key",
    "split_fields",
    "split_of",
    "timestamp_months",
]
