"""Result records: one JSON object per line (JSON Lines), appended atomically.

A record describes one (dataset, model, fit attack, evaluated attack, detector, seed) cell:

    {"dataset": "pneumoniamnist", "model": "resnet20", "seed": 0,
     "fit_attack": "bim", "attack": "bim+hfc", "detector": "maha",
     "metrics": {"auc_before": 0.99, "auc_after": 0.12, "tpr90_before": 1.0, "tpr90_after": 0.0,
                 "adv_acc_before": 0.97, "adv_acc_after": 0.95,
                 "n_clean": 120, "n_adv_before": 116, "n_adv_after": 113},
     "per_image": {"evaded5_before": "0100...", "evaded5": "0110..."},
     "params": {...every run parameter...}, "versions": {...}, "device": "cpu",
     "timings": {"attack_seconds": ..., "fit_seconds": ...}}

Metrics are numbers, never strings; ``null`` marks a metric that could not be computed (e.g. no
successful AE).

A record's key is its cell (:data:`KEY_FIELDS`) *and* the settings that change its numbers
(:data:`SETTING_FIELDS`, read from ``params``): merging two runs of one cell under another budget,
M, HFC weight, noise setting, checkpoint (its SHA-256), hooked layers or image size keeps both,
never one silently.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import sys
import unicodedata
from contextlib import contextmanager
from pathlib import Path

from .errors import HfcbenchError
from .paths import disk_full, out_of_space

# the version of what a record holds: a run resumes only records of this version (version 2 added
# the operating-point metrics, per-image evasion and worst cases that count the fit attack)
RECORD_FORMAT = 2
# the status of a detector-aware attack's cell for a detector without torch_score
NOT_ADAPTIVE = "not adaptively attacked"
KEY_FIELDS = ("dataset", "model", "seed", "fit_attack", "attack", "detector")
SETTING_FIELDS = ("eps", "alpha", "steps", "epochs", "limit", "gmm_components", "hfc_weight", "noisy",
                  "checkpoint_sha256", "layers", "image_size", "window", "auto_version",
                  "auto_steps")


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
    """Append one line and flush it to disk, so a killed run keeps every finished record. The file
    is locked while it is written (two runs on one results file never interleave their lines),
    and a torn last line left by a run killed mid-write is cut off first, so it cannot swallow
    this record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True, allow_nan=False) + "\n").encode()
    try:
        with open(path, "ab+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            repair_torn_line(handle)
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        if out_of_space(exc):
            raise disk_full(path) from None
        raise


@contextmanager
def writing(path: Path, *, quiet: bool = False):
    """Hold the results file ``path`` for one run: a second run on the same file waits here until
    the first has finished, then resumes from its records instead of appending them again. (The
    lock is a separate file, ``.NAME.lock``, so that :func:`append_record`'s own lock on ``path``
    never waits on it.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not quiet:
                print(f"hfcbench: another run is writing {path}; waiting for it to finish (its records are then "
                      "reused, not computed again)", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def repair_torn_line(handle) -> None:
    """Truncate an open (binary, appendable) results file after its last complete line."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return
    start = max(0, size - (1 << 20))  # a record is far shorter than 1 MiB
    handle.seek(start)
    tail = handle.read()
    cut = tail.rfind(b"\n")
    handle.truncate(start + cut + 1 if cut >= 0 else start)
    handle.seek(0, os.SEEK_END)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number a record may hold")


# metric name prefixes (once a _ci_low/_ci_high suffix is cut) whose values are rates in [0, 1]
RATE_PREFIXES = ("auc_before", "auc_after", "pauc", "tpr", "fpr", "evasion", "adv_acc", "success")


def metric_problem(name: str, value) -> str | None:
    """Why ``value`` cannot be metric ``name`` of a record, or None: every metric is a finite
    number; counts (``n_*``) are whole and >= 0; AUCs and rates lie in [0, 1], ``auc_drop`` in
    [-1, 1], standard errors (``*_se``) in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "not a number (metrics are numbers or null)"
    if not math.isfinite(value):
        return "not a finite number"
    base = name.removesuffix("_ci_low").removesuffix("_ci_high")
    if name.startswith("n_"):
        return None if isinstance(value, int) and 0 <= value < 2 ** 53 else "not a count (a whole number >= 0)"
    if name.endswith("_se"):
        return None if 0 <= value <= 1 else "outside [0, 1] (a standard error of a rate)"
    if base == "auc_drop":
        return None if -1 <= value <= 1 else "outside [-1, 1] (a difference of two AUCs)"
    if base.startswith(RATE_PREFIXES):
        return None if 0 <= value <= 1 else "outside [0, 1] (an AUC or a rate)"
    return None


def _scalar(value) -> bool:
    return value is None or isinstance(value, str | int | float)


# the optional fields of a record that the reports read: field -> (check, what it must be)
OPTIONAL_FIELDS = {
    "warnings": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of texts"),
    "versions": (lambda v: isinstance(v, dict) and all(_scalar(x) for x in v.values()),
                 "an object of versions (texts or numbers)"),
    "timings": (lambda v: isinstance(v, dict) and all(x is None or isinstance(x, int | float) for x in v.values()),
                "an object of seconds"),
    "format": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "status": (lambda v: isinstance(v, str), "a text"),
    "reason": (lambda v: isinstance(v, str), "a text"),
    "device": (lambda v: isinstance(v, str), "a text"),
    "worst_of": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of attack names"),
    "checks": (lambda v: isinstance(v, dict), "an object"),
    "target": (lambda v: isinstance(v, dict), "an object"),
}


def one_line(text: str) -> bool:
    """Whether ``text`` is non-empty printable text on one line (no line break, tab or other control)."""
    return bool(text.strip()) and not any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def check_record(record, where: str) -> dict:
    """``record`` if it is a hfcbench result record, else an error naming ``where`` (file:line):
    an object with the key fields of the right types, ``metrics`` an object of numbers or null
    that :func:`metric_problem` accepts (and ``error`` text), ``params`` an object."""
    if not isinstance(record, dict):
        raise HfcbenchError(f"{where} is not a hfcbench result record: a JSON {type(record).__name__}, not an object")
    for field_name, kind in (("dataset", str), ("model", str), ("seed", int), ("fit_attack", str), ("attack", str),
                             ("detector", str)):
        value = record.get(field_name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise HfcbenchError(f"{where} is not a hfcbench result record: {field_name!r} is {value!r}, not a "
                                f"{kind.__name__}")
        if isinstance(value, str) and not one_line(value):
            raise HfcbenchError(f"{where}: {field_name!r} is {value!r}; a name is one line of text without control "
                                "characters")
    metrics = record.get("metrics")
    if not isinstance(metrics, dict):
        raise HfcbenchError(f"{where} is not a hfcbench result record: it has no 'metrics' object")
    for name, value in metrics.items():
        if name == "error":
            if not isinstance(value, str):
                raise HfcbenchError(f"{where}: metric 'error' must be text, got {value!r}")
        elif value is not None:
            problem = metric_problem(name, value)
            if problem:
                raise HfcbenchError(f"{where}: metric {name!r} is {value!r}, {problem}")
    per_image = record.get("per_image", {})
    if not isinstance(per_image, dict) or not all(isinstance(v, str) and set(v) <= {"0", "1"}
                                                  for v in per_image.values()):
        raise HfcbenchError(f"{where}: 'per_image' must be an object of 0/1 strings (one character per AdvTest image)")
    if not isinstance(record.get("params", {}), dict):
        raise HfcbenchError(f"{where}: 'params' must be an object")
    for field_name, (check, what) in OPTIONAL_FIELDS.items():
        if record.get(field_name) is not None and not check(record[field_name]):
            raise HfcbenchError(f"{where}: {field_name!r} is {record[field_name]!r}, not {what}")
    return record


def read_records(paths, *, allow_empty: bool = False) -> list[dict]:
    """Records from JSON Lines files; a later record with the same key replaces an earlier one.
    A torn last line (a run killed mid-write) is skipped; any other bad line, a file that is not
    UTF-8 text, a folder, a missing file, or files with no record at all are errors naming the
    file (and line). ``allow_empty``: no records is an empty list (a run resuming its own file)."""
    merged: dict[tuple, dict] = {}
    for path in map(Path, paths):
        if not path.exists():
            raise HfcbenchError(f"result file {path} does not exist")
        if path.is_dir():
            raise HfcbenchError(f"result file {path} is a folder; give the results.jsonl inside it")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise HfcbenchError(f"result file {path} is not UTF-8 text (a binary file?)") from None
        lines = text.split("\n")
        torn = len(lines) - 1 if not text.endswith("\n") else None  # index of an unterminated last line
        for index, line in enumerate(lines):
            if not line.strip():
                continue
            where = f"{path}:{index + 1}"
            try:
                record = check_record(json.loads(line, parse_constant=_reject_constant), where)
            except (json.JSONDecodeError, ValueError) as exc:
                if index == torn:
                    continue
                raise HfcbenchError(f"{where} is not a hfcbench result record ({exc})") from None
            merged[record_key(record)] = record
    if not merged and not allow_empty:
        raise HfcbenchError(f"no result records in {', '.join(map(str, paths))}")
    return list(merged.values())
