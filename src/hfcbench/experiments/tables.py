"""``table1`` and ``table2``: the paper's main comparisons.

* ``table1`` (Table I): every base attack with and without HFC against every detector fitted on
  that base attack: AUC and TPR@90 before -> after, Adv. Acc.
* ``table2`` (Table II): HFC against the other feature-space adaptive attacks (random and closest
  guide, KDE-aware, LID-aware), all scored by BIM-fitted detectors.
"""

from __future__ import annotations

from pathlib import Path

from ..benchmark.leaderboard import tables
from ..benchmark.config import TABLE2_ATTACKS, RunConfig
from .common import budget_note, command, pool_note, records, runner, slim
from .paper import TABLE1, TABLE2, attack_rows, paper_name
from .report import Report, Table, arrow, pct

MIN_AES = 10  # an attack with fewer successful AEs is not ranked: its AUC rests on too few points


def table1(config: RunConfig, out: Path) -> Report:
    """Table I: base attacks with and without HFC against every detector."""
    run = runner(config, attacks="hfc")
    found = records(run, out, "table1")
    report = Report("table1", f"Table I on {config.dataset}: AUC and TPR@90 before -> after HFC",
                    command("table1", config), [pool_note(run), budget_note(run)],
                    records=[slim(r) for r in found])
    for title, headers, rows in tables(found):
        report.tables.append(Table(f"hfcbench, {title}", headers, rows))
    paper = TABLE1.get(paper_name(config.dataset))
    if paper:
        detectors = list(dict.fromkeys(d for cells in paper.values() for d in cells))
        rows = [[d] + [arrow(*(v / 100 for v in paper[a][d])) if d in paper[a] else "n/a" for a in paper]
                for d in detectors]
        report.tables.append(Table(f"the paper, {paper_name(config.dataset)} (256x256, ResNet-50 or 3-D "
                                   "ResNet-18, eps 1/256): AUC before -> after",
                                   ["detector"] + [f"{a}+hfc AUC" for a in paper], rows))
    return report


def table2(config: RunConfig, out: Path) -> Report:
    """Table II: HFC against the other adaptive attacks on BIM-fitted detectors."""
    attacks = ["bim+hfc", *TABLE2_ATTACKS]
    run = runner(config, attacks=",".join(["hfc", *TABLE2_ATTACKS]), fit_attacks="bim")
    found = records(run, out, "table2")
    cell = {(r["attack"], r["detector"]): r["metrics"] for r in found}
    detectors = list(dict.fromkeys(r["detector"] for r in found))
    bim = [pct(cell[("bim+hfc", d)].get("auc_before")) for d in detectors]
    first = cell[("bim+hfc", detectors[0])]
    rows = [["bim (before)", *bim, pct(first["adv_acc_before"]), first.get("n_adv_before")]]
    n_aes = {a: cell[(a, detectors[0])].get("n_adv_after") or 0 for a in attacks}
    for attack in attacks:
        rows.append([attack, *[pct(cell[(attack, d)].get("auc_after")) for d in detectors],
                     pct(cell[(attack, detectors[0])]["adv_acc_after"]), n_aes[attack]])
    report = Report("table2", f"Table II on {config.dataset}: AUC (%) of BIM-fitted detectors after each "
                              "adaptive attack", command("table2", config), [pool_note(run), budget_note(run)],
                    [Table("hfcbench: AUC after (lower = better attack), Adv. Acc (higher = better attack), "
                           "successful AEs scored", ["attack", *detectors, "Adv. Acc", "n AEs"], rows)],
                    records=[slim(r) for r in found])
    ranked = [a for a in attacks if n_aes[a] >= MIN_AES]
    best = {d: min(ranked, key=lambda a: cell[(a, d)].get("auc_after") if cell[(a, d)].get("auc_after")
                   is not None else 2.0) for d in detectors} if ranked else {}
    report.notes.append(f"lowest AUC per detector among attacks with at least {MIN_AES} successful AEs: "
                        + (", ".join(f"{d}: {a}" for d, a in best.items()) or "none"))
    paper = attack_rows(TABLE2, config.dataset)
    if paper:
        report.tables.append(Table(f"the paper, {paper_name(config.dataset)} (ResNet-50, eps 1/256)", *paper))
    return report
