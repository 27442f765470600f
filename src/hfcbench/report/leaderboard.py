"""Leaderboards: a pure function of result records (so runs from several machines merge), and
:func:`write_tables`, which writes them beside a run's results.

Records are grouped by (dataset, model, settings); the seeds of a group are aggregated
(:mod:`hfcbench.stats.bootstrap`: one seed shows its paired-bootstrap interval, several a
t-interval over seeds). For each group:

* the main table (the layout of the paper's Table I): rows are detectors, columns evaluated
  attacks, each cell ``AUC before -> after`` with 95% intervals and ``TPR@90 before -> after``,
  then rows for Adv. Acc and for the number of AEs the cells rest on;
* detectors ranked by their worst-case AUC over the attacks, and attacks by the mean AUC drop they
  cause, each entry naming the entries it is **not separated from** (overlapping intervals), so
  that nobody reads an order into noise.

**Minimum-AE rule**: an AUC resting on fewer than ``min_aes`` successful AEs (per seed) is shown
as ``n<min_aes (n=...)`` and enters no ranking. When records of one (dataset, model) were made
under different settings, the titles name the settings that differ.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from tabulate import tabulate

from ..results import NOT_ADAPTIVE, settings
from .cells import MIN_AES, Cell, Estimate, pct


@dataclass
class Table:
    """A captioned table with an optional note printed under it. For the page
    (:mod:`hfcbench.report.page`) a table also says what its rows and columns are: ``kind``
    (``main``, ``detectors`` or ``attacks``), its (dataset, model) ``group``, the detector or
    attack of each row (``row_keys``; None for summary rows) and of each column (``column_keys``),
    and for a ranking its ``estimates`` (label, value, low, high) in row order."""

    caption: str
    headers: list[str]
    rows: list[list]
    note: str = ""
    kind: str = ""
    group: tuple[str, str] = ("", "")
    row_keys: list[str | None] = field(default_factory=list)
    column_keys: list[str | None] = field(default_factory=list)
    estimates: list[tuple[str, float | None, float | None, float | None]] = field(default_factory=list)


def _setting_text(field: str, value) -> str:
    if field in ("eps", "alpha") and isinstance(value, (int, float)):
        return f"{field}={256 * value:g}/256"
    return f"{field}={value}"


def groups(records: list[dict]) -> dict[tuple, dict[tuple, Cell]]:
    """``{(dataset, model, settings): {(fit_attack, attack, detector): Cell}}``, in record order."""
    grouped: dict = defaultdict(lambda: defaultdict(list))
    for r in records:
        grouped[(r["dataset"], r["model"], settings(r))][(r["fit_attack"], r["attack"], r["detector"])].append(r)
    return {key: {cell: Cell(rs) for cell, rs in cells.items()} for key, cells in grouped.items()}


def _varying(keys) -> dict[tuple, str]:
    """``{group key: "eps=8/256, hfc_weight=0.5"}``: the settings that differ between groups of one
    (dataset, model), empty where they agree."""
    by_model = defaultdict(list)
    for key in keys:
        by_model[key[:2]].append(key)
    out = {}
    for same in by_model.values():
        differing = [i for i in range(len(same[0][2])) if len({k[2][i] for k in same}) > 1]
        for key in same:
            out[key] = ", ".join(_setting_text(*key[2][i]) for i in differing)
    return out


def _span(values: list) -> str:
    """One value, or the range of several (detector-aware attacks: one AE set per detector)."""
    if not values:
        return "n/a"
    return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"


def _not_separated(entries: list[tuple[str, Estimate]]) -> list[str]:
    return [", ".join(other for other, e in entries if other != name and e.overlaps(estimate)) or "-"
            for name, estimate in entries]


def _ranked(entries: list[tuple[str, str, Estimate, list]], headers: list[str], caption: str, note: str,
            kind: str, group: tuple[str, str]) -> Table:
    """``entries`` = (key, label, estimate, extra columns), ranked by estimate, highest first."""
    entries = sorted(entries, key=lambda e: e[2].bounds()[0] if e[2].value is None else e[2].value, reverse=True)
    verdicts = _not_separated([(label, estimate) for _, label, estimate, _ in entries])
    rows = [[i + 1, label, estimate.text(), *extra, verdict]
            for i, ((_, label, estimate, extra), verdict) in enumerate(zip(entries, verdicts, strict=True))]
    return Table(caption, headers + ["not separated from"], rows, note, kind, group, [key for key, *_ in entries],
                 estimates=[(label, e.value, e.low, e.high) for _, label, e, _ in entries])


def tables(records: list[dict], *, min_aes: int = MIN_AES, compact: bool = False) -> list[Table]:
    """The main table and the two rankings of every (dataset, model, settings) group."""
    found = groups(records)
    varying = _varying(found)
    out = []
    for key in sorted(found, key=repr):
        dataset, model, _ = key
        cells = found[key]
        seeds = sorted({r["seed"] for cell in cells.values() for r in cell.records})
        where = f" [{varying[key]}]" if varying[key] else ""
        seeds_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
        attacks = list(dict.fromkeys(a for _, a, _ in cells))
        detectors = list(dict.fromkeys(d for _, _, d in cells))
        by = {(a, d): cell for (_, a, d), cell in cells.items()}
        fit_of = {a: f for f, a, _ in cells}
        headers = ["detector"] + [f"{a} {m}" for a in attacks for m in ("AUC", "TPR@90")]
        rows: list[list] = []
        errors: dict[str, str] = {}
        warned: list[str] = []
        for det in detectors:
            row = [det]
            for attack in attacks:
                cell = by.get((attack, det))
                if cell is None:
                    row += ["", ""]
                    continue
                failed = [r["metrics"]["error"] for r in cell.records if "error" in r["metrics"]]
                if failed:
                    errors.setdefault(det, failed[0])
                    row += ["error (below)", ""]
                    continue
                row += [f"{cell.auc('before', min_aes, compact)} -> {cell.auc('after', min_aes, compact)}",
                        f"{cell.tpr('before', min_aes)} -> {cell.tpr('after', min_aes)}"]
                warned += [f"{det} / {attack}: {w}" for w in cell.warnings]
            rows.append(row)
        acc, counts = ["Adv. Acc"], [f"n AEs scored ({'per' if len(seeds) == 1 else 'fewest per'} seed)"]
        for attack in attacks:
            column = [by[(attack, d)] for d in detectors if (attack, d) in by]
            after = sorted({pct(c.metric("adv_acc_after").value) for c in column if not c.not_adaptive},
                           key=lambda t: -1.0 if t == "n/a" else float(t))
            n_after = sorted({c.n_aes("after") for c in column if not c.not_adaptive})
            acc += [f"{pct(column[0].metric('adv_acc_before').value)} -> {_span(after)}", ""]
            counts += [f"{column[0].n_aes('before')} -> {_span(n_after)}", ""]
        rows += [acc, counts]
        interval = ("95% paired bootstrap over AdvTest images" if len(seeds) == 1 else
                    f"95% t-interval over the {len(seeds)} seeds, never narrower than each seed's bootstrap")
        note = (f"AUC and TPR@90 in %; AUC intervals: {interval}. An AUC resting on fewer than {min_aes} successful "
                f"AEs (per seed) is shown as n<{min_aes}, with its TPR@90, and enters no ranking. Detector-aware "
                "attacks (joint, selective, orthogonal) craft one AE set per detector (Adv. Acc and n: their range "
                "over detectors); "
                f"'{NOT_ADAPTIVE}': the detector has no torch_score, so they could not run against it. worst-case: per "
                "image, the successful AE the detector scores lowest over every attack evaluated against it."
                + "".join(f" Error of {det}: {text}" for det, text in errors.items())
                + "".join(f" (!) {text}" for text in warned))
        out.append(Table(f"{dataset} / {model} / {seeds_text}{where} (fit attack -> evaluated attack: "
                         + ", ".join(f"{fit_of[a]} -> {a}" for a in attacks) + ")", headers, rows, note, "main",
                         (dataset, model), [*detectors, None, None], [None, *[a for a in attacks for _ in "12"]]))

        worst, unranked = [], []
        for det in detectors:
            candidates = [(a, by[(a, det)].metric("auc_after")) for a in attacks if (a, det) in by
                          and by[(a, det)].n_aes("after") >= min_aes
                          and by[(a, det)].metric("auc_after").value is not None]
            label = det + (f" ({NOT_ADAPTIVE})" if any(c.not_adaptive for (_, d), c in by.items() if d == det) else "")
            if candidates:
                attack, estimate = min(candidates, key=lambda c: c[1].bounds()[0])
                worst.append((det, label, estimate, [attack]))
            else:
                unranked.append(label)
        note = ("Worst case: the lowest AUC after any evaluated attack with enough AEs, the per-image worst case "
                "included, with that cell's interval. 'not separated from' names entries whose intervals overlap: "
                "their order is not established.")
        if unranked:
            note += f" Not ranked (no attack with {min_aes} AEs): {', '.join(unranked)}."
        out.append(_ranked(worst, ["rank", "detector", "worst AUC", "by attack"],
                           f"{dataset} / {model}{where}: detectors by worst-case AUC after the adaptive attacks", note,
                           "detectors", (dataset, model)))

        drops = []
        for attack in (a for a in attacks if not a.startswith("worst-case")):
            estimates = [by[(attack, d)].metric("auc_drop") for d in detectors if (attack, d) in by
                         and by[(attack, d)].n_aes("after") >= min_aes]
            estimates = [e for e in estimates if e.value is not None]
            if estimates:
                bounds = [e for e in estimates if e.low is not None]
                mean = Estimate(float(np.mean([e.value for e in estimates])),
                                float(np.mean([e.low for e in bounds])) if len(bounds) == len(estimates) else None,
                                float(np.mean([e.high for e in bounds])) if len(bounds) == len(estimates) else None)
                drops.append((attack, attack, mean, [len(estimates)]))
        note = ("Mean over detectors of the paired AUC drop (before - after); interval: the mean of the detectors' "
                "interval bounds (exact if their errors were perfectly correlated, wider otherwise). Cells under "
                f"the {min_aes}-AE rule are left out.")
        out.append(_ranked(drops, ["rank", "attack", "mean AUC drop", "detectors"],
                           f"{dataset} / {model}{where}: attacks by mean AUC drop over detectors", note, "attacks",
                           (dataset, model)))
    return out


def render(records: list[dict], fmt: str = "simple", *, min_aes: int = MIN_AES) -> str:
    """All tables as text (``simple``, compact intervals) or Markdown (``github``, full intervals)."""
    parts = []
    for table in tables(records, min_aes=min_aes, compact=fmt == "simple"):
        heading = f"### {table.caption}" if fmt == "github" else table.caption
        note = f"\n{table.note}\n" if table.note else ""
        parts.append(f"{heading}\n\n{tabulate(table.rows, headers=table.headers, tablefmt=fmt)}\n{note}")
    return "\n".join(parts)
