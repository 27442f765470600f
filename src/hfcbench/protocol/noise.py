"""Noisy copies of clean inputs, the third group detectors are fitted with (Feinman et al. 2017;
Ma et al. 2018; Lee et al. 2018).

Each clean input gets Gaussian noise whose expected L2 norm equals the mean L2 norm of the
AEs' perturbations, then is clipped to [0, 1]. The official codes tune a per-dataset standard
deviation by hand "so that the average L-2 perturbation size is equal to that of the adversarial
samples"; here it is computed: ``sigma = mean_l2 / sqrt(D)`` for ``D`` input values, so that
``E||sigma * z||^2 = mean_l2^2``. Noisy copies are negatives: a detector that flags noise as
adversarial is not detecting adversarial structure.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InvalidParameterError
from ..seeding import per_input


def perturbation_l2(clean: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """(N,) L2 norms of ``adv - clean`` for inputs of shape (N, C, *spatial)."""
    return (adv - clean).flatten(1).double().norm(dim=1)


def noisy_copies(images: torch.Tensor, l2: float, *, seed: int, index=None) -> torch.Tensor:
    """``images`` (N, C, *spatial) in [0, 1] plus Gaussian noise of expected L2 norm ``l2``,
    clipped to [0, 1]. The noise of input ``i`` is drawn from ``(seed, index[i])`` (``index``
    defaults to ``0..N-1``)."""
    if not (math.isfinite(l2) and l2 >= 0):
        raise InvalidParameterError(f"the noise norm must be a finite number >= 0, got {l2!r}")
    index = np.arange(len(images)) if index is None else np.asarray(index)
    sigma = l2 / math.sqrt(images[0].numel()) if len(images) else 0.0
    noise = per_input("normal", tuple(images.shape[1:]), seed, index, "noisy", dtype=images.dtype)
    return (images + sigma * noise.to(images.device)).clamp(0.0, 1.0)
