"""The CI regression gate: compare detector AUCs of a run with a committed baseline.

A failure is a detector whose AUC on a base attack (``auc_before``) fell by more than the
tolerance, an adaptive attack whose AUC (``auc_after``) rose by more than the tolerance (the
attack got weaker), or a baseline cell the run did not produce. The operating-point metrics are
gated in the same directions: a detector's TPR at 5% and 1% FPR and its partial AUC on the base
attack falling (``tpr_fpr5_before``, ``tpr_fpr1_before``, ``pauc5_before``), its realised FPR
rising (``fpr5_realised``), and the attack getting weaker: the partial AUC after it rising
(``pauc5_after``), the evasion at 5% FPR falling (``evasion5``).
They are counts over few images (on the smoke profile one image moves them by several points),
so they fail only when they move beyond the tolerance *and* outside the baseline cell's 95%
interval. The gate also fails when it would
compare nothing (an empty baseline, or no baseline cell found in the results), and when the
results were computed on another platform than the baseline (instruction set, CPU kernels,
thread count: :mod:`hfcbench.isa`), because then numbers move for reasons that are not a
regression. Each row also says whether the new value lies outside the baseline cell's 95%
bootstrap interval: a move beyond the tolerance but inside the interval is within the noise of
the cell's finite AdvTest set, one outside it is not.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from tabulate import tabulate

from ..errors import HfcbenchError
from ..results import KEY_FIELDS, SETTING_FIELDS, metric_problem, record_key, settings

PLATFORM_FIELDS = ("isa", "cpu_capability", "threads")
# metric -> (direction in which it gets worse: -1 falling, +1 rising; whether a move must also leave
# the baseline's interval to fail)
GATED = {"auc_before": (-1, False), "auc_after": (+1, False), "tpr_fpr5_before": (-1, True),
         "tpr_fpr1_before": (-1, True), "pauc5_before": (-1, True), "pauc5_after": (+1, True),
         "fpr5_realised": (+1, True), "evasion5": (-1, True)}


def platform_of(records: list[dict]) -> dict:
    """The platform (``PLATFORM_FIELDS`` of ``versions``) all ``records`` were computed on."""
    seen = {tuple((f, (r.get("versions") or {}).get(f)) for f in PLATFORM_FIELDS) for r in records}
    if len(seen) > 1:
        raise HfcbenchError(f"the results mix platforms {sorted(map(str, (dict(s) for s in seen)))}; "
                            "a baseline and a check compare results made under one")
    return dict(seen.pop()) if seen else {}


def make_baseline(records: list[dict]) -> dict:
    if not records:
        raise HfcbenchError("no result records: a baseline of nothing would pass every check")
    entries = []
    for r in records:
        m = r["metrics"]
        entries.append({"key": [r[f] for f in KEY_FIELDS], "settings": dict(settings(r)),
                        **{f"{name}{part}": m.get(f"{name}{part}") for name in GATED
                           for part in ("", "_ci_low", "_ci_high")}})
    return {"fields": list(KEY_FIELDS), "platform": platform_of(records), "entries": entries}


def _entry_key(entry: dict) -> tuple:
    stored = entry.get("settings") or {}
    return (*entry["key"], tuple((field, stored.get(field)) for field in SETTING_FIELDS))


def load_baseline(path) -> dict:
    """The baseline at ``path``, every entry checked: an error names the file, the entry and the field."""
    try:
        baseline = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HfcbenchError(f"{path} is not a hfcbench baseline ({type(exc).__name__}: {exc}); write one with "
                            "'hfcbench baseline'") from None
    entries = baseline.get("entries") if isinstance(baseline, dict) else None
    if not isinstance(entries, list):
        raise HfcbenchError(f"{path} is not a hfcbench baseline (no 'entries' list); write one with "
                            "'hfcbench baseline'")
    if not isinstance(baseline.get("platform", {}), dict):
        raise HfcbenchError(f"{path}: 'platform' must be an object")
    for index, entry in enumerate(entries):
        problem = _entry_problem(entry)
        if problem:
            raise HfcbenchError(f"{path}: entry {index}: {problem}; write the baseline again with 'hfcbench baseline'")
    return baseline


def _entry_problem(entry) -> str | None:
    if not isinstance(entry, dict):
        return f"a JSON {type(entry).__name__}, not an object"
    key = entry.get("key")
    if not (isinstance(key, list) and len(key) == len(KEY_FIELDS)
            and all(isinstance(v, str | int) and not isinstance(v, bool) for v in key)):
        return f"'key' is {key!r}, not a list of the {len(KEY_FIELDS)} values of {', '.join(KEY_FIELDS)}"
    if not isinstance(entry.get("settings", {}), dict):
        return "'settings' must be an object"
    for metric in GATED:
        for name in (metric, f"{metric}_ci_low", f"{metric}_ci_high"):
            value = entry.get(name)
            problem = None if value is None else metric_problem(name, value)
            if problem:
                return f"{name!r} is {value!r}, {problem}"
    return None


def compare(records: list[dict], baseline: dict, tolerance: float) -> tuple[bool, str]:
    """``(passed, report)``: a table of every compared AUC, ending with the verdict and its reason."""
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and 0 <= tolerance < 1):
        raise HfcbenchError(f"--tolerance must be a number in [0, 1) (a change of AUC), got {tolerance}")
    reach = [old if worse < 0 else 1 - old for entry in baseline["entries"] for metric, (worse, _) in GATED.items()
             if metric.startswith("auc") and (old := entry.get(metric)) is not None]
    if reach and tolerance >= max(reach):
        raise HfcbenchError(f"--tolerance {tolerance} lets every AUC pass: no AUC of this baseline can change by "
                            f"more than {max(reach):.4f} in the direction that fails; give a tolerance such as 0.02")
    if not baseline["entries"]:
        return False, "check FAILED: the baseline holds no entries, so the gate would compare nothing"
    expected, actual = baseline.get("platform") or {}, platform_of(records)
    mismatched = [f"{f}: baseline {expected.get(f)!r}, results {actual.get(f)!r}" for f in PLATFORM_FIELDS
                  if expected.get(f) != actual.get(f)]
    if mismatched:
        return False, ("check FAILED: the results were computed on another platform than the baseline ("
                       + "; ".join(mismatched) + "); numbers differ for that reason alone. Run with the baseline's "
                       "--isa and thread count.")
    current = {record_key(r): r["metrics"] for r in records}
    by_cell: dict[tuple, list[dict]] = {}
    for r in records:
        by_cell.setdefault(tuple(r[f] for f in KEY_FIELDS), []).append(dict(settings(r)))
    rows: list[list] = []
    passed, found, differing = True, 0, set[str]()
    for entry in baseline["entries"]:
        metrics = current.get(_entry_key(entry))
        found += metrics is not None
        if metrics is None:
            stored = entry.get("settings") or {}
            for other in by_cell.get(tuple(entry["key"]), []):
                differing |= {f"{f} (baseline {stored.get(f)!r}, results {other.get(f)!r})" for f in SETTING_FIELDS
                              if stored.get(f) != other.get(f)}
        for metric, (worse, beyond_interval) in GATED.items():
            old = entry.get(metric)
            new = None if metrics is None else metrics.get(metric)
            if old is None:
                continue
            low, high = entry.get(f"{metric}_ci_low"), entry.get(f"{metric}_ci_high")
            outside = "-" if new is None or low is None else "yes" if not low <= new <= high else "no"
            regressed = new is not None and (new - old) * worse > tolerance and (not beyond_interval or outside != "no")
            status = "MISSING" if new is None else "FAIL" if regressed else "ok"
            passed &= status == "ok"
            rows.append([*entry["key"], metric, f"{old:.4f}", "-" if new is None else f"{new:.4f}",
                         "-" if new is None else f"{new - old:+.4f}", outside, status])
    headers = [*KEY_FIELDS, "metric", "baseline", "now", "change", "outside baseline CI", "status"]
    table = tabulate(rows, headers=headers)
    settings_note = f"; the results were made under other settings: {', '.join(sorted(differing))}" if differing else ""
    if found == 0:
        return False, (f"{table}\ncheck FAILED: none of the baseline's cells (key and settings) is in the results, "
                       f"so nothing was compared{settings_note}")
    if differing:
        return False, f"{table}\ncheck FAILED: baseline cells are missing{settings_note}"
    outside = sum(row[-2] == "yes" for row in rows)
    noise = f"; {outside} of {len(rows)} values lie outside the baseline cell's 95% interval"
    if passed:
        return True, f"{table}\ncheck passed ({found} cells compared{noise})"
    return False, f"{table}\ncheck FAILED: metrics moved beyond the tolerance {tolerance} or cells are missing{noise}"
