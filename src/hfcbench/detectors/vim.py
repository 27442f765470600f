"""Virtual-logit matching (ViM), Wang et al. 2022 "ViM: Out-Of-Distribution with Virtual-logit
Matching" (CVPR).

With the final linear layer ``logits = W f + b`` (``W`` (K, D); ``b = 0`` without a bias), the penultimate features are
taken about the origin ``u = -pinv(W) b``. On the reference set (the training images) the
second-moment matrix of ``f - u`` is eigendecomposed; the eigenvectors beyond the ``d`` largest
span the residual space ``R`` (D, D - d). For an input,

    vlogit(x) = alpha ||R^T (f(x) - u)||,     alpha = mean_i max_j logit_ij / mean_i ||R^T (f_i - u)||

(both means over the reference set), and the official score ``logsumexp(logits) - vlogit``
is high in distribution; ``score = vlogit - logsumexp(logits)`` (higher = more adversarial;
Wang et al.'s softmax probability of the virtual logit ranks inputs the same way).

Details from the official code (haoqiwang/vim, ``benchmark.py``): ``pinv`` for ``u``; the
second moment about ``u``, not the covariance about the mean (``EmpiricalCovariance(
assume_centered=True)`` of ``f - u``); ``d = 1000`` when ``D >= 2048``, 512 when ``D >= 768``,
else ``D // 2`` (the default ``dim=None`` applies that rule). It uses ``np.linalg.eig``; the
matrix is symmetric, so ``eigh`` here gives the same space. Nothing is learned from the AEs.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InvalidParameterError
from ..models.features import Features
from .base import Detector


def principal_dim(features: int) -> int:
    """Wang et al.'s principal-space dimension for ``features``-dimensional penultimate vectors."""
    return 1000 if features >= 2048 else 512 if features >= 768 else features // 2


class ViM(Detector):
    """Energy of the logits against a virtual logit from the penultimate residual off the principal space."""

    name = "vim"
    requires = frozenset({"penultimate", "logits", "head"})

    def __init__(self, *, dim: int | None = None):
        self.dim = dim

    def _fit(self, clean: Features, adv: Features, noisy: Features | None, *, reference: Features) -> None:
        f = reference.array("penultimate")
        features = f.shape[1]
        dim = principal_dim(features) if self.dim is None else self.dim
        whole = isinstance(self.dim, int) and not isinstance(self.dim, bool)
        self._require("dim", self.dim, self.dim is None or (whole and 1 <= self.dim < features),
                      f"None or a whole number in [1, {features - 1}] (the penultimate has {features} dimensions)")
        if dim < 1:
            raise InvalidParameterError(f"vim needs a penultimate layer of at least 2 dimensions, got {features}")
        assert clean.head_weight is not None  # "head" is in requires: fit checked it
        weight = clean.head_weight.detach().double().cpu().numpy()
        bias = np.zeros(len(weight)) if clean.head_bias is None else clean.head_bias.detach().double().cpu().numpy()
        self.origin_ = torch.from_numpy(-np.linalg.pinv(weight) @ bias)                     # (D,)
        centred = f - self.origin_.numpy()
        moment = centred.T @ centred / len(centred)
        _, vectors = np.linalg.eigh(moment)                                                 # ascending eigenvalues
        self.residual_ = torch.from_numpy(np.ascontiguousarray(vectors[:, :features - dim]))  # (D, D - d)
        residual_norm = np.linalg.norm(centred @ self.residual_.numpy(), axis=1)
        self.alpha_ = float(reference.array("logits").max(1).mean() / max(residual_norm.mean(), 1e-300))

    def _parts(self, feats: Features) -> tuple[torch.Tensor, torch.Tensor]:
        """(N,) virtual logits and (N,) logsumexp of the logits, differentiable in the features."""
        f = feats.penultimate
        virtual = self.alpha_ * ((f - self.origin_.to(f)) @ self.residual_.to(f)).norm(dim=1)
        return virtual, torch.logsumexp(feats.logits, dim=1)

    def torch_score(self, feats: Features) -> torch.Tensor:
        """(N,) ``vlogit - logsumexp(logits)``."""
        self._check_fitted()
        virtual, energy = self._parts(feats)
        return virtual - energy

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{"virtual_logit": (N,), "logsumexp": (N,)}``, whose difference is the score."""
        self._check_fitted()
        with torch.no_grad():
            virtual, energy = self._parts(feats.to(torch.float64))
        return {"virtual_logit": virtual.numpy(), "logsumexp": energy.numpy()}

    def _score(self, feats: Features) -> np.ndarray:
        return self._score_through_torch(feats)
