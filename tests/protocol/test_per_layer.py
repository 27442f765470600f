"""Per-layer AUCs: each characteristic alone, oriented on the fit data only."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hfcbench.protocol.per_layer import layer_aucs


class TableDetector:
    """Characteristics looked up from a table keyed by the object passed in."""

    def __init__(self, table):
        self.table = table

    def characteristics(self, feats):
        return self.table[feats]


class Feats(str):
    def __len__(self):
        return 1


def test_orientation_comes_from_the_fit_data():
    rng = np.random.default_rng(0)
    fit_clean, fit_adv = rng.normal(0, 1, 50), rng.normal(2, 1, 50)  # "up" on AEs in the fit data
    clean, adv = rng.normal(0, 1, 40), rng.normal(1, 1, 30)
    table = {
        Feats("fit_clean"): {"up": fit_clean, "down": -fit_clean},
        Feats("fit_adv"): {"up": fit_adv, "down": -fit_adv},
        Feats("clean"): {"up": clean, "down": -clean},
        Feats("adv"): {"up": adv, "down": -adv},
    }
    out = layer_aucs(TableDetector(table), Feats("fit_clean"), Feats("fit_adv"), Feats("clean"),
                     {"before": (Feats("adv"), np.arange(30))})
    truth = roc_auc_score(np.r_[np.zeros(40), np.ones(30)], np.r_[clean, adv])
    # "down" runs the other way on the fit data, so it is negated and scores the same AUC as "up"
    up, down = out["before"]["up"], out["before"]["down"]
    assert up["auc"] == pytest.approx(truth) and down["auc"] == pytest.approx(truth)
    assert up["n_adv"] == 30 and up["auc_ci_low"] < truth < up["auc_ci_high"]


def test_non_finite_characteristic_gives_none():
    values = {"kd": np.array([1.0, -np.inf])}
    table = {Feats(n): values for n in ("a", "b", "c", "d")}
    out = layer_aucs(TableDetector(table), Feats("a"), Feats("b"), Feats("c"), {"after": (Feats("d"), np.array([0]))})
    assert out == {"after": {"kd": None}}
