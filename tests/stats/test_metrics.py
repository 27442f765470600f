import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hfcbench.errors import InvalidParameterError
from hfcbench.stats.cell import cell_metrics
from hfcbench.stats.metrics import auc, success_rate, tpr_at_tnr


def test_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 10, 300).astype(float)
    adv = rng.integers(3, 13, 200).astype(float)
    expected = roc_auc_score(np.r_[np.zeros(300), np.ones(200)], np.r_[clean, adv])
    assert auc(clean, adv) == pytest.approx(expected, abs=1e-12)


def test_auc_by_hand():
    # pairs (adv > clean): 3 vs {1, 2} = 2 wins, 2 vs {1} win + {2} tie = 1.5 -> 3.5 / 4
    assert auc([1, 2], [3, 2]) == pytest.approx(3.5 / 4)
    assert auc([0, 0], [1, 1]) == 1.0 and auc([1, 1], [0, 0]) == 0.0


def test_tpr_at_90_by_hand():
    clean = np.arange(10.0)          # 0..9: one clean score (9) may exceed t -> t = 8
    adv = np.array([8.0, 8.5, 9.5, 20.0, 1.0])
    assert tpr_at_tnr(clean, adv, 0.9) == pytest.approx(3 / 5)  # 8.5, 9.5, 20 are > 8


def test_tpr_with_twenty_clean():
    clean = np.arange(20.0)  # two may exceed -> t = 17
    assert tpr_at_tnr(clean, np.array([17.0, 17.5, 18.0]), 0.9) == pytest.approx(2 / 3)


def test_success_rate_and_errors():
    assert success_rate(np.array([True, False, True, True])) == 0.75
    with pytest.raises(InvalidParameterError, match="NaN"):
        auc([0.0, np.nan], [1.0])
    with pytest.raises(InvalidParameterError, match="need clean and adversarial"):
        auc([], [1.0])


def test_cell_metrics_are_the_point_metrics_with_seeded_intervals():
    rng = np.random.default_rng(1)
    clean = rng.normal(size=200)
    before, after = rng.normal(1.0, size=150), rng.normal(0.2, size=120)
    sources_b, sources_a = rng.choice(200, 150, replace=False), rng.choice(200, 120, replace=False)
    cell, per_image = cell_metrics(clean, before, sources_b, after, sources_a, seed=3)
    assert per_image == {}  # no calibration set: no operating point
    assert cell["auc_before"] == auc(clean, before) and cell["tpr90_after"] == tpr_at_tnr(clean, after)
    assert cell["auc_drop"] == pytest.approx(auc(clean, before) - auc(clean, after))
    assert (cell["n_clean"], cell["n_adv_before"], cell["n_adv_after"]) == (200, 150, 120)
    assert cell["auc_before_ci_low"] < cell["auc_before"] < cell["auc_before_ci_high"]
    assert cell == cell_metrics(clean, before, sources_b, after, sources_a, seed=3)[0]
