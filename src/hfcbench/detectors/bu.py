"""Bayesian uncertainty (BU) detector, Feinman et al. 2017 (paper Eq. 21).

``T = 50`` stochastic predictions, each with 30% of the penultimate features dropped
(inverted dropout, survivors scaled by 1/0.7), mapped to class probabilities by the final
linear layer and a softmax. The uncertainty is

    BU(x) = 1/T sum_t p_t^T p_t - (1/T sum_t p_t)^T (1/T sum_t p_t)

on the probability vectors ``p_t``, as the official code computes it (the paper's Eq. 21 writes
the same variance with ``l_n``). Higher uncertainty means adversarial; nothing is learned in fit.
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

    def _fit(self, clean: Features, adv: Features, noisy: Features | None) -> None:
        self._require("n_passes", self.n_passes, isinstance(self.n_passes, int) and self.n_passes >= 2, "an int >= 2")
        self._require("drop_rate", self.drop_rate, 0 <= self.drop_rate < 1, "in [0, 1)")

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{"bayesian_uncertainty": (N,)}``."""
        self._check_fitted()
        z = feats.penultimate.double()
        weight = feats.head_weight.double()
        bias = torch.zeros(len(weight), dtype=torch.float64) if feats.head_bias is None else feats.head_bias.double()
        generator = torch.Generator().manual_seed(self.seed)
        keep = 1.0 - self.drop_rate
        second, first = torch.zeros(len(z), dtype=torch.float64), torch.zeros(len(z), weight.shape[0],
                                                                             dtype=torch.float64)
        for _ in range(self.n_passes):
            mask = (torch.rand(z.shape, generator=generator) < keep).double() / keep
            probs = torch.softmax((z * mask) @ weight.T + bias, dim=1)
            second += (probs * probs).sum(1)
            first += probs
        second, first = second / self.n_passes, first / self.n_passes
        return {"bayesian_uncertainty": (second - (first * first).sum(1)).numpy()}

    def _score(self, feats: Features) -> np.ndarray:
        return self.characteristics(feats)["bayesian_uncertainty"]
