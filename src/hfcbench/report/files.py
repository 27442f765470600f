"""A run's leaderboard files: Markdown, CSV and the page, written atomically beside its results."""

from __future__ import annotations

import csv
import functools
import io
from pathlib import Path

from ..cache import atomic_write_bytes
from ..results import settings
from .benign_shift import benign_tables, is_benign
from .cells import MIN_AES
from .leaderboard import render
from .page import write_page


def to_csv(records: list[dict]) -> str:
    """One row per record: keys, settings and every metric (intervals included) as numbers."""
    buffer = io.StringIO()
    metric_names = sorted({m for r in records for m in r["metrics"] if m != "error"})
    setting_names = [field for field, _ in settings(records[0])] if records else []
    writer = csv.writer(buffer)
    writer.writerow(["dataset", "model", "seed", "fit_attack", "attack", "detector", *setting_names, *metric_names])
    for r in records:
        writer.writerow([r["dataset"], r["model"], r["seed"], r["fit_attack"], r["attack"], r["detector"],
                         *[value for _, value in settings(r)], *[r["metrics"].get(m) for m in metric_names]])
    return buffer.getvalue()


def _write(data: bytes, handle) -> None:
    handle.write(data)


def write_tables(records: list[dict], folder: Path, *, min_aes: int = MIN_AES) -> list[Path]:
    """``leaderboard.md``, ``leaderboard.csv`` and the page ``leaderboard.html`` of ``records`` in
    ``folder``, each written atomically, with the benign-shift tables of its benign-shift records
    (and their CSV, ``benign_shift.csv``) where it holds some; returns their paths."""
    cells = [r for r in records if not is_benign(r)]
    shifted = [r for r in records if is_benign(r)]
    files = [("leaderboard.md", render(records, "github", min_aes=min_aes)), ("leaderboard.csv", to_csv(cells))]
    if shifted:
        files.append(("benign_shift.csv", to_csv(shifted)))
    written = [atomic_write_bytes(folder / name, functools.partial(_write, text.encode())) for name, text in files]
    written.append(write_page(cells, folder / "leaderboard.html", min_aes=min_aes,
                              extra=benign_tables(shifted) if shifted else []))
    return written
