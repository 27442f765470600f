"""A dataset downsampled by average pooling (the 3-D robustness check of paper Sec. V-G, Fig. 9)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import torch.nn.functional as F

from ..errors import InvalidParameterError
from .base import ImageDataset, Split


def downsample(dataset: ImageDataset, factor: int) -> ImageDataset:
    """Every split average-pooled by ``factor`` along each spatial axis: ``(C, D, H, W)`` becomes
    ``(C, D/f, H/f, W/f)``, ``f**3`` times fewer input dimensions for a 3-D set."""
    if not isinstance(factor, int) or factor < 2 or min(dataset.image_shape[1:]) < 2 * factor:
        raise InvalidParameterError(f"downsample factor must be an int >= 2 that fits the image shape "
                                    f"{dataset.image_shape}, got {factor!r}")
    pool = F.avg_pool3d if dataset.spatial_dims == 3 else F.avg_pool2d

    def shrink(split: Split) -> Split:
        return Split(pool(split.images, factor), split.labels)

    fingerprint = hashlib.sha256(f"{dataset.fingerprint}/down{factor}".encode()).hexdigest()[:24]
    return replace(dataset, name=f"{dataset.name}-down{factor}", train=shrink(dataset.train),
                   test=shrink(dataset.test), val=None if dataset.val is None else shrink(dataset.val),
                   fingerprint=fingerprint,
                   note=f"{dataset.note} Average-pooled by {factor} per axis.".strip())
