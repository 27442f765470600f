"""Metrics at an operating point: what a deployed detector does at a false-alarm rate one can live with.

A deployer sets the detector's threshold on clean data it owns (the **calibration** set: AdvTrain
clean inputs, the detector's own fitting data) and never sees the test set. At a target false-
positive rate ``f`` the threshold ``t`` is the smallest value such that at most ``floor(f n)``
of the ``n`` calibration scores exceed it; the detector flags ``score > t``. On AdvTest:

* **TPR at f FPR**: the share of successful AEs flagged;
* **realised FPR**: the share of AdvTest clean inputs flagged (it moves when AdvTest's clean
  scores drift from the calibration set's; the threshold does not);
* **evasion at f FPR**: the share of AdvTest *images* for which the attack produced an AE that
  fools the classifier *and* is not flagged. Unlike a TPR over successful AEs it counts the
  attack's failures against the attacker, so it never exceeds the attack's success rate.

Partial AUC (FPR <= ``max_fpr``) is McClish-standardised, so 0.5 is chance and 1 perfect, as
``sklearn.metrics.roc_auc_score(max_fpr=...)``: ``0.5 (1 + (A - m^2/2) / (m - m^2/2))`` for the raw
area ``A`` under the ROC curve up to ``m = max_fpr`` (McClish 1989).

Every function takes weights (B, n) so the paired bootstrap (:mod:`.bootstrap`) evaluates all its
replicates at once; a weight is an image's multiplicity in a replicate, and a weighted metric
equals the plain one on the sample expanded by the weights.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameterError


def threshold_at_fpr(calibration: np.ndarray, fpr: float) -> float:
    """The threshold ``t`` at which at most ``floor(fpr n)`` of the ``n`` calibration scores exceed
    ``t`` (the detector flags ``score > t``): the ``(floor(fpr n) + 1)``-th largest score."""
    scores = np.asarray(calibration, dtype=np.float64).reshape(-1)
    if not 0 < fpr < 1:
        raise InvalidParameterError(f"a target false-positive rate must lie in (0, 1), got {fpr}")
    if not len(scores) or not np.isfinite(scores).all():
        raise InvalidParameterError(f"a threshold needs finite calibration scores, got {len(scores)} values "
                                    "some of which are not finite" if len(scores) else
                                    "a threshold needs calibration scores, got none")
    allowed = int(np.floor(fpr * len(scores) + 1e-9))
    return float(np.sort(scores)[::-1][allowed]) if allowed < len(scores) else -np.inf


def weighted_flagged(scores: np.ndarray, weights: np.ndarray, threshold: float) -> np.ndarray:
    """(B,) weighted share of ``scores`` (n,) above ``threshold`` under ``weights`` (B, n); NaN where
    a replicate puts no weight on any score."""
    total = weights.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (weights * (scores > threshold)).sum(1) / total, np.nan)


def evaded(lowest: np.ndarray, threshold: float) -> np.ndarray:
    """(n,) 0/1 per image: the image has a successful AE (``lowest``, the lowest score of its
    successful AEs, is finite; ``+inf`` where the attack failed) that is not flagged."""
    lowest = np.asarray(lowest, dtype=np.float64)
    return (np.isfinite(lowest) & (lowest <= threshold)).astype(np.float64)


def lowest_per_image(scores: np.ndarray, sources: np.ndarray, n: int) -> np.ndarray:
    """(n,) the lowest score of the successful AEs made from each of ``n`` images (``+inf`` for an
    image with none); ``scores`` and ``sources`` (m,) are the AEs' scores and source positions."""
    lowest = np.full(n, np.inf)
    np.minimum.at(lowest, np.asarray(sources, dtype=np.int64), np.asarray(scores, dtype=np.float64))
    return lowest


def weighted_partial_auc(clean: np.ndarray, adv: np.ndarray, w_clean: np.ndarray, w_adv: np.ndarray,
                         max_fpr: float = 0.05) -> np.ndarray:
    """(B,) McClish-standardised partial AUC for FPR <= ``max_fpr`` of ``clean`` (n_c,) against
    ``adv`` (n_a,) under weights (B, n_c) and (B, n_a); NaN where a side has no weight.

    The ROC curve joins (0, 0) and one point per distinct score, thresholds descending (tied
    scores move together, so the curve has a diagonal step); its area is cut at ``max_fpr`` by
    linear interpolation on the segment that crosses it, as scikit-learn does."""
    if not 0 < max_fpr <= 1:
        raise InvalidParameterError(f"max_fpr must lie in (0, 1], got {max_fpr}")
    values = np.unique(np.concatenate([clean, adv]))[::-1]                                  # (T,) descending
    at_clean = np.searchsorted(-values, -np.asarray(clean))                                 # index of each score
    at_adv = np.searchsorted(-values, -np.asarray(adv))
    fp = np.zeros((w_clean.shape[0], len(values)))
    tp = np.zeros((w_adv.shape[0], len(values)))
    np.add.at(fp.T, at_clean, w_clean.T)
    np.add.at(tp.T, at_adv, w_adv.T)
    neg, pos = w_clean.sum(1, keepdims=True), w_adv.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.concatenate([np.zeros_like(neg), np.cumsum(fp, 1) / neg], 1)               # (B, T + 1) FPR
        y = np.concatenate([np.zeros_like(pos), np.cumsum(tp, 1) / pos], 1)               # (B, T + 1) TPR
        x0, x1, y0, y1 = x[:, :-1], x[:, 1:], y[:, :-1], y[:, 1:]
        right = np.minimum(x1, max_fpr)                                                     # the segment cut
        y_right = np.where(x1 > x0, y0 + (y1 - y0) * (right - x0) / (x1 - x0), y1)
        width = np.clip(right - x0, 0, None)
        area = (width * (y0 + y_right) / 2).sum(1)
    low, high = max_fpr ** 2 / 2, max_fpr
    standardised = 0.5 * (1 + (area - low) / (high - low))
    return np.where((neg[:, 0] > 0) & (pos[:, 0] > 0), standardised, np.nan)


def partial_auc(clean: np.ndarray, adv: np.ndarray, max_fpr: float = 0.05) -> float:
    """McClish-standardised partial AUC for FPR <= ``max_fpr`` (scikit-learn's ``max_fpr`` AUC)."""
    clean, adv = np.asarray(clean, dtype=np.float64), np.asarray(adv, dtype=np.float64)
    if not len(clean) or not len(adv):
        raise InvalidParameterError(f"a partial AUC needs clean and adversarial scores, got {len(clean)} "
                                    f"and {len(adv)}")
    return float(weighted_partial_auc(clean, adv, np.ones((1, len(clean))), np.ones((1, len(adv))), max_fpr)[0])
