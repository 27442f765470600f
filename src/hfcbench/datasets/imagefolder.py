"""A user's own images: ``imagefolder:PATH``, one sub-folder per class.

Files are read by :mod:`hfcbench.datasets.readers` (PNG, JPEG, BMP, TIFF of 8 or 16 bits or
float; DICOM; NIfTI volumes) into [0, 1] by a fixed rule per kind of file, then resized to
``size`` per spatial axis (bilinear for images, trilinear for volumes). Classes are the
sub-folder names in sorted order. Two layouts:

* ``PATH/train/<class>/...`` and ``PATH/test/<class>/...``: the user's own split, used as given;
* ``PATH/<class>/...``: split 80% train / 20% test, stratified, seed 0 (the paper's Train/Test
  rule, Sec. V-A); the dataset's note says which layout was read.

Refused with the file or folder named: a class folder without images (first, middle or last),
a file of an unsupported type, a file that cannot be read or holds NaN/inf, and a folder mixing
2-D images with 3-D volumes, an entry that is not a regular file (a broken link), a ``train/``
folder without ``test/`` (or the reverse), an empty path. Grey and colour images together are all
made RGB (grey repeated), and an alpha channel is dropped. Hidden files (``.DS_Store``...) are
ignored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError
from .base import ImageDataset, Split
from .readers import DICOM, NIFTI, PICTURES, read_image, readable, suffix
from .splits import stratified_split

DEFAULT_SIZE = 64
SPLIT_FOLDERS = ("train", "test")


def parse_window(text: str | None) -> tuple[float, float] | None:
    """``"LOW,HIGH"`` (``--window``) -> (low, high) with low < high; None stays None."""
    if text is None:
        return None
    try:
        low, high = (float(part) for part in str(text).split(","))
    except ValueError:
        raise DataError(f"--window must be LOW,HIGH such as -1000,400, got {text!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise DataError(f"--window must be two finite numbers LOW < HIGH, got {text!r}")
    return low, high


def folder_of(root: str | Path) -> Path:
    """``root`` as a folder that exists, or a :class:`DataError` (an empty path is refused, not read
    as the current folder)."""
    if not str(root).strip():
        raise DataError("imagefolder: the path is empty; give imagefolder:PATH with the folder of class folders")
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DataError(f"imagefolder: {folder} is not a folder; expected one sub-folder of images per class")
    return folder


def _class_files(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """The sorted class names of ``folder`` and every (file, class index), refusing what cannot be read."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = []
    for index, cls in enumerate(classes):
        entries = sorted(p for p in (folder / cls).iterdir() if not p.name.startswith("."))
        odd = [p for p in entries if not p.is_file() and not p.is_dir()]
        if odd:
            what = "a broken or looping link" if odd[0].is_symlink() else "not a regular file"
            raise DataError(f"imagefolder: {odd[0]} is {what}; replace it with the image or remove it")
        unsupported = [p for p in entries if p.is_file() and not readable(p)]
        if unsupported:
            kinds = ", ".join(sorted(PICTURES | DICOM | NIFTI))
            raise DataError(f"imagefolder: {unsupported[0]} is not a supported image file ({kinds}); "
                            "move it out of the class folder")
        images = [p for p in entries if p.is_file()]
        if not images:
            raise DataError(f"imagefolder: the class folder {folder / cls} holds no images; remove it or add images")
        files += [(p, index) for p in images]
    return classes, files


def _resized(values: np.ndarray, size: int) -> np.ndarray:
    """(C, *spatial) -> (C, size, ...) by bilinear (2-D) or trilinear (3-D) interpolation."""
    x = torch.from_numpy(np.ascontiguousarray(values))[None]
    mode = "bilinear" if values.ndim == 3 else "trilinear"
    return F.interpolate(x, size=(size,) * (values.ndim - 1), mode=mode, align_corners=False)[0].numpy()


def _read_all(files: list[tuple[Path, int]], size: int, window, digest) -> np.ndarray:
    """(N, C, *spatial) float32 in [0, 1] of every file, resized; grey made RGB if any is colour."""
    arrays, first = [], None
    for path, _ in files:
        values = read_image(path, window)
        if first is None:
            first = (path, values.ndim)
        elif values.ndim != first[1]:
            kinds = {3: "a 2-D image", 4: "a 3-D volume"}
            raise DataError(f"imagefolder: {path} is {kinds[values.ndim]} but {first[0]} is {kinds[first[1]]}; "
                            "give one kind per dataset")
        arrays.append(_resized(values, size))
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    if any(a.shape[0] == 3 for a in arrays):  # grey with colour: all RGB
        arrays = [np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a for a in arrays]
    return np.clip(np.stack(arrays), 0.0, 1.0).astype(np.float32)


def load_image_folder(root: str | Path, *, size: int | None = None, window: str | None = None,
                      name: str | None = None) -> ImageDataset:
    """The dataset in ``root`` (see the module docstring), images resized to ``size`` per axis."""
    size = DEFAULT_SIZE if size is None else size
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise DataError(f"--image-size must be a whole number >= 8, got {size!r}")
    bounds = parse_window(window)
    root = folder_of(root)
    digest = hashlib.sha256(f"size={size};window={bounds}".encode())
    given = [root / part for part in SPLIT_FOLDERS]
    if any(p.is_dir() for p in given) and not all(p.is_dir() for p in given):
        have, lack = (p.name for p in sorted(given, key=lambda p: not p.is_dir()))
        raise DataError(f"imagefolder: {root} has a {have}/ folder but no {lack}/ folder; give both (your own split) "
                        f"or neither (class folders directly in it, split 80/20; a class named {have} must be renamed)")
    if all(p.is_dir() for p in given):
        (classes, train_files), (test_classes, test_files) = (_class_files(p) for p in given)
        if test_classes != classes:
            raise DataError(f"imagefolder: {root}/train has classes {classes} but {root}/test has {test_classes}")
        parts = {"train": train_files, "test": test_files}
        how = "its own train/ and test/ folders"
    else:
        classes, files = _class_files(root)
        classes_of = np.array([c for _, c in files], dtype=np.int64)
        counts = np.bincount(classes_of, minlength=len(classes))
        if len(classes) < 2 or counts.min() < 3:  # 3 images: 2 to train on, 1 to test (80/20 rounded)
            raise DataError(f"imagefolder: {root} needs at least two class folders of at least 3 images each for "
                            f"its 80/20 split (or train/ and test/ folders); found "
                            f"{dict(zip(classes, counts.tolist(), strict=True))}")
        first, second = stratified_split(classes_of, 0.8, seed=0)
        parts = {"train": [files[i] for i in first], "test": [files[i] for i in second]}
        how = "an 80/20 stratified split (seed 0)"
    every = parts["train"] + parts["test"]
    images = torch.from_numpy(_read_all(every, size, bounds, digest))
    labels = torch.tensor([c for _, c in every], dtype=torch.long)
    n_train = len(parts["train"])
    splits = {"train": Split(images[:n_train], labels[:n_train]), "test": Split(images[n_train:], labels[n_train:])}
    kinds = sorted({suffix(p) for p, _ in parts["train"]})
    return ImageDataset(name=name or f"imagefolder:{root}", train=splits["train"], test=splits["test"],
                        class_names=tuple(classes), fingerprint=f"imagefolder-{digest.hexdigest()}",
                        note=f"user images from {root} ({', '.join(kinds)}; {how}; resized to {size} per axis)")
