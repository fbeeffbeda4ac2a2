"""The records of one file (or request) with its header, parsed into a typed table."""

from __future__ import annotations

import csv
from collections.abc import Collection, Sequence

from trainer.features import FeatureRegistry
from trainer.rows.months import by_month
from trainer.rows.records import UTF8_BOM, split_fields
from trainer.rows.rejections import UNPARSEABLE_LINE, WRONG_COLUMN_COUNT, Rejected
from trainer.rows.table import ParsedRow, Table
from trainer.rows.values import typed


class RowParser:
    """Parses the records of one file (or request) with a given header.

    Args:
        registry: the dataset's features, label and keys.
        header: the column names, in the file's order (see `parse_header`).
        with_label: rows carry the label (training data); serving rows may omit it.
        months: with a span column (training data only), the months to keep: rows of other
            months are set aside as `Table.outside`. None keeps every month (the timestamp
            must still parse).
    """

    def __init__(
        self,
        registry: FeatureRegistry,
        header: list[str],
        *,
        with_label: bool = True,
        months: Collection[str] | None = None,
    ) -> None:
        self.registry = registry
        self.header = header
        self.width = len(header)
        self.with_label = with_label
        needed = set(registry.csv_columns if with_label else registry.request_columns)
        self._columns = [(name, index) for index, name in enumerate(header) if name in needed]
        span = registry.span_column if with_label else ""
        self._span_index = header.index(span) if span and span in header else None
        self._months = months

    def parse_records(self, records: Sequence[bytes]) -> Table:
        """The typed table of many records; a record that is not CSV of the header's width is
        rejected for that (never raises on bad input)."""
        rejected: dict[int, Rejected] = {}
        fields, positions = [], []
        for position, line in enumerate(records):
            row = self._fields(line)
            if isinstance(row, Rejected):
                rejected[position] = row
            else:
                fields.append(row)
                positions.append(position)
        outside: list[int] = []
        if self._span_index is not None and fields:
            fields, positions, outside = self._in_months(fields, positions, rejected)
        columns = {name: [row[index] for row in fields] for name, index in self._columns}
        table = typed(self.registry, columns, len(fields), with_label=self.with_label)
        return Table(
            size=len(records),
            rejected={**rejected, **{positions[i]: why for i, why in table.rejected.items()}},
            kept=[positions[i] for i in table.kept],
            example_ids=table.example_ids,
            values=table.values,
            creatives=table.creatives,
            outside=outside,
        )

    def _fields(self, line: bytes) -> list[str] | Rejected:
        """A record's fields, or why it is not CSV of the header's width."""
        try:
            row = split_fields(line.removeprefix(UTF8_BOM).decode("utf-8"))
        except UnicodeDecodeError as exc:
            return Rejected(UNPARSEABLE_LINE, f"not UTF-8 at byte {exc.start}")
        except csv.Error as exc:
            return Rejected(UNPARSEABLE_LINE, f"not CSV: {exc}")
        if len(row) != self.width:
            return Rejected(WRONG_COLUMN_COUNT, f"{len(row)} columns, the header has {self.width}")
        return row

    def _in_months(self, fields: list, positions: list[int], rejected: dict[int, Rejected]):
        """The rows whose timestamp parses and falls in the months asked for; the positions of
        the rows of other months; rows whose timestamp does not parse go to `rejected`."""
        stamps = [row[self._span_index] for row in fields]
        unreadable, outside, keep = by_month(self.registry, stamps, self._months)
        for i, why in unreadable.items():
            rejected[positions[i]] = why
        return [fields[i] for i in keep], [positions[i] for i in keep], [positions[i] for i in outside]

    def parse(self, line: bytes) -> ParsedRow | Rejected:
        """A typed row, or why the record is rejected."""
        return self.parse_records([line]).single()
