"""Local intrinsic dimensionality (LID) detector, Ma et al. 2018 (paper Eq. 22).

For each layer, the maximum-likelihood LID estimate from the distances ``r_1 <= ... <= r_k`` of
``f_l(x)`` to its ``k`` nearest clean neighbours:

    LID(x) = -( 1/k sum_{i=1..k} log(r_i / r_k) )^-1,      k = 20

Following the official code, neighbours are drawn from minibatches of ``batch_size = 100``
clean samples; here the reference minibatches are the clean AdvTrain features (shuffled with
``seed``), and a query's LID is the mean of its estimates against every reference minibatch, so
a score never depends on which other inputs were scored with it. Exact duplicate rows are removed
from each reference minibatch, and neighbours at distance 0 (the query itself) are skipped:
together they keep ``log 0`` and the infinite estimate of ``k`` equal distances out. A logistic
regression over the standardised per-layer LIDs is the detector (the official code's
``LogisticRegressionCV`` with default regularisation is replaced by C=1).
"""

from __future__ import annotations

import numpy as np

from ..knn import knn_distances
from ..models.features import Features
from .base import Detector
from .combine import LayerLogistic, stack


def lid_mle(distances: np.ndarray) -> np.ndarray:
    """Eq. 22 on (N, k) ascending positive distances -> (N,) estimates (capped at 1e12 when all
    ``k`` distances are equal, where the estimate is infinite)."""
    mean = np.log(distances / distances[:, -1:]).mean(1)
    return -1.0 / np.minimum(mean, -1e-12)


class LID(Detector):
    """Per-layer LID of kNN distances (FAISS), combined by logistic regression."""

    name = "lid"
    requires = frozenset({"layers"})

    def __init__(self, *, k: int = 20, batch_size: int = 100, seed: int = 0):
        self.k, self.batch_size, self.seed = k, batch_size, seed

    def _fit(self, clean: Features, adv: Features, noisy: Features | None) -> None:
        self._require("k", self.k, isinstance(self.k, int) and self.k >= 2, "an int >= 2")
        self._require("batch_size", self.batch_size, self.batch_size > self.k,
                      f"larger than k={self.k} (each minibatch needs k neighbours)")
        self._require("clean sample count", len(clean), len(clean) > self.k, f"more than k={self.k} clean samples")
        order = np.random.default_rng(self.seed).permutation(len(clean))
        n_batches = max(1, len(clean) // self.batch_size)  # a short last batch joins the one before
        self.reference_ = {name: [np.unique(clean.array(name)[part], axis=0)
                                  for part in np.array_split(order, n_batches)]
                           for name in clean.layer_names}
        negatives = [clean] + ([noisy] if noisy is not None else [])
        self.combiner_ = LayerLogistic().fit(np.concatenate([stack(self._lids(f)) for f in negatives]),
                                             stack(self._lids(adv)))

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{layer: (N,) LID}``, the mean over reference minibatches."""
        self._check_fitted()
        return self._lids(feats)

    def _lids(self, feats: Features) -> dict[str, np.ndarray]:
        out = {}
        for name, batches in self.reference_.items():
            query = feats.array(name)
            estimates = [lid_mle(knn_distances(query, ref, min(self.k, len(ref) - 1), skip_zero=True))
                         for ref in batches]
            out[name] = np.mean(estimates, axis=0)
        return out

    def _score(self, feats: Features) -> np.ndarray:
        return self.combiner_.decision(stack(self._lids(feats)))
