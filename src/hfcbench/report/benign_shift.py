"""The benign-shift table: each detector's false-positive rate on corrupted clean images at its
5%-FPR threshold (:mod:`hfcbench.protocol.benign_shift` computes the records)."""

from __future__ import annotations

from collections import defaultdict

from ..results import settings
from .cells import Estimate, pct
from .table import Table


def is_benign(record: dict) -> bool:
    """Whether ``record`` is a benign-shift record (``benign_shift.jsonl``), not a leaderboard cell."""
    return "benign_shift" in record


def benign_tables(records: list[dict], *, compact: bool = False) -> list[Table]:
    """One table per (dataset, model, seed): rows (family, severity), columns detectors, each cell
    the FPR at the 5%-FPR threshold with its Wilson interval; then the images kept."""
    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        grouped[(r["dataset"], r["model"], r["seed"], r["fit_attack"], settings(r))].append(r)
    out = []
    for (dataset, model, seed, fit_attack, _), found in grouped.items():
        detectors = list(dict.fromkeys(r["detector"] for r in found))
        rows_by: dict[tuple[str, int], dict[str, dict]] = defaultdict(dict)
        for r in found:
            shift = r["benign_shift"]
            rows_by[shift["family"], shift["severity"]][r["detector"]] = r
        clean = ["no shift (AdvTest clean)"]
        for det in detectors:
            first = next(r for r in found if r["detector"] == det)
            clean.append(pct(first["metrics"].get("fpr5_realised")))
        rows = [clean + [""]]
        for (family, severity), by_detector in rows_by.items():
            row = [f"{family} @ {severity}"]
            for det in detectors:
                cell = by_detector.get(det)
                if cell is None:
                    row.append("")
                elif "error" in cell["metrics"]:
                    row.append("error")
                else:
                    row.append(Estimate.of(cell["metrics"], "fpr5_shift").text(compact))
            kept = next(iter(by_detector.values()))["metrics"]
            row.append(f"{kept.get('n_shifted')} ({pct(kept.get('kept'))}%)")
            rows.append(row)
        defaulted = sorted({r["benign_shift"]["family"] for r in found
                            if r["benign_shift"].get("parameters_of") == "default"})
        note = (f" {', '.join(defaulted)}: no MedMNIST-C parameters for {dataset}; MedMNIST-C's defaults "
                "(OrganAMNIST's, DermaMNIST's for the blurs) are used." if defaulted else "")
        out.append(Table(
            f"{dataset} / {model} / seed {seed}: false alarms on benign shift (FPR in % at the 5%-FPR threshold; "
            f"detectors fitted against {fit_attack})", ["corruption @ severity", *detectors, "images kept"], rows,
            "Corruptions of MedMNIST-C (Di Salvo et al. 2024) applied to the AdvTest clean images; only images the "
            "classifier still classifies correctly are kept (n, and their share of AdvTest). The threshold is set on "
            "the detector's AdvTrain clean scores at 5% FPR; intervals: 95% Wilson. Compare each rate with the "
            "detector's own first row (its FPR on the uncorrupted images, which exceeds 5% where the detector "
            "scores its own calibration set lower than new clean images): a rate far above it means the detector "
            "alarms on benign shift." + note,
            "benign-shift", (dataset, model), [None] * len(rows), [None, *detectors, None]))
    return out
