"""Relative Mahalanobis distance (RMD), Ren et al. 2021 "A Simple Fix to Mahalanobis Distance for
Improving Near-OOD Detection".

On the penultimate features of the reference set (the training images with their true labels):
class means ``mu_k`` with one covariance ``Sigma`` tied across classes (as MAHA), and a
background Gaussian of all the features, mean ``mu_0`` and covariance ``Sigma_0``. For an input,

    RMD_k(x) = MD_k(x) - MD_0(x),   MD_k = (f - mu_k)^T Sigma^-1 (f - mu_k),  MD_0 likewise,

and ``score = min_k RMD_k(x)`` (higher = more adversarial). Subtracting the background distance
removes the directions in which every class is wide, which dominate the plain distance. Ren et al.
use the embedding before the logits; OpenOOD's reference (``rmds_postprocessor.py``; the authors
published no code) takes maximum-likelihood covariances and their pseudo-inverses (``pinvh``),
as here: directions without variance in the training features (dead ReLU channels) are ignored,
not penalised. The pseudo-inverse comes from ``eigh`` (correct where batched ``inv`` is not, see
:mod:`hfcbench.linalg`) with ``pinvh``'s cutoff. Nothing is learned from the AEs.
"""

from __future__ import annotations

import numpy as np
import torch

from ..models.features import Features
from .base import Detector


def pinv_root(cov: np.ndarray) -> torch.Tensor:
    """(D, r) ``W`` with ``W W^T = pinvh(cov)`` for a symmetric PSD ``cov`` (D, D): eigenvalues at or
    below scipy's ``pinvh`` cutoff (``D * eps * max eigenvalue``) are dropped, so
    ``(x - mu)^T pinvh(cov) (x - mu) = ||(x - mu) W||^2``."""
    values, vectors = np.linalg.eigh(cov)
    keep = values > len(values) * np.finfo(np.float64).eps * max(values.max(), 0.0)
    return torch.from_numpy(vectors[:, keep] / np.sqrt(values[keep]))


class RMD(Detector):
    """Class-conditional Mahalanobis distance minus the background distance, on penultimate features."""

    name = "rmd"
    requires = frozenset({"penultimate"})

    def _fit(self, clean: Features, adv: Features, noisy: Features | None, *, reference: Features) -> None:
        f = reference.array("penultimate")
        labels = self._class_labels(reference)
        self.classes_ = np.unique(labels)
        means = np.stack([f[labels == c].mean(0) for c in self.classes_])
        residual = f - means[np.searchsorted(self.classes_, labels)]
        background = f - f.mean(0)
        self.means_ = torch.from_numpy(means)                                                 # (K, D)
        self.root_ = pinv_root(residual.T @ residual / len(f))                                # (D, r)
        self.background_mean_ = torch.from_numpy(f.mean(0))                                   # (D,)
        self.background_root_ = pinv_root(background.T @ background / len(f))                 # (D, r0)

    def _relative(self, feats: Features) -> torch.Tensor:
        """(N, K) ``MD_k - MD_0``, differentiable in the features."""
        f = feats.penultimate
        classes = ((f[:, None, :] - self.means_.to(f)) @ self.root_.to(f)).square().sum(-1)          # (N, K)
        background = ((f - self.background_mean_.to(f)) @ self.background_root_.to(f)).square().sum(-1)  # (N,)
        return classes - background[:, None]

    def torch_score(self, feats: Features) -> torch.Tensor:
        """(N,) ``min_k RMD_k``."""
        self._check_fitted()
        return self._relative(feats).min(1).values

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{"rmd_<k>": (N,) RMD to class k}`` for every class of the reference set."""
        self._check_fitted()
        with torch.no_grad():
            values = self._relative(feats.to(torch.float64)).numpy()
        return {f"rmd_{c}": values[:, i] for i, c in enumerate(self.classes_)}

    def _score(self, feats: Features) -> np.ndarray:
        return self._score_through_torch(feats)
