"""Training a zoo classifier with the paper's augmentation (Sec. V-A: random crop, horizontal flip).

SGD with Nesterov momentum, cosine learning-rate decay, cross-entropy. Everything random
(initialisation, shuffling, crops, flips) is drawn from generators seeded by ``config.seed``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..datasets import ImageDataset, Split
from ..errors import HfcbenchError, InvalidParameterError
from . import build_model
from .features import eval_mode


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of classifier training; every field is part of the checkpoint key."""

    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = True
    seed: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"--{name.replace('_', '-')} must be a whole number >= 1, got {value!r}")
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
                    or (name == "lr" and value == 0):
                raise InvalidParameterError(f"--{name.replace('_', '-')} must be a finite number "
                                            f"{'> 0' if name == 'lr' else '>= 0'}, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2 ** 63:
            raise InvalidParameterError(f"--seed must be a whole number in [0, 2^63), got {self.seed!r}")

    def as_dict(self) -> dict:
        return asdict(self)


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of (N, C, *spatial) images; std floored at 1e-3 (constant channels)."""
    flat = images.transpose(0, 1).reshape(images.shape[1], -1).double()
    return flat.mean(1).tolist(), flat.std(1).clamp_min(1e-3).tolist()


def augment_batch(x: torch.Tensor, *, hflip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crop after zero padding by ``side // 10`` pixels, and a random horizontal flip.

    Works for (N, C, H, W) and (N, C, D, H, W); the flip is along the last (width) axis.
    """
    spatial = x.shape[2:]
    pad = max(1, min(spatial) // 10)
    padded = F.pad(x, (pad, pad) * len(spatial))
    offsets = torch.randint(0, 2 * pad + 1, (len(x), len(spatial)), generator=generator)
    out = torch.empty_like(x)
    for i, off in enumerate(offsets.tolist()):
        window = [slice(o, o + s) for o, s in zip(off, spatial, strict=True)]
        out[i] = padded[i][(slice(None), *window)]
    if hflip:
        flip = torch.rand(len(x), generator=generator) < 0.5
        out[flip] = out[flip].flip(-1)
    return out


def accuracy(model: torch.nn.Module, split: Split, *, batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model`` on ``split`` (model left on its device and in its mode)."""
    return float((predict(model, split.images, batch_size=batch_size) == split.labels).float().mean())


def predict(model: torch.nn.Module, images: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """(N,) predicted classes, computed in eval mode without gradients, returned on the CPU."""
    device = next(model.parameters()).device
    out = []
    with torch.no_grad(), eval_mode(model):
        for start in range(0, len(images), batch_size):
            out.append(model(images[start:start + batch_size].to(device)).argmax(1).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def train_classifier(dataset: ImageDataset, arch: str, config: TrainConfig, *, device: torch.device,
                     quiet: bool = False, build: Callable[[], torch.nn.Module] | None = None
                     ) -> tuple[torch.nn.Module, dict]:
    """Train ``arch`` on ``dataset.train``; returns the model (eval mode) and a summary dict.
    ``build`` makes the untrained model instead of the zoo (a user's model); it is called after
    the seed is set, so the initial weights follow ``config.seed`` too."""
    torch.manual_seed(config.seed)
    if build is None:
        mean, std = channel_stats(dataset.train.images)
        model = build_model(arch, dataset.image_shape, dataset.num_classes, mean, std).to(device)
    else:
        model = build().to(device)
    optimiser = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, nesterov=True,
                                weight_decay=config.weight_decay)
    n = len(dataset.train)
    steps_per_epoch = int(np.ceil(n / config.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.lr, epochs=config.epochs,
                                                   steps_per_epoch=steps_per_epoch, pct_start=0.15)
    generator = torch.Generator().manual_seed(config.seed)
    start = time.perf_counter()
    bar = tqdm(range(config.epochs), desc=f"train {arch} on {dataset.name}", disable=quiet)
    for epoch in bar:
        model.train()
        order = torch.randperm(n, generator=generator)
        total_loss = 0.0
        for first in range(0, n, config.batch_size):
            index = order[first:first + config.batch_size]
            x, y = dataset.train.images[index], dataset.train.labels[index]
            if config.augment:
                x = augment_batch(x, hflip=dataset.hflip, generator=generator)
            loss = F.cross_entropy(model(x.to(device)), y.to(device))
            if not torch.isfinite(loss):
                raise HfcbenchError(f"training {arch} on {dataset.name} diverged: the loss became {loss.item()} in "
                                    f"epoch {epoch + 1} (lr {config.lr}); lower --lr. Nothing was cached.")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total_loss += loss.item() * len(index)
        bar.set_postfix(loss=f"{total_loss / n:.4f}")
    model.eval()
    seconds = time.perf_counter() - start
    return model, {"train_seconds": seconds, "final_loss": total_loss / n}
