"""Result records: one JSON object per line (JSON Lines), appended atomically.

A record describes one (dataset, model, fit attack, evaluated attack, detector, seed) cell:

    {"dataset": "pneumoniamnist", "model": "resnet20", "seed": 0,
     "fit_attack": "bim", "attack": "bim+hfc", "detector": "maha",
     "metrics": {"auc_before": 0.99, "auc_after": 0.12, "tpr90_before": 1.0, "tpr90_after": 0.0,
                 "adv_acc_before": 0.97, "adv_acc_after": 0.95,
                 "n_clean": 120, "n_adv_before": 116, "n_adv_after": 113},
     "params": {...every run parameter...}, "versions": {...}, "device": "cpu",
     "timings": {"attack_seconds": ..., "fit_seconds": ...}}

Metrics are numbers, never strings; ``null`` marks a metric that could not be computed (e.g. no
successful AE).

A record's key is its cell (:data:`KEY_FIELDS`) *and* the settings that change its numbers
(:data:`SETTING_FIELDS`, read from ``params``): merging two runs of one cell under another budget,
M, HFC weight or noise setting keeps both, never one silently.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import HfcbenchError

KEY_FIELDS = ("dataset", "model", "seed", "fit_attack", "attack", "detector")
SETTING_FIELDS = ("eps", "alpha", "steps", "epochs", "limit", "gmm_components", "hfc_weight", "noisy")


def settings(record: dict) -> tuple:
    """``((field, value), ...)`` of the record's :data:`SETTING_FIELDS`, in that order. Under
    ``--eps auto`` the budget (and the step that follows from it) is ``"auto"``: each seed's
    classifier gets its own budget by one rule, and its records still belong together."""
    params = record.get("params") or {}
    auto = params.get("eps_search") is not None
    return tuple((field, "auto" if auto and field in ("eps", "alpha") else params.get(field))
                 for field in SETTING_FIELDS)


def record_key(record: dict) -> tuple:
    """The cell and its settings: ``(*KEY_FIELDS values, settings(record))``."""
    return (*(record[field] for field in KEY_FIELDS), settings(record))


def append_record(path: Path, record: dict) -> None:
    """Append one line and flush it to disk, so a killed run keeps every finished record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, allow_nan=False) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read_records(paths) -> list[dict]:
    """Records from JSON Lines files; a later record with the same key replaces an earlier one.
    A torn last line (a run killed mid-write) is skipped; any other bad line is an error."""
    merged: dict[tuple, dict] = {}
    for path in map(Path, paths):
        if not path.exists():
            raise HfcbenchError(f"result file {path} does not exist")
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                merged[record_key(record)] = record
            except (json.JSONDecodeError, KeyError) as exc:
                if number == len(lines):
                    continue
                raise HfcbenchError(f"{path}:{number} is not a hfcbench result record ({exc})") from exc
    return list(merged.values())
