"""The feature registry: the one source of truth for feature names and kinds.

The registry is built from the project config by `pipeline.config` and travels to TFX
executors (Transform, Trainer, ingestion) as a plain dict in `custom_config`, so that model
code never imports orchestration code and no feature name is spelled twice.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field

from trainer.settings import TrainingSettings

# The model's output in every signature unless the dataset names its own (`FeatureRegistry.prediction`).
PREDICTION_OUTPUT = "probability"
# The comparisons a derived label may make (see `LabelRule`).
COMPARISONS = (">", ">=", "<", "<=", "==", "!=")


class Kind(str, enum.Enum):
    """How a raw column is turned into model input."""

    CATEGORICAL = "categorical"
    NUMERIC = "numeric"
    TEXT = "text"
    IMAGE = "image"


@dataclass(frozen=True)
class Feature:
    """One model input and how to read it.

    Attributes:
        name: the feature name in `tf.Example`s and in serving requests.
        kind: categorical, numeric, text or image.
        hash_buckets: categorical only; hash into this many buckets instead of a vocabulary
            (for very high cardinality).
        vocab_size: categorical/text: keep the most frequent values only.
        oov_buckets: categorical/text: buckets for values not in the vocabulary.
        source_column: image only; the CSV column whose value names the creative file.
        uri_template: image only; the creative's path relative to the dataset source,
            formatted with the source column, e.g. ``creatives/{ad_id}.png``.
        default: numeric only; value used when the column is empty.
    """

    name: str
    kind: Kind
    hash_buckets: int = 0
    vocab_size: int = 1000
    oov_buckets: int = 1
    source_column: str = ""
    uri_template: str = ""
    default: float = 0.0

    @property
    def csv_column(self) -> str:
        """The CSV column this feature is read from."""
        return self.source_column if self.kind is Kind.IMAGE else self.name


@dataclass(frozen=True)
class LabelRule:
    """A label derived from other columns: 1 where ``column op right`` holds, else 0.

    Attributes:
        column: the column compared, e.g. ``tip_amount``.
        op: one of `COMPARISONS`.
        value: the right side when it is a constant: a number, or a text (``==`` and ``!=``
            only) compared with the cell without its surrounding spaces.
        right_column: the right side when it is a column of numbers, multiplied by `times`.
        times: the factor of `right_column`.
    """

    column: str
    op: str
    value: float | str | None = None
    right_column: str = ""
    times: float = 1.0

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the label is computed from."""
        return (self.column, self.right_column) if self.right_column else (self.column,)

    @property
    def numeric(self) -> bool:
        """The comparison is between numbers (else between texts)."""
        return not isinstance(self.value, str)

    def describe(self) -> str:
        """The rule as a person writes it, e.g. ``tip_amount > 0.2 * fare_amount``."""
        if self.right_column:
            right = self.right_column if self.times == 1 else f"{self.times:g} * {self.right_column}"
        else:
            right = repr(self.value) if isinstance(self.value, str) else f"{self.value:g}"
        return f"{self.column} {self.op} {right}"


@dataclass(frozen=True)
class FeatureRegistry:
    """All features of a dataset, with the label, the example key and model-wide settings.

    Attributes:
        label: the label's name in the examples: a 0/1 column, or the name of a derived label.
        example_id: the column holding each row's stable key; "" when the dataset has none
            (the key is then a hash of the row, see `trainer.rows.keys`).
        label_rule: how the label is derived from other columns; None when it is a column.
        span_column: the timestamp column whose month is a row's span; "" when spans are folders.
        span_format: a strptime format of `span_column`; "" for ISO 8601.
        prediction: the model's output in every serving signature.
    """

    label: str
    example_id: str
    features: tuple[Feature, ...]
    crosses: tuple[tuple[str, ...], ...] = ()
    passthrough: tuple[str, ...] = ()
    image_size: int = TrainingSettings.image_size
    text_max_tokens: int = TrainingSettings.text_max_tokens
    cross_hash_buckets: int = TrainingSettings.cross_hash_buckets
    label_rule: LabelRule | None = None
    span_column: str = ""
    span_format: str = ""
    prediction: str = PREDICTION_OUTPUT
    _by_name: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.features})

    def __getitem__(self, name: str) -> Feature:
        return self._by_name[name]

    def of_kind(self, kind: Kind) -> list[Feature]:
        """The features of one kind, in config order."""
        return [f for f in self.features if f.kind is kind]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def label_columns(self) -> tuple[str, ...]:
        """The CSV columns the label is read from."""
        return self.label_rule.columns if self.label_rule else (self.label,)

    @property
    def request_columns(self) -> list[str]:
        """The CSV columns a serving request's header must have: no label, no span column."""
        columns = [self.example_id] if self.example_id else []
        columns += self.passthrough
        return _unique(columns + [feature.csv_column for feature in self.features])

    @property
    def csv_columns(self) -> list[str]:
        """The CSV columns a span must have, in a stable order."""
        columns = [self.example_id] if self.example_id else []
        columns += [*self.passthrough, *([self.span_column] if self.span_column else [])]
        return _unique(columns + [feature.csv_column for feature in self.features] + list(self.label_columns))

    def to_dict(self) -> dict:
        """A JSON-serialisable form, for TFX `custom_config`."""
        data = asdict(self)
        data.pop("_by_name")
        for feature in data["features"]:
            feature["kind"] = feature["kind"].value
        return data

    @classmethod
    def from_dict(cls, data: dict) -> FeatureRegistry:
        """Inverse of `to_dict`."""
        data = dict(data)
        data["features"] = tuple(
            Feature(**{**f, "kind": Kind(f["kind"])}) for f in data["features"]
        )
        data["crosses"] = tuple(tuple(c) for c in data.get("crosses", ()))
        data["passthrough"] = tuple(data.get("passthrough", ()))
        if data.get("label_rule"):
            data["label_rule"] = LabelRule(**data["label_rule"])
        return cls(**data)


def _unique(names: list[str]) -> list[str]:
    """`names` without repeats, in first-seen order."""
    return list(dict.fromkeys(names))


def transformed_name(name: str) -> str:
    """The name of a feature after TF Transform."""
    return f"{name}_xf"
