"""TFDV comparators: which distance each feature is compared with, and above what it is drift.

L-infinity distance for categorical and text features and the label, approximate
Jensen-Shannon divergence for numeric ones. Built from the config by `pipeline.validation`;
travels to the gate as JSON in an execution property.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

TRAINING = "TRAINING"
SERVING = "SERVING"
L_INFINITY = "infinity_norm"
JENSEN_SHANNON = "jensen_shannon_divergence"
# The split the drift between months is measured on: the largest, so the least noisy.
DRIFT_SPLIT = "train"


@dataclass(frozen=True)
class Comparator:
    """A TFDV comparator for one feature.

    Attributes:
        feature: the feature (or label) name.
        kind: `infinity_norm` or `jensen_shannon_divergence` (a `FeatureComparator` field).
        threshold: above this the comparison is an anomaly.
    """

    feature: str
    kind: str
    threshold: float


def comparators_to_json(comparators: dict[str, Comparator]) -> str:
    """A JSON form for a component's execution property."""
    return json.dumps({name: [c.kind, c.threshold] for name, c in sorted(comparators.items())})


def comparators_from_json(text: str) -> dict[str, Comparator]:
    """Inverse of `comparators_to_json`."""
    return {name: Comparator(name, kind, float(threshold)) for name, (kind, threshold) in json.loads(text).items()}
