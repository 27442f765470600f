"""Kernel density (KD) detector, Feinman et al. 2017 "Detecting adversarial samples from
artifacts" (paper Eq. 20).

For an input ``x`` predicted as class ``k``, the Gaussian kernel density of its penultimate
features ``z(x)`` among the reference features ``X_k`` of class ``k`` (the training images of
true class ``k``, as the official code; see :mod:`hfcbench.detectors.base` on the reference):

    log KD(x) = log( 1/|X_k| sum_{x' in X_k} exp(-||z(x) - z(x')||^2 / (2 h^2)) ) - (D/2) log(2 pi h^2)

(scikit-learn's ``KernelDensity(kernel="gaussian").score_samples``, which the official code
uses). Low density means adversarial, so ``score = -log KD``; nothing is learned from the AEs.

Bandwidth: the official code fixes ``h`` per dataset (MNIST 1.20, CIFAR-10 0.26, SVHN 1.00,
chosen for their feature scales). For new data the default ``bandwidth="scott"`` applies
Scott's rule per class, ``h = n^(-1/(D+4)) * sqrt(mean per-dimension variance)`` of the ``n``
reference features, which follows the feature scale of any model. (The median pairwise distance,
another common choice, over-smooths in dozens of dimensions: every density becomes alike.)
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist
from scipy.special import logsumexp

from ..models.features import Features
from .base import Detector


def scott_bandwidth(members: np.ndarray) -> float:
    """Scott's rule for (n, D) features: ``n^(-1/(D+4)) * sqrt(mean per-dimension variance)``."""
    spread = float(np.sqrt(members.var(0).mean())) if len(members) > 1 else 1.0
    return (spread or 1.0) * len(members) ** (-1.0 / (members.shape[1] + 4))


class KD(Detector):
    """Kernel density of penultimate features among clean features of the predicted class."""

    name = "kd"
    requires = frozenset({"penultimate", "logits"})

    def __init__(self, *, bandwidth: float | str = "scott"):
        self.bandwidth = bandwidth

    def _fit(self, clean: Features, adv: Features, noisy: Features | None, *, reference: Features) -> None:
        ok = self.bandwidth == "scott" or (isinstance(self.bandwidth, (int, float)) and self.bandwidth > 0)
        self._require("bandwidth", self.bandwidth, ok, "'scott' or a positive number")
        z, labels = reference.array("penultimate"), self._class_labels(reference)
        self.references_, self.bandwidths_ = {}, {}
        for cls in np.unique(labels):
            members = z[labels == cls]
            self.references_[int(cls)] = members
            scott = self.bandwidth == "scott"
            self.bandwidths_[int(cls)] = scott_bandwidth(members) if scott else float(self.bandwidth)

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{"kernel_density": (N,) log KD(x)}``; classes unseen in fit get ``-inf`` density."""
        self._check_fitted()
        z, predicted = feats.array("penultimate"), feats.predictions.numpy()
        out = np.full(len(z), -np.inf)
        for cls, reference in self.references_.items():
            rows = predicted == cls
            if not rows.any():
                continue
            h = self.bandwidths_[cls]
            sq = cdist(z[rows], reference, "sqeuclidean")
            out[rows] = (logsumexp(-sq / (2 * h * h), axis=1) - np.log(len(reference))
                         - 0.5 * z.shape[1] * np.log(2 * np.pi * h * h))
        return {"kernel_density": out}

    def _score(self, feats: Features) -> np.ndarray:
        density = self.characteristics(feats)["kernel_density"]
        return np.where(np.isfinite(density), -density, np.finfo(np.float64).max)
