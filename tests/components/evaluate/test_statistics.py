"""The gate's statistics against reference computations (sklearn when installed, else brute force)."""

import itertools

import numpy as np
import pytest

from components.evaluate import statistics


def brute_force_auc(labels, scores):
    """Every (click, non-click) pair: 1 when the click scores higher, 1/2 on a tie."""
    clicks = [s for s, y in zip(scores, labels, strict=True) if y]
    others = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if c > o else 0.5 if c == o else 0.0 for c, o in itertools.product(clicks, others))
    return wins / (len(clicks) * len(others))


def brute_force_delong(labels, scores):
    """DeLong's structural components by their definition, O(clicks x non-clicks)."""
    labels = np.asarray(labels, dtype=bool)
    pos_comp, neg_comp = [], []
    for s in scores:
        clicks, others = s[labels], s[~labels]
        psi = (clicks[:, None] > others[None, :]) + 0.5 * (clicks[:, None] == others[None, :])
        pos_comp.append(psi.mean(axis=1))
        neg_comp.append(psi.mean(axis=0))
    return np.cov(pos_comp) / labels.sum() + np.cov(neg_comp) / (~labels).sum()


def sample(rows=3000, seed=0, noise=1.0, ties=False):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    labels = (rng.random(rows) < 1 / (1 + np.exp(-(2 * signal - 3)))).astype(int)
    a = 1 / (1 + np.exp(-(2 * signal - 3 + rng.normal(scale=noise, size=rows))))
    b = 1 / (1 + np.exp(-(2 * signal - 3 + rng.normal(scale=noise, size=rows))))
    if ties:
        a, b = np.round(a, 2), np.round(b, 2)
    return labels, a, b


@pytest.mark.parametrize("ties", [False, True])
def test_auc_is_exact(ties):
    labels, scores, _ = sample(ties=ties)
    try:
        from sklearn.metrics import roc_auc_score

        reference = roc_auc_score(labels, scores)
    except ImportError:
        reference = brute_force_auc(labels[:600], scores[:600])
        labels, scores = labels[:600], scores[:600]

    assert statistics.auc(labels, scores) == pytest.approx(reference, abs=1e-12)


def test_auc_of_tiny_hand_made_cases():
    assert statistics.auc([0, 1], [0.1, 0.9]) == 1.0
    assert statistics.auc([1, 0], [0.1, 0.9]) == 0.0
    assert statistics.auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert np.isnan(statistics.auc([1, 1], [0.2, 0.3]))


@pytest.mark.parametrize("ties", [False, True])
def test_delong_matches_its_definition(ties):
    labels, a, b = sample(rows=800, seed=3, ties=ties)

    aucs, covariance = statistics.delong(labels, [a, b])

    assert aucs == pytest.approx([brute_force_auc(labels, a), brute_force_auc(labels, b)], abs=1e-12)
    assert covariance == pytest.approx(brute_force_delong(labels, [a, b]), rel=1e-9, abs=1e-15)


def test_delong_variance_of_the_difference_agrees_with_a_paired_bootstrap():
    labels, a, b = sample(rows=4000, seed=5)
    rng = np.random.default_rng(9)
    draws = []
    for _ in range(400):
        rows = rng.integers(0, labels.size, labels.size)
        draws.append(statistics.auc(labels[rows], a[rows]) - statistics.auc(labels[rows], b[rows]))

    change = statistics.auc_change(labels, a, b, z=1.0)

    assert change.high - change.estimate == pytest.approx(np.std(draws), rel=0.15)


def test_paired_interval_is_narrower_than_either_models_own():
    labels, a, b = sample(rows=4000, seed=2, noise=0.3)

    change = statistics.auc_change(labels, a, b, z=1.96)
    alone = statistics.auc_interval(labels, a, z=1.96)

    assert change.high - change.low < (alone.high - alone.low) / 2


def test_delong_refuses_a_split_without_two_of_each_class():
    with pytest.raises(ValueError, match="two clicks"):
        statistics.delong(np.array([1, 0, 0, 0]), [np.array([0.9, 0.1, 0.2, 0.3])])


