"""Energy score, Liu et al. 2020 "Energy-based Out-of-distribution Detection" (NeurIPS).

The free energy of the logits ``f(x)`` (N, K) at temperature ``T``,

    E(x) = -T log sum_j exp(f_j(x) / T),

is low on the training distribution and high off it, so ``score = E(x)`` (higher = more
adversarial). Post-hoc, as Liu et al.'s ``CIFAR/test.py`` scores a pre-trained classifier, with
their default ``T = 1`` (the energy fine-tuning with margins is a training method, left out).
Nothing is learned: ``fit`` only checks the temperature. Lorenz et al. (2024) showed such
post-hoc OOD scores used, and broken, as adversarial detectors; this is the simplest of them and
a necessary baseline. ``torch_score`` is exact (a logsumexp of the logits).
"""

from __future__ import annotations

import numpy as np
import torch

from ..models.features import Features
from .base import Detector


class Energy(Detector):
    """``E(x) = -T logsumexp(logits / T)``: the free energy of the classifier's logits."""

    name = "energy"
    requires = frozenset({"logits"})

    def __init__(self, *, temperature: float = 1.0):
        self.temperature = temperature

    def _fit(self, clean: Features, adv: Features, noisy: Features | None, *, reference: Features) -> None:
        self._require("temperature", self.temperature,
                      isinstance(self.temperature, (int, float)) and 0 < self.temperature < float("inf"),
                      "a positive number")

    def torch_score(self, feats: Features) -> torch.Tensor:
        """(N,) the free energy of ``feats.logits`` (N, K)."""
        self._check_fitted()
        return -self.temperature * torch.logsumexp(feats.logits / self.temperature, dim=1)

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{"energy": (N,) E(x)}``."""
        return {"energy": self.score(feats)}

    def _score(self, feats: Features) -> np.ndarray:
        return self._score_through_torch(feats)
