"""The paper's evaluation protocol (Sec. V-A): which test images are attacked and which fit detectors.

The classifier trains on the training split. The test pool is classified, misclassified images
are dropped, and the rest is split, stratified and seeded, into AdvTrain (70%, fits the
detectors) and AdvTest (30%, scores them). ``limit`` caps the pool first (stratified, seeded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..datasets import Split
from ..datasets.splits import stratified_split, stratified_subsample
from ..errors import HfcbenchError
from ..models.training import predict

MIN_KEPT = 10  # correctly classified test images the protocol needs (AdvTrain and AdvTest together)


def check_pool(test: Split, limit: int | None, dataset: str) -> None:
    """Refuse, before any training, a test split that cannot give :data:`MIN_KEPT` correctly
    classified images of two classes however good the classifier (``run`` and ``validate``)."""
    labels = test.labels.numpy()
    size = min(len(labels), limit) if limit else len(labels)
    classes = len(np.unique(labels))
    if size < MIN_KEPT or classes < 2:
        capped = bool(limit) and size < len(labels) and len(labels) >= MIN_KEPT and classes >= 2
        fix = (f"raise --limit to {MIN_KEPT} or more" if capped else
               "add test images (for an image folder: to its test/ folder, or to its class folders, of which 20% are "
               "the test split)")
        raise HfcbenchError(f"the test split of {dataset} holds {len(labels)} image(s) of {classes} class(es)"
                            + (f", capped at {limit} by --limit" if capped else "")
                            + f"; the protocol needs at least {MIN_KEPT} correctly classified test images of two "
                            f"classes: {fix}")


@dataclass(frozen=True)
class ProtocolSplit:
    """Indices into the test split: AdvTrain and AdvTest, and how many were dropped."""

    adv_train: np.ndarray
    adv_test: np.ndarray
    pool_size: int
    misclassified: int

    @property
    def kept(self) -> np.ndarray:
        """Sorted indices of every correctly classified pool image (AdvTrain and AdvTest)."""
        return np.sort(np.concatenate([self.adv_train, self.adv_test]))


def protocol_split(model: torch.nn.Module, test: Split, *, seed: int, limit: int | None = None,
                   train_fraction: float = 0.7) -> ProtocolSplit:
    labels = test.labels.numpy()
    pool = stratified_subsample(labels, limit, seed) if limit else np.arange(len(labels))
    correct = (predict(model, test.images[pool]) == test.labels[pool]).numpy()
    kept = pool[correct]
    if len(kept) < MIN_KEPT:
        raise HfcbenchError(f"only {len(kept)} correctly classified test images remain (of {len(pool)}); raise "
                            "--limit, train the classifier longer, or check the --checkpoint and its --mean/--std")
    if len(np.unique(labels[kept])) < 2:
        raise HfcbenchError(f"the classifier is right only on class {int(labels[kept][0])} ({len(kept)} of "
                            f"{len(pool)} test images); train it longer (--epochs), or check the --checkpoint and its "
                            "--mean/--std")
    first, second = stratified_split(labels[kept], train_fraction, seed)
    return ProtocolSplit(kept[first], kept[second], len(pool), int((~correct).sum()))
