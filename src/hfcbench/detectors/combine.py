"""Logistic regression over per-layer characteristics (Ma et al. 2018; Lee et al. 2018).

LID and MAHA compute one statistic per layer, then learn how to weigh the layers: the
characteristics are standardised (fitted on AdvTrain) and a logistic regression separates clean
(0) from adversarial (1). Its decision value (the logit) is the detector score.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def stack(characteristics: dict[str, np.ndarray]) -> np.ndarray:
    """``{layer: (N,)}`` -> (N, L) in the dict's order."""
    return np.stack(list(characteristics.values()), axis=1)


class LayerLogistic:
    """Standardise, then logistic regression (L2, C=1, lbfgs) over the layers."""

    def fit(self, negatives: np.ndarray, positives: np.ndarray) -> "LayerLogistic":
        x = np.concatenate([negatives, positives])
        y = np.r_[np.zeros(len(negatives)), np.ones(len(positives))]
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x, y)
        return self

    def decision(self, x: np.ndarray) -> np.ndarray:
        return self.model_.decision_function(x)
