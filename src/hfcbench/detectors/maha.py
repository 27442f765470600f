"""Mahalanobis (MAHA) detector, Lee et al. 2018 (paper Eq. 23).

Per layer ``l``: class-conditional means ``mu_c`` and one covariance ``Sigma`` tied across
classes, estimated on the reference set (the training images with their true labels, as Lee et
al.'s ``sample_estimator``; see :mod:`hfcbench.detectors.base`). The characteristic is the
distance to the closest class,

    M_l(x) = min_c (f_l(x) - mu_c)^T Sigma^-1 (f_l(x) - mu_c),

and a logistic regression over the standardised per-layer distances, fitted on AdvTrain clean
and noisy inputs (negatives) against AEs, is the detector. Lee et
al.'s input pre-processing (a gradient step on the input) is left out: detectors here see
features only. The tied covariance uses Ledoit-Wolf shrinkage, so that it stays invertible when
a layer has more channels than samples or constant channels; the inverse is taken through a
Cholesky factor (:mod:`hfcbench.linalg`).

``maha++`` is Mahalanobis++ (Mueller & Hein 2025): the same detector with every feature vector
divided by its L2 norm before the class means and covariance are estimated and at test time
(``normalize=True``), which evens out the feature norms that break the shared-covariance
assumption. Their code (mueller-mp/maha-norm) normalises the pre-logit features, the only layer
it reads, and uses the empirical covariance; here each layer MAHA reads is normalised by its own
norm, with MAHA's shrinkage.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.covariance import ledoit_wolf

from ..linalg import cholesky_psd, mahalanobis_sq
from ..models.features import Features
from .base import Detector
from .combine import LayerLogistic, stack


class MAHA(Detector):
    """Per-layer Mahalanobis distance to the closest class mean (tied covariance), logistic over layers."""

    name = "maha"
    requires = frozenset({"layers", "logits"})

    def __init__(self, *, shrinkage: str | float = "ledoit-wolf", normalize: bool = False):
        self.shrinkage, self.normalize = shrinkage, normalize

    def _fit(self, clean: Features, adv: Features, noisy: Features | None, *, reference: Features) -> None:
        ok = self.shrinkage == "ledoit-wolf" or (isinstance(self.shrinkage, (int, float)) and 0 <= self.shrinkage <= 1)
        self._require("shrinkage", self.shrinkage, ok, "'ledoit-wolf' or a number in [0, 1]")
        self._require("normalize", self.normalize, isinstance(self.normalize, bool), "True or False")
        labels = self._class_labels(reference)
        self.classes_ = np.unique(labels)
        self.means_, self.chol_ = {}, {}
        for name in clean.layer_names:
            f = self._normalised(torch.from_numpy(reference.array(name))).numpy()
            means = np.stack([f[labels == c].mean(0) for c in self.classes_])
            residual = f - means[np.searchsorted(self.classes_, labels)]
            self.means_[name] = torch.from_numpy(means)
            self.chol_[name] = cholesky_psd(torch.from_numpy(self._covariance(residual)), what=f"layer {name!r}")
        self.combiner_ = LayerLogistic().fit(np.concatenate([stack(self._characteristics(f))
                                                             for f in self._negatives(clean, noisy)]),
                                             stack(self._characteristics(adv)))

    def _normalised(self, f: torch.Tensor) -> torch.Tensor:
        """(N, D) ``f``, each row divided by its L2 norm when ``normalize`` (Mahalanobis++)."""
        return f / f.norm(dim=1, keepdim=True).clamp_min(1e-12) if self.normalize else f

    def _covariance(self, residual: np.ndarray) -> np.ndarray:
        if self.shrinkage == "ledoit-wolf":
            cov, _ = ledoit_wolf(residual, assume_centered=True)
            return cov
        empirical = residual.T @ residual / len(residual)
        target = np.trace(empirical) / len(empirical) * np.eye(len(empirical))
        weight = float(self.shrinkage)  # a number here: 'ledoit-wolf' returned above
        return (1 - weight) * empirical + weight * target

    def _distances(self, feats: Features) -> torch.Tensor:
        """(N, L) ``min_c`` squared Mahalanobis distance per layer, differentiable in the features."""
        columns = []
        for name, means in self.means_.items():
            f = self._normalised(feats.layers[name])
            columns.append(mahalanobis_sq(f, means.to(f), self.chol_[name].to(f)).min(1).values)
        return torch.stack(columns, 1)

    def _characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        with torch.no_grad():
            values = self._distances(feats.to(torch.float64)).numpy()
        return dict(zip(self.means_, values.T, strict=True))

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{layer: (N,) min_c Mahalanobis distance}``."""
        self._check_fitted()
        return self._characteristics(feats)

    def torch_score(self, feats: Features) -> torch.Tensor:
        """(N,) the logistic decision over the per-layer distances."""
        self._check_fitted()
        return self.combiner_.torch_decision(self._distances(feats))

    def _score(self, feats: Features) -> np.ndarray:
        return self._score_through_torch(feats)


class MAHAPlusPlus(MAHA):
    """Mahalanobis++ (Mueller & Hein 2025): MAHA on L2-normalised features (module docstring)."""

    name = "maha++"

    def __init__(self, *, shrinkage: str | float = "ledoit-wolf", normalize: bool = True):
        super().__init__(shrinkage=shrinkage, normalize=normalize)
