"""Reading one image file of a user's folder into float32 ``(C, *spatial)`` values in [0, 1].

The rule that maps stored values to [0, 1] is fixed per kind of file, so an image is never
saturated or darkened by a guess:

* 8-bit PNG/JPEG/BMP/TIFF: ``value / 255``; 16-bit PNG/TIFF: ``value / 65535`` (by bit depth,
  never by the image's own range); an alpha channel is dropped; palette, CMYK, YCbCr, LAB and
  HSV images become RGB. A multi-page TIFF is refused: one image per file.
* Floating-point TIFF: clipped to ``window`` = (low, high) and scaled, ``(v - low) / (high - low)``;
  without a window, per image ``(v - min) / (max - min)`` (a constant image becomes 0).
* DICOM (``.dcm``; needs ``pip install "hfcbench[medical]"``): stored values times
  ``RescaleSlope`` plus ``RescaleIntercept`` (Hounsfield units for CT), then the window: ``window``
  if given, else the file's ``WindowCenter``/``WindowWidth``, else per-image min-max.
* NIfTI volumes (``.nii``, ``.nii.gz``; the same extra): reoriented to the closest canonical
  (RAS+) axes, so that every volume has one orientation whatever its affine, then scaled as float
  data (window or min-max). A volume is ``(1, D, H, W)``.

A file with NaN or infinite values, or one the library cannot read, raises :class:`DataError`
naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError

PICTURES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
DICOM = {".dcm"}
NIFTI = {".nii", ".nii.gz"}
MEDICAL_EXTRA = 'pip install "hfcbench[medical]"'
COLOUR_MODES = ("CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa")  # Pillow modes read as RGB


def suffix(path: Path) -> str:
    """``.nii.gz`` for compressed NIfTI, else the lower-case extension."""
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def readable(path: Path) -> bool:
    return suffix(path) in PICTURES | DICOM | NIFTI


def read_image(path: Path, window: tuple[float, float] | None = None) -> np.ndarray:
    """``path`` as float32 ``(C, H, W)`` (pictures, DICOM) or ``(1, D, H, W)`` (NIfTI) in [0, 1]."""
    kind = suffix(path)
    try:
        if kind in DICOM:
            values = _read_dicom(path, window)
        elif kind in NIFTI:
            values = _read_nifti(path, window)
        else:
            values = _read_picture(path, window)
    except DataError:
        raise
    except Exception as exc:  # a truncated or foreign file: name it, whatever the library raised
        raise DataError(f"cannot read {path} ({type(exc).__name__}: {exc}); remove or replace it") from None
    return values.astype(np.float32)


def _finite(values: np.ndarray, path: Path) -> np.ndarray:
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{path} holds {int(bad.sum())} NaN or infinite pixel values; fix or remove the file")
    return values


def scale_float(values: np.ndarray, path: Path, window: tuple[float, float] | None) -> np.ndarray:
    """Float data to [0, 1]: clipped to ``window`` and scaled, else per-image min-max."""
    values = _finite(np.asarray(values, dtype=np.float64), path)
    low, high = window if window is not None else (float(values.min()), float(values.max()))
    if high <= low:
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _read_picture(path: Path, window) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as opened:
        pages = getattr(opened, "n_frames", 1)
        if pages > 1 and opened.format == "TIFF":  # a JPEG with a gain map opens as 2 frames: its first is read
            raise DataError(f"{path} holds {pages} pages (a multi-page TIFF); give one image per file, or a volume as "
                            "NIfTI (.nii, .nii.gz)")
        opened.load()
        img: Image.Image = opened
        if img.mode in COLOUR_MODES:  # CMYK (print), YCbCr (some JPEGs), LAB, HSV: to RGB, as palettes are
            img = img.convert("RGB")
        if img.mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        if img.mode in ("LA", "RGBA", "PA"):
            img = img.convert("L" if img.mode == "LA" else "RGB")
        if img.mode == "1":
            img = img.convert("L")
        values = np.asarray(img)
        mode = img.mode
    if values.dtype == np.uint8:
        scaled = values / 255.0
    elif values.dtype.kind in "ui" and (mode.startswith("I;16") or values.max(initial=0) <= 65535):
        if values.min(initial=0) < 0:
            raise DataError(f"{path}: negative values in an integer image (mode {mode}); store it unsigned")
        scaled = values / 65535.0  # a 16-bit image: by bit depth, not by its own range
    elif values.dtype.kind == "f":
        scaled = scale_float(values, path, window)
    else:
        raise DataError(f"{path}: pixels of {values.dtype} (mode {mode}) are not 8-bit, 16-bit or float")
    scaled = _finite(np.asarray(scaled, dtype=np.float64), path)
    return scaled[None] if scaled.ndim == 2 else scaled.transpose(2, 0, 1)


def _medical(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise DataError(f"reading {'DICOM' if module == 'pydicom' else 'NIfTI'} files needs the medical extra: "
                        f"{MEDICAL_EXTRA}") from None


def _read_dicom(path: Path, window) -> np.ndarray:
    pydicom = _medical("pydicom")
    ds = pydicom.dcmread(str(path))
    stored = ds.pixel_array.astype(np.float64)
    values = stored * float(getattr(ds, "RescaleSlope", 1) or 1) + float(getattr(ds, "RescaleIntercept", 0) or 0)
    if window is None and "WindowCenter" in ds and "WindowWidth" in ds:
        center, width = (float(np.atleast_1d(v)[0]) for v in (ds.WindowCenter, ds.WindowWidth))
        window = (center - width / 2, center + width / 2)
    scaled = scale_float(values, path, window)
    if scaled.ndim == 3 and getattr(ds, "SamplesPerPixel", 1) == 3:
        return scaled.transpose(2, 0, 1)
    if scaled.ndim != 2:
        raise DataError(f"{path}: a DICOM of shape {scaled.shape}; give one 2-D image per file (or NIfTI for volumes)")
    return scaled[None]


def _read_nifti(path: Path, window) -> np.ndarray:
    nibabel = _medical("nibabel")
    image = nibabel.as_closest_canonical(nibabel.load(str(path)))
    values = np.asarray(image.get_fdata(dtype=np.float64))
    if values.ndim == 4 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim != 3:
        raise DataError(f"{path}: a NIfTI image of shape {values.shape}; give one 3-D volume per file")
    return scale_float(values, path, window)[None]
