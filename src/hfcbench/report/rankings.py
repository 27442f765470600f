"""The two rankings of a (dataset, model, settings) group, from its cells.

**Detectors** are ranked by their worst-case evasion at 5% FPR, lowest (most robust) first: the
largest share of AdvTest images on which any attack evaluated against the detector, its fit attack
included and the per-image worst cases included, produced an AE that fooled the classifier and
passed the threshold set on the detector's calibration set. Beside it: the lowest AUC and the
lowest TPR at 5% FPR of any cell with enough AEs (min-AE rule), each picked by its point value.
"not separated from" names the detectors whose worst evasion the **paired** bootstrap does not
tell apart (the 95% interval of the replicate-wise difference over the same resampled images
holds 0; several seeds: a t-interval over the per-seed differences); records without per-image
evasion fall back to overlapping intervals, and records without any evasion (older versions) to
the worst AUC.

**Attacks** are ranked by the mean paired AUC drop they cause, over one common set of detectors
(those with enough AEs under every ranked attack), so every row averages the same detectors; where
no detector qualifies under every attack, each row says over how many it averages. Verdicts are
not adjusted for multiple comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..results import NOT_ADAPTIVE
from .cells import Cell, Estimate, separated
from .table import Table

Column = tuple[str, str]  # (fit attack, evaluated attack)
Lowest = tuple[str, Estimate, list[str]]  # (label, estimate, labels of the overlapping others)


@dataclass
class _Worst:
    """A detector's entry in the ranking: its worst evasion (label, estimate, (cell, side)), its
    lowest AUC and its lowest TPR at 5% FPR."""

    key: str
    label: str
    evasion: tuple[str, Estimate, tuple[Cell, str]] | None
    auc: Lowest | None
    tpr: Lowest | None


def _value(estimate: Estimate) -> float:
    assert estimate.value is not None  # candidates are filtered on a value
    return estimate.value


def _sides(cells: dict, labels: dict[Column, str], detector: str) -> list[tuple[str, Cell, str]]:
    """Every (label, cell, side) scored on ``detector``: each evaluated attack's AEs ("after") and
    each fit attack's own AEs ("before", once per fit attack)."""
    out, seen = [], set()
    for (fit, attack, det), cell in cells.items():
        if det != detector or cell.failed:
            continue
        if fit not in seen:
            seen.add(fit)
            out.append((fit, cell, "before"))
        if not cell.not_adaptive and attack != fit:
            out.append((labels[fit, attack], cell, "after"))
    return out


def _lowest(candidates: list[tuple[str, Estimate]]) -> Lowest | None:
    """The candidate with the lowest point value and the others whose intervals overlap it."""
    if not candidates:
        return None
    label, estimate = min(candidates, key=lambda c: _value(c[1]))
    return label, estimate, [other for other, e in candidates if other != label and e.overlaps(estimate)]


def _by(found: Lowest | None) -> str:
    if found is None:
        return "n/a"
    return found[0] + (f" (~ {', '.join(found[2])})" if found[2] else "")


def detector_ranking(cells: dict, labels: dict[Column, str], detectors: list[str], min_aes: int, where: str,
                     group: tuple[str, str]) -> Table:
    """Detectors by worst-case evasion at 5% FPR (module docstring); ``where`` starts the caption."""
    entries, unranked = [], []
    for det in detectors:
        sides = _sides(cells, labels, det)
        label = det + (f" ({NOT_ADAPTIVE})" if any(c.not_adaptive for (_, _, d), c in cells.items() if d == det)
                       else "")
        evasions = [(side_label, cell.evasion(side), (cell, side)) for side_label, cell, side in sides
                    if cell.evasion(side).value is not None]
        rested = [(side_label, cell, side) for side_label, cell, side in sides if cell.n_aes(side) >= min_aes]
        aucs = [(s, c.metric(f"auc_{side}")) for s, c, side in rested if c.metric(f"auc_{side}").value is not None]
        tprs = [(s, c.metric(f"tpr_fpr5_{side}")) for s, c, side in rested
                if c.metric(f"tpr_fpr5_{side}").value is not None]
        worst_evasion = max(evasions, key=lambda e: _value(e[1])) if evasions else None
        entry = _Worst(det, label, worst_evasion, _lowest(aucs), _lowest(tprs))
        if entry.evasion is None and entry.auc is None:
            unranked.append(label)
            continue
        entries.append(entry)
    by_evasion = bool(entries) and all(e.evasion is not None for e in entries)
    if by_evasion:
        entries.sort(key=lambda e: _value(e.evasion[1]) if e.evasion else 0.0)
    else:  # records made before evasion was recorded: the worst AUC, highest first
        unranked += [e.label for e in entries if e.auc is None]
        entries = sorted((e for e in entries if e.auc is not None), key=lambda e: -_value(e.auc[1]) if e.auc else 0.0)
    rows, estimates = [], []
    for i, entry in enumerate(entries):
        tied = [other.label for other in entries if other is not entry and not _apart(entry, other, by_evasion)]
        evasion, auc, tpr = entry.evasion, entry.auc, entry.tpr
        rows.append([i + 1, entry.label, "n/a" if evasion is None else evasion[1].text(),
                     "n/a" if evasion is None else evasion[0], "n/a" if auc is None else _marked(auc[1]), _by(auc),
                     "n/a" if tpr is None else tpr[1].text(), ", ".join(tied) or "-"])
        shown = evasion[1] if by_evasion and evasion else auc[1] if auc else Estimate(None)
        estimates.append((entry.label, shown.value, shown.low, shown.high))
    note = ("Worst case over every attack evaluated against the detector, its fit attack's own AEs and the per-image "
            "worst cases included. Evasion at 5% FPR: the share of AdvTest images with an AE that fools the classifier "
            "and passes the threshold set on the detector's AdvTrain clean scores (lower = more robust); ranked on it. "
            f"Worst AUC and TPR@5%FPR: the lowest point value among cells with at least {min_aes} AEs; '~' names "
            "that detector's other cells whose intervals overlap it. 'not separated from': the 95% interval of the "
            "paired bootstrap difference of the two worst evasions (the same resampled images) holds 0; not adjusted "
            "for multiple comparisons.")
    measure = "worst-case evasion at 5% FPR (lower = more robust), 95% interval"
    caption = f"{where}: detectors by worst-case evasion at 5% FPR (lowest first)"
    if not by_evasion:
        note += " These records carry no evasion rate (an older version): ranked by the worst AUC, highest first."
        measure, caption = "worst-case AUC, 95% interval", f"{where}: detectors by worst-case AUC (highest first)"
    if unranked:
        note += f" Not ranked (no attack with {min_aes} AEs): {', '.join(unranked)}."
    return Table(caption, ["rank", "detector", "worst evasion@5%FPR", "evasion by", "worst AUC", "AUC by",
                           "worst TPR@5%FPR", "not separated from"], rows, note, "detectors", group,
                 [e.key for e in entries], estimates=estimates, measure=measure)


