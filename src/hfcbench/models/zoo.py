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
    """The trained ``arch`` for ``dataset``: from ``cache`` when present, else trained and stored
    (by one process at a time: a second run on the same cache waits and reads the checkpoint). A
    cached checkpoint whose weights do not fit the architecture is moved aside and retrained."""
    key = checkpoint_key(dataset, arch, config)
    mean, std = channel_stats(dataset.train.images)
    model = build_model(arch, dataset.image_shape, dataset.num_classes, mean, std)
    trained_now: dict = {}

    def train() -> dict:
        fitted, summary = train_classifier(dataset, arch, config, device=device, quiet=quiet)
        trained_now["model"] = fitted
        return {"state_dict": {k: v.detach().cpu() for k, v in fitted.state_dict().items()}, "arch": arch,
                "dataset": dataset.name, "config": config.as_dict(), "test_accuracy": accuracy(fitted, dataset.test),
                "train_seconds": summary["train_seconds"]}

    state = cache.get_or_compute("checkpoints", key, train, check=lambda s: model.load_state_dict(s["state_dict"]))
    if "model" in trained_now:
        model = trained_now["model"]
    else:
        model.load_state_dict(state["state_dict"])
    model.to(device).eval()
    return TrainedModel(model, arch, key, state["test_accuracy"], state["train_seconds"], "model" not in trained_now)
