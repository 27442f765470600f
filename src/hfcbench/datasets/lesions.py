"""Synthesised "lesions": randomly deformed, blurred ellipses (paper Sec. V-H, after Hu et al.).

Used twice: to draw the ``synthetic`` dataset's disease class, and to make the OOD images of the
anomaly-detection experiment (Table VI). All randomness comes from the ``rng`` argument.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# lesion radius as a fraction of the image side, per size name
LESION_SIZES = {"tiny": (0.03, 0.05), "small": (0.05, 0.08), "medium": (0.08, 0.13), "large": (0.13, 0.20)}


def lesion_mask(shape: tuple[int, int], size: str, rng: np.random.Generator) -> np.ndarray:
    """A soft mask in [0, 1] of shape (H, W) holding one deformed, blurred ellipse."""
    if size not in LESION_SIZES:
        raise ValueError(f"lesion size must be one of {sorted(LESION_SIZES)}, got {size!r}")
    h, w = shape
    low, high = LESION_SIZES[size]
    ry, rx = rng.uniform(low, high, size=2) * min(h, w)
    ry, rx = max(ry, 0.75), max(rx, 0.75)
    cy, cx = rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    # elastic deformation: a smooth random displacement field
    sigma = max(min(h, w) / 10.0, 1.0)
    dy = ndimage.gaussian_filter(rng.normal(size=shape), sigma) * 3.0 * sigma
    dx = ndimage.gaussian_filter(rng.normal(size=shape), sigma) * 3.0 * sigma
    y, x = yy + dy - cy, xx + dx - cx
    u = (y * np.cos(angle) + x * np.sin(angle)) / ry
    v = (-y * np.sin(angle) + x * np.cos(angle)) / rx
    mask = (u * u + v * v <= 1.0).astype(np.float64)
    mask = ndimage.gaussian_filter(mask, rng.uniform(0.5, 1.5))
    return np.clip(mask / max(mask.max(), 1e-12), 0.0, 1.0)


def add_lesions(image: np.ndarray, count: int, size: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Blend ``count`` textured lesions into ``image`` (C, H, W) in [0, 1].

    Returns ``(image_with_lesions, union_mask)``, the mask of shape (H, W).
    """
    out = image.astype(np.float64, copy=True)
    union = np.zeros(image.shape[1:], dtype=np.float64)
    for _ in range(count):
        mask = lesion_mask(image.shape[1:], size, rng)
        texture = ndimage.gaussian_filter(rng.normal(size=image.shape[1:]), 1.0)
        intensity = np.clip(rng.uniform(0.55, 0.95) + 0.15 * texture, 0.0, 1.0)
        out = out * (1.0 - mask) + mask * intensity
        union = np.maximum(union, mask)
    return np.clip(out, 0.0, 1.0).astype(image.dtype), union
