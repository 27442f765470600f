"""PGD (Madry et al. 2018): BIM from a uniform random start ``x + U(-eps, eps)`` (Sec. II-A)."""

from __future__ import annotations

import torch

from .bim import BIM


class PGD(BIM):
    """BIM from a uniformly random point of the eps-ball (seeded)."""

    name = "pgd"

    def start(self, x, generator):
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1
        return (x + self.eps * noise).clamp(0.0, 1.0)
