"""Model zoo, training with a cached checkpoint, and per-layer feature extraction.

A model builder is registered under a name in ``MODELS`` and called with keyword arguments
``in_channels, num_classes, dims, mean, std, image_size``. Zoo models (:data:`ZOO`) expose
``feature_modules()`` (the hooked activation layers, in order) and ``classifier`` (the final
linear layer). A user's own model (a package's entry point in the group ``hfcbench.models``, or
``module:factory``), its checkpoint, the layers hooked and its head: :mod:`hfcbench.models.own`.
"""

from __future__ import annotations

from ..registry import Registry
from .features import FeatureExtractor, Features

ZOO = {
    "resnet8": "hfcbench.models.resnet:resnet8",
    "resnet20": "hfcbench.models.resnet:resnet20",
    "resnet18": "hfcbench.models.resnet:resnet18",
    "resnet50": "hfcbench.models.resnet:resnet50",
    "resnet18_3d": "hfcbench.models.resnet:resnet18_3d",
    "resnet8_3d": "hfcbench.models.resnet:resnet8_3d",
    "vgg16": "hfcbench.models.vgg:vgg16",
}
# the zoo, and the models packages register under the entry-point group ``hfcbench.models``
MODELS: Registry = Registry("models", ZOO)

DEFAULT_MODEL = {2: "resnet20", 3: "resnet8_3d"}


def build_model(arch: str, image_shape: tuple[int, ...], num_classes: int, mean, std):
    """An untrained model for inputs of ``image_shape`` = ``(C, H, W)`` or ``(C, D, H, W)``."""
    builder = MODELS.get(arch)
    return builder(in_channels=image_shape[0], num_classes=num_classes, dims=len(image_shape) - 1,
                   mean=list(mean), std=list(std), image_size=max(image_shape[1:]))


__all__ = ["MODELS", "ZOO", "DEFAULT_MODEL", "FeatureExtractor", "Features", "build_model"]
