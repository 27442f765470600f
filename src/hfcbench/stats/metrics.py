"""Detection and attack metrics of the paper (Sec. V-A, "Evaluation process and metrics").

Scores follow the detector contract: higher = more adversarial; clean inputs are the negatives
(label 0), adversarial ones the positives (label 1). Intervals: :mod:`hfcbench.stats.bootstrap`.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from ..errors import InvalidParameterError


def _check(clean: np.ndarray, adv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    clean = np.asarray(clean, dtype=np.float64).reshape(-1)
    adv = np.asarray(adv, dtype=np.float64).reshape(-1)
    if len(clean) == 0 or len(adv) == 0:
        raise InvalidParameterError(f"metrics need clean and adversarial scores, got {len(clean)} and {len(adv)}")
    if not (np.isfinite(clean).all() and np.isfinite(adv).all()):
        raise InvalidParameterError("detector scores hold NaN or infinite values; the detector is broken "
                                    "on these features")
    return clean, adv


def auc(clean: np.ndarray, adv: np.ndarray) -> float:
    """Area under the ROC curve: P(score_adv > score_clean) + 0.5 P(tie) (Mann-Whitney U)."""
    clean, adv = _check(clean, adv)
    ranks = rankdata(np.concatenate([clean, adv]))  # average ranks share ties
    u = ranks[len(clean):].sum() - len(adv) * (len(adv) + 1) / 2
    return float(u / (len(clean) * len(adv)))


def tpr_at_tnr(clean: np.ndarray, adv: np.ndarray, tnr: float = 0.90) -> float:
    """True-positive rate at the threshold that keeps a true-negative rate of at least ``tnr``.

    The threshold ``t`` is the smallest value such that at most ``(1 - tnr)`` of the clean scores
    exceed it (the detector flags ``score > t``); TPR is the share of adversarial scores above it.
    """
    clean, adv = _check(clean, adv)
    if not 0 < tnr < 1:
        raise InvalidParameterError(f"tnr must be in (0, 1), got {tnr}")
    allowed = int(np.floor((1 - tnr) * len(clean) + 1e-9))  # clean scores allowed above t
    ordered = np.sort(clean)[::-1]
    threshold = ordered[allowed] if allowed < len(clean) else -np.inf
    return float((adv > threshold).mean())


def success_rate(success: np.ndarray) -> float:
    """Attack success rate (Adv. Acc): the share of AEs classified as their target."""
    success = np.asarray(success, dtype=bool)
    return float(success.mean()) if success.size else 0.0

