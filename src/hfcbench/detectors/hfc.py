"""HFC anomaly score (paper Sec. IV-A, Eq. 18-19).

A Gaussian mixture of ``M`` components is fitted by EM on the reference features of each class
at the last feature layer (the penultimate layer): the training images, as the HFC attack's
mixtures (Algorithm 1, l. 1-4; see :mod:`hfcbench.detectors.base`). For an input predicted as class ``k``, the
component ``m'`` most likely to have produced ``f_n(x)`` is chosen (Eq. 18) and its squared
Mahalanobis distance is the anomaly score (Eq. 19):

    S_HFC(x) = (f_n(x) - mu_m')^T Sigma_m'^-1 (f_n(x) - mu_m')

Higher means more anomalous. Nothing is learned from the adversarial examples. Mixture fitting
is that of :func:`hfcbench.mixtures.fit_class_mixtures`; the default regularisation here
(``reg = 0.1`` of the mean feature variance on every covariance diagonal) is stronger than the
attack's, because the score of *unseen* clean inputs must not explode when a class has few
samples per component (``M = 16`` as in the paper).
"""

from __future__ import annotations

import numpy as np
import torch

from ..mixtures import fit_class_mixtures
from ..models.features import PENULTIMATE, Features
from .base import Detector


class HFC(Detector):
    """Mahalanobis distance to the most likely GMM component of the predicted class (last layer)."""

    name = "hfc"
    requires = frozenset({"penultimate", "logits"})

    def __init__(self, *, n_components: int = 16, reg: float = 0.1, seed: int = 0):
        self.n_components, self.reg, self.seed = n_components, reg, seed

    def _fit(self, clean: Features, adv: Features, noisy: Features | None, *, reference: Features) -> None:
        self._require("n_components", self.n_components,
                      isinstance(self.n_components, int) and self.n_components >= 1, "an int >= 1")
        self._require("reg", self.reg, self.reg >= 0, ">= 0")
        self.mixtures_ = fit_class_mixtures(reference.array(PENULTIMATE), self._class_labels(reference),
                                            self.n_components, reg=self.reg, seed=self.seed,
                                            what=f"layer {PENULTIMATE!r}")

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{"penultimate": (N,) S_HFC}``; inputs of a class unseen in fit get ``inf``."""
        self._check_fitted()
        z = torch.from_numpy(feats.array(PENULTIMATE))
        predicted = feats.predictions.numpy()
        out = np.full(len(z), np.inf)
        for cls, gmm in self.mixtures_.items():
            rows = predicted == cls
            if rows.any():
                log_prob = gmm.component_log_prob(z[rows])
                chosen = log_prob.argmax(1, keepdim=True)
                out[rows] = gmm.mahalanobis_sq(z[rows]).gather(1, chosen).squeeze(1).numpy()
        return {PENULTIMATE: out}

    def _score(self, feats: Features) -> np.ndarray:
        score = self.characteristics(feats)[PENULTIMATE]
        return np.where(np.isfinite(score), score, np.finfo(np.float64).max)
