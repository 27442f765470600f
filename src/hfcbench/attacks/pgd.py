"""PGD (Madry et al. 2018): BIM from a uniform random start ``x + U(-eps, eps)`` (Sec. II-A)."""

from __future__ import annotations

from ..seeding import per_input
from .bim import BIM


class PGD(BIM):
    """BIM from a uniformly random point of the eps-ball (drawn per input from the seed and its index)."""

    name = "pgd"

    def start(self, x, index):
        noise = per_input("uniform", tuple(x.shape[1:]), self.seed, index, "pgd-start", dtype=x.dtype, device=x.device)
        return (x + self.eps * (noise * 2 - 1)).clamp(0.0, 1.0)
