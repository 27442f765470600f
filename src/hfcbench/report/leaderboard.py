"""Leaderboards: a pure function of result records (so runs from several machines merge).

Records are grouped by (dataset, model, settings); the seeds of a group are aggregated
(one seed shows its paired-bootstrap interval, several a t-interval over seeds, see
:mod:`hfcbench.stats.intervals`). Cells are keyed by (fit attack, evaluated attack, detector), so
two fit attacks never share a column. For each group:

* the main table (the layout of the paper's Table I): rows are detectors, columns (fit attack,
  evaluated attack) pairs, each cell ``AUC before -> after`` with 95% intervals and ``TPR@90
  before -> after``, then rows for Adv. Acc and for the number of AEs the cells rest on;
* the operating-point table: evasion at 5% FPR, TPR at 5% and 1% FPR and partial AUC, with the
  realised false-alarm rates (:mod:`hfcbench.stats.operating_points`);
* detectors ranked by worst-case evasion and attacks by mean AUC drop (:mod:`.rankings`), each
  entry naming the entries it is **not separated from**, so that nobody reads an order into noise.

The minimum-AE rule and the ``inv`` mark: :mod:`.cells`. When records of one (dataset, model) were
made under different settings, the titles name the settings that differ.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict

from tabulate import tabulate

from ..results import NOT_ADAPTIVE, settings
from .benign_shift import benign_tables, is_benign
from .cells import MIN_AES, Cell, pct
from .rankings import Column, attack_ranking, detector_ranking
from .table import Table


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


def _labels(columns: list[Column]) -> dict[Column, str]:
    """A header label per (fit attack, attack) column: the attack, and its fit attack in brackets
    where the attack is evaluated against detectors fitted on several (``worst-case [pgd]``)."""
    count: dict[str, int] = defaultdict(int)
    for _, attack in columns:
        count[attack] += 1
    return {(fit, attack): attack if count[attack] == 1 else f"{attack} [{fit}]" for fit, attack in columns}


def _interval_text(seeds: list[int]) -> str:
    if len(seeds) == 1:
        return "95% paired bootstrap over AdvTest images"
    return (f"95% t-interval over the {len(seeds)} seeds, its variance floored at the seeds' mean bootstrap "
            "variance")


def main_table(cells: dict, columns: list[Column], labels: dict[Column, str], detectors: list[str], seeds: list[int],
               min_aes: int, compact: bool, caption: str, group: tuple[str, str]) -> Table:
    """The paper's Table I layout: ``AUC before -> after`` and ``TPR@90 before -> after`` per
    detector and column, then Adv. Acc and the number of AEs each column rests on."""
    headers = ["detector"] + [f"{labels[c]} {m}" for c in columns for m in ("AUC", "TPR@90")]
    rows: list[list] = []
    errors: dict[str, str] = {}
    warned: list[str] = []
    for det in detectors:
        row = [det]
        for column in columns:
            cell = cells.get((*column, det))
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
            warned += [f"{det} / {labels[column]}: {w}" for w in cell.warnings]
        rows.append(row)
    acc, counts = ["Adv. Acc"], [f"n AEs scored ({'per' if len(seeds) == 1 else 'fewest per'} seed)"]
    for column in columns:
        found = [cells[(*column, d)] for d in detectors if (*column, d) in cells]
        after = sorted({pct(c.metric("adv_acc_after").value) for c in found if not c.not_adaptive},
                       key=lambda t: -1.0 if t == "n/a" else float(t))
        n_after = sorted({c.n_aes("after") for c in found if not c.not_adaptive})
        acc += [f"{pct(found[0].metric('adv_acc_before').value)} -> {_span(after)}", ""]
        counts += [f"{found[0].n_aes('before')} -> {_span(n_after)}", ""]
    rows += [acc, counts]
    note = (f"AUC and TPR@90 in %; AUC intervals: {_interval_text(seeds)}. An AUC resting on fewer than {min_aes} "
            f"successful AEs (per seed) is shown as n<{min_aes}, with its TPR@90, and enters no ranking. 'inv': the "
            "AUC's whole interval lies below 50, so the attack overshoots (its AEs look more typical than clean "
            "inputs; a two-sided score would catch them). Detector-aware attacks (joint, selective, orthogonal, auto) "
            "craft one AE set per detector (Adv. Acc and n: their range over detectors), through a surrogate where the "
            f"detector has no torch_score; '{NOT_ADAPTIVE}': not even a surrogate can follow its score (the record "
            "says why). worst-case: per "
            "image, the successful AE the detector scores lowest over every attack evaluated against it, the fit "
            "attack included."
            + "".join(f" Error of {det}: {text}" for det, text in errors.items())
            + "".join(f" (!) {text}" for text in warned))
    return Table(caption, headers, rows, note, "main", group, [*detectors, None, None],
                 [None, *[c[1] for c in columns for _ in "12"]])


def operating_table(cells: dict, columns: list[Column], labels: dict[Column, str], detectors: list[str],
                    seeds: list[int], min_aes: int, compact: bool, caption: str, group: tuple[str, str]) -> Table:
    """At the operating point: per detector and column, the evasion at 5% FPR, TPR at 5% and 1%
    FPR and the partial AUC (FPR <= 5%), each ``before -> after``; then the realised FPRs."""
    metrics = (("evasion@5%", None), ("TPR@5%FPR", "tpr_fpr5"), ("TPR@1%FPR", "tpr_fpr1"), ("pAUC5", "pauc5"))
    headers = ["detector"] + [f"{labels[c]} {m}" for c in columns for m, _ in metrics] + ["FPR realised 1% / 5%"]
    rows: list[list] = []
    for det in detectors:
        row = [det]
        realised: dict[str, set[str]] = {"fpr1": set(), "fpr5": set()}
        for column in columns:
            cell = cells.get((*column, det))
            if cell is None or cell.failed:
                row += [""] * len(metrics)
                continue
            for name in realised:
                realised[name].add(pct(cell.metric(f"{name}_realised").value))
            after = NOT_ADAPTIVE if cell.not_adaptive else cell.evasion("after").text(compact)
            row += [f"{cell.evasion('before').text(compact)} -> {after}",
                    f"{cell.tpr('before', min_aes, 'tpr_fpr5')} -> {cell.tpr('after', min_aes, 'tpr_fpr5')}",
                    f"{cell.tpr('before', min_aes, 'tpr_fpr1')} -> {cell.tpr('after', min_aes, 'tpr_fpr1')}",
                    f"{cell.auc('before', min_aes, compact, 'pauc5')} -> "
                    f"{cell.auc('after', min_aes, compact, 'pauc5')}"]
        row.append(" / ".join(_span(sorted(realised[name])) for name in ("fpr1", "fpr5")))
        rows.append(row)
    note = ("In %, before (the fit attack) -> after (the evaluated attack). Each detector's thresholds are set on its "
            "calibration set, the AdvTrain clean scores, at 1% and 5% FPR (a deployer never sees AdvTest); 'FPR "
            "realised' is the share of AdvTest clean inputs flagged at those thresholds (its range over fit attacks). "
            "evasion@5%: the share of AdvTest images for which the attack produced an AE that fools the classifier and "
            "is not flagged at 5% FPR (it never exceeds Adv. Acc; no min-AE rule, since it counts every image). "
            f"TPR@x%FPR: the share of successful AEs flagged (n<{min_aes} under the min-AE rule). pAUC5: partial AUC "
            "for FPR <= 5%, McClish-standardised (50 = chance). Intervals: "
            f"{_interval_text(seeds)}, conditional on the calibration set.")
    return Table(caption, headers, rows, note, "operating", group, list(detectors),
                 [None, *[c[1] for c in columns for _ in metrics], None])


def tables(records: list[dict], *, min_aes: int = MIN_AES, compact: bool = False) -> list[Table]:
    """The main table, the operating-point table and the two rankings of every (dataset, model,
    settings) group (benign-shift records are :func:`~.benign_shift.benign_tables`' and skipped)."""
    found = groups([r for r in records if not is_benign(r)])
    varying = _varying(found)
    out = []
    for key in sorted(found, key=repr):
        dataset, model, _ = key
        cells = found[key]
        seeds = sorted({r["seed"] for cell in cells.values() for r in cell.records})
        where = f" [{varying[key]}]" if varying[key] else ""
        seeds_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
        columns: list[Column] = list(dict.fromkeys((f, a) for f, a, _ in cells))
        labels = _labels(columns)
        detectors = list(dict.fromkeys(d for _, _, d in cells))
        pairs = ", ".join(f"{fit} -> {labels[fit, attack]}" for fit, attack in columns)
        args = (cells, columns, labels, detectors, seeds, min_aes, compact)
        out.append(main_table(*args, f"{dataset} / {model} / {seeds_text}{where} (fit attack -> evaluated attack: "
                                     f"{pairs})", (dataset, model)))
        out.append(operating_table(*args, f"{dataset} / {model} / {seeds_text}{where}: at 5% and 1% false alarms",
                                   (dataset, model)))
        out.append(detector_ranking(cells, labels, detectors, min_aes, f"{dataset} / {model}{where}", (dataset, model)))
        out.append(attack_ranking(cells, labels, detectors, min_aes, f"{dataset} / {model}{where}: attacks by mean "
                                  "AUC drop over detectors", (dataset, model)))
    return out


TERMINAL_WIDTH = 120  # the text tables fit a terminal this wide; Markdown, CSV and the page keep the wide form


def format_tables(found: list[Table], fmt: str = "simple") -> str:
    """``found`` as text (``simple``: each table cut into parts that fit :data:`TERMINAL_WIDTH`
    columns, captions and notes wrapped) or Markdown (``github``: whole), each with its caption
    and note."""
    def cell(value):  # a '|' in a name would end a Markdown cell
        return value.replace("|", "\\|") if fmt == "github" and isinstance(value, str) else value

    parts = []
    for table in found:
        if fmt == "github":
            note = f"\n{table.note}\n" if table.note else ""
            rows = [[cell(v) for v in row] for row in table.rows]
            text = tabulate(rows, headers=[cell(h) for h in table.headers], tablefmt=fmt)
            parts.append(f"### {table.caption}\n\n{text}\n{note}")
            continue
        pieces = [_narrow(headers, rows, TERMINAL_WIDTH) for headers, rows in _fitting(table, TERMINAL_WIDTH)]
        note = f"\n{_wrapped(table.note)}\n" if table.note else ""
        parts.append(f"{_wrapped(table.caption)}\n\n" + "\n\n".join(pieces) + f"\n{note}")
    return "\n".join(parts)


def _narrow(headers: list[str], rows: list[list], width: int) -> str:
    """A text table of ``rows``; where one column alone makes it wider than ``width`` (a long
    'not separated from' list), that column's text is wrapped onto several lines."""
    text = tabulate(rows, headers=headers, tablefmt="simple")
    widths = [max(len(str(v)) for v in column) for column in zip(headers, *rows, strict=True)]
    excess = max(map(len, text.splitlines())) - width
    if excess <= 0:
        return text
    widest = widths.index(max(widths))
    limits: list[int | None] = [None] * len(headers)
    limits[widest] = max(widths[widest] - excess, 20)
    return tabulate(rows, headers=headers, tablefmt="simple", maxcolwidths=limits)


def _wrapped(text: str) -> str:
    return textwrap.fill(text, TERMINAL_WIDTH, break_long_words=False, break_on_hyphens=False)


def _fitting(table: Table, width: int) -> list[tuple[list[str], list[list]]]:
    """``table``'s columns cut into parts no wider than ``width`` when printed, each part led by
    the first (row label) column; the columns of one attack (``column_keys``) stay together where
    each attack's fit (else every column goes alone)."""
    keys = table.column_keys if len(table.column_keys) == len(table.headers) else [None] * len(table.headers)
    lead = [0, 1] if table.headers[:1] == ["rank"] else [0]  # a ranking's parts keep the rank and the name
    groups: list[list[int]] = []
    for index in range(len(lead), len(table.headers)):
        if groups and keys[index] is not None and keys[index] == keys[groups[-1][-1]]:
            groups[-1].append(index)
        else:
            groups.append([index])

    def printed(columns: list[int]) -> int:
        text = tabulate([[row[i] for i in columns] for row in table.rows], headers=[table.headers[i] for i in columns],
                        tablefmt="simple")
        return max(map(len, text.splitlines()))

    if any(printed([*lead, *group]) > width for group in groups):  # a group too wide alone is cut into its columns
        groups = [[i] for group in groups for i in group]
    parts: list[list[int]] = []
    for group in groups:
        if parts and printed([*lead, *parts[-1], *group]) <= width:
            parts[-1] += group
        else:
            parts.append(list(group))
    return [([table.headers[i] for i in (*lead, *part)], [[row[i] for i in (*lead, *part)] for row in table.rows])
            for part in parts] or [(table.headers, table.rows)]


def render(records: list[dict], fmt: str = "simple", *, min_aes: int = MIN_AES) -> str:
    """All tables as text (``simple``, compact intervals) or Markdown (``github``, full intervals),
    the benign-shift tables of benign-shift records after the leaderboards."""
    compact = fmt == "simple"
    shifted = [r for r in records if is_benign(r)]
    return format_tables([*tables(records, min_aes=min_aes, compact=compact),
                          *(benign_tables(shifted, compact=compact) if shifted else [])], fmt)
