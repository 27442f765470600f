"""Choosing the torch device: ``auto`` takes CUDA when present, else the CPU."""

from __future__ import annotations

import torch

from .errors import InvalidParameterError


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` -> a usable ``torch.device``."""
    if isinstance(spec, torch.device):
        return spec
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise InvalidParameterError(f"--device {spec!r} is not a device; use auto, cpu, cuda or cuda:N") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError(f"--device {spec!r} asks for CUDA, but no CUDA GPU is visible; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise InvalidParameterError(f"--device {spec!r}: only cpu and cuda are supported")
    return device
