"""LID-aware attack (Athalye et al. 2018, as used against LID): cross-entropy plus the
differentiable LID estimate (Eq. 22) of every layer's features against a batch of clean
reference features:

    J = CE(x*, c) + lam * 1/L sum_l LID_l(x*) / mean clean LID_l

``k = 20`` neighbours in a seeded batch of ``batch_size = 100`` clean training features (as the
LID detector); each layer's LID is divided by its mean over the clean batch so layers weigh alike.
"""

from __future__ import annotations

import numpy as np
import torch

from ...detectors.lid import knn_lid
from ..base import LossTerm
from .context import AttackContext, require_context


class LIDTerm(LossTerm):
    """Cross-entropy plus the normalised per-layer LID of the AE's features (add-on)."""

    name = "lid"
    needs_layers = True

    def __init__(self, context: AttackContext, *, k: int = 20, batch_size: int = 100, lam: float = 1.0,
                 seed: int = 0):
        reference = context.reference
        size = min(batch_size, len(reference))
        rows = np.sort(np.random.default_rng(seed).choice(len(reference), size, replace=False))
        self.k, self.lam = min(k, size - 2), lam
        self.batch = {name: reference.layers[name][rows].float() for name in reference.layer_names}
        self.scale = {name: float(knn_lid(b, b, self.k).mean()) for name, b in self.batch.items()}

    @classmethod
    def from_context(cls, context, *, k: int = 20, batch_size: int = 100, lam: float = 1.0, seed: int = 0, **_):
        return cls(require_context(context, "lid"), k=k, batch_size=batch_size, lam=lam, seed=seed)

    def __call__(self, feats, target):
        values = [knn_lid(feats.layers[name], batch.to(feats.layers[name]), self.k) / self.scale[name]
                  for name, batch in self.batch.items()]
        return self.lam * torch.stack(values, 1).mean(1)
