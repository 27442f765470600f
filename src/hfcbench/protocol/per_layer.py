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
from ..stats.bootstrap import auc_interval
from ..stats.metrics import auc


def _finite(*arrays: np.ndarray) -> bool:
    return all(len(a) and np.isfinite(a).all() for a in arrays)


def layer_aucs(detector, fit_clean: Features, fit_adv: Features, clean: Features,
               advs: dict[str, tuple[Features, np.ndarray]], *, seed: int = 0) -> dict[str, dict[str, dict | None]]:
    """``{tag: {characteristic: AUC with its interval}}`` of ``clean`` against each ``advs[tag]``.

    Args:
        detector: a fitted detector.
        fit_clean, fit_adv: the features it was fitted on (they set each characteristic's sign).
        clean: clean features scored as negatives (n images).
        advs: ``{tag: (AE features, (m,) position of each AE's source among the n clean images)}``.
        seed: of the bootstrap.
    Returns :func:`~hfcbench.stats.bootstrap.auc_interval`'s fields per characteristic (AUC,
    95% interval resampling each AE with its source, ``n_adv``), or None for a characteristic
    holding non-finite values (e.g. a class unseen in fit).
    """
    train_clean, train_adv = detector.characteristics(fit_clean), detector.characteristics(fit_adv)
    test_clean = detector.characteristics(clean)
    test_adv = {tag: (detector.characteristics(feats) if len(feats) else None, source)
                for tag, (feats, source) in advs.items()}
    out: dict[str, dict[str, dict | None]] = {tag: {} for tag in advs}
    for name in test_clean:
        fit_sign = _finite(train_clean[name], train_adv[name]) and auc(train_clean[name], train_adv[name]) < 0.5
        sign = -1.0 if fit_sign else 1.0
        for tag, (values, source) in test_adv.items():
            if values is None or not _finite(test_clean[name], values[name]):
                out[tag][name] = None
                continue
            out[tag][name] = auc_interval(sign * test_clean[name], sign * values[name], source, seed=seed)
    return out
