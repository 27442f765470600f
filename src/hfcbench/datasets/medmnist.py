"""MedMNIST ``.npz`` files (MedMNIST v2 / MedMNIST+, Yang et al., Sci. Data 2023), 2-D and 3-D.

Each file holds ``{train,val,test}_{images,labels}``: images uint8 ``(N, H, W)`` (grey),
``(N, H, W, 3)`` (RGB) or ``(N, D, H, W)`` (3-D volumes), labels uint8 ``(N, 1)``. Official
addresses and MD5s are those of the ``medmnist`` package's ``info.py`` (Zenodo record 10519652).

Stand-ins for the paper's data (Sec. V-A): ``pneumoniamnist`` for the Kaggle chest X-ray set
(same Kermany et al. source images, at 28x28); ``retinamnist`` for the fundus DR task, made
binary as the paper does (grade 0 = no DR, grades 1-4 = DR; DeepDRiD images, not APTOS);
``adrenalmnist3d`` for the 3-D CT set (binary shape masks from abdominal CT, not brain CT).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DataError
from .base import ImageDataset, Split, to_float_images
from .storage import RemoteFile, fetch

ZENODO = "https://zenodo.org/records/10519652/files/{}?download=1"
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class MedMNISTSource:
    """One MedMNIST file and how its labels map to the task's classes."""

    filename: str
    md5: str
    class_names: tuple[str, ...]
    description: str
    spatial_dims: int = 2
    raw_classes: int | None = None  # classes in the file when a label map merges them
    label_map: Callable[[np.ndarray], np.ndarray] | None = None
    hflip: bool = True

    @property
    def remote(self) -> RemoteFile:
        return RemoteFile(self.filename, ZENODO.format(self.filename), self.md5)

    def load(self, name: str, data_dir=None, *, download: bool = True, quiet: bool = False) -> ImageDataset:
        path = fetch(self.remote, data_dir, download_missing=download, quiet=quiet)
        arrays = read_medmnist_npz(path, self.spatial_dims, self.raw_classes or len(self.class_names))
        splits = {}
        for split, (images, labels) in arrays.items():
            if self.label_map is not None:
                labels = self.label_map(labels)
            has_channel_axis = images.ndim == 2 + self.spatial_dims  # RGB (N, H, W, 3)
            splits[split] = Split(to_float_images(images, channels_last=has_channel_axis), torch.from_numpy(labels))
        return ImageDataset(
            name=name, train=splits["train"], val=splits["val"], test=splits["test"],
            class_names=self.class_names, fingerprint=f"{self.md5}:{name}", hflip=self.hflip,
            note=self.description,
        )


def read_medmnist_npz(path, spatial_dims: int, num_classes: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read and check the six arrays of a MedMNIST file.

    Returns ``{split: (images uint8, labels (N,) int64)}``.

    Raises:
        DataError: the file is not a readable npz, or an array is missing or of the wrong form.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            contents = {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npz file ({exc}); delete it and fetch it again") from exc
    out = {}
    for split in SPLITS:
        for key in (f"{split}_images", f"{split}_labels"):
            if key not in contents:
                raise DataError(f"{path} lacks the array {key!r} (found {sorted(contents)}): not a MedMNIST file")
        images, labels = contents[f"{split}_images"], contents[f"{split}_labels"]
        grey_ndim = 1 + spatial_dims
        rgb = spatial_dims == 2 and images.ndim == 4 and images.shape[-1] == 3
        if images.dtype != np.uint8 or not (images.ndim == grey_ndim or rgb):
            raise DataError(
                f"{path}: {split}_images should be uint8 with {grey_ndim} dims (or RGB), "
                f"got {images.dtype} {images.shape}"
            )
        if len(labels) == 0 or len(images) == 0:
            raise DataError(f"{path}: the {split} split is empty")
        labels = labels.reshape(len(labels), -1)
        if labels.shape[1] != 1 or len(labels) != len(images):
            raise DataError(f"{path}: {split}_labels has shape {labels.shape}, expected ({len(images)}, 1)")
        if not np.issubdtype(labels.dtype, np.number) or not np.all(np.isfinite(labels)) \
                or not np.all(labels == np.round(labels)):
            examples = labels[~(labels == np.round(labels))][:3].ravel().tolist() or labels[:3].ravel().tolist()
            raise DataError(f"{path}: {split}_labels must be whole class numbers, got values such as {examples}")
        labels = labels[:, 0].astype(np.int64)
        if labels.min(initial=0) < 0 or labels.max(initial=0) >= num_classes:
            raise DataError(f"{path}: {split}_labels outside [0, {num_classes - 1}]")
        out[split] = (images, labels)
    return out


def _dr_binary(labels: np.ndarray) -> np.ndarray:
    """Grade 0 (no DR) -> 0; grades 1-4 (DR) -> 1, as in the paper's fundoscopy task."""
    return (labels > 0).astype(np.int64)


pneumoniamnist = MedMNISTSource(
    "pneumoniamnist.npz", "28209eda62fecd6e6a2d98b1501bb15f", ("normal", "pneumonia"),
    "Chest X-ray 28x28, normal vs pneumonia (PneumoniaMNIST; Kermany et al. 2018)",
)
retinamnist = MedMNISTSource(
    "retinamnist.npz", "bd4c0672f1bba3e3a89f0e4e876791e4", ("no DR", "DR"),
    "Fundus 28x28 RGB, no DR (grade 0) vs DR (grades 1-4) (RetinaMNIST; DeepDRiD)",
    raw_classes=5, label_map=_dr_binary,
)
retinamnist5 = MedMNISTSource(
    "retinamnist.npz", "bd4c0672f1bba3e3a89f0e4e876791e4", ("grade 0", "grade 1", "grade 2", "grade 3", "grade 4"),
    "Fundus 28x28 RGB, the 5 DR grades (RetinaMNIST; DeepDRiD)",
)
breastmnist = MedMNISTSource(
    "breastmnist.npz", "750601b1f35ba3300ea97c75c52ff8f6", ("malignant", "normal or benign"),
    "Breast ultrasound 28x28, malignant vs normal/benign (BreastMNIST)",
)
adrenalmnist3d = MedMNISTSource(
    "adrenalmnist3d.npz", "bbd3c5a5576322bc4cdfea780653b1ce", ("normal", "hyperplasia"),
    "3-D adrenal shape masks 28^3 from abdominal CT, normal vs hyperplasia (AdrenalMNIST3D)", spatial_dims=3,
)
adrenalmnist3d_64 = MedMNISTSource(
    "adrenalmnist3d_64.npz", "17721accfe9fb005146a47d33bc54b2f", ("normal", "hyperplasia"),
    "3-D adrenal shape masks 64^3 from abdominal CT, normal vs hyperplasia (AdrenalMNIST3D, MedMNIST+)",
    spatial_dims=3,
)
