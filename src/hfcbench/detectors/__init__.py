"""Reactive detectors of adversarial examples, one file each; ``DETECTORS`` names them.

Every detector follows the contract in :mod:`hfcbench.detectors.base`: ``fit(clean, adv)``,
``score(feats)`` with higher = more adversarial, ``characteristics(feats)``.
"""

from __future__ import annotations

from ..registry import Registry
from .base import Detector

DETECTORS: Registry = Registry("detectors", {})

__all__ = ["DETECTORS", "Detector"]
