"""Building blocks shared by the zoo: the normalisation layer and dimension-generic convolutions."""

from __future__ import annotations

import torch
from torch import nn


class Normalize(nn.Module):
    """First layer of every zoo model: ``(x - mean) / std`` per channel.

    Keeping normalisation inside the model means inputs are always in [0, 1] and an attack budget
    ``eps`` is in pixel units. ``mean``/``std`` are buffers, saved with the checkpoint.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: list[float], std: list[float], dims: int):
        super().__init__()
        shape = (1, len(mean)) + (1,) * dims
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(shape))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def conv(dims: int):
    """``nn.Conv2d`` or ``nn.Conv3d``."""
    return {2: nn.Conv2d, 3: nn.Conv3d}[dims]


def batch_norm(dims: int):
    return {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims]


def max_pool(dims: int):
    return {2: nn.MaxPool2d, 3: nn.MaxPool3d}[dims]


def adaptive_avg_pool(dims: int):
    return {2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}[dims]
