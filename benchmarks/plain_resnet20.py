"""A plain PyTorch CIFAR ResNet-20 (He et al. 2016), written as torchattacks' users write one.

The same shape as hfcbench's zoo ``resnet20`` for 28x28 grey images: a normalising first step,
a 3x3 stem of 16 channels, three stages of three basic blocks (16, 32, 64 channels; 1x1
projection shortcuts where the shape changes), global average pooling and a linear head. It
imports nothing from hfcbench, so a process that times torchattacks on it runs without
hfcbench's process-wide settings.
"""

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != width:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, width, 1, stride, bias=False), nn.BatchNorm2d(width))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet20(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 2, mean: float = 0.5, std: float = 0.25):
        super().__init__()
        self.mean, self.std = mean, std
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        blocks, cin = [], 16
        for i, width in enumerate((16, 32, 64)):
            for j in range(3):
                blocks.append(Block(cin, width, 2 if j == 0 and i > 0 else 1))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem((x - self.mean) / self.std))
        return self.fc(x.mean((2, 3)))
