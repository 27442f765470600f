"""VGG-16 with batch norm (Simonyan & Zisserman 2015), the paper's second 2-D backbone.

Adapted to small inputs: max-pools use ``ceil_mode`` so a 28x28 image survives five of them,
and the classifier is one linear layer on the globally pooled 512-channel map (the common
CIFAR adaptation). Hooked layers are the 13 convolutional ReLUs; the penultimate layer is the
pooled 512-vector.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .layers import Normalize, adaptive_avg_pool, batch_norm, conv, max_pool

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG(nn.Module):
    def __init__(self, config, *, in_channels: int, num_classes: int, dims: int, mean, std):
        super().__init__()
        self.normalize = Normalize(mean, std, dims)
        # each convolution, batch norm and ReLU is one unit registered as conv{block}_{index} (a
        # max-pool as maxpool{block}): the module names are the hooked layers' names
        self.body_names: tuple[str, ...] = ()
        cin, block, index = in_channels, 1, 0
        for item in config:
            if item == "M":
                self.add_module(f"maxpool{block}", max_pool(dims)(2, 2, ceil_mode=True))
                self.body_names += (f"maxpool{block}",)
                block, index = block + 1, 0
                continue
            index += 1
            self.add_module(f"conv{block}_{index}", nn.Sequential(
                conv(dims)(cin, item, 3, padding=1, bias=False), batch_norm(dims)(item), nn.ReLU()))
            self.body_names += (f"conv{block}_{index}",)
            cin = item
        self.pool = adaptive_avg_pool(dims)(1)
        self.fc = nn.Linear(cin, num_classes)

    def feature_modules(self) -> OrderedDict[str, nn.Module]:
        """The 13 convolutional units (their output is the ReLU's), named ``conv{block}_{index}`` as
        in the VGG paper."""
        return OrderedDict((n, self.get_submodule(n)) for n in self.body_names if n.startswith("conv"))

    @property
    def classifier(self) -> nn.Linear:
        return self.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.normalize(x)
        for name in self.body_names:
            out = self.get_submodule(name)(out)
        return self.fc(torch.flatten(self.pool(out), 1))


def vgg16(*, in_channels, num_classes, dims, mean, std, image_size):
    """VGG-16 with batch norm, small-input adaptation (2-D)"""
    return VGG(VGG16, in_channels=in_channels, num_classes=num_classes, dims=dims, mean=mean, std=std)
