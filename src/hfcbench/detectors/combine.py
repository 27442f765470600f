"""Logistic regression over per-layer characteristics (Ma et al. 2018; Lee et al. 2018).

LID and MAHA compute one statistic per layer, then learn how to weigh the layers: the
characteristics are standardised (fitted on AdvTrain) and a logistic regression separates
negatives (clean and noisy inputs, 0) from adversarial ones (1). Its decision value (the logit)
is the detector score:

    decision(c) = sum_l w_l (c_l - mean_l) / scale_l + b

computed in torch so that it is differentiable in ``c`` (detector-aware attacks) and identical to
scikit-learn's ``decision_function``.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def stack(characteristics: dict[str, np.ndarray]) -> np.ndarray:
    """``{layer: (N,)}`` -> (N, L) in the dict's order."""
    return np.stack(list(characteristics.values()), axis=1)


class LayerLogistic:
    """Standardise, then logistic regression (L2, C=1, lbfgs) over the layers."""

    def fit(self, negatives: np.ndarray, positives: np.ndarray) -> LayerLogistic:
        x = np.concatenate([negatives, positives])
        y = np.r_[np.zeros(len(negatives)), np.ones(len(positives))]
        scaler = StandardScaler().fit(x)
        model = LogisticRegression(max_iter=2000).fit(scaler.transform(x), y)
        self.mean_, self.scale_ = torch.from_numpy(scaler.mean_), torch.from_numpy(scaler.scale_)
        self.coef_, self.intercept_ = torch.from_numpy(model.coef_[0]), float(model.intercept_[0])
        return self

    def torch_decision(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L) characteristics -> (N,) logits, differentiable, in ``x``'s dtype and device."""
        mean, scale, coef = (t.to(dtype=x.dtype, device=x.device) for t in (self.mean_, self.scale_, self.coef_))
        return ((x - mean) / scale) @ coef + self.intercept_

    def decision(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.torch_decision(torch.from_numpy(np.asarray(x, dtype=np.float64))).numpy()
