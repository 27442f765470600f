import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hfcbench.benchmark.metrics import auc, bootstrap_ci, success_rate, tpr_at_tnr
from hfcbench.errors import InvalidParameterError


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


def test_bootstrap_interval_contains_the_estimate_and_is_seeded():
    rng = np.random.default_rng(1)
    clean, adv = rng.normal(size=200), rng.normal(1.0, size=150)
    low, high = bootstrap_ci(auc, clean, adv, n_boot=300, seed=3)
    assert low < auc(clean, adv) < high and 0.6 < low and high < 0.85
    assert (low, high) == bootstrap_ci(auc, clean, adv, n_boot=300, seed=3)
