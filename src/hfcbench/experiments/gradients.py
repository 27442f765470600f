"""``gradient-consistency``: attacks push penultimate features in one direction (Sec. III-A,
Figs. 2 and 3).

For each AE the penultimate change ``dz = z(x_adv) - z(x)`` is compared (cosine similarity,
averaged over inputs) between attacks; along BIM's path each step's change ``z(x_t) - z(x_{t-1})``
is compared with the other steps'; for binary models ``dz`` is compared with ``w_target -
w_source`` (the rows of the last layer's weight), which Theorem 1 says it follows. A random
direction gives the chance level. Each number is a mean over images with its 95% bootstrap
interval over images.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..attacks import BASE_ATTACKS, build_attack
from ..attacks.base import choose_targets
from ..models.features import eval_mode
from ..protocol.budget import pool_sample
from ..protocol.config import RunConfig
from ..stats.bootstrap import ratio_of_means_interval
from .common import budget_note, command, pool_note, runner
from .report import Report, Table, interval_text

CONSISTENCY_POOL = 128


def _cosines(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """(n,) cosine similarity of each row of ``a`` (n, D) with the same row of ``b``."""
    return F.cosine_similarity(a, b, dim=1).cpu().numpy()


def _mean_cosine(a: torch.Tensor, b: torch.Tensor, seed: int) -> dict:
    """Mean cosine over the n images with its bootstrap interval (``ratio_of_means_interval``)."""
    return ratio_of_means_interval(_cosines(a, b), seed=seed)


def gradient_consistency(config: RunConfig, out: Path) -> Report:
    """Figs. 2/3: cosine similarity of penultimate-feature changes across attacks and BIM steps."""
    run = runner(config)
    c, test = run.config, run.dataset.test
    sample = pool_sample(run.split.adv_test, test.labels.numpy(), CONSISTENCY_POOL, c.seed)
    images, labels = test.images[sample], test.labels[sample]

    def penultimate(x):
        return run.extractor.extract(x, progress=False).penultimate.double()

    z = penultimate(images)
    changes = {}
    for name in BASE_ATTACKS:
        if name == "fgsm":
            continue
        changes[name] = penultimate(run.craft(run.build(name), images, labels, desc=name).adv) - z
    names = list(changes)
    attack_cosines = {a: {b: _mean_cosine(changes[a], changes[b], c.seed) for b in names} for a in names}
    attack_rows = [[a, *[interval_text(attack_cosines[a][b]) for b in names]] for a in names]

    bim = build_attack("bim", run.model, eps=c.eps, alpha=c.alpha, steps=c.steps, seed=c.seed)
    target = choose_targets(labels, run.dataset.num_classes, seed=c.seed)
    device = next(run.model.parameters()).device  # the path is walked by hand: inputs go to the model
    with eval_mode(run.model):
        path = [z] + [penultimate(x_t) for x_t in bim.iterates(images.to(device), target.to(device),
                                                                 torch.arange(len(images)))]
    steps = [b - a for a, b in pairwise(path)]
    # (n,) per image: the mean cosine over the ordered pairs of distinct steps
    pair_means = np.mean([_cosines(steps[i], steps[j]) for i in range(len(steps)) for j in range(len(steps))
                          if i != j], axis=0)
    step_pairwise = ratio_of_means_interval(pair_means, seed=c.seed)
    total = path[-1] - path[0]
    to_total = [_mean_cosine(step, total, c.seed) for step in steps]
    generator = torch.Generator().manual_seed(c.seed)
    random_direction = torch.randn(total.shape, generator=generator, dtype=total.dtype)
    chance = _mean_cosine(total, random_direction, c.seed)
    step_rows = [["mean over step pairs (s != t)", interval_text(step_pairwise)],
                 ["step t vs the whole path, first step", interval_text(to_total[0])],
                 ["step t vs the whole path, last step", interval_text(to_total[-1])],
                 ["whole path vs a random direction (chance)", interval_text(chance)]]
    tables = [Table("cosine similarity of dz between attacks", ["attack", *names], attack_rows),
              Table(f"BIM, {c.steps} steps: cosine similarity of per-step changes", ["comparison", "cosine"],
                    step_rows)]
    records = [{"dataset": c.dataset, "attack_cosines": attack_cosines, "step_pairwise_mean": step_pairwise,
                "step_to_total": to_total, "chance": chance, "params": run.params}]
    notes = [pool_note(run), budget_note(run), f"{len(sample)} AdvTest images; successful or not, every AE counts"]
    weight = run.extractor.extract(images[:1], progress=False).head_weight  # (K, D) last linear layer
    if run.dataset.num_classes == 2 and weight is not None:  # Theorem 1: dz follows w_target - w_source
        direction = (weight[target] - weight[labels]).double()
        weight_cosines = {a: _mean_cosine(changes[a], direction, c.seed) for a in names}
        rows = [[a, interval_text(value)] for a, value in weight_cosines.items()]
        rows.append(["random direction (chance)", interval_text(_mean_cosine(random_direction, direction, c.seed))])
        tables.append(Table("cosine similarity of dz with w_target - w_source", ["attack", "cosine"], rows))
        records[0]["weight_cosines"] = weight_cosines
    else:
        notes.append(f"the w_target - w_source comparison is for binary models; this one has "
                     f"{run.dataset.num_classes} classes")
    return Report("gradient-consistency", f"Figs. 2/3 on {c.dataset}: consistency of feature changes",
                  command("gradient-consistency", config), notes, tables, [], records)
