"""A generated, medical-like binary dataset that needs no files (tests and the offline demo).

Each 28x28 grey image is a textured background with a darker elliptical "organ"; class 1
("lesion") adds one to three synthesised lesions (:mod:`hfcbench.datasets.lesions`), class 0
("normal") adds none. The generator seed is fixed, so every load gives the same arrays.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from .base import ImageDataset, Split
from .lesions import add_lesions

SIDE = 28
N_TRAIN, N_TEST = 1200, 400
SEED = 20240501


def _background(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:SIDE, 0:SIDE] / (SIDE - 1) - 0.5
    texture = ndimage.gaussian_filter(rng.normal(size=(SIDE, SIDE)), rng.uniform(1.0, 2.0))
    body = ((yy / rng.uniform(0.35, 0.45)) ** 2 + (xx / rng.uniform(0.3, 0.42)) ** 2) <= 1.0
    image = 0.55 + 0.08 * texture / (texture.std() + 1e-8) - 0.25 * ndimage.gaussian_filter(body.astype(float), 1.0)
    return np.clip(image, 0.0, 1.0)[None]


def _make(n: int, rng: np.random.Generator) -> Split:
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    images = np.empty((n, 1, SIDE, SIDE), dtype=np.float32)
    for i, label in enumerate(labels):
        image = _background(rng)
        if label == 1:
            image, _ = add_lesions(image, int(rng.integers(1, 4)), "medium", rng)
        images[i] = image
    return Split(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))


class Synthetic:
    """Generated medical-like 28x28 images, normal vs lesion (no files needed)."""

    @staticmethod
    def load(name: str = "synthetic", data_dir=None, *, download: bool = True, quiet: bool = False) -> ImageDataset:
        rng = np.random.default_rng(SEED)
        train, test = _make(N_TRAIN, rng), _make(N_TEST, rng)
        return ImageDataset(name=name, train=train, test=test, class_names=("normal", "lesion"),
                            fingerprint=f"synthetic-{SEED}-{N_TRAIN}-{N_TEST}", note="generated, no files")
