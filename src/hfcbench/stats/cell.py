"""Every number a leaderboard cell reports, from its detector scores."""

from __future__ import annotations

import numpy as np

from .bootstrap import paired_bootstrap
from .metrics import auc, tpr_at_tnr


def cell_metrics(clean: np.ndarray, before: np.ndarray, before_source: np.ndarray, after: np.ndarray,
                 after_source: np.ndarray, *, seed: int = 0) -> dict:
    """Everything a leaderboard cell reports from its scores: AUC and TPR@90 before and after, the
    drop, AE counts, and their paired-bootstrap intervals (:mod:`hfcbench.stats.bootstrap`).
    ``before``/``after`` are the successful AEs' scores, ``*_source`` their source images'
    positions among the ``clean`` scores."""
    out: dict[str, float | int | None] = {"n_clean": len(clean), "n_adv_before": len(before),
                                          "n_adv_after": len(after)}
    for tag, adv in (("before", before), ("after", after)):
        out[f"auc_{tag}"] = auc(clean, adv) if len(adv) else None
        out[f"tpr90_{tag}"] = tpr_at_tnr(clean, adv) if len(adv) else None
    auc_before, auc_after = out["auc_before"], out["auc_after"]
    out["auc_drop"] = None if auc_before is None or auc_after is None else auc_before - auc_after
    out.update(paired_bootstrap(clean, before, before_source, after, after_source, seed=seed))
    return out

