"""Operating points against hand-worked values and scikit-learn: thresholds from the calibration set,
TPR and realised FPR at them, success-aware evasion, and the McClish partial AUC."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hfcbench.errors import InvalidParameterError
from hfcbench.stats.bootstrap import paired_difference, source_counts
from hfcbench.stats.cell import cell_metrics
from hfcbench.stats.operating_points import (
    evaded,
    lowest_per_image,
    partial_auc,
    threshold_at_fpr,
    weighted_flagged,
    weighted_partial_auc,
)


def test_the_threshold_lets_through_at_most_the_target_share_of_calibration_scores():
    scores = np.arange(1.0, 101.0)  # 1..100
    # 5% of 100: five scores (96..100) may lie above the threshold, the sixth largest, 95
    assert threshold_at_fpr(scores, 0.05) == 95.0
    assert threshold_at_fpr(scores, 0.01) == 99.0
    # 20 scores: floor(0.05 * 20) = 1 above; floor(0.01 * 20) = 0: the maximum
    assert threshold_at_fpr(np.arange(20.0), 0.05) == 18.0 and threshold_at_fpr(np.arange(20.0), 0.01) == 19.0
    for bad in (0, 1, -0.1):
        with pytest.raises(InvalidParameterError, match="false-positive rate"):
            threshold_at_fpr(scores, bad)
    with pytest.raises(InvalidParameterError, match="finite"):
        threshold_at_fpr(np.array([1.0, np.nan]), 0.05)
    with pytest.raises(InvalidParameterError, match="none"):
        threshold_at_fpr(np.empty(0), 0.05)


def test_evasion_counts_images_with_an_unflagged_successful_ae():
    """Five images; AEs from images 0, 0, 2, 4 with scores 3, 1, 5, 0.5; threshold 2. Image 0's
    lowest AE (1) passes, image 2's (5) is flagged, image 4's (0.5) passes; 1 and 3 have none."""
    lowest = lowest_per_image(np.array([3.0, 1.0, 5.0, 0.5]), np.array([0, 0, 2, 4]), 5)
    assert lowest.tolist() == [1.0, np.inf, 5.0, np.inf, 0.5]
    assert evaded(lowest, 2.0).tolist() == [1, 0, 0, 0, 1]


def test_weighted_flagged_is_the_share_on_the_expanded_sample():
    scores = np.array([0.1, 0.5, 0.9])
    weights = np.array([[1, 0, 3], [0, 2, 0], [0, 0, 0]], dtype=float)
    out = weighted_flagged(scores, weights, 0.4)
    assert out[0] == pytest.approx(3 / 4) and out[1] == 1.0 and np.isnan(out[2])


def test_partial_auc_equals_scikit_learn_max_fpr_on_tied_and_untied_scores():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n_clean, n_adv = rng.integers(2, 60, 2)
        decimals = rng.integers(0, 3)  # 0 decimals: many ties
        clean = np.round(rng.normal(0, 1, n_clean), decimals)
        adv = np.round(rng.normal(rng.normal(0.5, 1), 1, n_adv), decimals)
        max_fpr = rng.choice([0.01, 0.05, 0.2, 1.0])
        expected = roc_auc_score(np.r_[np.zeros(n_clean), np.ones(n_adv)], np.r_[clean, adv],
                                 max_fpr=None if max_fpr == 1.0 else max_fpr)
        assert partial_auc(clean, adv, max_fpr) == pytest.approx(expected, abs=1e-12)


def test_weighted_partial_auc_equals_scikit_learn_on_the_expanded_sample():
    rng = np.random.default_rng(1)
    clean, adv = np.round(rng.normal(0, 1, 30), 1), np.round(rng.normal(1, 1, 20), 1)
    w_clean, w_adv = source_counts(30, 5, seed=2), source_counts(20, 5, seed=3)
    got = weighted_partial_auc(clean, adv, w_clean, w_adv, 0.05)
    for b in range(5):
        c, a = np.repeat(clean, w_clean[b].astype(int)), np.repeat(adv, w_adv[b].astype(int))
        assert got[b] == pytest.approx(roc_auc_score(np.r_[np.zeros(len(c)), np.ones(len(a))], np.r_[c, a],
                                                     max_fpr=0.05), abs=1e-12)


def test_partial_auc_of_a_perfect_and_a_chance_detector():
    assert partial_auc(np.zeros(10), np.ones(10)) == 1.0
    assert partial_auc(np.zeros(10), np.zeros(10)) == pytest.approx(0.5)  # all tied: the diagonal


def test_thresholds_come_from_the_calibration_set_and_the_realised_fpr_moves_with_a_shift():
    """A planted shift: calibration (AdvTrain clean) ~ N(0, 1), AdvTest clean ~ N(1, 1). The
    threshold is the calibration set's alone: shifting AdvTest leaves it where it was, and the
    realised FPR on AdvTest rises far above 5% (P(N(1, 1) > 1.645) = 26%)."""
    rng = np.random.default_rng(0)
    calibration = rng.normal(0, 1, 2000)
    adv, source = rng.normal(3, 1, 100), np.arange(100)
    unshifted, _ = cell_metrics(rng.normal(0, 1, 400), adv, source, adv, source, calibration=calibration)
    shifted, _ = cell_metrics(rng.normal(1, 1, 400), adv, source, adv, source, calibration=calibration)
    assert shifted["threshold_fpr5"] == unshifted["threshold_fpr5"] == threshold_at_fpr(calibration, 0.05)
    assert unshifted["fpr5_realised"] == pytest.approx(0.05, abs=0.03)
    assert shifted["fpr5_realised"] == pytest.approx(0.26, abs=0.05)
    assert shifted["fpr5_realised_ci_low"] > 0.15  # the interval sees the shift too


def test_evasion_is_success_aware_and_never_exceeds_success():
    """20 images; an attack that fooled the classifier on 4 of them with AEs scored below any
    threshold evades on 4/20 = 20%, though every one of its AEs passes (TPR 0)."""
    clean, calibration = np.linspace(0, 1, 20), np.linspace(0, 1, 100)
    weak = np.full(4, -1.0)
    metrics, per_image = cell_metrics(clean, weak, np.arange(4), weak, np.arange(4), calibration=calibration)
    assert metrics["tpr_fpr5_after"] == 0.0 and metrics["evasion5"] == pytest.approx(4 / 20)
    assert per_image["evaded5"] == "1111" + "0" * 16
    # a strong attack fooling all 20 images, half its AEs flagged: 10 / 20
    strong = np.r_[np.full(10, -1.0), np.full(10, 2.0)]
    metrics, _ = cell_metrics(clean, strong, np.arange(20), strong, np.arange(20), calibration=calibration)
    assert metrics["evasion5"] == pytest.approx(0.5) and metrics["evasion5"] <= 20 / 20
    assert metrics["evasion5_ci_low"] <= 0.5 <= metrics["evasion5_ci_high"]


def test_the_paired_difference_uses_the_cells_resamples():
    """x - y on the same images, replicate by replicate: by hand from the same source counts."""
    x = np.array([1, 1, 0, 1, 0, 0, 1, 1], dtype=float)
    y = np.array([1, 0, 0, 1, 0, 0, 0, 1], dtype=float)
    out = paired_difference(x, y, n_boot=500, seed=4)
    counts = source_counts(8, 500, seed=4)
    replicates = counts @ (x - y) / 8
    assert out["value"] == pytest.approx(2 / 8)
    assert out["value_ci_low"] == pytest.approx(np.percentile(replicates, 2.5))
    assert out["value_ci_high"] == pytest.approx(np.percentile(replicates, 97.5))
    with pytest.raises(InvalidParameterError):
        paired_difference(x, y[:-1])
