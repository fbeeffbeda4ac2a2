"""Why a candidate was or was not blessed, in words a person can act on.

The Evaluator blesses a model exactly when TFMA's validation result is OK; `explain` turns
that result into one line per failing threshold: metric, slice, value, what was required and
the production model's value.
"""

from __future__ import annotations

from components.evaluate.results import Failure, load

__all__ = ["Failure", "explain", "headline"]


def explain(evaluation_uri: str) -> list[Failure]:
    """The thresholds a candidate failed, from TFMA's validation result.

    Args:
        evaluation_uri: the Evaluator's `evaluation` artifact folder (local or gs://).

    Returns:
        One `Failure` per failing metric and slice; empty when blessed or when no thresholds
        were configured. `str(failure)` is the line for the run summary.

    Raises:
        FileNotFoundError: the folder holds no TFMA output.
    """
    return load(evaluation_uri).failures


def headline(evaluation_uri: str) -> str:
    """One line: blessed or not, and against what."""
    evaluation = load(evaluation_uri)
    against = (
        "the model in production"
        if evaluation.has_baseline
        else "absolute thresholds only (no model in production yet)"
    )
    if not evaluation.validated:
        return "not validated: no thresholds configured"
    if evaluation.validation_ok:
        return f"blessed against {against}"
    return f"NOT blessed against {against}: {len(evaluation.failures)} threshold(s) failed"
