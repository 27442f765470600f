"""Trained classifiers on demand: load the cached checkpoint, or train and cache it.

The checkpoint key hashes the dataset fingerprint, the architecture, every training
hyper-parameter, the seed, the hfcbench version and the source of the code that shapes the
trained weights (:data:`CHECKPOINT_CODE`: architectures, training, datasets). Feature extraction
(``models/features.py``) is not in it: it enters the keys of what is computed from a checkpoint.
A checkpoint is a dict of tensors and plain values, loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..cache import Cache, content_key, source_fingerprint
from ..datasets import ImageDataset
from . import build_model
from .training import TrainConfig, accuracy, channel_stats, train_classifier


@dataclass
class TrainedModel:
    """A classifier in eval mode with what is known about its training."""

    model: torch.nn.Module
    arch: str
    key: str
    test_accuracy: float
    train_seconds: float
    from_cache: bool


# the modules whose source changes a trained checkpoint (every module of ``models`` but features.py)
CHECKPOINT_CODE = ("models.__init__", "models.layers", "models.resnet", "models.vgg", "models.training", "models.zoo",
                   "datasets")


def checkpoint_key(dataset: ImageDataset, arch: str, config: TrainConfig) -> str:
    return content_key(kind="checkpoint", dataset=dataset.fingerprint, arch=arch, config=config.as_dict(),
                       code=source_fingerprint(*CHECKPOINT_CODE))


def load_or_train(dataset: ImageDataset, arch: str, config: TrainConfig, *, cache: Cache,
                  device: torch.device, quiet: bool = False) -> TrainedModel:
    """The trained ``arch`` for ``dataset``: from ``cache`` when present, else trained and stored."""
    key = checkpoint_key(dataset, arch, config)
    state = cache.load("checkpoints", key)
    if state is not None:
        mean, std = channel_stats(dataset.train.images)
        model = build_model(arch, dataset.image_shape, dataset.num_classes, mean, std)
        model.load_state_dict(state["state_dict"])
        model.to(device).eval()
        return TrainedModel(model, arch, key, state["test_accuracy"], state["train_seconds"], True)
    model, summary = train_classifier(dataset, arch, config, device=device, quiet=quiet)
    test_accuracy = accuracy(model, dataset.test)
    cache.save("checkpoints", key, {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "arch": arch, "dataset": dataset.name, "config": config.as_dict(),
        "test_accuracy": test_accuracy, "train_seconds": summary["train_seconds"],
    })
    return TrainedModel(model, arch, key, test_accuracy, summary["train_seconds"], False)
