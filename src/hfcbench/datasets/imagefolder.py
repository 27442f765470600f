"""A user's own images: ``imagefolder:PATH`` with one sub-folder per class.

Every image is read with Pillow, converted to grey (``L``) unless some image is colour (then
all become ``RGB``), resized to ``size`` x ``size`` and scaled to [0, 1]. Classes are the
sub-folder names in sorted order. The images are split 80% train / 20% test, stratified,
seed 0 (the paper's Train/Test rule, Sec. V-A).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import ImageDataset, Split
from .splits import stratified_split

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def load_image_folder(root: str | Path, *, size: int = 64, name: str | None = None) -> ImageDataset:
    from PIL import Image, UnidentifiedImageError

    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"imagefolder: {root} is not a directory; expected one sub-folder of images per class")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = [(f, c) for c, cls in enumerate(classes) for f in sorted((root / cls).iterdir())
             if f.suffix.lower() in EXTENSIONS]
    if len(classes) < 2 or not files:
        raise DataError(f"imagefolder: {root} needs at least two class sub-folders holding images "
                        f"({', '.join(sorted(EXTENSIONS))}); found classes {classes} and {len(files)} images")
    digest = hashlib.sha256(f"size={size}".encode())
    pictures = []
    for path, _ in files:
        try:
            with Image.open(path) as img:
                img.load()
                pictures.append(img.copy())
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"imagefolder: cannot read {path} as an image ({exc}); remove or replace it") from exc
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    mode = "RGB" if any(p.mode not in ("L", "I", "I;16", "F", "1", "LA") for p in pictures) else "L"
    arrays = [np.asarray(p.convert(mode).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
              for p in pictures]
    images = np.stack(arrays)
    images = images[:, None] if mode == "L" else images.transpose(0, 3, 1, 2)
    labels = np.array([c for _, c in files], dtype=np.int64)
    if np.bincount(labels).min() < 2:
        raise DataError(f"imagefolder: every class needs at least 2 images to split train/test; counts "
                        f"{dict(zip(classes, np.bincount(labels).tolist(), strict=True))}")
    train_idx, test_idx = stratified_split(labels, 0.8, seed=0)
    x, y = torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)
    return ImageDataset(name=name or f"imagefolder:{root}", train=Split(x[train_idx], y[train_idx]),
                        test=Split(x[test_idx], y[test_idx]), class_names=tuple(classes),
                        fingerprint=f"imagefolder-{digest.hexdigest()}", note=f"user images from {root}")
