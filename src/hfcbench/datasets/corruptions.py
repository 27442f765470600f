"""Benign, modality-specific image corruptions from MedMNIST-C, five severities each.

The families and their per-severity parameters are those of MedMNIST-C (F. Di Salvo, S. Doerrich,
C. Ledig, "MedMNIST-C: Comprehensive benchmark and improved classifier robustness by simulating
realistic image corruptions", arXiv:2406.17536, 2024), read from ``medmnistc/corruptions/registry.py``
of github.com/francescodisalvo05/medmnistc-api at commit 8acfd27 (line numbers below refer to it).
MedMNIST-C adapts ImageNet-C (D. Hendrycks, T. Dietterich, "Benchmarking neural network robustness to
common corruptions and perturbations", ICLR 2019): its noise, blur, pixelate and JPEG families follow
ImageNet-C's definitions. The operations are re-implemented here with numpy, scipy and Pillow.

Faithful to MedMNIST-C:

* each dataset has its own families and parameters (``MEDMNISTC_PARAMS``); a family asked for on a
  dataset without its own entry uses the family's default parameters (``FAMILIES``), which are
  MedMNIST-C's OrganAMNIST (abdominal CT) entry, or its DermaMNIST entry for the three blurs OrganAMNIST
  lacks;
* grey images are corrupted as three identical RGB channels and turned back into one channel with the
  ITU-R 601-2 luma weights (0.299, 0.587, 0.114), as MedMNIST-C does (``dataset_manager.py`` l.118-124):
  noise is therefore drawn per RGB channel, and on grey images its standard deviation is 0.669 times
  the published one.

Different from MedMNIST-C, on purpose:

* Resolution. MedMNIST-C corrupts the 224-pixel MedMNIST+ images; hfcbench's are 28 or 64 pixels. Every
  parameter keeps its meaning relative to the image: intensities (noise, brightness, contrast, gamma,
  JPEG quality) are per pixel as published; ratios (pixelate factor, zoom factors) are used as published
  relative to the image's own size; lengths in pixels (blur sigmas, kernel sizes and radii, motion
  length) are scaled by ``min(H, W) / 224`` so a blur covers the same fraction of the image. At 28
  pixels this makes MedMNIST-C's mild Gaussian and defocus blurs sub-pixel: PneumoniaMNIST's
  ``gaussian_blur`` leaves a 28-pixel image unchanged, which is what its 224-pixel blur amounts to
  after MedMNIST's 8-fold downsampling.
* Values stay float in [0, 1] (MedMNIST-C stores 8-bit images); only JPEG quantises to 8 bits.
* Randomness. The random draws of an image depend on (seed, family, the image's index in the data set)
  and not on the severity, so the five severities of an image share their draws (the same noise
  pattern scaled, nested impulse-noise masks, the same motion direction) and differ only by their
  parameter; an image's result does not depend on the other images of its batch.
* Volumes ``(N, C, D, H, W)``: point-wise families act on the whole volume (the contrast mean is the
  volume's), blurs and pixelate act in-plane on every slice; ``jpeg_compression`` and ``zoom_blur``
  model a 2-D photograph (a picture codec, a camera zoom) and refuse volumes.

Not implemented: MedMNIST-C's ``saturate`` (RGB pathology, blood and dermatoscopy sets only), and its
microscopy/dermatoscopy artefacts ``stain_deposit``, ``bubble``, ``black_corner`` and ``characters``
(``corruptions/microscopy.py``; the first draws from ink masks shipped as ``assets/inks.npz``, the last
draws text with OpenCV fonts). No dataset hfcbench ships uses them.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from ..errors import InvalidParameterError

REFERENCE_SIZE = 224
"""Image size (pixels) MedMNIST-C's lengths are given for: the MedMNIST+ 224 x 224 images."""

LUMA = np.array([0.299, 0.587, 0.114])
"""ITU-R 601-2 luma weights: Pillow's RGB -> L conversion and the mean of its contrast enhancer."""

SEVERITIES = range(1, 6)


@dataclass(frozen=True)
class Family:
    """A corruption family: ``apply(image, parameter, rng)`` on one RGB image ``(3, H, W)`` or volume
    ``(3, D, H, W)`` (float, in [0, 1]), and its default parameter for severities 1..5."""

    apply: Callable[[np.ndarray, Any, np.random.Generator], np.ndarray]
    params: tuple[Any, Any, Any, Any, Any]
    planar: bool = False  # True: 2-D images only


def _length_scale(x: np.ndarray) -> float:
    """Factor turning a length in pixels of a 224-pixel image into pixels of ``x``."""
    return min(x.shape[-2:]) / REFERENCE_SIZE


