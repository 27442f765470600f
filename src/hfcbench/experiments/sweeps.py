"""``gmm-sweep`` (Table III), ``eps-sweep`` (Fig. 5) and ``weight-sweep`` (not in the paper):
BIM+HFC against BIM-fitted detectors while one parameter moves."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..protocol.config import RunConfig
from ..report.plots import line_plot
from .common import (
    budget_note,
    command,
    figure,
    of_attack,
    pool_note,
    records,
    runner,
    seeded_records,
    seeds_note,
    traced,
)
from .paper import TABLE3, paper_name
from .report import Report, Table, arrow, pct

GMM_COMPONENTS = (1, 2, 4, 8, 16, 32, 64)
EPS_SWEEP = (1, 2, 4, 8, 16)  # in 1/256
HFC_WEIGHTS = (0, 0.01, 0.03, 0.1, 0.3, 1)  # --hfc-weight; 0 is plain BIM, 1 the paper's lambda_l
SMOKE_GMM_COMPONENTS, SMOKE_EPS_SWEEP, SMOKE_HFC_WEIGHTS = (1, 2), (4, 8), (0, 1)  # the smoke profile's sweeps


def _swept(group: list[dict]) -> dict:
    """``{detector: Cell}`` of BIM+HFC against BIM-fitted detectors among one swept value's
    records (the run also holds each detector's per-image worst case over BIM and BIM+HFC)."""
    return of_attack(group, "bim", "bim+hfc")


def _auc_rows(found: dict, tag: str, min_aes: int) -> dict[str, list[str]]:
    """``{detector: [AUC ``tag`` with its interval at each swept value]}`` from ``{value: records}``."""
    out: dict[str, list[str]] = {}
    for group in found.values():
        for detector, cell in _swept(group).items():
            out.setdefault(detector, []).append(cell.auc(tag, min_aes))
    return out


def _first(group: list[dict]):
    """The cell of the first detector of one swept value (Adv. Acc and AE counts are per attack)."""
    return next(iter(_swept(group).values()))


def _values(found: dict, metric: str, min_aes: int) -> np.ndarray:
    """(detectors, values) AUC point estimates, NaN where missing or under the min-AE rule."""
    columns = []
    for group in found.values():
        column = []
        for cell in _swept(group).values():
            value = cell.metric(metric).value
            column.append(np.nan if value is None or cell.n_aes("after") < min_aes else value)
        columns.append(column)
    return np.array(columns, dtype=float).T


def gmm_sweep(config: RunConfig, out: Path) -> Report:
    """Table III: AUC after BIM+HFC for each number of mixture components M."""
    components = SMOKE_GMM_COMPONENTS if config.profile == "smoke" else GMM_COMPONENTS
    found = {}
    for m in components:
        run = runner(config, attacks="hfc", fit_attacks="bim", gmm_components=m)
        found[m] = records(run, out, f"gmm-sweep-m{m}")
    rows = [[d, *values] for d, values in _auc_rows(found, "after", config.min_aes).items()]
    columns = _values(found, "auc_after", config.min_aes)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column (no AE anywhere) stays n/a
        rows.append(["Average", *[pct(None if np.isnan(v) else v) for v in np.nanmean(columns, 0)]])
        rows.append(["Maximum", *[pct(None if np.isnan(v) else v) for v in np.nanmax(columns, 0)]])
    rows.append(["Adv. Acc", *[pct(_first(g).metric("adv_acc_after").value) for g in found.values()]])
    rows.append(["n AEs", *[_first(g).n_aes("after") for g in found.values()]])
    report = Report("gmm-sweep", f"Table III on {config.dataset}: AUC (%) after BIM+HFC for M mixture components",
                    command("gmm-sweep", config), [pool_note(run), budget_note(run)],
                    [Table("hfcbench, one seed (lower = better attack)", ["detector", *[f"M={m}" for m in components]],
                           rows, f"95% paired-bootstrap intervals; Average and Maximum over the detectors' point "
                                 f"estimates with at least {config.min_aes} AEs.")],
                    records=[traced(r, gmm_components=m) for m, g in found.items() for r in g])
    if paper_name(config.dataset) == "Fundoscopy":
        report.tables.append(Table("the paper, Fundoscopy (ResNet-50)", ["detector", *[f"M={m}" for m in TABLE3["M"]]],
                                   [[d, *v] for d, v in TABLE3.items() if d != "M"]))
    return report


def eps_sweep(config: RunConfig, out: Path) -> Report:
    """Fig. 5: AUC of BIM-fitted detectors on BIM (before) and BIM+HFC (after) over budgets."""
    budgets = SMOKE_EPS_SWEEP if config.profile == "smoke" else EPS_SWEEP
    found = {}
    for eps in budgets:
        run = runner(config, attacks="hfc", fit_attacks="bim", eps=eps / 256)
        found[eps] = records(run, out, f"eps-sweep-{eps:g}")
    before, after = _auc_rows(found, "before", config.min_aes), _auc_rows(found, "after", config.min_aes)
    rows = [[d, *[f"{b} -> {a}" for b, a in zip(before[d], after[d], strict=True)]] for d in before]
    rows.append(["Adv. Acc", *[arrow(_first(g).metric("adv_acc_before").value, _first(g).metric("adv_acc_after").value)
                               for g in found.values()]])
    series, styles, groups_ = {}, {}, {}
    values = zip(before, _values(found, "auc_before", 0), _values(found, "auc_after", 0), strict=True)
    for d, b_values, a_values in values:
        for tag, values, style in (("BIM", b_values, "-o"), ("BIM+HFC", a_values, ":o")):
            label = f"{d} {tag}"
            series[label] = [None if np.isnan(v) else 100 * v for v in values]
            styles[label], groups_[label] = style, d
    name = f"eps-sweep-{config.dataset}.png"
    line_plot(figure(out, name), f"{config.dataset}: AUC over budgets, BIM (solid) and BIM+HFC (dotted)",
              list(budgets), series, xlabel="eps (/256)", ylabel="AUC (%)", styles=styles, groups=groups_)
    return Report("eps-sweep", f"Fig. 5 on {config.dataset}: AUC (%) before -> after HFC over budgets",
                  command("eps-sweep", config), [pool_note(run), f"alpha = 2 eps / {run.config.steps}, "
                                                                 f"{run.config.steps} steps at every budget"],
                  [Table("hfcbench, one seed: BIM -> BIM+HFC", ["detector", *[f"{e:g}/256" for e in budgets]], rows,
                         "95% paired-bootstrap intervals.")],
                  [name], [traced(r) for g in found.values() for r in g])


def weight_sweep(config: RunConfig, out: Path) -> Report:
    """AUC after BIM+HFC and Adv. Acc for each ``--hfc-weight``: how much feature hiding the HFC
    term buys, and at what cost in attack success (the paper fixes the weight at lambda_l = 1/C_l)."""
    weights = SMOKE_HFC_WEIGHTS if config.profile == "smoke" else HFC_WEIGHTS
    found, runs = {}, []
    for weight in weights:
        runs, found[weight] = seeded_records(config, out, f"weight-sweep-{weight:g}", attacks="hfc",
                                             fit_attacks="bim", hfc_weight=weight)
    first = next(iter(found.values()))
    before = _auc_rows({0: first}, "before", config.min_aes)
    rows = [[d, before[d][0], *values] for d, values in _auc_rows(found, "after", config.min_aes).items()]
    rows.append(["Adv. Acc", pct(_first(first).metric("adv_acc_before").value),
                 *[pct(_first(g).metric("adv_acc_after").value) for g in found.values()]])
    rows.append(["n AEs", _first(first).n_aes("before"), *[_first(g).n_aes("after") for g in found.values()]])
    seeds = f"{len(runs)} seeds" if len(runs) > 1 else "one seed"
    return Report("weight-sweep", f"HFC weight on {config.dataset} (not in the paper): AUC (%) after BIM+HFC for "
                                  "each --hfc-weight", command("weight-sweep", config),
                  [*seeds_note(runs), "weight w multiplies every lambda_l = 1/C_l of Eq. 17; w = 0 "
                   "is plain BIM, w = 1 the paper's HFC; detectors fitted on BIM"],
                  [Table(f"hfcbench, {seeds} (lower = better attack)",
                         ["detector", "BIM", *[f"w={w:g}" for w in weights]],
                         rows, f"AUC with 95% intervals; n<{config.min_aes}: fewer AEs than the min-AE rule allows; "
                               "n AEs: fewest per seed.")],
                  records=[traced(r, hfc_weight=w) for w, g in found.items() for r in g])
