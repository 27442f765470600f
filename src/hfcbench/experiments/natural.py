"""``natural-vs-medical`` (paper Sec. V-F, Table V): HFC on CIFAR-10 at 8/256 and 16/256 against
the medical dataset at its own budget, BIM-fitted detectors, AUC of BIM and BIM+HFC."""

from __future__ import annotations

from pathlib import Path

from ..protocol.config import RunConfig
from .common import budget_note, cells, command, pool_note, records, runner, traced
from .paper import TABLE5, TABLE5_COLUMNS
from .report import Report, Table, pct

NATURAL = "cifar10"
NATURAL_BUDGETS = (8, 16)  # /256, the paper's Table V
NATURAL_DETECTORS = "kd,maha,lid,svm,dnn"


def natural_vs_medical(config: RunConfig, out: Path) -> Report:
    """Table V: the same detectors and attacks on CIFAR-10 and on this medical dataset."""
    detectors = config.detectors if config.detectors != "all" else NATURAL_DETECTORS
    settings = [(NATURAL, eps / 256) for eps in NATURAL_BUDGETS] + [(config.dataset, config.eps)]
    rows, found, notes = [], [], []
    for dataset, eps in settings:
        given = config if dataset == config.dataset else config.on_dataset(dataset)
        run = runner(given, eps=eps, attacks="hfc", fit_attacks="bim", detectors=detectors)
        group = records(run, out, f"natural-vs-medical-{dataset}-{256 * run.config.eps:g}")
        budget = f"{256 * run.config.eps:g}/256"
        found_cells, first = cells(group), group[0]["metrics"]
        for tag, label in (("before", "BIM"), ("after", "BIM+HFC")):
            aucs = [found_cells["bim", "bim+hfc", d].auc(tag, config.min_aes) for d in run.detector_names]
            rows.append([dataset, budget, label, *aucs,
                         pct(first[f"adv_acc_{tag}"]), first.get(f"n_adv_{tag}")])
        notes += [pool_note(run), budget_note(run)]
        found += [traced(r) for r in group]
    paper_rows = [[name, budget, label, *[f"{v:.1f}" for v in values[spec]]]
                  for (name, budget), values in TABLE5.items()
                  for spec, label in (("bim", "BIM"), ("bim+hfc", "BIM+HFC"))]
    return Report("natural-vs-medical", f"Table V: CIFAR-10 against {config.dataset}",
                  command("natural-vs-medical", config), list(dict.fromkeys(notes)),
                  [Table("hfcbench: AUC (%) of BIM-fitted detectors, Adv. Acc (%), successful AEs scored",
                         ["dataset", "eps", "attack", *run.detector_names, "Adv. Acc", "n AEs"], rows,
                         f"AUC with 95% paired-bootstrap intervals; n<{config.min_aes}: fewer AEs than the "
                         f"min-AE rule allows."),
                   Table("the paper (ResNet-50; 256x256 chest X-ray, 32x32 CIFAR-10)",
                         ["dataset", "eps", "attack", *TABLE5_COLUMNS], paper_rows)], [], found)
