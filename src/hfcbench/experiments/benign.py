"""``benign-shift`` (not in the paper): each detector's false alarms on benign, modality-specific
corruptions of clean images (MedMNIST-C's families, five severities), at the threshold that gives
5% FPR on its calibration set (:mod:`hfcbench.protocol.benign_shift`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..protocol.config import RunConfig
from ..report.benign_shift import benign_tables
from .common import command, pool_note, runner
from .report import Report


def benign_shift(config: RunConfig, out: Path) -> Report:
    """False-positive rates of BIM-fitted detectors on corrupted AdvTest clean images."""
    run = runner(replace(config, benign_shift=config.benign_shift or "auto"), fit_attacks="bim")
    found = list(run.run_benign_shift(Path(out) / "raw" / "benign-shift.jsonl"))
    notes = [pool_note(run)] + ([run.benign_note] if run.benign_note else [])
    return Report("benign-shift", f"False alarms on benign shift on {config.dataset} (not in the paper)",
                  command("benign-shift", config), notes, benign_tables(found), records=found)
