"""The in-memory form every dataset loader returns.

Images are float32 in [0, 1] with shape ``(N, C, H, W)`` (2-D) or ``(N, C, D, H, W)`` (3-D);
labels are int64 of shape ``(N,)``. Normalisation is left to the model's first layer, so an
attack budget of ``eps`` always means ``eps`` in pixel units (``1/256`` = one grey level).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import DataError


@dataclass(frozen=True)
class Split:
    """One split of a dataset: ``images`` (N, C, *spatial) float32, ``labels`` (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self):
        if self.images.dtype != torch.float32:
            raise DataError(f"images must be float32, got {self.images.dtype}")
        if self.images.ndim not in (4, 5):
            raise DataError(f"images must have shape (N, C, H, W) or (N, C, D, H, W), got {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.ndim != 1:
            raise DataError(f"labels must be int64 of shape (N,), got {self.labels.dtype} {tuple(self.labels.shape)}")
        if len(self.images) != len(self.labels):
            raise DataError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> Split:
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return Split(self.images[index], self.labels[index])


@dataclass(frozen=True)
class ImageDataset:
    """A classification dataset with its official splits.

    Attributes:
        name: the registry name it was loaded under.
        train, test: the classifier's training split and the test pool of the protocol.
        val: the official validation split where the source has one.
        class_names: one name per class; ``num_classes == len(class_names)``.
        hflip: whether a horizontal flip is a label-preserving augmentation.
        fingerprint: content hash of the source files and label mapping; part of every cache key.
        note: provenance remarks shown to the user (e.g. "a 1,017-image sample").
    """

    name: str
    train: Split
    test: Split
    class_names: tuple[str, ...]
    fingerprint: str
    val: Split | None = None
    hflip: bool = True
    note: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        """The whole dataset checked when it is built (by a loader, or by a caller handing it to
        ``Runner``): no split empty, one image shape for all, pixels finite and in [0, 1], labels
        among the classes, and at least two classes to train on."""
        splits = {"train": self.train, "test": self.test, **({"val": self.val} if self.val is not None else {})}
        shape = tuple(self.train.images.shape[1:])
        for split_name, split in splits.items():
            where = f"dataset {self.name!r}, {split_name} split"
            if len(split) == 0:
                raise DataError(f"{where} is empty")
            if tuple(split.images.shape[1:]) != shape:
                raise DataError(f"{where}: images of shape {tuple(split.images.shape[1:])} (channels first), but the "
                                f"train split's are {shape}; every split needs one shape and channel count")
            bad = ~torch.isfinite(split.images)
            if bad.any():
                raise DataError(f"{where}: {int(bad.sum())} pixel values are NaN or infinite (first in image "
                                f"{int(bad.flatten(1).any(1).nonzero()[0])})")
            low, high = float(split.images.min()), float(split.images.max())
            if low < 0 or high > 1:
                raise DataError(f"{where}: pixel values span [{low:.4g}, {high:.4g}]; images must be in [0, 1] "
                                "(normalisation belongs inside the model)")
            labels = split.labels
            if int(labels.min()) < 0 or int(labels.max()) >= len(self.class_names):
                raise DataError(f"{where}: labels span [{int(labels.min())}, {int(labels.max())}] but there are "
                                f"{len(self.class_names)} classes {list(self.class_names)}")
        if len(torch.unique(self.train.labels)) < 2:
            raise DataError(f"dataset {self.name!r}: the train split holds one class only; a classifier needs two")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """``(C, H, W)`` or ``(C, D, H, W)``."""
        return tuple(self.train.images.shape[1:])

    @property
    def spatial_dims(self) -> int:
        return len(self.image_shape) - 1


def to_float_images(array: np.ndarray, channels_last: bool) -> torch.Tensor:
    """uint8 ``(N, *spatial[, C])`` -> float32 ``(N, C, *spatial)`` in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(array)).float().div_(255.0)
    if channels_last:
        return x.movedim(-1, 1).contiguous()
    return x.unsqueeze(1)
