"""Tiny real image files written by the real libraries (Pillow, pydicom, nibabel), for the tests
of a user's folders. Each writer returns the path it wrote."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_png(path: Path, values: np.ndarray) -> Path:
    """``values`` (H, W) of uint8 or uint16 (a 16-bit grey PNG), or (H, W, 3) uint8 RGB."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values).save(path)
    return path


def write_float_tiff(path: Path, values: np.ndarray) -> Path:
    """``values`` (H, W) as a 32-bit float TIFF (mode F)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values.astype(np.float32), mode="F").save(path)
    return path


def write_dicom(path: Path, stored: np.ndarray, *, slope: float = 1.0, intercept: float = 0.0,
                window: tuple[float, float] | None = None) -> Path:
    """A CT slice: ``stored`` (H, W) uint16 values, rescale slope/intercept, and an optional
    (center, width) window."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = CTImageStorage, meta.MediaStorageSOPInstanceUID, "CT"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = np.ascontiguousarray(stored, dtype=np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_nifti(path: Path, volume: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """``volume`` (X, Y, Z) float32 with ``affine`` (4, 4; default identity) as .nii or .nii.gz."""
    import nibabel

    path.parent.mkdir(parents=True, exist_ok=True)
    nibabel.Nifti1Image(volume.astype(np.float32), np.eye(4) if affine is None else affine).to_filename(str(path))
    return path