def test_log_loss_and_its_paired_change():
    labels = np.array([1, 0, 0, 1])
    a = np.array([0.9, 0.2, 0.1, 0.6])
    b = np.array([0.8, 0.3, 0.1, 0.5])
    per_row = -np.log([0.9, 0.8, 0.9, 0.6]) + np.log([0.8, 0.7, 0.9, 0.5])

    change = statistics.log_loss_change(labels, a, b, z=2.0)

    assert statistics.log_loss(labels, a) == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.9, 0.6])))
    assert change.estimate == pytest.approx(per_row.mean())
    # Student's t with 3 degrees of freedom at the normal 2.0's tail (0.02275): t = 3.3068.
    assert change.high - change.estimate == pytest.approx(3.3068 * per_row.std(ddof=1) / 2, rel=1e-4)
    assert change.estimate - change.low == pytest.approx(change.high - change.estimate)


def test_the_t_quantile_approaches_the_normal_one_with_many_rows():
    assert statistics.student_quantile(1.96, 10) > 2.2
    assert statistics.student_quantile(1.96, 100_000) == pytest.approx(1.96, abs=1e-3)


def test_calibration_interval_is_the_delta_method_on_the_log_ratio():
    rng = np.random.default_rng(3)
    scores = rng.uniform(0.01, 0.2, size=5_000)
    labels = (rng.random(5_000) < scores).astype(int)

    interval = statistics.calibration_interval(labels, scores, z=1.96)

    assert interval.estimate == pytest.approx(scores.mean() / labels.mean())
    # With 0/1 labels the label's part dominates: about 1 / sqrt(clicks) on the log scale.
    half_width = (np.log(interval.high) - np.log(interval.low)) / 2
    assert half_width == pytest.approx(1.96 / np.sqrt(labels.sum()), rel=0.1)
    assert interval.low < 1 < interval.high


def test_calibration_change_is_paired_and_measures_distance_from_one():
    rng = np.random.default_rng(4)
    scores = rng.uniform(0.01, 0.2, size=20_000)
    labels = (rng.random(20_000) < scores).astype(int)

    same = statistics.calibration_change(labels, scores, scores, z=1.96)
    over = statistics.calibration_change(labels, scores * 1.5, scores, z=1.96)
    under = statistics.calibration_change(labels, scores / 1.5, scores, z=1.96)

    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    assert over.low > 0.3 and under.low > 0.3
    # Paired: the label's noise cancels, so the change is far narrower than either ratio's interval.
    ratio = statistics.calibration_interval(labels, scores * 1.5, z=1.96)
    assert over.high - over.low < (np.log(ratio.high) - np.log(ratio.low)) / 3


def test_calibration_needs_a_click():
    with pytest.raises(ValueError, match="click"):
        statistics.calibration_interval(np.zeros(5, int), np.full(5, 0.1), z=2.0)


def test_log_loss_clips_certain_mistakes():
    assert statistics.log_loss(np.array([1]), np.array([0.0])) == pytest.approx(-np.log(1e-7))


def test_average_precision_matches_sklearn():
    sklearn = pytest.importorskip("sklearn.metrics")
    labels, scores, _ = sample(ties=True)

    assert statistics.average_precision(labels, scores) == pytest.approx(
        sklearn.average_precision_score(labels, scores), abs=1e-12
    )


def test_roc_points_run_from_corner_to_corner_and_integrate_to_the_auc():
    labels, scores, _ = sample(ties=True)

    fpr, tpr = statistics.roc_points(labels, scores)

    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.trapz(tpr, fpr) == pytest.approx(statistics.auc(labels, scores), abs=1e-12)


def test_calibration_buckets_hold_equal_counts_where_the_predictions_are():
    labels, scores, _ = sample(rows=1000)

    buckets = statistics.calibration_buckets(labels, scores, 10)

    assert [rows for _, _, rows in buckets] == [100] * 10
    assert [p for p, _, _ in buckets] == sorted(p for p, _, _ in buckets)
    assert sum(m * rows for _, m, rows in buckets) == pytest.approx(labels.sum())


def test_simultaneous_z_widens_with_the_number_of_comparisons():
    assert statistics.simultaneous_z(0.95, 1) == pytest.approx(1.959964, abs=1e-5)
    assert statistics.simultaneous_z(0.95, 50) == pytest.approx(3.290527, abs=1e-5)
