"""RBF-SVM detector on penultimate features (Lu et al. 2017, SafetyNet; paper Sec. V-A).

Features are standardised on AdvTrain, then ``SVC(kernel="rbf", C=1, gamma="scale")`` separates
clean (0) from adversarial (1); the signed distance to its boundary is the score. It is computed
as the kernel expansion of the fitted support vectors ``s_i`` and dual coefficients ``a_i``,

    f(x) = sum_i a_i exp(-gamma ||(x - mean) / scale - s_i||^2) + b,

in torch (differentiable in ``x``), which is scikit-learn's ``decision_function`` (tested).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ..models.features import Features
from .base import Detector
from .kd import squared_distances


class SVM(Detector):
    """RBF-SVM on standardised penultimate features."""

    name = "svm"
    requires = frozenset({"penultimate"})

    def __init__(self, *, C: float = 1.0, gamma: str | float = "scale"):
        self.C, self.gamma = C, gamma

    def _fit(self, clean: Features, adv: Features, noisy: Features | None, *, reference: Features) -> None:
        self._require("C", self.C, self.C > 0, "> 0")
        x = np.concatenate([clean.array("penultimate"), adv.array("penultimate")])
        y = np.r_[np.zeros(len(clean)), np.ones(len(adv))]
        scaler = StandardScaler().fit(x)
        svc = SVC(C=self.C, gamma=self.gamma).fit(scaler.transform(x), y)
        self.model_ = svc
        self.mean_, self.scale_ = torch.from_numpy(scaler.mean_), torch.from_numpy(scaler.scale_)
        self.support_vectors_ = torch.from_numpy(svc.support_vectors_)
        self.dual_coef_, self.intercept_, self.gamma_ = torch.from_numpy(svc.dual_coef_[0]), float(svc.intercept_[0]), \
            float(svc._gamma)

    def torch_score(self, feats: Features) -> torch.Tensor:
        """(N,) the SVM decision value, differentiable in the penultimate features."""
        self._check_fitted()
        z = feats.penultimate
        mean, scale, vectors, coef = (t.to(z) for t in (self.mean_, self.scale_, self.support_vectors_,
                                                        self.dual_coef_))
        kernel = torch.exp(-self.gamma_ * squared_distances((z - mean) / scale, vectors))
        return kernel @ coef + self.intercept_

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{"penultimate": (N,) SVM decision value}``."""
        return {"penultimate": self._score_through_torch(feats)}

    def _score(self, feats: Features) -> np.ndarray:
        return self._score_through_torch(feats)
