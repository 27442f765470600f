"""``table1`` and ``table2``: the paper's main comparisons.

* ``table1`` (Table I): every base attack with and without HFC against every detector fitted on
  that base attack: AUC and TPR@90 before -> after, Adv. Acc.
* ``table2`` (Table II): HFC against the other feature-space adaptive attacks (random and closest
  guide, KDE-aware, LID-aware), all scored by BIM-fitted detectors.
"""

from __future__ import annotations

from pathlib import Path

from ..protocol.config import TABLE2_ATTACKS, RunConfig
from ..report.leaderboard import tables
from .common import cells, command, seeded_records, seeds_note, traced
from .paper import TABLE1, TABLE2, attack_rows, paper_name
from .report import Report, Table, arrow, pct


def table1(config: RunConfig, out: Path) -> Report:
    """Table I: base attacks with and without HFC against every detector."""
    runs, found = seeded_records(config, out, "table1", attacks="hfc")
    report = Report("table1", f"Table I on {config.dataset}: AUC and TPR@90 before -> after HFC",
                    command("table1", config), seeds_note(runs), records=[traced(r) for r in found])
    for table in tables(found, min_aes=config.min_aes):
        table.caption = f"hfcbench, {table.caption}"
        report.tables.append(table)
    paper = TABLE1.get(paper_name(config.dataset))
    if paper:
        detectors = list(dict.fromkeys(d for cells in paper.values() for d in cells))
        rows = [[d] + [arrow(*(v / 100 for v in paper[a][d])) if d in paper[a] else "n/a" for a in paper]
                for d in detectors]
        report.tables.append(Table(f"the paper, {paper_name(config.dataset)} (256x256, ResNet-50 or 3-D "
                                   "ResNet-18, eps 1/256): AUC before -> after",
                                   ["detector"] + [f"{a}+hfc AUC" for a in paper], rows))
    return report


# Table II's columns under --detectors all: the paper's detectors (with Metzen's DNN also on channel
# means); the post-hoc OOD scores added later are in table1 and the run's own tables
TABLE2_DETECTORS = "bu,dnn,dnn-mlp,hfc,kd,lid,maha,svm"


def table2(config: RunConfig, out: Path) -> Report:
    """Table II: HFC against the other adaptive attacks on BIM-fitted detectors (the paper's
    detectors, :data:`TABLE2_DETECTORS`, unless ``--detectors`` names others)."""
    attacks = ["bim+hfc", *TABLE2_ATTACKS]
    chosen = config.detectors if config.detectors != "all" else TABLE2_DETECTORS
    runs, found = seeded_records(config, out, "table2", attacks=",".join(["hfc", *TABLE2_ATTACKS]), fit_attacks="bim",
                                 detectors=chosen)
    by, min_aes = cells(found), config.min_aes
    detectors = list(dict.fromkeys(r["detector"] for r in found))
    first = by[("bim", "bim+hfc", detectors[0])]
    rows = [["bim (before)", *[by[("bim", "bim+hfc", d)].auc("before", min_aes) for d in detectors],
             pct(first.metric("adv_acc_before").value), first.n_aes("before")]]
    for attack in attacks:
        cell = by[("bim", attack, detectors[0])]
        rows.append([attack, *[by[("bim", attack, d)].auc("after", min_aes) for d in detectors],
                     pct(cell.metric("adv_acc_after").value), cell.n_aes("after")])
    seeds = f"{len(runs)} seeds" if len(runs) > 1 else "one seed"
    report = Report("table2", f"Table II on {config.dataset}: AUC (%) of BIM-fitted detectors after each "
                              "adaptive attack", command("table2", config), seeds_note(runs),
                    [Table(f"hfcbench ({seeds}): AUC after with 95% intervals (lower = better attack), Adv. Acc "
                           "(higher = better attack), successful AEs scored (fewest per seed)",
                           ["attack", *detectors, "Adv. Acc", "n AEs"], rows,
                           f"An AUC resting on fewer than {min_aes} AEs per seed is shown as n<{min_aes}.")],
                    records=[traced(r) for r in found])
    verdicts = []
    for d in detectors:
        column = {a: by[("bim", a, d)] for a in attacks}
        ranked = [(a, c.metric("auc_after")) for a, c in column.items()
                  if c.n_aes("after") >= min_aes and c.metric("auc_after").value is not None]
        if not ranked:
            verdicts.append(f"{d}: none")
            continue
        best, estimate = min(ranked, key=lambda item: item[1].value)
        tied = [a for a, e in ranked if a != best and e.overlaps(estimate)]
        verdicts.append(f"{d}: {best}" + (f" (not separated from {', '.join(tied)})" if tied else ""))
    report.notes.append(f"lowest AUC per detector among attacks with at least {min_aes} successful AEs: "
                        + "; ".join(verdicts))
    paper = attack_rows(TABLE2, config.dataset)
    if paper:
        report.tables.append(Table(f"the paper, {paper_name(config.dataset)} (ResNet-50, eps 1/256)", *paper))
    return report
