"""TIM (Dong et al. 2019): BIM whose gradient is smoothed by a Gaussian kernel before the sign,
which equals optimising over an ensemble of translated images (translation invariance).

The kernel is ``kernel_size`` wide (default 5 for 28-pixel inputs; the TIM paper uses 15 at 299
pixels) with sigma = kernel_size / (2 * 3) (the official ``nsig = 3``), applied per channel over
every spatial axis (2-D and 3-D).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InvalidParameterError
from .bim import BIM


def gaussian_kernel(size: int, dims: int, dtype=torch.float32) -> torch.Tensor:
    """A normalised separable Gaussian of ``size`` taps per axis, shape (size,) * dims."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    sigma = size / 6.0
    one = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    kernel = one
    for _ in range(dims - 1):
        kernel = kernel[..., None] * one
    return (kernel / kernel.sum()).to(dtype)


class TIM(BIM):
    """BIM with the gradient smoothed by a Gaussian (translation-invariant attack)."""

    name = "tim"

    def __init__(self, model, *, kernel_size: int = 5, **kwargs):
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise InvalidParameterError(f"kernel_size must be an odd number >= 1, got {kernel_size}")
        self.kernel_size = kernel_size
        super().__init__(model, **kwargs)

    def direction(self, grad, state):
        dims, channels = grad.dim() - 2, grad.shape[1]
        kernel = gaussian_kernel(self.kernel_size, dims, grad.dtype).to(grad.device)
        weight = kernel.expand(channels, 1, *kernel.shape).contiguous()
        conv = F.conv2d if dims == 2 else F.conv3d
        return conv(grad, weight, padding=self.kernel_size // 2, groups=channels).sign(), state
