"""The typed rows that pass the contract: one row (`ParsedRow`) or many, column by column (`Table`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from trainer.rows.rejections import Rejected

BYTES, FLOAT, INT = "bytes", "float", "int"


@dataclass
class ParsedRow:
    """A row whose values all have the right type; fetched creatives are added later.

    Attributes:
        example_id: the stable key the train/eval split is hashed from ("" if not given).
        values: column or feature name to value (bytes, float or int), in registry order.
        kinds: the same names to "bytes", "float" or "int".
        creatives: image feature name to the creative's path relative to the dataset source,
            for the images still to be fetched.
        images: image feature name to image bytes given inline (requests, local rows).
    """

    example_id: str
    values: dict[str, object] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    creatives: dict[str, str] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Table:
    """Rows of one file (or request) through the contract, column by column.

    Attributes:
        size: the records given.
        rejected: position in the input → why that row is not model input.
        kept: positions of the accepted rows, in input order.
        example_ids: the accepted rows' example ids ("" where a request gave none).
        values: per column or feature, the accepted rows' typed values (binary, float32, int64).
        creatives: per image feature, the creative's path relative to the source, per accepted row.
        images: per image feature, image bytes given inline, per accepted row.
        outside: positions of the rows whose span column puts them in another month than
            those asked for: other spans, neither accepted nor rejected.
    """

    size: int
    rejected: dict[int, Rejected] = field(default_factory=dict)
    kept: list[int] = field(default_factory=list)
    example_ids: list[str] = field(default_factory=list)
    values: dict = field(default_factory=dict)
    creatives: dict = field(default_factory=dict)
    images: dict = field(default_factory=dict)
    outside: list[int] = field(default_factory=list)

    @classmethod
    def of_row(cls, row: ParsedRow, images: Mapping[str, bytes] | None = None) -> Table:
        """A one-row table of a parsed row, with `images` (fetched creatives) beside its inline ones."""
        import pyarrow as pa

        types = {BYTES: pa.binary(), FLOAT: pa.float32(), INT: pa.int64()}
        return cls(
            size=1,
            kept=[0],
            example_ids=[row.example_id],
            values={name: pa.array([value], types[row.kinds[name]]) for name, value in row.values.items()},
            creatives={name: pa.array([path]) for name, path in row.creatives.items()},
            images={name: pa.array([data], pa.binary()) for name, data in {**row.images, **(images or {})}.items()},
        )

    def without(self, rejected: Mapping[int, Rejected]) -> Table:
        """The table with more rows rejected, by their index among the accepted rows."""
        if not rejected:
            return self
        import pyarrow as pa

        keep = [i for i in range(len(self.kept)) if i not in rejected]
        take = pa.array(keep, pa.int64())
        return replace(
            self,
            rejected={**self.rejected, **{self.kept[i]: why for i, why in rejected.items()}},
            kept=[self.kept[i] for i in keep],
            example_ids=[self.example_ids[i] for i in keep],
            values={name: column.take(take) for name, column in self.values.items()},
            creatives={name: column.take(take) for name, column in self.creatives.items()},
            images={name: column.take(take) for name, column in self.images.items()},
        )

    def single(self) -> ParsedRow | Rejected:
        """The one row of a one-row table, or why it was rejected."""
        if self.rejected:
            return self.rejected[0]
        row = ParsedRow(example_id=self.example_ids[0])
        for name, column in self.values.items():
            value = column[0].as_py()
            row.values[name] = value
            row.kinds[name] = BYTES if isinstance(value, bytes) else INT if isinstance(value, int) else FLOAT
        row.creatives = {name: column[0].as_py() for name, column in self.creatives.items()}
        row.images = {name: column[0].as_py() for name, column in self.images.items()}
        return row
