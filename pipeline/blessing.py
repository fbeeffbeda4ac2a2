"""Why a candidate was or was not blessed, in words a person can act on.

EvaluateModel blesses a model exactly when the gate found no failed rule; `explain` gives one
line per failed rule: metric, slice, value, what was required and, against production, the
change with its interval.
"""

from __future__ import annotations

from components import evaluation_results
from components.evaluation_results import Failure, load

__all__ = ["Failure", "explain", "headline"]


def explain(evaluation_uri: str) -> list[Failure]:
    """The rules a candidate failed.

    Args:
        evaluation_uri: EvaluateModel's `evaluation` artifact folder (local or gs://).

    Returns:
        One `Failure` per failing metric and slice; empty when blessed. `str(failure)` is the
        line for the run summary.

    Raises:
        FileNotFoundError: the folder holds no evaluation.
    """
    return load(evaluation_uri).failures


def headline(evaluation_uri: str) -> str:
    """One line: blessed or not, and against what (or that it was already pushed)."""
    return evaluation_results.headline(load(evaluation_uri))
