"""AUC, log-loss and reading the ground truth."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from datagen.clickmodel import calibrate_intercept, sigmoid
from datagen.limits import auc, best_achievable, ground_truth_arrays, log_loss, read_ground_truth


def _pairwise_auc(scores, labels):
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0
               for p, n in itertools.product(positives, negatives))
    return wins / (len(positives) * len(negatives))


@pytest.mark.parametrize("seed", range(6))
def test_auc_matches_brute_force_pairs_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 60)
    labels[:2] = [0, 1]
    # Rounded scores give many ties; the label leaks a little so the AUC is not 0.5.
    scores = np.round(rng.random(60) * 0.7 + 0.3 * labels, 1)
    assert auc(scores, labels) == pytest.approx(_pairwise_auc(scores, labels), abs=1e-12)


def test_auc_extremes():
    assert auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert auc([0.5] * 4, [0, 1, 0, 1]) == 0.5


def test_auc_needs_both_classes_and_matching_lengths():
    with pytest.raises(ValueError, match="one positive and one negative"):
        auc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="equal-length"):
        auc([0.1, 0.2], [1])
    with pytest.raises(ValueError, match="0 or 1"):
        auc([0.1, 0.2], [0, 2])


def test_log_loss_is_clipped_cross_entropy():
    assert log_loss([0.8, 0.3], [1, 0]) == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)
    assert log_loss([0.0, 1.0], [0, 1]) == pytest.approx(-math.log(1 - 1e-7))
    assert log_loss([0.0], [1]) == pytest.approx(-math.log(1e-7))


def test_best_achievable_beats_a_constant_on_rows_drawn_from_the_truth():
    rng = np.random.default_rng(0)
    probabilities = sigmoid(rng.normal(-3.5, 1.2, 20_000))
    labels = (rng.random(20_000) < probabilities).astype(int)
    metrics = best_achievable(probabilities, labels)
    constant = np.full(20_000, labels.mean())
    assert metrics["auc"] > 0.7
    assert metrics["log_loss"] < log_loss(constant, labels)


def test_calibrated_intercept_hits_the_target_rate():
    logits = np.random.default_rng(1).normal(0.0, 1.0, 10_000)
    intercept = calibrate_intercept(logits, 0.03)
    assert sigmoid(intercept + logits).mean() == pytest.approx(0.03, rel=1e-9)


def test_reading_ground_truth_from_a_file_a_month_or_all_months(tmp_path):
    for month, rows in (("2026-09", [("imp-2026-09-0000001", "0.1")]),
                        ("2026-10", [("imp-2026-10-0000001", "0.25"),
                                     ("imp-2026-10-0000002", "0.5")])):
        folder = tmp_path / "ground_truth" / month
        folder.mkdir(parents=True)
        lines = ["impression_id,click_probability", *(",".join(r) for r in rows)]
        (folder / "ground_truth.csv").write_text("\n".join(lines) + "\n")
    assert read_ground_truth(tmp_path / "ground_truth") == {
        "imp-2026-09-0000001": 0.1, "imp-2026-10-0000001": 0.25, "imp-2026-10-0000002": 0.5
    }
    ids, probabilities = ground_truth_arrays(tmp_path / "ground_truth" / "2026-10")
    assert ids.tolist() == ["imp-2026-10-0000001", "imp-2026-10-0000002"]
    assert probabilities.tolist() == [0.25, 0.5]
    single = tmp_path / "ground_truth" / "2026-09" / "ground_truth.csv"
    assert read_ground_truth(single) == {"imp-2026-09-0000001": 0.1}


def test_reading_ground_truth_names_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="no ground_truth.csv"):
        read_ground_truth(tmp_path)
    (tmp_path / "ground_truth.csv").write_text("id,p\nx,0.1\n")
    with pytest.raises(ValueError, match="impression_id,click_probability"):
        read_ground_truth(tmp_path)
