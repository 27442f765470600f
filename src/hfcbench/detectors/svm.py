"""RBF-SVM detector on penultimate features (Lu et al. 2017, SafetyNet; paper Sec. V-A).

Features are standardised on AdvTrain, then ``SVC(kernel="rbf", C=1, gamma="scale")`` separates
clean (0) from adversarial (1); the signed distance to its boundary is the score.
"""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ..models.features import Features
from .base import Detector


class SVM(Detector):
    """RBF-SVM on standardised penultimate features."""

    name = "svm"
    requires = frozenset({"penultimate"})

    def __init__(self, *, C: float = 1.0, gamma: str | float = "scale"):
        self.C, self.gamma = C, gamma

    def _fit(self, clean: Features, adv: Features, noisy: Features | None) -> None:
        self._require("C", self.C, self.C > 0, "> 0")
        x = np.concatenate([clean.array("penultimate"), adv.array("penultimate")])
        y = np.r_[np.zeros(len(clean)), np.ones(len(adv))]
        self.model_ = make_pipeline(StandardScaler(), SVC(C=self.C, gamma=self.gamma)).fit(x, y)

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{"penultimate": (N,) SVM decision value}``."""
        self._check_fitted()
        return {"penultimate": self.model_.decision_function(feats.array("penultimate"))}

    def _score(self, feats: Features) -> np.ndarray:
        return self.characteristics(feats)["penultimate"]
