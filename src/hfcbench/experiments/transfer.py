"""``semi-white-box`` (paper Sec. V-E, Table IV): the attacker knows only the architecture.

A substitute classifier of the same architecture is trained on the same data with another seed
(other initial weights and batch order), with its own HFC mixtures (a victim given by its
``--checkpoint`` gets a substitute trained from its factory: the attacker knows the architecture,
not the weights). BIM and BIM+HFC AEs are
crafted on the substitute for the victim's AdvTest images and handed to the victim: Adv. Acc is
the share the *victim* classifies as the target, and the victim's detectors (fitted on the
victim's own BIM AEs) score the successful ones.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..errors import HfcbenchError
from ..models import Features
from ..protocol.config import RunConfig
from ..protocol.runner import Runner
from ..stats.bootstrap import auc_interval
from ..stats.metrics import success_rate
from .common import budget_note, command, pool_note, runner
from .paper import TABLE4, attack_rows, paper_name
from .report import Report, Table, auc_text, pct

TRANSFER_DETECTORS = "kd,maha,lid,svm,dnn"


def transferred(victim: Runner, substitute: Runner, spec: str) -> tuple[Features, torch.Tensor, np.ndarray]:
    """Victim features of the substitute's ``spec`` AEs on the victim's AdvTest, the AEs themselves
    (N, C, *spatial), and success on the victim."""
    images, labels, _ = victim.pool("advtest")
    key = victim.aes_key(spec, "advtest", substitute=substitute.trained.key)

    def compute():
        result = substitute.craft(substitute.build(spec), images, labels, desc=f"{spec} on substitute")
        feats = victim.extractor.extract(result.adv, result.target, progress=False)
        return {"features": feats.to_state(), "adv": result.adv, "success": feats.predictions == result.target}

    state = victim.cache.get_or_compute("aes", key, compute)
    return Features.from_state(state["features"]), state["adv"], state["success"].numpy()


def semi_white_box(config: RunConfig, out: Path) -> Report:
    """Table IV: BIM and BIM+HFC crafted on a substitute model, scored on the victim."""
    victim = runner(config, detectors=config.detectors if config.detectors != "all" else TRANSFER_DETECTORS)
    substitute = Runner(replace(victim.config, seed=config.seed + 1, checkpoint=None), dataset=victim.dataset)
    rows, records = [], []
    for spec in ("bim", "bim+hfc"):
        feats, images, success = transferred(victim, substitute, spec)
        kept = np.flatnonzero(success)
        adv = feats.subset(kept)
        cells = {}
        for name in victim.detector_names:
            try:
                detector, maps = victim.fitted_detector(name, "bim"), victim.needs_maps(name)
                scored = victim.map_features(images[kept], adv.labels) if maps else adv
                clean = victim.clean_features("advtest", maps=maps)
                scores = detector.score(scored) if len(adv) else np.empty(0)
                cells[name] = auc_interval(detector.score(clean), scores, kept, seed=config.seed)
            except HfcbenchError:
                cells[name] = None
        rows.append([spec, *[auc_text(cell, config.min_aes) for cell in cells.values()], pct(success_rate(success)),
                     len(adv)])
        records.append({"dataset": config.dataset, "attack": spec, "setting": "semi-white-box",
                        "auc": cells, "adv_acc": success_rate(success), "n_adv": len(adv), "params": victim.params,
                        "substitute": {"seed": substitute.config.seed, "checkpoint_key": substitute.trained.key,
                                       "test_accuracy": substitute.trained.test_accuracy}})
    notes = [pool_note(victim), budget_note(victim),
             f"substitute: {substitute.arch} trained with seed {config.seed + 1} (test accuracy "
             f"{100 * substitute.trained.test_accuracy:.1f}%); victim detectors fitted on the victim's own BIM AEs"]
    report = Report("semi-white-box", f"Table IV on {config.dataset}: AEs crafted on a substitute model",
                    command("semi-white-box", config), notes,
                    [Table("hfcbench: victim detectors' AUC (%) and the victim's Adv. Acc (%)",
                           ["attack", *victim.detector_names, "Adv. Acc", "n AEs"], rows,
                           f"AUC with 95% bootstrap intervals (each AE resampled with its source image); "
                           f"n<{config.min_aes}: fewer AEs than the min-AE rule allows.")], [], records)
    paper = attack_rows(TABLE4, config.dataset)
    if paper:
        report.tables.append(Table(f"the paper, {paper_name(config.dataset)} (ResNet-50, eps 4/256)", *paper))
    return report

