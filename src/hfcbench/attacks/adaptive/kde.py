"""KDE-aware attack (Carlini & Wagner 2017, "Adversarial examples are not easily detected"):
cross-entropy plus the negative log kernel density of the penultimate features among the
training features of the target class (the statistic of the KD detector, Eq. 20):

    J = CE(x*, c) - lam * log( 1/|X_c| sum_{x' in X_c} exp(-||z(x*) - z(x')||^2 / (2 h^2)) )

with ``h`` from Scott's rule on ``X_c`` (as the KD detector's default) and ``lam = 1``.
"""

from __future__ import annotations

import math

import torch

from ...detectors.kd import scott_bandwidth
from ..base import LossTerm
from .context import AttackContext, require_context


class KDETerm(LossTerm):
    """Cross-entropy plus the negative log kernel density of the target class (add-on)."""

    name = "kde"
    needs_layers = True

    def __init__(self, context: AttackContext, *, lam: float = 1.0):
        self.lam = lam
        labels = context.reference.labels
        self.references, self.bandwidths = {}, {}
        for cls in labels.unique().tolist():
            z = context.reference.penultimate[labels == cls].double()
            self.references[cls] = z
            self.bandwidths[cls] = scott_bandwidth(z.numpy())

    @classmethod
    def from_context(cls, context, *, lam: float = 1.0, **_):
        return cls(require_context(context, "kde"), lam=lam)

    def __call__(self, feats, target):
        z = feats.penultimate
        total = torch.zeros(len(target), dtype=z.dtype, device=z.device)
        for cls in target.unique().tolist():
            rows = (target == cls).nonzero().flatten()
            reference = self.references[cls].to(z.device, z.dtype)
            h = self.bandwidths[cls]
            log_kde = torch.logsumexp(-torch.cdist(z[rows], reference).pow(2) / (2 * h * h), 1) - math.log(len(reference))
            total = total.index_add(0, rows, -self.lam * log_kde)
        return total