def _marked(estimate: Estimate) -> str:
    """An AUC with its interval, and `` inv`` where it is below chance beyond its interval."""
    return estimate.text() + (" inv" if estimate.below_chance() else "")


def _apart(entry: _Worst, other: _Worst, by_evasion: bool) -> bool:
    """Whether two ranking entries are separated: by the paired bootstrap of their worst evasions
    where the records allow it, else by disjoint intervals."""
    if by_evasion and entry.evasion and other.evasion:
        paired = separated(entry.evasion[2], other.evasion[2])
        if paired is not None:
            return paired
        return not entry.evasion[1].overlaps(other.evasion[1])
    assert entry.auc is not None and other.auc is not None  # ranked by AUC: both have one
    return not entry.auc[1].overlaps(other.auc[1])


def _mean(estimates: list[Estimate]) -> Estimate:
    """The mean of the values, with the mean of the bounds as its interval (exact if the errors
    were perfectly correlated, wider otherwise); a point where a bound is missing."""
    value = float(np.mean([e.value for e in estimates]))
    if any(e.low is None or e.high is None for e in estimates):
        return Estimate(value)
    return Estimate(value, float(np.mean([e.low for e in estimates])), float(np.mean([e.high for e in estimates])))


def attack_ranking(cells: dict, labels: dict[Column, str], detectors: list[str], min_aes: int, caption: str,
                   group: tuple[str, str]) -> Table:
    """Attacks by mean AUC drop over one common set of detectors (module docstring)."""
    columns = [c for c in labels if not c[1].startswith("worst-case") and c[0] != c[1]]

    def eligible(column: Column, det: str) -> bool:
        cell = cells.get((*column, det))
        return (cell is not None and not cell.failed and not cell.not_adaptive and cell.n_aes("after") >= min_aes
                and cell.metric("auc_drop").value is not None)

    ranked = [c for c in columns if any(eligible(c, d) for d in detectors)]
    common = [d for d in detectors if ranked and all(eligible(c, d) for c in ranked)]
    entries = []
    for column in ranked:
        over = common or [d for d in detectors if eligible(column, d)]
        found = [cells[(*column, d)] for d in over]
        evasions = [c.evasion("after") for c in found if c.evasion("after").value is not None]
        entries.append((column, _mean([c.metric("auc_drop") for c in found]),
                        _mean(evasions).text() if len(evasions) == len(found) else "n/a", len(over)))
    entries.sort(key=lambda e: -_value(e[1]))
    rows = [[i + 1, labels[column], drop.text(), evasion, n,
             ", ".join(labels[c] for c, other, *_ in entries if c != column and other.overlaps(drop)) or "-"]
            for i, (column, drop, evasion, n) in enumerate(entries)]
    if common:
        over_text = f"the same {len(common)} detectors under every attack ({', '.join(common)})"
    else:
        over_text = ("each attack's own detectors: no detector has enough AEs under every attack, so the rows "
                     "average different detectors (column 'detectors') and are not comparable")
    note = (f"Mean over {over_text} of the paired AUC drop (before - after) and of the evasion at 5% FPR; interval of "
            "the drop: the mean of the detectors' interval bounds (exact if their errors were perfectly correlated, "
            f"wider otherwise). Cells under the {min_aes}-AE rule are left out"
            + (f", and so are attacks without any: {', '.join(labels[c] for c in columns if c not in ranked)}."
               if len(ranked) < len(columns) else ".")
            + " 'not separated from': overlapping intervals; not adjusted for multiple comparisons.")
    return Table(caption, ["rank", "attack", "mean AUC drop", "mean evasion@5%FPR", "detectors", "not separated from"],
                 rows, note, "attacks", group, [column[1] for column, *_ in entries],
                 estimates=[(labels[c], e.value, e.low, e.high) for c, e, *_ in entries])
