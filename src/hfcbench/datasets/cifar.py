"""CIFAR-10 (Krizhevsky 2009), the natural-image comparison of the paper (Sec. V-F, Table V).

Two forms are accepted in the data directory, first match wins:

* the official ``cifar-10-python.tar.gz`` (50,000 train / 10,000 test images; downloaded from
  its official address with the MD5 checked when nothing is present);
* ``cifar10_test_first1017.npz``: a **sample**, the first 1,017 images of the official test
  batch. It has no training split, so it is split 80% / 20% with seed 0, stratified, like the
  paper splits its medical sets. Results on it describe that sample, not CIFAR-10 as a whole.
"""

from __future__ import annotations

import pickle
import tarfile
import zipfile

import numpy as np
import torch

from ..errors import DataError
from .base import ImageDataset, Split, to_float_images
from .splits import stratified_split
from .storage import RemoteFile, fetch, resolve_data_dir

OFFICIAL = RemoteFile("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                      "c58f30108f718f92721af3b95e74349a")
SAMPLE = RemoteFile("cifar10_test_first1017.npz", OFFICIAL.url, "b4909d4461bd7df1fcbfd0a8ba052526")
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _read_batches(path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    try:
        with tarfile.open(path, "r:gz") as tar:
            def batch(member):
                # the official batches are pickles; this file's MD5 was checked before reading
                handle = tar.extractfile(f"cifar-10-batches-py/{member}")
                if handle is None:
                    raise DataError(f"{path}: cifar-10-batches-py/{member} is not a file in the archive")
                data = pickle.load(handle, encoding="bytes")
                images = np.asarray(data[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
                return images, np.asarray(data[b"labels"], dtype=np.int64)

            parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
            test = batch("test_batch")
    except (tarfile.TarError, KeyError, pickle.UnpicklingError, EOFError) as exc:
        raise DataError(f"{path} is not the official CIFAR-10 python archive ({exc})") from exc
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return {"train": train, "test": test}


def _read_sample(path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"].astype(np.int64)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise DataError(f"{path} is not the CIFAR-10 sample file ({exc})") from exc
    if images.dtype != np.uint8 or images.shape[1:] != (32, 32, 3) or len(images) != len(labels):
        raise DataError(f"{path}: expected uint8 images (N, 32, 32, 3) and N labels, got {images.shape}")
    train_idx, test_idx = stratified_split(labels, 0.8, seed=0)
    return {"train": (images[train_idx], labels[train_idx]), "test": (images[test_idx], labels[test_idx])}


class CIFAR10:
    """CIFAR-10 natural images 32x32 RGB, 10 classes (official archive, or the 1,017-image test sample)."""

    @staticmethod
    def load(name: str, data_dir=None, *, download: bool = True, quiet: bool = False) -> ImageDataset:
        directory = resolve_data_dir(data_dir)
        if not (directory / OFFICIAL.filename).exists() and (directory / SAMPLE.filename).exists():
            arrays, remote = _read_sample(fetch(SAMPLE, data_dir, download_missing=False)), SAMPLE
            note = ("CIFAR-10 SAMPLE: the first 1,017 official test images, split 80/20 (seed 0) into "
                    "train/test; not the full CIFAR-10")
        else:
            arrays = _read_batches(fetch(OFFICIAL, data_dir, download_missing=download, quiet=quiet))
            remote, note = OFFICIAL, "CIFAR-10, official train/test splits"
        splits = {k: Split(to_float_images(x, channels_last=True), torch.from_numpy(y)) for k, (x, y) in arrays.items()}
        return ImageDataset(name=name, train=splits["train"], test=splits["test"], class_names=CLASSES,
                            fingerprint=f"{remote.md5}:{name}", note=note)
