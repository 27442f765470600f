"""Datasets: real MedMNIST files, CIFAR-10, a user's image folders, and generated data.

``load_dataset(name)`` is the one entry point; ``DATASETS`` lists the registered sources. A
source is any object with ``load(name, data_dir=None, *, download=True, quiet=False)`` that
returns an :class:`ImageDataset`. ``imagefolder:PATH`` loads a user's folder.
"""

from __future__ import annotations

from ..errors import InvalidParameterError
from ..registry import Registry
from .base import ImageDataset, Split

DATASETS: Registry = Registry("datasets", {
    "pneumoniamnist": "hfcbench.datasets.medmnist:pneumoniamnist",
    "retinamnist": "hfcbench.datasets.medmnist:retinamnist",
    "retinamnist5": "hfcbench.datasets.medmnist:retinamnist5",
    "breastmnist": "hfcbench.datasets.medmnist:breastmnist",
    "adrenalmnist3d": "hfcbench.datasets.medmnist:adrenalmnist3d",
    "adrenalmnist3d_64": "hfcbench.datasets.medmnist:adrenalmnist3d_64",
    "cifar10": "hfcbench.datasets.cifar:CIFAR10",
    "synthetic": "hfcbench.datasets.synthetic:Synthetic",
})

IMAGEFOLDER_PREFIX = "imagefolder:"


def load_dataset(name: str, data_dir=None, *, download: bool = True, quiet: bool = False,
                 image_size: int | None = None, window: str | None = None) -> ImageDataset:
    """Load a registered dataset, or ``imagefolder:PATH``: its images resized to ``image_size`` per
    axis (default 64) and float data scaled by ``window`` ``"LOW,HIGH"`` (see ``imagefolder``)."""
    if name.startswith(IMAGEFOLDER_PREFIX):
        from .imagefolder import load_image_folder

        return load_image_folder(name[len(IMAGEFOLDER_PREFIX):], size=image_size, window=window, name=name)
    key = name.strip().lower()
    for flag, value in (("--image-size", image_size), ("--window", window)):
        if value is not None:
            raise InvalidParameterError(f"{flag} applies to imagefolder:PATH datasets; {key} has fixed images "
                                        "(its 64-pixel versions are separate names, e.g. adrenalmnist3d_64)")
    return DATASETS.get(key).load(key, data_dir, download=download, quiet=quiet)


__all__ = ["DATASETS", "ImageDataset", "Split", "load_dataset"]
