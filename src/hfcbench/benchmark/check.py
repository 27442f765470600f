"""The CI regression gate: compare detector AUCs of a run with a committed baseline.

A failure is a detector whose AUC on a base attack (``auc_before``) fell by more than the
tolerance, an adaptive attack whose AUC (``auc_after``) rose by more than the tolerance (the
attack got weaker), or a baseline cell the run did not produce.
"""

from __future__ import annotations

import json
from pathlib import Path

from tabulate import tabulate

from ..errors import HfcbenchError
from .results import KEY_FIELDS, SETTING_FIELDS, record_key, settings


def make_baseline(records: list[dict]) -> dict:
    return {"fields": list(KEY_FIELDS),
            "entries": [{"key": [r[f] for f in KEY_FIELDS], "settings": dict(settings(r)),
                         "auc_before": r["metrics"].get("auc_before"), "auc_after": r["metrics"].get("auc_after")}
                        for r in records]}


def _entry_key(entry: dict) -> tuple:
    stored = entry.get("settings") or {}
    return (*entry["key"], tuple((field, stored.get(field)) for field in SETTING_FIELDS))


def load_baseline(path) -> dict:
    try:
        baseline = json.loads(Path(path).read_text())
        baseline["entries"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise HfcbenchError(f"{path} is not a hfcbench baseline ({exc}); write one with 'hfcbench baseline'") from exc
    return baseline


def compare(records: list[dict], baseline: dict, tolerance: float) -> tuple[bool, str]:
    """``(passed, table)``."""
    if tolerance < 0:
        raise HfcbenchError(f"--tolerance must be >= 0, got {tolerance}")
    current = {record_key(r): r["metrics"] for r in records}
    rows, passed = [], True
    for entry in baseline["entries"]:
        metrics = current.get(_entry_key(entry))
        for metric, worse in (("auc_before", -1), ("auc_after", +1)):
            old = entry.get(metric)
            new = None if metrics is None else metrics.get(metric)
            if old is None:
                continue
            if new is None:
                status = "MISSING"
            else:
                status = "FAIL" if (new - old) * worse > tolerance else "ok"
            passed &= status == "ok"
            rows.append([*entry["key"], metric, f"{old:.4f}", "-" if new is None else f"{new:.4f}",
                         "-" if new is None else f"{new - old:+.4f}", status])
    headers = [*KEY_FIELDS, "metric", "baseline", "now", "change", "status"]
    return passed, tabulate(rows, headers=headers)
