"""Bayesian uncertainty (BU) detector, Feinman et al. 2017 (paper Eq. 21).

``T = 50`` stochastic predictions, each with 30% of the penultimate features dropped
(inverted dropout, survivors scaled by 1/0.7), mapped to class probabilities by the final
linear layer and a softmax. The uncertainty is

    BU(x) = 1/T sum_t p_t^T p_t - (1/T sum_t p_t)^T (1/T sum_t p_t)

on the probability vectors ``p_t``, as the official code computes it (the paper's Eq. 21 writes
the same variance with ``l_n``). Higher uncertainty means adversarial; nothing is learned in fit.

The ``T`` dropout masks (T, D) are drawn once per call from ``seed`` and shared by every input:
an input's score then never depends on which other inputs were scored with it, and the
differentiable score an attack follows is the score the detector reports. (The official code
draws masks per input; the statistic's expectation is the same.)
"""

from __future__ import annotations

import numpy as np
import torch

from ..models.features import Features
from .base import Detector


class BU(Detector):
    """Variance of dropout predictions (30% of penultimate features dropped, 50 passes)."""

    name = "bu"
    requires = frozenset({"penultimate", "head"})

    def __init__(self, *, n_passes: int = 50, drop_rate: float = 0.3, seed: int = 0):
        self.n_passes, self.drop_rate, self.seed = n_passes, drop_rate, seed

    def _fit(self, clean: Features, adv: Features, noisy: Features | None, *, reference: Features) -> None:
        self._require("n_passes", self.n_passes, isinstance(self.n_passes, int) and self.n_passes >= 2, "an int >= 2")
        self._require("drop_rate", self.drop_rate, 0 <= self.drop_rate < 1, "in [0, 1)")

    def masks(self, dim: int) -> torch.Tensor:
        """(T, D) inverted-dropout masks (0 or 1 / keep), the same at every call."""
        generator = torch.Generator().manual_seed(self.seed)
        keep = 1.0 - self.drop_rate
        return (torch.rand((self.n_passes, dim), generator=generator, dtype=torch.float64) < keep).double() / keep

    def torch_score(self, feats: Features) -> torch.Tensor:
        """(N,) BU(x), differentiable in the penultimate features."""
        self._check_fitted()
        z = feats.penultimate
        assert feats.head_weight is not None  # checked by score: BU requires "head"
        weight = feats.head_weight.to(dtype=z.dtype, device=z.device)
        bias = 0.0 if feats.head_bias is None else feats.head_bias.to(dtype=z.dtype, device=z.device)
        masks = self.masks(z.shape[1]).to(dtype=z.dtype, device=z.device)
        probs = torch.softmax((z[None] * masks[:, None]) @ weight.T + bias, dim=2)      # (T, N, K)
        return probs.square().sum(2).mean(0) - probs.mean(0).square().sum(1)

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{"bayesian_uncertainty": (N,)}``."""
        return {"bayesian_uncertainty": self._score_through_torch(feats)}

    def _score(self, feats: Features) -> np.ndarray:
        return self._score_through_torch(feats)
