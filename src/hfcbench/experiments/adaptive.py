"""``adaptive`` (not in the paper): every detector attacked as itself.

The paper evaluates detectors against attacks written for other detectors (HFC, feature guides,
KDE- and LID-aware). Here BIM-fitted detectors also face the detector-aware attacks (``joint``,
``selective``, ``orthogonal``: :mod:`hfcbench.attacks.adaptive.detector`), and each detector's
per-image worst case is taken over the paper's attacks and over all of them (MEAD): how much
lower a detector's AUC goes once an attacker targets it, and which attack got it there.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..attacks import DETECTOR_AWARE
from ..protocol.config import TABLE2_ATTACKS, WORST_CASE, WORST_CASE_PAPER, RunConfig
from .common import cells, command, seeded_records, seeds_note, traced
from .report import Report, Table, pct

PAPER_ATTACKS = ("hfc", *TABLE2_ATTACKS)


def _most_worst(cell) -> str:
    """The attack that supplied the worst AE for the most images (over seeds), with its share."""
    counts = Counter()
    for record in cell.records:
        counts.update(record.get("worst_by") or {})
    if not counts:
        return "n/a"
    attack, n = counts.most_common(1)[0]
    return f"{attack} ({100 * n / sum(counts.values()):.0f}%)"


def adaptive(config: RunConfig, out: Path) -> Report:
    """Worst case per image over the paper's attacks and over all attacks, BIM-fitted detectors."""
    runs, found = seeded_records(config, out, "adaptive", attacks=",".join([*PAPER_ATTACKS, *DETECTOR_AWARE]),
                                 fit_attacks="bim")
    by, min_aes = cells(found), config.min_aes
    detectors = list(dict.fromkeys(r["detector"] for r in found))
    rows, warned = [], []
    for d in detectors:
        every = by[("bim", WORST_CASE, d)]
        paper = by.get(("bim", WORST_CASE_PAPER, d), every)  # not adaptively attacked: the paper's attacks are all
        row = [d, paper.auc("before", min_aes), paper.auc("after", min_aes), _most_worst(paper),
               every.auc("after", min_aes), _most_worst(every)]
        row += [by[("bim", a, d)].auc("after", min_aes) for a in DETECTOR_AWARE]
        rows.append(row)
        warned += [f"{d} / {a}: {w}" for a in DETECTOR_AWARE for w in by[("bim", a, d)].warnings]
    n_seeds = f"{len(runs)} seeds" if len(runs) > 1 else "one seed"
    notes = seeds_note(runs) + [
        "worst case: per AdvTest image, the successful AE the detector scores lowest over the attacks named "
        f"(paper: {', '.join(['bim+hfc', *TABLE2_ATTACKS])}; all: those and {', '.join(DETECTOR_AWARE)}); "
        "'by' names the attack that supplied it for the most images",
        "(!) marks an attack-strength warning: " + ("; ".join(warned) if warned else "none")]
    first = by[("bim", WORST_CASE, detectors[0])]
    return Report("adaptive", f"Every detector attacked as itself on {config.dataset}: worst case over the paper's "
                              "attacks against over all attacks", command("adaptive", config), notes,
                  [Table(f"hfcbench ({n_seeds}): AUC (%) with 95% intervals of BIM-fitted detectors; lower = the "
                         "detector is evaded", ["detector", "BIM (before)", "worst, paper attacks", "by",
                                                "worst, all attacks", "by", *[f"{a} AUC" for a in DETECTOR_AWARE]],
                         rows, f"Adv. Acc of BIM {pct(first.metric('adv_acc_before').value)}%; an AUC resting on "
                               f"fewer than {min_aes} AEs per seed is shown as n<{min_aes}.")],
                  records=[traced(r) for r in found])
