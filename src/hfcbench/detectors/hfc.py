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

    def anomaly(self, feats: Features) -> torch.Tensor:
        """(N,) S_HFC of Eq. 19, ``inf`` for a class unseen in fit. The component is chosen without
        gradients (Eq. 18); the distance to it is differentiable in the penultimate features."""
        self._check_fitted()
        z, predicted = feats.penultimate, feats.predictions
        out = z.new_full((len(z),), float("inf"))
        for cls, gmm in self.mixtures_.items():
            rows = (predicted == cls).nonzero().flatten()
            if len(rows):
                distances = gmm.mahalanobis_sq(z[rows])                                  # (n, M)
                with torch.no_grad():
                    chosen = gmm.log_prob_from_mahalanobis(distances, z.shape[1]).argmax(1, keepdim=True)
                out = out.index_put((rows,), distances.gather(1, chosen).squeeze(1))
        return out

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{"penultimate": (N,) S_HFC}``; inputs of a class unseen in fit get ``inf``."""
        with torch.no_grad():
            return {PENULTIMATE: self.anomaly(feats.to(torch.float64)).numpy()}

    def torch_score(self, feats: Features) -> torch.Tensor:
        """(N,) S_HFC (the largest finite number for a class unseen in fit)."""
        score = self.anomaly(feats)
        return torch.where(torch.isfinite(score), score, torch.finfo(score.dtype).max)

    def _score(self, feats: Features) -> np.ndarray:
        return self._score_through_torch(feats)
