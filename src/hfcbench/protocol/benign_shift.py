"""False alarms on benign shift: a detector that flags every slightly blurred or noisy scan is of no
use in a clinic, however well it separates AEs.

The AdvTest clean images are corrupted by each family of their modality's MedMNIST-C corruptions
at severities 1-5 (:mod:`hfcbench.datasets.corruptions`; datasets without MedMNIST-C families get
the generic ones, and the run says so; a family without parameters for the dataset takes
MedMNIST-C's defaults, and its record says so); the images the classifier still classifies correctly are
kept (a misclassified scan is a classifier error, not a detector's false alarm); each detector,
fitted against the run's first fit attack, scores them at its 5%-FPR threshold set on its
calibration set (AdvTrain clean, :mod:`hfcbench.stats.operating_points`). A record per (detector,
family, severity) holds the false-positive rate with its 95% Wilson interval, the images kept and
the realised FPR on the uncorrupted AdvTest images for comparison.
"""

from __future__ import annotations

import numpy as np

from ..datasets.corruptions import MEDMNISTC_PARAMS, SEVERITIES, corrupt, params_for
from ..models import Features
from ..models.training import predict
from ..stats.cell import TARGET_FPRS
from ..stats.intervals import proportion_interval
from ..stats.operating_points import threshold_at_fpr
from .artifacts import Artifacts

PREFIX = "benign:"  # a benign-shift record's "attack": benign:FAMILY@SEVERITY


def label(family: str, severity: int) -> str:
    return f"{PREFIX}{family}@{severity}"


def shifted(art: Artifacts, family: str, severity: int, *, maps: bool) -> Features:
    """Features of the AdvTest clean images corrupted by ``family`` at ``severity`` that the
    classifier still classifies correctly (``maps``: with full maps), computed once per run."""
    def compute() -> Features:
        images, labels, index = art.pool("advtest")
        corrupted = corrupt(images, family, severity, seed=art.config.seed, dataset=art.config.dataset,
                            index=index)
        kept = predict(art.model, corrupted, batch_size=art.config.batch_size) == labels
        images, labels = corrupted[kept], labels[kept]
        if maps:
            return art.map_features(images, labels)
        return art.extractor.extract(images, labels, progress=False)  # seconds: kept in memory, not cached

    return art.remembered(("benign-shift", family, severity, maps), compute)


def _realised(art: Artifacts, name: str, fit_attack: str, threshold: float) -> float:
    """The share of uncorrupted AdvTest clean inputs the detector flags at ``threshold``."""
    scores = art.remembered(("advtest-clean", art.detector_key(name, fit_attack)), lambda: art.fitted_detector(
        name, fit_attack).score(art.clean_features("advtest", maps=art.needs_maps(name))))
    return float((scores > threshold).mean())


def cell(art: Artifacts, name: str, fit_attack: str, family: str, severity: int) -> tuple[dict, dict]:
    """The metrics of one (detector, family, severity) record (module docstring)."""
    feats = shifted(art, family, severity, maps=art.needs_maps(name))
    threshold = threshold_at_fpr(art.calibration_scores(name, fit_attack), TARGET_FPRS["fpr5"])
    scores = art.fitted_detector(name, fit_attack).score(feats) if len(feats) else np.empty(0)
    flagged, n = int((scores > threshold).sum()), len(scores)
    interval = proportion_interval(flagged, n)
    n_pool = len(art.pool("advtest")[2])
    metrics = {"fpr5_shift": flagged / n if n else None,
               "fpr5_shift_ci_low": None if interval is None else interval[0],
               "fpr5_shift_ci_high": None if interval is None else interval[1],
               "n_shifted": n, "n_flagged": flagged, "kept": n / n_pool if n_pool else None,
               "fpr5_realised": _realised(art, name, fit_attack, threshold),
               "threshold_fpr5": threshold if np.isfinite(threshold) else None}
    dataset = art.config.dataset
    own = family in MEDMNISTC_PARAMS.get(dataset, {})
    return metrics, {"benign_shift": {"family": family, "severity": severity,
                                      "parameter": params_for(family, dataset)[severity - 1],
                                      "parameters_of": dataset if own else "default"}}


def cells_to_run(families: list[str]) -> list[tuple[str, int]]:
    return [(family, severity) for family in families for severity in SEVERITIES]
