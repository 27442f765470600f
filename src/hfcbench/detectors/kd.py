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

import math

import numpy as np
import torch

from ..models.features import Features
from .base import Detector


def scott_bandwidth(members: np.ndarray) -> float:
    """Scott's rule for (n, D) features: ``n^(-1/(D+4)) * sqrt(mean per-dimension variance)``."""
    spread = float(np.sqrt(members.var(0).mean())) if len(members) > 1 else 1.0
    return (spread or 1.0) * len(members) ** (-1.0 / (members.shape[1] + 4))


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N, M) squared Euclidean distances from the coordinate differences (no ``|x|^2 + |y|^2 -
    2 x.y`` cancellation), differentiable in both."""
    return torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist").square()


def class_references(z: np.ndarray, labels: np.ndarray, bandwidth: float | str = "scott"):
    """``({class: (n_c, D) reference tensor}, {class: bandwidth})`` from features ``z`` (N, D) with
    ``labels`` (N,): per class, its members and Scott's bandwidth (or the fixed ``bandwidth``)."""
    references, bandwidths = {}, {}
    for cls in np.unique(labels):
        members = z[labels == cls]
        references[int(cls)] = torch.from_numpy(members)
        bandwidths[int(cls)] = scott_bandwidth(members) if bandwidth == "scott" else float(bandwidth)
    return references, bandwidths


def kernel_log_density(z: torch.Tensor, classes: torch.Tensor, references: dict, bandwidths: dict) -> torch.Tensor:
    """(N,) Gaussian-kernel ``log KD`` of ``z`` (N, D) among ``references[classes[i]]`` (the
    formula above); ``-inf`` for a class without references. Differentiable in ``z``."""
    out = z.new_full((len(z),), float("-inf"))
    for cls, reference in references.items():
        rows = (classes == cls).nonzero().flatten()
        if len(rows) == 0:
            continue
        h = bandwidths[cls]
        sq = squared_distances(z[rows], reference.to(dtype=z.dtype, device=z.device))
        values = (torch.logsumexp(-sq / (2 * h * h), 1) - math.log(len(reference))
                  - 0.5 * z.shape[1] * math.log(2 * math.pi * h * h))
        out = out.index_put((rows,), values)
    return out


class KD(Detector):
    """Kernel density of penultimate features among reference features of the predicted class."""

    name = "kd"
    requires = frozenset({"penultimate", "logits"})

    def __init__(self, *, bandwidth: float | str = "scott"):
        self.bandwidth = bandwidth

    def _fit(self, clean: Features, adv: Features, noisy: Features | None, *, reference: Features) -> None:
        ok = self.bandwidth == "scott" or (isinstance(self.bandwidth, (int, float)) and self.bandwidth > 0)
        self._require("bandwidth", self.bandwidth, ok, "'scott' or a positive number")
        self.references_, self.bandwidths_ = class_references(reference.array("penultimate"),
                                                              self._class_labels(reference), self.bandwidth)

    def log_density(self, z: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
        """(N,) ``log KD`` of penultimate features ``z`` (N, D) among the reference features of each
        row's ``predicted`` class; ``-inf`` for a class unseen in fit. Differentiable in ``z``."""
        self._check_fitted()
        return kernel_log_density(z, predicted, self.references_, self.bandwidths_)

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{"kernel_density": (N,) log KD(x)}``; classes unseen in fit get ``-inf`` density."""
        with torch.no_grad():
            feats = feats.to(torch.float64)
            return {"kernel_density": self.log_density(feats.penultimate, feats.predictions).numpy()}

    def torch_score(self, feats: Features) -> torch.Tensor:
        """(N,) ``-log KD`` (the largest finite number for a class unseen in fit)."""
        density = self.log_density(feats.penultimate, feats.predictions)
        return torch.where(torch.isfinite(density), -density, torch.finfo(density.dtype).max)

    def _score(self, feats: Features) -> np.ndarray:
        return self._score_through_torch(feats)
