"""``--plugin module:Class``: a detector or attack class from another package, registered by its base class."""

from __future__ import annotations

from .errors import HfcbenchError
from .registry import import_object


def register_plugin(spec: str) -> str:
    """``module:Class`` -> registered in the detectors or attacks registry; returns its name.
    Registering the same class twice is a no-op (a sweep's workers register every task's plugins)."""
    from .attacks import ATTACKS
    from .attacks.base import Attack
    from .detectors import DETECTORS
    from .detectors.base import Detector

    obj = import_object(spec)
    if isinstance(obj, type) and issubclass(obj, Detector):
        return DETECTORS.add_plugin(spec)
    if isinstance(obj, type) and issubclass(obj, Attack):
        return ATTACKS.add_plugin(spec)
    raise HfcbenchError(f"--plugin {spec}: {obj!r} is neither a hfcbench Detector nor an Attack subclass")
