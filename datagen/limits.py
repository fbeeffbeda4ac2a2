"""The best any model can do on a set of generated rows: the metrics of the true probabilities.

No model can beat the ground-truth probability in expectation, so its AUC and log-loss on the
very rows a model is evaluated on are the ceiling to compare that model with.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

GROUND_TRUTH_FILE = "ground_truth.csv"
# Keras' epsilon, so the log-loss here is comparable with TFMA's binary_crossentropy.
EPSILON = 1e-7


def _as_arrays(probabilities: Sequence[float],
               labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(probabilities, dtype=np.float64)
    truth = np.asarray(labels)
    if scores.ndim != 1 or scores.shape != truth.shape:
        raise ValueError(f"probabilities and labels must be two equal-length lists, got "
                         f"shapes {scores.shape} and {truth.shape}")
    if not np.isin(truth, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    return scores, truth.astype(bool)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    # Positions where a new distinct value starts, and where each run of ties ends.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    run_rank = (starts + 1 + ends) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def auc(probabilities: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied scores counted as one half).

    Raises:
        ValueError: the inputs differ in length, a label is not 0/1, or only one class is present.
    """
    scores, positive = _as_arrays(probabilities, labels)
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    if n_positive == 0 or n_negative == 0:
        raise ValueError("AUC needs at least one positive and one negative label")
    rank_sum = _average_ranks(scores)[positive].sum()
    return float((rank_sum - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


def log_loss(probabilities: Sequence[float], labels: Sequence[int]) -> float:
    """Mean binary cross-entropy, with probabilities clipped to [EPSILON, 1 - EPSILON]."""
    scores, positive = _as_arrays(probabilities, labels)
    if len(scores) == 0:
        raise ValueError("log-loss needs at least one row")
    clipped = np.clip(scores, EPSILON, 1 - EPSILON)
    return float(-np.mean(np.where(positive, np.log(clipped), np.log1p(-clipped))))


def best_achievable(probabilities: Sequence[float], labels: Sequence[int]) -> dict[str, float]:
    """The AUC and log-loss of the true click probabilities on these rows.

    Args:
        probabilities: the ground-truth click probability of each row.
        labels: each row's realised click, 0 or 1.

    Returns:
        `{"auc": ..., "log_loss": ...}`.
    """
    return {"auc": auc(probabilities, labels), "log_loss": log_loss(probabilities, labels)}


def ground_truth_files(path: str | Path) -> list[Path]:
    """The ground_truth.csv files at `path`: the file itself, or every one below a folder.

    Raises:
        FileNotFoundError: `path` does not exist or holds no ground_truth.csv.
    """
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.rglob(GROUND_TRUTH_FILE))
    if not files:
        raise FileNotFoundError(f"no {GROUND_TRUTH_FILE} at {path}")
    return files


def ground_truth_arrays(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Impression ids and true click probabilities from the ground truth at `path`.

    Args:
        path: a ground_truth.csv, a month folder, or the generator's `ground_truth` folder
            (every month below it).

    Returns:
        `(impression_ids, probabilities)` as a string array and a float array.

    Raises:
        FileNotFoundError: no ground truth at `path`.
        ValueError: a file lacks the `impression_id,click_probability` header.
    """
    ids: list[str] = []
    probabilities: list[str] = []
    for file in ground_truth_files(path):
        with file.open(newline="") as handle:
            reader = csv.reader(handle)
            if next(reader, None) != ["impression_id", "click_probability"]:
                raise ValueError(f"{file} does not start with impression_id,click_probability")
            for impression_id, probability in reader:
                ids.append(impression_id)
                probabilities.append(probability)
    return np.array(ids), np.array(probabilities, dtype=np.float64)


def read_ground_truth(path: str | Path) -> dict[str, float]:
    """`{impression_id: click_probability}` from the ground truth at `path` (see
    `ground_truth_arrays` for what `path` may be)."""
    ids, probabilities = ground_truth_arrays(path)
    return dict(zip(ids.tolist(), probabilities.tolist(), strict=True))
