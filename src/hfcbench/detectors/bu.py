"""Bayesian uncertainty (BU) detector, Feinman et al. 2017 (paper Eq. 21).

``T = 50`` stochastic predictions, each with 30% of the penultimate features dropped
(inverted dropout, survivors scaled by 1/0.7), mapped to class probabilities by the final
linear layer and a softmax. The uncertainty is

    BU(x) = 1/T sum_t p_t^T p_t - (1/T sum_t p_t)^T (1/T sum_t p_t)

on the probability vectors ``p_t``, as the official code computes it (the paper's Eq. 21 writes
the same variance with ``l_n``). Higher uncertainty means adversarial; nothing is learned in fit.

The ``T`` dropout masks (T, D) are drawn from ``seed`` and shared by every input and every call:
an input's score then never depends on which other inputs were scored with it, and the
differentiable score an attack follows is the score the detector reports (a deterministic
detector, attacked exactly). ``BU(resample=True)`` draws fresh masks at every call, as Feinman et
al. do; it is declared ``stochastic``, so attacks average its gradient over fresh draws (EOT).

The variance is computed in float64 in two passes, ``mean_t ||p_t - mean_t p_t||^2``: the
one-pass form ``E[p^2] - E[p]^2`` cancels catastrophically once the prediction is confident (in
float32 its relative error reaches 35x at a logit margin of 11, and it turns negative), which
made the best-iterate choice among confident iterates noise.
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

    def __init__(self, *, n_passes: int = 50, drop_rate: float = 0.3, seed: int = 0, resample: bool = False):
        self.n_passes, self.drop_rate, self.seed, self.resample = n_passes, drop_rate, seed, resample
        self.calls_ = 0  # with resample: how many mask banks were drawn (each call draws the next)

    @property
    def stochastic(self) -> bool:
        """Whether every call draws fresh masks (``resample``)."""
        return bool(self.resample)

    def _fit(self, clean: Features, adv: Features, noisy: Features | None, *, reference: Features) -> None:
        self._require("n_passes", self.n_passes, isinstance(self.n_passes, int) and self.n_passes >= 2, "an int >= 2")
        self._require("drop_rate", self.drop_rate, 0 <= self.drop_rate < 1, "in [0, 1)")
        self._require("resample", self.resample, isinstance(self.resample, bool), "True or False")

    def masks(self, dim: int) -> torch.Tensor:
        """(T, D) inverted-dropout masks (0 or 1 / keep): the same at every call, or with
        ``resample`` the next bank of a seeded sequence (fresh at every call, reproducible)."""
        seed = self.seed
        if self.resample:
            self.calls_ += 1
            seed = int(np.random.SeedSequence([self.seed, self.calls_]).generate_state(1)[0])
        generator = torch.Generator().manual_seed(seed)
        keep = 1.0 - self.drop_rate
        return (torch.rand((self.n_passes, dim), generator=generator, dtype=torch.float64) < keep).double() / keep

    def torch_score(self, feats: Features) -> torch.Tensor:
        """(N,) BU(x), differentiable in the penultimate features; computed in float64 (two-pass
        variance), returned in the features' dtype."""
        self._check_fitted()
        z = feats.penultimate.double()
        assert feats.head_weight is not None  # checked by score: BU requires "head"
        weight = feats.head_weight.to(dtype=z.dtype, device=z.device)
        bias = 0.0 if feats.head_bias is None else feats.head_bias.to(dtype=z.dtype, device=z.device)
        masks = self.masks(z.shape[1]).to(dtype=z.dtype, device=z.device)
        probs = torch.softmax((z[None] * masks[:, None]) @ weight.T + bias, dim=2)      # (T, N, K)
        variance = (probs - probs.mean(0)).square().sum(2).mean(0)
        return variance.to(feats.penultimate.dtype)

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{"bayesian_uncertainty": (N,)}``."""
        return {"bayesian_uncertainty": self._score_through_torch(feats)}

    def _score(self, feats: Features) -> np.ndarray:
        return self._score_through_torch(feats)
