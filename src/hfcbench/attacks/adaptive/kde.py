"""KDE-aware attack (Carlini & Wagner 2017, "Adversarial examples are not easily detected"):
cross-entropy plus the negative log kernel density of the penultimate features among the
training features of the target class (the statistic of the KD detector, Eq. 20):

    J = CE(x*, c) - lam * log( 1/|X_c| sum_{x' in X_c} exp(-||z(x*) - z(x')||^2 / (2 h^2)) )

with ``h`` from Scott's rule on ``X_c`` (as the KD detector's default) and ``lam = 1``.
"""

from __future__ import annotations

from ...detectors.kd import class_references, kernel_log_density
from ..base import LossTerm
from .context import AttackContext, require_context


class KDETerm(LossTerm):
    """Cross-entropy plus the negative log kernel density of the target class (add-on)."""

    name = "kde"
    needs_layers = True

    def __init__(self, context: AttackContext, *, lam: float = 1.0):
        self.lam = lam
        self.references, self.bandwidths = class_references(context.layer("penultimate"),
                                                            context.labels.numpy())

    @classmethod
    def from_context(cls, context, *, lam: float = 1.0, **_):
        return cls(require_context(context, "kde"), lam=lam)

    def __call__(self, feats, target):
        return -self.lam * kernel_log_density(feats.penultimate, target, self.references, self.bandwidths)
