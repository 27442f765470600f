"""What an experiment produces: tables, figures, notes and records, written as Markdown + JSONL.

Every number in a report comes from the run that made it; the paper's numbers, where shown,
come from :mod:`hfcbench.experiments.paper` and are labelled as the paper's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tabulate import tabulate

from ..cache import atomic_write_bytes
from ..report.cells import Estimate, pct, rested_text
from ..report.table import Table

FIGURES = "figures"  # the sub-folder of an experiment's output that holds its PNGs


@dataclass
class Report:
    """``name`` (the experiment), ``title``, ``command`` that reproduces it, ``notes`` (generated
    sentences: budgets found, sample sizes, fallbacks), ``tables``, ``figures`` (file names under
    the output's ``figures/``) and ``records`` (one JSON object per measured cell)."""

    name: str
    title: str
    command: str
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)

    def markdown(self) -> str:
        parts = [f"### {self.title}", "", f"`{self.command}`", ""]
        parts += [f"- {note}" for note in self.notes] + ([""] if self.notes else [])
        for table in self.tables:
            parts += [f"**{table.caption}**", "", tabulate(table.rows, headers=table.headers, tablefmt="github"), ""]
            parts += [table.note, ""] if table.note else []
        parts += [f"![{self.name}: {name}]({FIGURES}/{name})" for name in self.figures]
        return "\n".join(parts).rstrip() + "\n"

    def write(self, out: Path) -> list[Path]:
        """``out/NAME.md`` and ``out/NAME.jsonl`` (figures are already in ``out/figures``)."""
        out = Path(out)
        markdown = atomic_write_bytes(out / f"{self.name}.md", lambda h: h.write(self.markdown().encode()))
        lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records)
        records = atomic_write_bytes(out / f"{self.name}.jsonl", lambda h: h.write(lines.encode()))
        return [markdown, records]


def arrow(before, after) -> str:
    return f"{pct(before)} -> {pct(after)}"


def auc_text(stats: dict | None, min_aes: int) -> str:
    """An AUC from :func:`~hfcbench.stats.bootstrap.auc_interval` as a table shows it: with
    its interval, ``n<min_aes (n=...)`` under the min-AE rule, n/a where it could not be scored."""
    return "n/a" if stats is None else rested_text(Estimate.of(stats, "auc"), stats["n_adv"], min_aes)


def interval_text(stats: dict, digits: int = 3) -> str:
    """A number from :func:`~hfcbench.stats.bootstrap.ratio_of_means_interval` as a table
    shows it: ``0.977 [0.970, 0.984]``; n/a where there was nothing to average."""
    if stats["value"] is None:
        return "n/a"
    if stats["value_ci_low"] is None:
        return f"{stats['value']:.{digits}f}"
    return f"{stats['value']:.{digits}f} [{stats['value_ci_low']:.{digits}f}, {stats['value_ci_high']:.{digits}f}]"
