"""Per-class Gaussian mixtures of one layer's features (HFC, paper Eq. 14 and Algorithm 1 l. 1-4).

Regularisation, stated once for the attack and the detector: every covariance gets
``reg * mean feature variance`` on its diagonal (scale-free, unlike an absolute ``reg_covar``);
a class with fewer than ``2 M`` samples is modelled with ``max(1, n // 2)`` components instead
of ``M`` (a warning says so), since EM cannot fit more components than it has samples.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .errors import InvalidParameterError
from .gmm import GaussianMixture


def fit_class_mixtures(features: np.ndarray, labels: np.ndarray, n_components: int, *, reg: float = 1e-3,
                       seed: int = 0, what: str = "features", classes=None) -> dict[int, GaussianMixture]:
    """``{class: GaussianMixture}`` fitted on the rows of ``features`` (N, d) of each class."""
    features = np.asarray(features, dtype=np.float64)
    if not np.isfinite(features).all():
        raise InvalidParameterError(f"{what}: NaN or infinite features; cannot fit a mixture")
    mixtures = {}
    for cls in (np.unique(labels) if classes is None else classes):
        rows = features[labels == cls]
        if len(rows) < 2:
            raise InvalidParameterError(f"{what}: class {cls} has {len(rows)} clean sample(s); a mixture needs "
                                        "at least 2 (use a larger --limit)")
        m = n_components
        if len(rows) < 2 * n_components:
            m = max(1, len(rows) // 2)
            warnings.warn(f"{what}: class {cls} has {len(rows)} samples, too few for M={n_components} "
                          f"components; using M={m}", stacklevel=2)
        scale = float(rows.var(0).mean()) or 1.0
        mixtures[int(cls)] = GaussianMixture(m, reg_covar=reg * scale, seed=seed).fit(torch.from_numpy(rows))
    return mixtures
