"""Seeded, stratified index splits (the paper's AdvTrain/AdvTest rule, Sec. V-A)."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameterError


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices of ``labels`` into two sorted parts, per class ``round(fraction * n_c)`` first.

    Args:
        labels: (N,) class labels.
        fraction: share of each class that goes to the first part, in (0, 1).
        seed: fixes the permutation inside each class.

    Returns:
        ``(first, second)``: sorted int64 index arrays that partition ``range(N)``.
    """
    if not 0.0 < fraction < 1.0:
        raise InvalidParameterError(f"fraction must be in (0, 1), got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        take = int(round(fraction * len(members)))
        parts.append(rng.permutation(members)[:take])
    first = np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
    second = np.setdiff1d(np.arange(len(labels)), first)
    return first.astype(np.int64), second.astype(np.int64)


def stratified_subsample(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """At most ``limit`` sorted indices keeping the class proportions (``--limit``)."""
    if limit < 1:
        raise InvalidParameterError(f"--limit must be a positive number of samples, got {limit}")
    labels = np.asarray(labels)
    if limit >= len(labels):
        return np.arange(len(labels))
    keep, _ = stratified_split(labels, limit / len(labels), seed)
    return keep
