"""The feature registry: the one source of truth for feature names and kinds.

The registry is built from the project config by `pipeline.config` and travels to TFX
executors (Transform, Trainer, ingestion) as a plain dict in `custom_config`, so that model
code never imports orchestration code and no feature name is spelled twice.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field

from trainer.settings import TrainingSettings

# The name of the model's output in every signature (and TFMA's prediction key).
PREDICTION_OUTPUT = "click_probability"


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
class FeatureRegistry:
    """All features of a dataset, with the label, the example key and model-wide settings."""

    label: str
    example_id: str
    features: tuple[Feature, ...]
    crosses: tuple[tuple[str, ...], ...] = ()
    passthrough: tuple[str, ...] = ()
    image_size: int = TrainingSettings.image_size
    text_max_tokens: int = TrainingSettings.text_max_tokens
    cross_hash_buckets: int = TrainingSettings.cross_hash_buckets
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
    def csv_columns(self) -> list[str]:
        """The CSV columns a span must have, in a stable order."""
        columns = [self.example_id, *self.passthrough]
        for feature in self.features:
            if feature.csv_column not in columns:
                columns.append(feature.csv_column)
        columns.append(self.label)
        return columns

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
        return cls(**data)


def transformed_name(name: str) -> str:
    """The name of a feature after TF Transform."""
    return f"{name}_xf"
