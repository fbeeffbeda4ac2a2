"""The gate's statistics on click predictions: exact AUC, DeLong's paired test, log-loss.

Pure numpy, exact on the rows given (no threshold buckets):

- AUC is the Mann-Whitney statistic with tied scores counting 1/2, i.e. the area under the
  exact ROC curve;
- the variance of an AUC, and the covariance of two models' AUCs on the same rows, follow
  DeLong, DeLong & Clarke-Pearson (1988), computed in O(n log n) as in Sun & Xu (2014);
- the log-loss change of two models on the same rows is the mean of per-row differences, so
  its interval is Student's t interval of a mean (paired);
- calibration is mean prediction / mean label; its interval, and that of the change of
  ``|log(calibration)|`` between two models on the same rows, come from the delta method on
  the per-row influence values (paired);
- intervals are simultaneous over the comparisons that can block (Bonferroni), so judging many
  slices does not turn noise into a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from components.evaluation_results import Interval

# Probabilities are clipped like Keras' and TFMA's log-loss.
EPSILON = 1e-7


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share their average rank (midranks)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], values.size] - 1
    ranks = np.empty(values.size)
    ranks[order] = ((first + last) / 2 + 1)[np.cumsum(starts) - 1]
    return ranks


def has_both_classes(labels: np.ndarray) -> bool:
    """Whether there is at least one click and one non-click."""
    labels = np.asarray(labels, dtype=bool)
    return bool(labels.any() and not labels.all())


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The exact ROC AUC (ties count 1/2); NaN without both classes."""
    labels = np.asarray(labels, dtype=bool)
    if not has_both_classes(labels):
        return float("nan")
    positives = int(labels.sum())
    negatives = labels.size - positives
    ranks = average_ranks(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def delong(labels: np.ndarray, scores: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of several models on the same rows and their DeLong covariance matrix.

    Args:
        labels: 0/1 per row, with both classes present.
        scores: one array of predictions per model, aligned with `labels`.

    Returns:
        (aucs, covariance): the exact AUCs, shape [models], and the estimated covariance of
        those AUCs, shape [models, models].

    Raises:
        ValueError: fewer than two clicks or two non-clicks (no variance can be estimated).
    """
    labels = np.asarray(labels, dtype=bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives < 2 or negatives < 2:
        raise ValueError("DeLong's variance needs at least two clicks and two non-clicks")
    placements_pos, placements_neg, aucs = [], [], []
    for model_scores in scores:
        model_scores = np.asarray(model_scores, dtype=np.float64)
        overall = average_ranks(model_scores)
        within_pos = average_ranks(model_scores[labels])
        within_neg = average_ranks(model_scores[~labels])
        # Per click: the share of non-clicks scored below it; per non-click: of clicks above it.
        placements_pos.append((overall[labels] - within_pos) / negatives)
        placements_neg.append(1.0 - (overall[~labels] - within_neg) / positives)
        aucs.append(placements_pos[-1].mean())
    covariance = (np.atleast_2d(np.cov(placements_pos)) / positives
                  + np.atleast_2d(np.cov(placements_neg)) / negatives)
    return np.array(aucs), covariance


def log_losses(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each row's log-loss, probabilities clipped to [1e-7, 1 - 1e-7]."""
    clipped = np.clip(np.asarray(scores, dtype=np.float64), EPSILON, 1 - EPSILON)
    return np.where(np.asarray(labels, dtype=bool), -np.log(clipped), -np.log1p(-clipped))


def log_loss(labels: np.ndarray, scores: np.ndarray) -> float:
    """The mean log-loss; NaN without rows."""
    return float(log_losses(labels, scores).mean()) if np.size(labels) else float("nan")


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """The area under the precision-recall curve as average precision (a step function)."""
    labels = np.asarray(labels, dtype=bool)
    if not labels.any():
        return float("nan")
    true_pos, false_pos = _cumulative_counts(labels, scores)
    recall = true_pos / labels.sum()
    precision = true_pos / (true_pos + false_pos)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _cumulative_counts(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clicks and non-clicks scored at or above each distinct score, from the highest down."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    ordered_scores, ordered_labels = np.asarray(scores)[order], labels[order]
    # The last row of each run of tied scores closes a threshold.
    ends = np.r_[np.flatnonzero(ordered_scores[1:] != ordered_scores[:-1]), labels.size - 1]
    true_pos = np.cumsum(ordered_labels)[ends].astype(np.float64)
    return true_pos, (ends + 1) - true_pos


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact ROC curve from (0, 0) to (1, 1): false and true positive rates."""
    labels = np.asarray(labels, dtype=bool)
    true_pos, false_pos = _cumulative_counts(labels, scores)
    return (np.r_[0.0, false_pos / max(1, (~labels).sum())],
            np.r_[0.0, true_pos / max(1, labels.sum())])


def precision_recall_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact precision-recall curve: recall and precision at each distinct threshold."""
    labels = np.asarray(labels, dtype=bool)
    true_pos, false_pos = _cumulative_counts(labels, scores)
    return true_pos / max(1, labels.sum()), true_pos / (true_pos + false_pos)


def calibration_buckets(labels: np.ndarray, scores: np.ndarray, buckets: int) -> list[tuple[float, float, int]]:
    """Mean prediction, mean label and rows of equal-count buckets of the predictions.

    Equal counts put the buckets where the predictions are: with a 3% click rate, equal-width
    buckets on [0, 1] would leave almost every row in the first one.
    """
    labels, scores = np.asarray(labels, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    order = np.argsort(scores, kind="mergesort")
    parts = np.array_split(order, max(1, min(buckets, order.size)))
    return [
        (float(np.mean(scores[part])), float(np.mean(labels[part])), int(part.size))
        for part in parts
        if part.size
    ]


def simultaneous_z(confidence: float, comparisons: int) -> float:
    """The normal quantile of two-sided intervals that hold together over `comparisons`
    (Bonferroni): each interval has level 1 - (1 - confidence) / comparisons."""
    return NormalDist().inv_cdf(1 - (1 - confidence) / (2 * max(1, comparisons)))


def auc_interval(labels: np.ndarray, scores: np.ndarray, z: float) -> Interval:
    """One model's exact AUC with a DeLong interval of ±z standard errors."""
    aucs, covariance = delong(labels, [scores])
    spread = z * float(np.sqrt(max(covariance[0, 0], 0.0)))
    return Interval(float(aucs[0]), float(aucs[0]) - spread, float(aucs[0]) + spread)


def auc_change(labels: np.ndarray, candidate: np.ndarray, baseline: np.ndarray, z: float) -> Interval:
    """Candidate AUC minus baseline AUC on the same rows, with a paired DeLong interval."""
    aucs, covariance = delong(labels, [candidate, baseline])
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    change, spread = float(aucs[0] - aucs[1]), z * float(np.sqrt(max(variance, 0.0)))
    return Interval(change, change - spread, change + spread)


def student_quantile(z: float, rows: int) -> float:
    """Student's t quantile (rows - 1 degrees of freedom) at the tail probability of normal `z`."""
    from scipy import stats

    return float(stats.t.ppf(NormalDist().cdf(z), max(1, rows - 1)))


def mean_interval(values: np.ndarray, z: float) -> Interval:
    """The mean of per-row values with Student's t interval at the level of normal quantile `z`."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return Interval(mean, -np.inf, np.inf)
    spread = student_quantile(z, values.size) * float(values.std(ddof=1) / np.sqrt(values.size))
    return Interval(mean, mean - spread, mean + spread)


def log_loss_change(labels: np.ndarray, candidate: np.ndarray, baseline: np.ndarray, z: float) -> Interval:
    """Candidate log-loss minus baseline log-loss on the same rows, with a paired t interval."""
    return mean_interval(log_losses(labels, candidate) - log_losses(labels, baseline), z)


def _log_calibration(labels: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray]:
    """log(mean prediction / mean label) and its per-row influence values (delta method)."""
    labels, scores = np.asarray(labels, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    mean_label, mean_prediction = labels.mean(), scores.mean()
    if mean_prediction <= 0:
        # Never predicting a click is infinitely far from calibrated, whatever the noise.
        return -np.inf, np.zeros(labels.size)
    influence = (scores - mean_prediction) / mean_prediction - (labels - mean_label) / mean_label
    return float(np.log(mean_prediction / mean_label)), influence


def calibration_interval(labels: np.ndarray, scores: np.ndarray, z: float) -> Interval:
    """Mean prediction / mean label with a delta-method interval (made on the log scale).

    Raises:
        ValueError: no clicks (the ratio is undefined).
    """
    if not np.any(labels):
        raise ValueError("calibration needs at least one click")
    log_ratio, influence = _log_calibration(labels, scores)
    spread = z * float(influence.std(ddof=1) / np.sqrt(influence.size))
    return Interval(float(np.exp(log_ratio)), float(np.exp(log_ratio - spread)), float(np.exp(log_ratio + spread)))


def calibration_change(labels: np.ndarray, candidate: np.ndarray, baseline: np.ndarray, z: float) -> Interval:
    """How much further from calibrated the candidate is than the baseline on the same rows:
    ``|log(calibration)|`` of the candidate minus the baseline's, with a paired delta-method interval.

    Raises:
        ValueError: no clicks (calibration is undefined).
    """
    if not np.any(labels):
        raise ValueError("calibration needs at least one click")
    log_candidate, influence_candidate = _log_calibration(labels, candidate)
    log_baseline, influence_baseline = _log_calibration(labels, baseline)
    # d|x| = sign(x) dx; at exactly 0 either side gives the same spread.
    influence = (np.copysign(1.0, log_candidate) * influence_candidate
                 - np.copysign(1.0, log_baseline) * influence_baseline)
    change = abs(log_candidate) - abs(log_baseline)
    spread = z * float(influence.std(ddof=1) / np.sqrt(influence.size))
    return Interval(change, change - spread, change + spread)
