"""CW-Linf (Carlini & Wagner 2017, L-inf form of Madry et al.): the margin loss of Eq. 4
minimised by PGD.

    J = max( max_{k != c} l_k - l_c, -kappa )

``kappa`` is, as the paper's footnote 4 says, the average difference between the largest and
the second-largest logit; by default it is measured on all the clean inputs of one call (the
whole set given to ``in_batches``), so batching does not change it.
"""

from __future__ import annotations

import torch

from ..errors import InvalidParameterError
from .base import CWMargin
from .pgd import PGD


def mean_logit_gap(logits: torch.Tensor) -> float:
    """Average of (largest - second largest logit) over the rows of ``logits`` (N, K)."""
    top = logits.topk(2, dim=1).values
    return float((top[:, 0] - top[:, 1]).mean())


class CW(PGD):
    """PGD on the CW margin loss (Eq. 4) with confidence kappa."""

    name = "cw"

    def __init__(self, model, *, kappa: float | None = None, **kwargs):
        if kappa is not None and kappa < 0:
            raise InvalidParameterError(f"kappa must be >= 0, got {kappa}")
        self.kappa = kappa
        super().__init__(model, **kwargs)

    def classification_terms(self):
        return [CWMargin(self._kappa)]

    def calibrate(self, x):
        if self.kappa is not None:
            self._kappa = self.kappa
            return
        with torch.no_grad():
            self._kappa = mean_logit_gap(torch.cat([self.model(x[i:i + 512]) for i in range(0, len(x), 512)]))