def _gaussian_weights(offsets: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised weights ``exp(-offset**2 / (2 sigma**2))``."""
    weights = np.exp(-(offsets.astype(float) ** 2) / (2 * sigma**2))
    return weights / weights.sum()


def _gaussian_noise(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise of standard deviation ``sigma`` (MedMNIST-C ``GaussianNoise``)."""
    return x + sigma * rng.standard_normal(x.shape)


def _speckle_noise(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative noise ``x + x * N(0, sigma**2)`` (MedMNIST-C ``SpeckleNoise``)."""
    return x + x * sigma * rng.standard_normal(x.shape)


def _impulse_noise(x: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper: each value becomes 0 or 1 (even odds) with probability ``amount``
    (MedMNIST-C ``ImpulseNoise``: scikit-image ``random_noise(mode="s&p")``)."""
    flipped = rng.random(x.shape) < amount
    salted = rng.random(x.shape) < 0.5
    return np.where(flipped, salted.astype(float), x)


def _shot_noise(x: np.ndarray, photons: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson noise ``Poisson(x * photons) / photons``; fewer photons, more noise (MedMNIST-C ``ShotNoise``)."""
    return rng.poisson(x * photons) / photons


def _brightness(x: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """``factor * x``: Pillow's ``ImageEnhance.Brightness`` (MedMNIST-C ``Brightness``)."""
    return factor * x


def _contrast(x: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """``m + factor * (x - m)``, ``m`` the mean luma of the image (or volume): Pillow's
    ``ImageEnhance.Contrast`` (MedMNIST-C ``Contrast``) without its 8-bit rounding of ``m``."""
    mean = float(LUMA @ x.reshape(3, -1).mean(axis=1))
    return mean + factor * (x - mean)


def _gamma(x: np.ndarray, gamma: float, rng: np.random.Generator) -> np.ndarray:
    """``x ** gamma`` (MedMNIST-C ``GammaCorrection``: torchvision ``adjust_gamma`` with gain 1)."""
    return x**gamma


def _jpeg(x: np.ndarray, quality: int, rng: np.random.Generator) -> np.ndarray:
    """Pillow JPEG round trip of the 8-bit RGB image at ``quality`` (MedMNIST-C ``JPEGCompression``)."""
    buffer = io.BytesIO()
    Image.fromarray(np.round(x.transpose(1, 2, 0) * 255).astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=float).transpose(2, 0, 1) / 255


def _pixelate(x: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Box-resize every plane to ``int(factor * size)`` pixels (at least 1) per side and box-resize it back
    (MedMNIST-C ``Pixelate``); ``factor`` is relative to the image's own size."""
    height, width = x.shape[-2:]
    small = (max(1, int(width * factor)), max(1, int(height * factor)))
    planes = [Image.fromarray(plane.astype(np.float32)).resize(small, Image.Resampling.BOX)
              .resize((width, height), Image.Resampling.BOX) for plane in x.reshape(-1, height, width)]
    return np.stack([np.asarray(plane, dtype=float) for plane in planes]).reshape(x.shape)


def _gaussian_blur(x: np.ndarray, kernel_size: int, rng: np.random.Generator) -> np.ndarray:
    """In-plane Gaussian blur as torchvision's ``gaussian_blur(kernel_size)`` (MedMNIST-C ``GaussianBlur``):
    sigma ``0.15 * kernel_size + 0.35`` and half-width ``(kernel_size - 1) / 2`` at 224 pixels, both
    scaled to the image (half-width rounded to whole pixels), mirrored borders."""
    scale = _length_scale(x)
    half = int((kernel_size - 1) / 2 * scale + 0.5)
    weights = _gaussian_weights(np.arange(-half, half + 1), (0.15 * kernel_size + 0.35) * scale)
    for axis in (-2, -1):
        x = ndimage.correlate1d(x, weights, axis=axis, mode="mirror")
    return x


def _defocus_blur(x: np.ndarray, param: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """In-plane defocus: mean over a disk of ``radius`` (pixels with ``dx**2 + dy**2 <= radius**2``),
    the disk kernel softened by a 3 x 3 Gaussian of ``alias_blur`` (ImageNet-C / MedMNIST-C
    ``DefocusBlur``; ``param = (radius, alias_blur)`` at 224 pixels, both scaled), mirrored borders."""
    radius, alias_blur = (value * _length_scale(x) for value in param)
    half = int(np.ceil(radius)) + 1  # one pixel of margin for the 3 x 3 softening
    offsets = np.arange(-half, half + 1)
    disk = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2).astype(float)
    kernel = disk / disk.sum()
    soften = _gaussian_weights(np.arange(-1, 2), alias_blur)
    for axis in (0, 1):
        kernel = ndimage.correlate1d(kernel, soften, axis=axis, mode="constant")
    return ndimage.correlate(x, kernel.reshape((1,) * (x.ndim - 2) + kernel.shape), mode="mirror")


def _motion_blur(x: np.ndarray, param: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """In-plane motion blur along a direction drawn uniformly in (-45, 45) degrees (MedMNIST-C
    ``MotionBlur``, ImageMagick's ``MotionBlurImage(radius, sigma, angle)``; ``param = (radius, sigma)``
    at 224 pixels, both scaled); see :func:`motion_blur`."""
    radius, sigma = (value * _length_scale(x) for value in param)
    return motion_blur(x, radius, sigma, rng.uniform(-45, 45))


def motion_blur(x: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick's one-sided motion blur of the last two axes of ``x``: pixel ``(row, col)`` becomes
    ``sum_i w_i x[row + round(i sin a), col + round(i cos a)]`` for ``i = 0 .. 2 ceil(radius)``,
    ``w_i`` proportional to ``exp(-i**2 / (2 sigma**2))``, ``a = angle`` in degrees (0: along +col),
    borders repeated."""
    steps = np.arange(2 * int(np.ceil(radius)) + 1)
    theta = np.deg2rad(angle)
    rows = np.ceil(steps * np.sin(theta) - 0.5).astype(int)
    cols = np.ceil(steps * np.cos(theta) - 0.5).astype(int)
    margin = int(steps[-1])
    height, width = x.shape[-2:]
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(margin, margin)] * 2, mode="edge")
    shifted = np.stack([padded[..., margin + row:margin + row + height, margin + col:margin + col + width]
                        for row, col in zip(rows, cols, strict=True)])
    return np.tensordot(_gaussian_weights(steps, sigma), shifted, axes=1)


def _zoom_blur(x: np.ndarray, param: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Mean of the image and its bilinear zooms about the centre by ``np.arange(1, stop, step)``
    (ImageNet-C / MedMNIST-C ``ZoomBlur``; ``param = (stop, step)``, factors relative, not scaled)."""
    centre = (np.array(x.shape[-2:]) - 1) / 2
    zoomed = [ndimage.affine_transform(x, np.array([1, 1 / factor, 1 / factor]),
                                       offset=np.concatenate([[0], centre * (1 - 1 / factor)]), order=1, mode="nearest")
              for factor in np.arange(1, *param)]
    return (x + np.sum(zoomed, axis=0)) / (len(zoomed) + 1)


# Defaults: MedMNIST-C's OrganAMNIST entry (registry.py l.146-160, abdominal CT; OrganC/OrganS are identical),
# and its DermaMNIST entry (l.42-64) for the blurs OrganAMNIST lacks.
FAMILIES: dict[str, Family] = {
    "pixelate": Family(_pixelate, (0.7, 0.6, 0.5, 0.40, 0.35)),  # l.147
    "jpeg_compression": Family(_jpeg, (50, 30, 15, 10, 7), planar=True),  # l.148
    "gaussian_noise": Family(_gaussian_noise, (0.04, 0.08, 0.12, 0.16, 0.20)),  # l.149
    "speckle_noise": Family(_speckle_noise, (0.05, 0.10, 0.20, 0.30, 0.40)),  # l.150
    "impulse_noise": Family(_impulse_noise, (0.01, 0.02, 0.03, 0.05, 0.08)),  # l.151
    "shot_noise": Family(_shot_noise, (200, 100, 50, 25, 15)),  # l.152
    "gaussian_blur": Family(_gaussian_blur, (11, 13, 15, 17, 21)),  # l.153
    "brightness_up": Family(_brightness, (1.2, 1.3, 1.4, 1.5, 1.6)),  # l.154
    "brightness_down": Family(_brightness, (0.8, 0.75, 0.7, 0.65, 0.60)),  # l.155
    "contrast_up": Family(_contrast, (1.3, 1.4, 1.6, 1.7, 1.8)),  # l.156
    "contrast_down": Family(_contrast, (0.8, 0.7, 0.6, 0.55, 0.5)),  # l.157
    "gamma_corr_up": Family(_gamma, (1.3, 1.4, 1.6, 1.8, 2.0)),  # l.158
    "gamma_corr_down": Family(_gamma, (0.9, 0.8, 0.7, 0.6, 0.4)),  # l.159
    "defocus_blur": Family(_defocus_blur, ((4, 0.1), (5, 0.2), (6, 0.3), (7, 0.4), (8, 0.5))),  # l.49
    "motion_blur": Family(_motion_blur, ((10, 5), (15, 5), (15, 8), (15, 12), (20, 15))),  # l.50
    "zoom_blur": Family(_zoom_blur, ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03)),
                        planar=True),  # l.51-57
}

# Where an entry lists six parameters (l.72, l.136), MedMNIST-C uses the first five (dataset_manager.py l.108).
_RETINA: dict[str, tuple[Any, ...]] = {  # registry.py l.67-76 (colour fundus photographs)
    "pixelate": (0.8, 0.60, 0.50, 0.40, 0.35),
    "jpeg_compression": (30, 25, 20, 10, 5),
    "gaussian_noise": (0.04, 0.08, 0.12, 0.16, 0.20),
    "speckle_noise": (0.10, 0.15, 0.20, 0.25, 0.30),
    "defocus_blur": ((4, 0.1), (5, 0.2), (6, 0.3), (7, 0.4), (8, 0.5)),
    "motion_blur": ((8, 5), (15, 5), (15, 8), (15, 12), (20, 15)),
    "brightness_down": (0.9, 0.8, 0.7, 0.6, 0.5),
    "contrast_down": (0.9, 0.8, 0.7, 0.6, 0.4),
}
MEDMNISTC_PARAMS: dict[str, dict[str, tuple[Any, ...]]] = {
    "pneumoniamnist": {  # registry.py l.129-143 (chest X-ray; MedMNIST-C has its own entry, not ChestMNIST's)
        "pixelate": (0.8, 0.7, 0.6, 0.5, 0.40),
        "jpeg_compression": (50, 30, 15, 10, 7),
        "gaussian_noise": (0.04, 0.05, 0.06, 0.07, 0.08),
        "speckle_noise": (0.05, 0.07, 0.10, 0.15, 0.20),
        "impulse_noise": (0.005, 0.01, 0.013, 0.017, 0.02),
        "shot_noise": (300, 200, 150, 100, 80),
        "gaussian_blur": (3, 5, 7, 9, 11),
        "brightness_up": (1.1, 1.2, 1.3, 1.4, 1.5),
        "brightness_down": (0.9, 0.8, 0.7, 0.6, 0.5),
        "contrast_up": (1.1, 1.2, 1.3, 1.4, 1.6),
        "contrast_down": (0.9, 0.8, 0.7, 0.6, 0.4),
        "gamma_corr_up": (1.1, 1.2, 1.3, 1.4, 1.6),
        "gamma_corr_down": (0.9, 0.8, 0.7, 0.6, 0.4),
    },
    "retinamnist": _RETINA,
    "retinamnist5": _RETINA,  # the same fundus images, five-grade labels
    "breastmnist": {  # registry.py l.101-109 (breast ultrasound)
        "pixelate": (0.30, 0.25, 0.20, 0.15, 0.10),
        "jpeg_compression": (50, 30, 15, 10, 7),
        "speckle_noise": (0.10, 0.15, 0.20, 0.25, 0.30),
        "motion_blur": ((5, 5), (9, 7), (9, 10), (13, 10), (17, 12)),
        "brightness_up": (1.4, 1.5, 1.6, 1.8, 2.0),
        "brightness_down": (0.55, 0.5, 0.45, 0.4, 0.3),
        "contrast_down": (0.9, 0.8, 0.7, 0.6, 0.4),
    },
}

MODALITY_FAMILIES: dict[str, tuple[str, ...]] = {name: tuple(table) for name, table in MEDMNISTC_PARAMS.items()}

GENERIC_FAMILIES: tuple[str, ...] = (
    "pixelate", "gaussian_noise", "speckle_noise", "impulse_noise", "shot_noise", "gaussian_blur",
    "brightness_up", "brightness_down", "contrast_up", "contrast_down", "gamma_corr_up", "gamma_corr_down",
)
"""Families for datasets without a MedMNIST-C entry: MedMNIST-C's OrganAMNIST (abdominal CT, the modality of
adrenalmnist3d) families less ``jpeg_compression``, so that they apply to 2-D images and volumes alike."""


def families_for(dataset: str) -> tuple[tuple[str, ...], str | None]:
    """The corruption families of ``dataset`` and a note: ``None`` for a MedMNIST-C dataset, else one line
    saying that the generic families are used."""
    key = dataset.strip().lower()
    if key in MODALITY_FAMILIES:
        return MODALITY_FAMILIES[key], None
    return GENERIC_FAMILIES, (f"{dataset} has no MedMNIST-C families; using the generic families: "
                              f"{', '.join(GENERIC_FAMILIES)}")


def check_families(names: Iterable[str]) -> list[str]:
    """The family names, stripped and lower-cased; an unknown one raises :class:`InvalidParameterError`."""
    checked = [str(name).strip().lower() for name in names]
    for name in checked:
        if name not in FAMILIES:
            raise InvalidParameterError(f"unknown corruption family {name!r}; valid names: {', '.join(FAMILIES)}")
    return checked


def params_for(family: str, dataset: str | None = None) -> tuple[Any, ...]:
    """The five severity parameters of ``family``: ``dataset``'s MedMNIST-C ones where it has its own,
    else the family's defaults."""
    (name,) = check_families([family])
    table = MEDMNISTC_PARAMS.get(dataset.strip().lower(), {}) if dataset else {}
    return table.get(name, FAMILIES[name].params)


def corrupt(images: torch.Tensor, family: str, severity: int, *, seed: int = 0, dataset: str | None = None,
            index: Sequence[int] | np.ndarray | None = None) -> torch.Tensor:
    """``images`` ``(N, C, H, W)`` or ``(N, C, D, H, W)`` (C = 1 or 3, float, in [0, 1]) corrupted by ``family``
    at ``severity`` (1..5) with ``dataset``'s MedMNIST-C parameters (the defaults if ``dataset`` is None or has
    none for the family); same shape, dtype and device, clipped to [0, 1].

    Deterministic: image ``i`` draws from a generator seeded by (``seed``, ``family``, ``index[i]``), its
    position in the data set (default ``0..N-1``): an image keeps its draws whatever else is corrupted with it.
    """
    (name,) = check_families([family])
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
        raise InvalidParameterError(f"corruption severity must be an integer from 1 to 5, got {severity!r}")
    if images.ndim not in (4, 5) or images.shape[1] not in (1, 3) or not torch.is_floating_point(images):
        raise InvalidParameterError(f"corruption needs float images (N, C, H, W) or (N, C, D, H, W) with C = 1 or 3, "
                                    f"got {images.dtype} of shape {tuple(images.shape)}")
    spec = FAMILIES[name]
    if spec.planar and images.ndim == 5:
        volume_ready = ", ".join(key for key, value in FAMILIES.items() if not value.planar)
        raise InvalidParameterError(f"corruption family {name!r} is 2-D only and cannot corrupt volumes of shape "
                                    f"{tuple(images.shape[1:])}; families for volumes: {volume_ready}")
    param = params_for(name, dataset)[severity - 1]
    array = images.detach().cpu().double().numpy().clip(0, 1)
    grey = array.shape[1] == 1
    out = np.empty_like(array)
    positions = np.arange(len(array)) if index is None else np.asarray(index)
    if positions.shape != (len(array),):
        raise InvalidParameterError(f"corruption index must give one position per image ({len(array)}), got "
                                    f"shape {positions.shape}")
    for row, (image, position) in enumerate(zip(array, positions, strict=True)):
        rng = np.random.default_rng([seed, zlib.crc32(name.encode()), int(position)])
        result = spec.apply(np.repeat(image, 3, axis=0) if grey else image, param, rng)
        out[row] = np.tensordot(LUMA, result, axes=1)[None] if grey else result
    return torch.from_numpy(out.clip(0, 1)).to(dtype=images.dtype, device=images.device)


def chosen_families(requested: str, dataset: str, spatial_dims: int) -> tuple[list[str], str | None]:
    """The families ``--benign-shift`` asks for (``auto``: the dataset's MedMNIST-C families, or the
    generic ones with a note saying so; else a comma list of names), refusing an unknown name and,
    for volumes, a family that is 2-D only, each in one line naming the valid ones."""
    if requested.strip().lower() == "auto":
        families, note = families_for(dataset)
        names = list(families)
    else:
        names, note = check_families(part for part in requested.split(",") if part.strip()), None
        if not names:
            raise InvalidParameterError(f"--benign-shift names no corruption family ({requested!r}); give auto or "
                                        f"a comma list of: {', '.join(FAMILIES)}")
    if spatial_dims == 3:
        planar = [n for n in names if FAMILIES[n].planar]
        if planar and requested.strip().lower() != "auto":
            raise InvalidParameterError(f"--benign-shift: {', '.join(planar)} corrupt 2-D images only; for volumes "
                                        f"give some of: {', '.join(k for k, f in FAMILIES.items() if not f.planar)}")
        names = [n for n in names if not FAMILIES[n].planar]
    return names, note
