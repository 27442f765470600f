"""How sure a leaderboard cell is: the paired bootstrap over AdvTest images (one seed).

**One seed: the paired bootstrap.** A cell scores ``n`` clean AdvTest images and the successful
AEs made from them before (base attack) and after (adaptive attack). A replicate draws ``n``
source images with replacement; an image drawn ``k`` times weighs ``k`` in the clean scores, and
so does every AE made from it, in the before and in the after set alike. Each replicate therefore
keeps an AE with its source and the two attacks paired, and the drop ``AUC before - AUC after``
is computed within one replicate. Intervals are percentile intervals (level 95%) over
``n_boot`` replicates (default 2,000), seeded. Weighted metrics equal the plain ones on the
sample expanded by the weights (an image drawn twice counted twice), which is what the tests
check; all replicates are computed at once as matrix products.
Seeds and other intervals: :mod:`hfcbench.stats.intervals`.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameterError
from .intervals import percentile_interval
from .metrics import auc
from .operating_points import weighted_flagged, weighted_partial_auc

N_BOOT = 2000


def source_counts(n: int, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """(n_boot, n) multiplicities of ``n`` source images in ``n_boot`` resamples with replacement."""
    if n < 1 or n_boot < 1:
        raise InvalidParameterError(f"a bootstrap needs n >= 1 sources and n_boot >= 1, got {n} and {n_boot}")
    draws = np.random.default_rng(seed).integers(0, n, (n_boot, n))
    counts = np.zeros((n_boot, n))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts


def weighted_auc(clean: np.ndarray, adv: np.ndarray, w_clean: np.ndarray, w_adv: np.ndarray) -> np.ndarray:
    """AUC (P(adv > clean) + P(tie) / 2) of ``clean`` (n_c,) against ``adv`` (n_a,) scores under
    weights (B, n_c) and (B, n_a): (B,) values, NaN where a replicate has no weight on a side."""
    wins = (adv[None, :] > clean[:, None]) + 0.5 * (adv[None, :] == clean[:, None])          # (n_c, n_a)
    total = w_clean.sum(1) * w_adv.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, ((w_clean @ wins) * w_adv).sum(1) / total, np.nan)


def weighted_tpr_at_tnr(clean: np.ndarray, adv: np.ndarray, w_clean: np.ndarray, w_adv: np.ndarray,
                        tnr: float = 0.90) -> np.ndarray:
    """TPR at the threshold keeping a TNR of at least ``tnr`` (as :func:`metrics.tpr_at_tnr` on the
    sample expanded by the weights): (B,) values, NaN where a replicate has no AE weight.

    The threshold is the ``(allowed + 1)``-th largest expanded clean score, ``allowed =
    floor((1 - tnr) * total clean weight)``; TPR is the weighted share of AEs above it."""
    order = np.argsort(-clean, kind="stable")
    ranked, cumulative = clean[order], np.cumsum(w_clean[:, order], axis=1)                   # (B, n_c)
    allowed = np.floor((1 - tnr) * w_clean.sum(1) + 1e-9)
    position = (cumulative > allowed[:, None]).argmax(1)
    threshold = np.where(allowed < w_clean.sum(1), ranked[position], -np.inf)
    above = adv[None, :] > threshold[:, None]                                                 # (B, n_a)
    total = w_adv.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (above * w_adv).sum(1) / total, np.nan)


def _interval_fields(name: str, replicates: np.ndarray) -> dict:
    interval = percentile_interval(replicates)
    finite = replicates[np.isfinite(replicates)]
    return {f"{name}_ci_low": None if interval is None else interval[0],
            f"{name}_ci_high": None if interval is None else interval[1],
            f"{name}_se": float(finite.std(ddof=1)) if len(finite) > 1 else None}


def auc_interval(clean: np.ndarray, adv: np.ndarray, adv_source: np.ndarray, *, n_boot: int = N_BOOT,
                 seed: int = 0) -> dict:
    """AUC of one score set against the clean images, with the bootstrap of :func:`paired_bootstrap`
    (each positive resampled with its source image) for a number outside a leaderboard cell (a
    layer's characteristic, a transferred or lesioned image).

    Args:
        clean: (n,) scores of the clean images; adv: (m,) scores of the positives;
        adv_source: (m,) the position (0..n-1) of each positive's source image.
    Returns:
        ``{"auc", "auc_ci_low", "auc_ci_high", "auc_se", "n_adv"}``; None values where ``adv`` is empty.
    """
    clean, adv = np.asarray(clean, dtype=np.float64), np.asarray(adv, dtype=np.float64)
    source = np.asarray(adv_source, dtype=np.int64)
    if len(adv) != len(source):
        raise InvalidParameterError(f"{len(adv)} scores but {len(source)} source positions")
    out: dict = {"n_adv": len(adv)}
    if not len(adv):
        return {**out, "auc": None, "auc_ci_low": None, "auc_ci_high": None, "auc_se": None}
    counts = source_counts(len(clean), n_boot, seed)
    out["auc"] = auc(clean, adv)
    out.update(_interval_fields("auc", weighted_auc(clean, adv, counts, counts[:, source])))
    return out


def ratio_of_means_interval(numerator: np.ndarray, denominator: np.ndarray | None = None, *,
                            n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """``mean(numerator) / mean(denominator)`` over ``n`` images (the plain mean of ``numerator``
    when ``denominator`` is None), with the percentile interval of the bootstrap over images: a
    replicate resamples images, each keeping its numerator and denominator together. For the
    numbers of an experiment that are not AUCs: a block's activation ratio, a mean distance or
    cosine similarity.

    Args:
        numerator, denominator: (n,) per-image values.
    Returns:
        ``{"value", "value_ci_low", "value_ci_high", "value_se", "n"}``; None values where n = 0.
    """
    top = np.asarray(numerator, dtype=np.float64)
    bottom = np.ones_like(top) if denominator is None else np.asarray(denominator, dtype=np.float64)
    if top.shape != bottom.shape or top.ndim != 1:
        raise InvalidParameterError(f"per-image values must be two (n,) arrays, got {top.shape} and {bottom.shape}")
    if not len(top):
        return {"value": None, "value_ci_low": None, "value_ci_high": None, "value_se": None, "n": 0}
    counts = source_counts(len(top), n_boot, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = (counts @ top) / (counts @ bottom)
    return {"value": float(top.mean() / bottom.mean()), **_interval_fields("value", replicates), "n": len(top)}


def paired_bootstrap(clean: np.ndarray, before: np.ndarray, before_source: np.ndarray, after: np.ndarray,
                     after_source: np.ndarray, *, thresholds: dict[str, float] | None = None,
                     evaded: dict[str, np.ndarray] | None = None, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """Intervals of one cell, as numbers for a record's ``metrics``.

    Args:
        clean: (n,) scores of the clean AdvTest images, in pool order.
        before, after: scores of the successful AEs of the base and the adaptive attack.
        before_source, after_source: the position (0..n-1) of each AE's source image.
        thresholds: ``{"fpr1": t, "fpr5": t}``, the detector's thresholds set on its calibration
            set (:mod:`.operating_points`); fixed, so the intervals are conditional on it.
        evaded: ``{metric name: (n,) 0/1 per clean image}``, e.g. whether each image evaded at
            5% FPR: each gets the interval of its mean.
    Returns:
        ``{metric}_ci_low``, ``{metric}_ci_high`` and ``{metric}_se`` (the replicates' standard
        deviation) for ``auc_before``, ``auc_after``, ``tpr90_before``, ``tpr90_after``,
        ``pauc5_before``, ``pauc5_after`` and ``auc_drop`` (before - after, paired), with
        ``thresholds`` for ``tpr_{fpr}_{before|after}`` and ``{fpr}_realised``, and for every
        name of ``evaded``; plus ``n_boot``. None where a side has no AE.
    """
    clean = np.asarray(clean, dtype=np.float64)
    counts = source_counts(len(clean), n_boot, seed)
    thresholds = thresholds or {}
    out: dict = {"n_boot": n_boot}
    aucs = {}
    for tag, scores, source in (("before", before, before_source), ("after", after, after_source)):
        scores, source = np.asarray(scores, dtype=np.float64), np.asarray(source, dtype=np.int64)
        replicates: dict[str, np.ndarray] = {}
        if len(scores):
            w_adv = counts[:, source]
            aucs[tag] = weighted_auc(clean, scores, counts, w_adv)
            replicates["tpr90"] = weighted_tpr_at_tnr(clean, scores, counts, w_adv)
            replicates["pauc5"] = weighted_partial_auc(clean, scores, counts, w_adv, 0.05)
            for name, threshold in thresholds.items():
                replicates[f"tpr_{name}"] = weighted_flagged(scores, w_adv, threshold)
        else:
            aucs[tag] = np.full(n_boot, np.nan)
            for name in ("tpr90", "pauc5", *(f"tpr_{name}" for name in thresholds)):
                replicates[name] = aucs[tag]
        for name, values in (("auc", aucs[tag]), *replicates.items()):
            out.update(_interval_fields(f"{name}_{tag}", values))
    for name, threshold in thresholds.items():
        out.update(_interval_fields(f"{name}_realised", weighted_flagged(clean, counts, threshold)))
    for name, per_image in (evaded or {}).items():
        out.update(_interval_fields(name, counts @ np.asarray(per_image, dtype=np.float64) / counts.sum(1)))
    out.update(_interval_fields("auc_drop", aucs["before"] - aucs["after"]))
    return out


def paired_difference(x: np.ndarray, y: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """``mean(x) - mean(y)`` of two per-image values (n,) on the same images (e.g. whether each
    image evaded detector A and detector B), with the percentile interval of the bootstrap that
    resamples the images, each keeping its two values: the replicates of
    :func:`paired_bootstrap` with the same ``n_boot`` and ``seed``, so a leaderboard's verdict
    reads the very resamples its cells' intervals came from.

    Returns:
        ``{"value", "value_ci_low", "value_ci_high", "value_se"}``.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise InvalidParameterError(f"a paired difference needs two (n,) arrays on the same images, got {x.shape} "
                                    f"and {y.shape}")
    counts = source_counts(len(x), n_boot, seed)
    return {"value": float(x.mean() - y.mean()),
            **_interval_fields("value", counts @ (x - y) / counts.sum(1))}
