"""The one object through which adaptive attacks learn what they may know."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...errors import HfcbenchError
from ...models.features import Features


@dataclass
class AttackContext:
    """What an adaptive attack may know: clean features of the classifier's training images, with
    their true labels, and, for the detector-aware attacks, the fitted detector under evaluation.

    The HFC mixtures (Algorithm 1, l. 1-4), the guide images' features, the KDE reference set
    and the LID reference batch come from ``reference``; ``joint``, ``selective`` and
    ``orthogonal`` attack ``detector`` (it needs ``torch_score``), whose score they divide by
    ``detector_scale``, the spread (standard deviation) of its scores on clean inputs (default:
    measured on ``reference``). Nothing reaches an attack through globals.
    """

    reference: Features
    detector: Any = None
    detector_scale: float | None = None

    def __post_init__(self):
        if self.reference.labels is None:
            raise HfcbenchError("AttackContext.reference needs labels (the true classes of the reference images)")

    @property
    def labels(self) -> torch.Tensor:
        """(n,) the true classes of the reference images."""
        assert self.reference.labels is not None  # checked in __post_init__
        return self.reference.labels

    def rows_of(self, cls: int) -> torch.Tensor:
        rows = (self.labels == cls).nonzero().flatten()
        if len(rows) == 0:
            raise HfcbenchError(f"the attack's reference set has no image of target class {cls}")
        return rows

    def layer(self, name: str, cls: int | None = None) -> np.ndarray:
        """Reference features of layer ``name`` (of class ``cls``), float64 (n, D)."""
        feats = self.reference if cls is None else self.reference.subset(self.rows_of(cls))
        return feats.array(name)


def require_context(context: AttackContext | None, attack: str) -> AttackContext:
    if context is None:
        raise HfcbenchError(f"the adaptive attack {attack!r} needs an AttackContext (clean features of the "
                            "training images); the harness builds one, or pass context=AttackContext(...)")
    return context
