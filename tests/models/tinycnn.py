"""A small CNN as a user writes one, outside hfcbench: the tests install this file as a package
(``pip --target``, entry point ``hfcbench.models``) and import it as ``module:factory``."""

import torch
from torch import nn


def stage(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class SmallCNN(nn.Module):
    """(N, C, H, W) -> (N, K): three conv stages (widths w, 2w, 4w; the last two halve the size),
    global average pooling, one linear layer ``fc``."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: int = 8):
        super().__init__()
        self.stem = stage(in_channels, width, 1)
        self.stage1 = stage(width, 2 * width, 2)
        self.stage2 = stage(2 * width, 4 * width, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.stage2(self.stage1(self.stem(x)))), 1))


def small_cnn(in_channels: int, num_classes: int) -> SmallCNN:
    return SmallCNN(in_channels, num_classes)
