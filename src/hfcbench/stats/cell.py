"""Every number a leaderboard cell reports, from its detector scores."""

from __future__ import annotations

import numpy as np

from .bootstrap import paired_bootstrap
from .metrics import auc, tpr_at_tnr
from .operating_points import evaded, lowest_per_image, partial_auc, threshold_at_fpr

# the false-positive rates at which the detector's threshold is set on its calibration set
TARGET_FPRS = {"fpr1": 0.01, "fpr5": 0.05}


def cell_metrics(clean: np.ndarray, before: np.ndarray, before_source: np.ndarray, after: np.ndarray,
                 after_source: np.ndarray, *, calibration: np.ndarray | None = None,
                 seed: int = 0) -> tuple[dict, dict]:
    """Everything a leaderboard cell reports from its scores, and the per-image evasion behind it.

    Args:
        clean: (n,) scores of the clean AdvTest images, in pool order.
        before, after: scores of the successful AEs of the fit attack and of the evaluated attack.
        before_source, after_source: each AE's source image (its position among ``clean``).
        calibration: scores of the calibration set (AdvTrain clean), on which the thresholds of
            :data:`TARGET_FPRS` are set (:mod:`.operating_points`); None skips the operating points.
    Returns:
        ``(metrics, per_image)``. ``metrics``: AUC, TPR@90 and partial AUC (FPR <= 5%) before and
        after, the drop, AE counts; with ``calibration`` its size (``n_calibration``; below 100 the
        1% threshold is the calibration set's maximum), the thresholds (``threshold_fpr1``, ...),
        TPR at 1% and 5% FPR before and after, the realised FPRs on AdvTest clean and the evasion
        at 5% FPR (``evasion5_before``, ``evasion5``); all with paired-bootstrap intervals
        (:func:`.bootstrap.paired_bootstrap`). ``per_image``: ``{"evaded5_before", "evaded5"}``, one
        ``"0"``/``"1"`` per AdvTest image (whether it evaded), for paired comparisons between cells.
    """
    out: dict[str, float | int | None] = {"n_clean": len(clean), "n_adv_before": len(before),
                                          "n_adv_after": len(after)}
    for tag, adv in (("before", before), ("after", after)):
        out[f"auc_{tag}"] = auc(clean, adv) if len(adv) else None
        out[f"tpr90_{tag}"] = tpr_at_tnr(clean, adv) if len(adv) else None
        out[f"pauc5_{tag}"] = partial_auc(clean, adv, 0.05) if len(adv) else None
    auc_before, auc_after = out["auc_before"], out["auc_after"]
    out["auc_drop"] = None if auc_before is None or auc_after is None else auc_before - auc_after
    thresholds, per_image, hidden = {}, {}, {}
    if calibration is not None:
        out["n_calibration"] = len(calibration)
        thresholds = {name: threshold_at_fpr(calibration, fpr) for name, fpr in TARGET_FPRS.items()}
        clean_scores = np.asarray(clean, dtype=np.float64)
        for name, threshold in thresholds.items():
            out[f"threshold_{name}"] = threshold if np.isfinite(threshold) else None
            out[f"{name}_realised"] = float((clean_scores > threshold).mean())
            for tag, adv in (("before", before), ("after", after)):
                out[f"tpr_{name}_{tag}"] = float((np.asarray(adv) > threshold).mean()) if len(adv) else None
        for tag, adv, source in (("before", before, before_source), ("after", after, after_source)):
            name = "evasion5" if tag == "after" else "evasion5_before"
            hidden[name] = evaded(lowest_per_image(adv, source, len(clean)), thresholds["fpr5"])
            out[name] = float(hidden[name].mean())
            per_image[name.replace("evasion", "evaded")] = "".join(str(int(v)) for v in hidden[name])
    out.update(paired_bootstrap(clean, before, before_source, after, after_source, thresholds=thresholds,
                                evaded=hidden, seed=seed))
    return out, per_image
