"""Deep nearest-neighbour distance (``knn``), Sun et al. 2022 "Out-of-Distribution Detection with
Deep Nearest Neighbors" (ICML).

Penultimate features are L2-normalised, ``z = f / ||f||``; the score of an input is the
Euclidean distance from its ``z`` to the ``k``-th nearest normalised feature of the reference
set (the training images), higher = more adversarial. The official code
(deeplearning-wisc/knn-ood, ``run_cifar.py``) uses ``k = 50`` on CIFAR-10 (1000 on ImageNet),
the whole training set (``ALPHA = 1``), a FAISS ``IndexFlatL2`` and the negated *squared*
distance; the unsquared distance here ranks inputs identically. Its normaliser
``x / (||x|| + 1e-10)`` is kept. Nothing is learned from the AEs.

FAISS proposes ``k + 8`` candidates per input; their distances are recomputed exactly in torch
(:mod:`hfcbench.knn`), so ``torch_score`` is differentiable through the ``k``-th distance (the
neighbour set is piecewise constant, as for LID).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InvalidParameterError
from ..knn import faiss_index, nearest_candidates
from ..models.features import Features
from .base import Detector

EXTRA_CANDIDATES = 8


def normalised(f: torch.Tensor) -> torch.Tensor:
    """(N, D) rows divided by their L2 norm plus 1e-10 (Sun et al.'s normaliser)."""
    return f / (f.norm(dim=1, keepdim=True) + 1e-10)


class DeepKNN(Detector):
    """Distance to the ``k``-th nearest normalised penultimate feature of the training set."""

    name = "knn"
    requires = frozenset({"penultimate"})

    def __init__(self, *, k: int = 50):
        self.k = k

    def _fit(self, clean: Features, adv: Features, noisy: Features | None, *, reference: Features) -> None:
        self._require("k", self.k, isinstance(self.k, int) and not isinstance(self.k, bool) and self.k >= 1,
                      "a whole number >= 1")
        if self.k > len(reference):
            raise InvalidParameterError(f"knn: k = {self.k} neighbours need at least {self.k} reference (training) "
                                        f"images, got {len(reference)}; train on more images or use a smaller k")
        self.reference_ = normalised(reference.penultimate.detach().cpu().to(torch.float64))
        self._index = None

    def torch_score(self, feats: Features) -> torch.Tensor:
        """(N,) distance from each normalised penultimate vector (N, D) to its ``k``-th nearest
        reference vector (R, D), differentiable in the features."""
        self._check_fitted()
        z = normalised(feats.penultimate)
        if getattr(self, "_index", None) is None:  # built once per fitted detector, never pickled
            self._index = faiss_index(self.reference_.numpy())
        n = min(len(self.reference_), self.k + EXTRA_CANDIDATES)
        candidates = torch.from_numpy(nearest_candidates(z.detach().cpu().numpy(), self._index, n))
        neighbours = self.reference_[candidates].to(z)                                  # (N, n, D)
        distances = (z[:, None, :] - neighbours).square().sum(-1).clamp_min(1e-30).sqrt()  # (N, n)
        return distances.sort(dim=1).values[:, self.k - 1]

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_index"}  # a FAISS index does not pickle

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{"kth_distance": (N,)}``, the score itself."""
        return {"kth_distance": self.score(feats)}

    def _score(self, feats: Features) -> np.ndarray:
        return self._score_through_torch(feats)
