"""AUC of each layer's raw characteristic alone (the paper's Fig. 6).

A detector's ``characteristics(feats)`` gives per-layer raw values (LID, Mahalanobis distance,
per-layer network logits...) before its learned combination. Their direction is not fixed
(a kernel density is *lower* on AEs), so each characteristic is oriented on the data the
detector was fitted on: negated when its AUC there is below 0.5, exactly the freedom the
learned combination has. The orientation never looks at the evaluated inputs.
"""

from __future__ import annotations

import numpy as np

from ..models import Features
from .metrics import auc


def _finite_auc(clean: np.ndarray, adv: np.ndarray) -> float | None:
    if len(clean) == 0 or len(adv) == 0 or not (np.isfinite(clean).all() and np.isfinite(adv).all()):
        return None
    return auc(clean, adv)


def layer_aucs(detector, fit_clean: Features, fit_adv: Features, clean: Features,
               advs: dict[str, Features]) -> dict[str, dict[str, float | None]]:
    """``{tag: {characteristic: AUC}}`` of ``clean`` against each ``advs[tag]``.

    Args:
        detector: a fitted detector.
        fit_clean, fit_adv: the features it was fitted on (they set each characteristic's sign).
        clean: clean features scored as negatives; advs: ``{tag: AE features}`` scored as positives.
    Returns None for a characteristic holding non-finite values (e.g. a class unseen in fit).
    """
    train_clean, train_adv = detector.characteristics(fit_clean), detector.characteristics(fit_adv)
    test_clean = detector.characteristics(clean)
    test_adv = {tag: detector.characteristics(feats) if len(feats) else None for tag, feats in advs.items()}
    out: dict[str, dict[str, float | None]] = {tag: {} for tag in advs}
    for name in test_clean:
        fit_auc = _finite_auc(train_clean[name], train_adv[name])
        sign = -1.0 if fit_auc is not None and fit_auc < 0.5 else 1.0
        for tag, values in test_adv.items():
            out[tag][name] = None if values is None else _finite_auc(sign * test_clean[name], sign * values[name])
    return out
