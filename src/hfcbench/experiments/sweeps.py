"""``gmm-sweep`` (Table III), ``eps-sweep`` (Fig. 5) and ``weight-sweep`` (not in the paper):
BIM+HFC against BIM-fitted detectors while one parameter moves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..benchmark.plots import line_plot
from ..benchmark.config import RunConfig
from .common import budget_note, command, figure, pool_note, records, runner, slim
from .paper import TABLE3, paper_name
from .report import Report, Table, arrow, pct

GMM_COMPONENTS = (1, 2, 4, 8, 16, 32, 64)
EPS_SWEEP = (1, 2, 4, 8, 16)  # in 1/256
HFC_WEIGHTS = (0, 0.01, 0.03, 0.1, 0.3, 1)  # --hfc-weight; 0 is plain BIM, 1 the paper's lambda_l
SMOKE_GMM_COMPONENTS, SMOKE_EPS_SWEEP, SMOKE_HFC_WEIGHTS = (1, 2), (4, 8), (0, 1)  # the smoke profile's sweeps


def _by_detector(found: dict, metric: str) -> dict[str, list]:
    """``{detector: [metric at each swept value]}`` from ``{value: records}``."""
    out = {}
    for value, group in found.items():
        for r in group:
            out.setdefault(r["detector"], []).append(r["metrics"].get(metric))
    return out


def gmm_sweep(config: RunConfig, out: Path) -> Report:
    """Table III: AUC after BIM+HFC for each number of mixture components M."""
    components = SMOKE_GMM_COMPONENTS if config.profile == "smoke" else GMM_COMPONENTS
    found, notes = {}, []
    for m in components:
        run = runner(config, attacks="hfc", fit_attacks="bim", gmm_components=m)
        found[m] = records(run, out, f"gmm-sweep-m{m}")
    notes += [pool_note(run), budget_note(run)]
    after = _by_detector(found, "auc_after")
    rows = [[d, *map(pct, values)] for d, values in after.items()]
    columns = np.array([[np.nan if v is None else v for v in values] for values in after.values()])
    rows.append(["Average", *map(pct, np.nanmean(columns, 0))])
    rows.append(["Maximum", *map(pct, np.nanmax(columns, 0))])
    rows.append(["Adv. Acc", *[pct(g[0]["metrics"]["adv_acc_after"]) for g in found.values()]])
    report = Report("gmm-sweep", f"Table III on {config.dataset}: AUC (%) after BIM+HFC for M mixture components",
                    command("gmm-sweep", config), notes,
                    [Table("hfcbench (lower = better attack)", ["detector", *[f"M={m}" for m in components]], rows)],
                    records=[slim(r, gmm_components=m) for m, g in found.items() for r in g])
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
    before, after = _by_detector(found, "auc_before"), _by_detector(found, "auc_after")
    rows = [[d, *[arrow(b, a) for b, a in zip(before[d], after[d])]] for d in before]
    rows.append(["Adv. Acc", *[arrow(g[0]["metrics"]["adv_acc_before"], g[0]["metrics"]["adv_acc_after"])
                               for g in found.values()]])
    series, styles, groups = {}, {}, {}
    for d in before:
        for tag, values, style in (("BIM", before[d], "-o"), ("BIM+HFC", after[d], ":o")):
            label = f"{d} {tag}"
            series[label] = [None if v is None else 100 * v for v in values]
            styles[label], groups[label] = style, d
    name = f"eps-sweep-{config.dataset}.png"
    line_plot(figure(out, name), f"{config.dataset}: AUC over budgets, BIM (solid) and BIM+HFC (dotted)",
              list(budgets), series, xlabel="eps (/256)", ylabel="AUC (%)", styles=styles, groups=groups)
    return Report("eps-sweep", f"Fig. 5 on {config.dataset}: AUC (%) before -> after HFC over budgets",
                  command("eps-sweep", config), [pool_note(run), f"alpha = 2 eps / {run.config.steps}, "
                                                                 f"{run.config.steps} steps at every budget"],
                  [Table("hfcbench: BIM -> BIM+HFC", ["detector", *[f"{e:g}/256" for e in budgets]], rows)],
                  [name], [slim(r) for g in found.values() for r in g])


def weight_sweep(config: RunConfig, out: Path) -> Report:
    """AUC after BIM+HFC and Adv. Acc for each ``--hfc-weight``: how much feature hiding the HFC
    term buys, and at what cost in attack success (the paper fixes the weight at lambda_l = 1/C_l)."""
    weights = SMOKE_HFC_WEIGHTS if config.profile == "smoke" else HFC_WEIGHTS
    found = {}
    for weight in weights:
        run = runner(config, attacks="hfc", fit_attacks="bim", hfc_weight=weight)
        found[weight] = records(run, out, f"weight-sweep-{weight:g}")
    after = _by_detector(found, "auc_after")
    first = next(iter(found.values()))
    rows = [[d, pct(r["metrics"]["auc_before"]), *map(pct, after[d])] for d, r in
            ((r["detector"], r) for r in first)]
    rows.append(["Adv. Acc", pct(first[0]["metrics"]["adv_acc_before"]),
                 *[pct(g[0]["metrics"]["adv_acc_after"]) for g in found.values()]])
    rows.append(["n AEs", first[0]["metrics"]["n_adv_before"],
                 *[g[0]["metrics"]["n_adv_after"] for g in found.values()]])
    return Report("weight-sweep", f"HFC weight on {config.dataset} (not in the paper): AUC (%) after BIM+HFC for "
                                  "each --hfc-weight", command("weight-sweep", config),
                  [pool_note(run), budget_note(run), "weight w multiplies every lambda_l = 1/C_l of Eq. 17; w = 0 "
                   "is plain BIM, w = 1 the paper's HFC; detectors fitted on BIM"],
                  [Table("hfcbench (lower = better attack)", ["detector", "BIM", *[f"w={w:g}" for w in weights]],
                         rows)],
                  records=[slim(r, hfc_weight=w) for w, g in found.items() for r in g])
