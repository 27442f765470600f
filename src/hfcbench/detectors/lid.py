"""Local intrinsic dimensionality (LID) detector, Ma et al. 2018 (paper Eq. 22).

For each layer, the maximum-likelihood LID estimate from the distances ``r_1 <= ... <= r_k`` of
``f_l(x)`` to its ``k`` nearest reference neighbours:

    LID(x) = -( 1/k sum_{i=1..k} log(r_i / r_k) )^-1,      k = 20

Neighbours come from minibatches of ``batch_size = 100`` reference samples, as in the official
code; a query's LID is the mean of its estimates against the reference minibatches (at most
``max_batches`` of them, drawn with ``seed``), so a score never depends on which other inputs
were scored with it. A logistic regression over the standardised per-layer LIDs, fitted on
AdvTrain clean and noisy inputs (negatives) against AEs, is the detector (the official code's
``LogisticRegressionCV`` with default regularisation is replaced by C=1).

**Why the reference is the training set.** Ma et al.'s code measures every input against the
clean minibatch it sits in, so an AE's own clean source is one of its neighbours, at fit and at
test time alike. Measured instead against the clean AdvTrain features, AdvTrain AEs would find
their source among the neighbours (an unusually close first neighbour, a low LID) while AdvTest
AEs never do: the logistic regression would learn from a distribution it is never tested on.
Against the training images, which none of the scored inputs came from, fit-time and test-time
LIDs follow one distribution. Exact duplicate rows are removed from each reference minibatch and
neighbours at distance 0 are skipped (a test image can duplicate a training image): together they
keep ``log 0`` and the infinite estimate of ``k`` equal distances out.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..knn import knn_distances
from ..models.features import Features
from .base import Detector
from .combine import LayerLogistic, stack

PAD = 1e15  # coordinates of the rows that pad a short reference minibatch: never among the k nearest


def lid_mle(distances):
    """Eq. 22 on (..., k) ascending positive distances -> (...) estimates (capped at 1e12 when all
    ``k`` distances are equal, where the estimate is infinite). numpy arrays or torch tensors
    (differentiable)."""
    if isinstance(distances, np.ndarray):
        return lid_mle(torch.from_numpy(distances)).numpy()
    mean = torch.log(distances / distances[..., -1:]).mean(-1)
    return -1.0 / mean.clamp_max(-1e-12)


def knn_lid(query: torch.Tensor, reference: torch.Tensor, k: int) -> torch.Tensor:
    """LID (Eq. 22) of ``query`` (N, d) against ``reference`` (..., R, d): the ``k`` smallest
    non-zero exact distances, differentiable through them -> (..., N)."""
    distances = torch.cdist(query.expand(*reference.shape[:-2], *query.shape), reference,
                            compute_mode="donot_use_mm_for_euclid_dist")
    distances = distances.masked_fill(distances == 0, float("inf"))   # the query itself, or a duplicate
    return lid_mle(distances.topk(k, dim=-1, largest=False).values)


class LID(Detector):
    """Per-layer LID of kNN distances (FAISS) to reference minibatches, combined by logistic regression."""

    name = "lid"
    requires = frozenset({"layers"})

    def __init__(self, *, k: int = 20, batch_size: int = 100, max_batches: int = 50, seed: int = 0):
        self.k, self.batch_size, self.max_batches, self.seed = k, batch_size, max_batches, seed

    def _fit(self, clean: Features, adv: Features, noisy: Features | None, *, reference: Features) -> None:
        self._require("k", self.k, isinstance(self.k, int) and self.k >= 2, "an int >= 2")
        self._require("batch_size", self.batch_size, isinstance(self.batch_size, int) and self.batch_size > self.k,
                      f"an int larger than k={self.k} (each minibatch needs k neighbours)")
        self._require("max_batches", self.max_batches, isinstance(self.max_batches, int) and self.max_batches >= 1,
                      "an int >= 1")
        self._require("reference sample count", len(reference), len(reference) > self.k,
                      f"more than k={self.k} reference samples")
        if reference is clean:
            warnings.warn("LID fitted without a reference set: the clean fit features serve as reference "
                          "minibatches, so AEs whose source is among them have a leaked neighbour at fit time; "
                          "pass reference=<training-set features>", stacklevel=3)
        order = np.random.default_rng(self.seed).permutation(len(reference))
        n_batches = max(1, len(reference) // self.batch_size)  # a short last batch joins the one before
        parts = np.array_split(order, n_batches)[:self.max_batches]
        # per layer: the minibatches without duplicate rows, padded to one size and stacked (B, R, d)
        self.reference_ = {}
        for name in reference.layer_names:
            batches = [np.unique(reference.array(name)[part], axis=0) for part in parts]
            stacked = np.full((len(batches), max(map(len, batches)), batches[0].shape[1]), PAD)
            for b, rows in enumerate(batches):
                stacked[b, :len(rows)] = rows
            self.reference_[name] = (torch.from_numpy(stacked), [len(rows) for rows in batches])
        negatives = np.concatenate([stack(self._lids(f)) for f in self._negatives(clean, noisy)])
        self.combiner_ = LayerLogistic().fit(negatives, stack(self._lids(adv)))

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{layer: (N,) LID}``, the mean over reference minibatches (kNN through FAISS)."""
        self._check_fitted()
        return self._lids(feats)

    def _k(self, size: int) -> int:
        return min(self.k, size - 1)

    def _lids(self, feats: Features) -> dict[str, np.ndarray]:
        out = {}
        for name, (stacked, sizes) in self.reference_.items():
            query = feats.array(name)
            estimates = [lid_mle(knn_distances(query, stacked[b, :size].numpy(), self._k(size), skip_zero=True))
                         for b, size in enumerate(sizes)]
            out[name] = np.mean(estimates, axis=0)
        return out

    def torch_score(self, feats: Features) -> torch.Tensor:
        """(N,) the logistic decision over per-layer LIDs from dense exact distances in torch (the k
        smallest of a distance matrix per minibatch), differentiable in the layer features."""
        self._check_fitted()
        columns = []
        for name, (stacked, sizes) in self.reference_.items():
            query = feats.layers[name]
            reference = stacked.to(dtype=query.dtype, device=query.device)
            estimates = []
            for k in sorted(set(map(self._k, sizes))):  # minibatches that lost duplicates may need a smaller k
                batches = [b for b, size in enumerate(sizes) if self._k(size) == k]
                estimates.append(knn_lid(query, reference[batches], k))
            columns.append(torch.cat(estimates).mean(0))
        return self.combiner_.torch_decision(torch.stack(columns, 1))

    def _score(self, feats: Features) -> np.ndarray:
        return self.combiner_.decision(stack(self._lids(feats)))
