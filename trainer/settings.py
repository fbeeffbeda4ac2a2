"""Training hyperparameters as the model code sees them, and the branches an ablation drops."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field


class Branch(str, enum.Enum):
    """A part of the model that an ablation can leave out."""

    IMAGE = "image"
    TEXT = "text"
    CROSSES = "crosses"


@dataclass(frozen=True)
class TrainingSettings:
    """The `[training]` section of the config (see pipeline.config.TrainingSection).

    Kept as a plain dataclass so that model code never imports the pipeline package.
    `id_dropout` (not in the config yet, so its default applies) is the share of training rows
    whose creative's id (the image's source column, e.g. ad_id) is replaced by the unknown
    id, so that the model learns to predict new ads from their creative and title.
    """

    epochs: int = 8
    batch_size: int = 1024
    learning_rate: float = 0.003
    embedding_dim: int = 8
    hidden_units: tuple[int, ...] = (64, 32)
    image_size: int = 32
    text_max_tokens: int = 8
    cross_hash_buckets: int = 1000
    early_stopping_patience: int = 2
    seed: int = 7
    l2: float = 1e-4
    dropout: float = 0.0
    id_dropout: float = 0.1
    cache_mb: int = 1024
    without: frozenset[Branch] = field(default_factory=frozenset)

    @classmethod
    def from_dict(cls, data: dict) -> TrainingSettings:
        """Builds settings from `TrainingSection.model_dump()`; keys the model does not use are
        ignored, so the config can grow without breaking older model code."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "hidden_units" in values:
            values["hidden_units"] = tuple(values["hidden_units"])
        if "without" in values:
            values["without"] = frozenset(Branch(b) for b in values["without"])
        return cls(**values)
