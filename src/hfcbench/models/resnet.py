"""ResNets (He et al. 2016) for 2-D images and 3-D volumes.

One implementation serves every depth: CIFAR-style ResNet-8/20 (three stages of 16/32/64
channels, 3x3 stem; the CPU defaults) and ResNet-18/50 (four stages of 64-512 channels; the
paper's 2-D backbone is ResNet-50, its 3-D one ResNet-18 with 3-D kernels, Sec. V-A). For inputs
of 64 pixels or less the ImageNet stem (7x7 stride 2 + max-pool) is replaced by a 3x3 stride-1
convolution, the usual adaptation to small images.

Hooked layers (:meth:`ResNet.feature_modules`): the stem and every residual block but the last,
each the output of a ReLU; the penultimate layer is the globally pooled vector fed to ``fc``. The
last block is not hooked because the channel means of its output *are* the penultimate vector
(global average pooling is the channel mean): hooking both would count one feature twice (HFC
would weigh it with ``2 lambda``, the per-layer detectors would see a collinear copy).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .layers import Normalize, adaptive_avg_pool, batch_norm, conv, max_pool


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int, dims: int):
        super().__init__()
        Conv, BN = conv(dims), batch_norm(dims)
        self.conv1, self.bn1 = Conv(cin, width, 3, stride, 1, bias=False), BN(width)
        self.conv2, self.bn2 = Conv(width, width, 3, 1, 1, bias=False), BN(width)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != width:
            self.shortcut = nn.Sequential(Conv(cin, width, 1, stride, bias=False), BN(width))

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(out)) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int, dims: int):
        super().__init__()
        Conv, BN = conv(dims), batch_norm(dims)
        cout = width * self.expansion
        self.conv1, self.bn1 = Conv(cin, width, 1, bias=False), BN(width)
        self.conv2, self.bn2 = Conv(width, width, 3, stride, 1, bias=False), BN(width)
        self.conv3, self.bn3 = Conv(width, cout, 1, bias=False), BN(cout)
        self.relu1, self.relu2, self.relu3 = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(Conv(cin, cout, 1, stride, bias=False), BN(cout))

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        return self.relu3(self.bn3(self.conv3(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet over ``dims``-D inputs ``(N, C, *spatial)`` -> logits ``(N, num_classes)``."""

    def __init__(self, block, blocks_per_stage, widths, *, in_channels: int, num_classes: int, dims: int,
                 mean, std, small_input: bool, stem_stride: int = 1):
        super().__init__()
        Conv, BN = conv(dims), batch_norm(dims)
        self.normalize = Normalize(mean, std, dims)
        if small_input:
            stem = [Conv(in_channels, widths[0], 3, stem_stride, 1, bias=False), BN(widths[0]), nn.ReLU()]
        else:
            stem = [Conv(in_channels, widths[0], 7, 2, 3, bias=False), BN(widths[0]), nn.ReLU(),
                    max_pool(dims)(3, 2, 1)]
        self.stem = nn.Sequential(*stem)
        # stages are registered as stage1, stage2, ... holding block0, block1, ...: the module names
        # are the hooked layers' names, the ones `hfcbench layers` prints and --layers takes
        self.stage_names: tuple[str, ...] = ()
        cin = widths[0]
        for i, (n, width) in enumerate(zip(blocks_per_stage, widths, strict=True)):
            blocks: OrderedDict[str, nn.Module] = OrderedDict()
            for j in range(n):
                blocks[f"block{j}"] = block(cin, width, 2 if (j == 0 and i > 0) else 1, dims)
                cin = width * block.expansion
            self.add_module(f"stage{i + 1}", nn.Sequential(blocks))
            self.stage_names += (f"stage{i + 1}",)
        self.pool = adaptive_avg_pool(dims)(1)
        self.fc = nn.Linear(cin, num_classes)

    def feature_modules(self) -> OrderedDict[str, nn.Module]:
        """Hooked activation layers by module name, in forward order: ``stem``, ``stage1.block0``,
        ..., every block except the last (whose channel means equal the penultimate vector)."""
        out: OrderedDict[str, nn.Module] = OrderedDict(stem=self.stem)
        for stage in self.stage_names:
            for j, block in enumerate(self.get_submodule(stage).children()):
                out[f"{stage}.block{j}"] = block
        out.popitem()
        return out

    @property
    def classifier(self) -> nn.Linear:
        return self.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stem(self.normalize(x))
        for stage in self.stage_names:
            out = self.get_submodule(stage)(out)
        return self.fc(torch.flatten(self.pool(out), 1))


def _cifar(n: int, stem_stride: int = 1):
    def build(*, in_channels, num_classes, dims, mean, std, image_size):
        return ResNet(BasicBlock, [n] * 3, [16, 32, 64], in_channels=in_channels, num_classes=num_classes,
                      dims=dims, mean=mean, std=std, small_input=True, stem_stride=stem_stride)

    build.__doc__ = f"CIFAR-style ResNet-{6 * n + 2} (16/32/64 channels), 2-D or 3-D" + (
        f", stride-{stem_stride} stem ({stem_stride ** 3}x fewer voxels after it on volumes)"
        if stem_stride > 1 else "")
    return build


resnet8 = _cifar(1)
resnet20 = _cifar(3)
# the CPU default for 28^3 volumes: the stride-2 stem makes a training step about 10x cheaper
resnet8_3d = _cifar(1, stem_stride=2)


def resnet18(*, in_channels, num_classes, dims, mean, std, image_size):
    """ResNet-18 (64-512 channels), 2-D or 3-D; small-input stem at 64 px or less"""
    return ResNet(BasicBlock, [2, 2, 2, 2], [64, 128, 256, 512], in_channels=in_channels, num_classes=num_classes,
                  dims=dims, mean=mean, std=std, small_input=image_size <= 64)


def resnet50(*, in_channels, num_classes, dims, mean, std, image_size):
    """ResNet-50 (bottleneck, 256-2048 channels), the paper's 2-D backbone"""
    return ResNet(Bottleneck, [3, 4, 6, 3], [64, 128, 256, 512], in_channels=in_channels, num_classes=num_classes,
                  dims=dims, mean=mean, std=std, small_input=image_size <= 64)


def resnet18_3d(*, in_channels, num_classes, dims, mean, std, image_size):
    """ResNet-18 with 3-D kernels, the paper's 3-D backbone (volumes only)"""
    if dims != 3:
        from ..errors import InvalidParameterError

        raise InvalidParameterError(f"resnet18_3d takes 3-D volumes (N, C, D, H, W); this dataset is {dims}-D. "
                                    "Use resnet18 for 2-D images.")
    return resnet18(in_channels=in_channels, num_classes=num_classes, dims=3, mean=mean, std=std,
                    image_size=image_size)
