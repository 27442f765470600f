"""``stress``: the feature-vulnerability stress test (paper Sec. III-B, Fig. 4).

BIM that *decreases* (``J_down = mean(f_l(x))``) or *increases* (``J_up = -mean(f_l(x))``) the
mean activation of one block ``l`` at a time, within a small L-inf budget; the ratio of the
block's mean activation after and before the attack says how far the representation can be
pushed. The paper finds medical images' features move much further than natural images'.
"""

from __future__ import annotations

from pathlib import Path

from ..attacks.base import LossTerm
from ..attacks.bim import BIM
from ..models.features import PENULTIMATE
from ..protocol.budget import pool_sample
from ..protocol.config import RunConfig
from ..report.plots import line_plot
from ..stats.bootstrap import ratio_of_means_interval
from .common import command, figure, pool_note, runner
from .report import Report, Table, interval_text

STRESS_EPS = 1 / 256  # the paper's budget for Fig. 4
STRESS_STEPS = 10
STRESS_POOL = 128
COMPARE_WITH = "cifar10"


class MeanActivation(LossTerm):
    """``sign * mean(f_l(x))`` for one layer; replaces the classification loss."""

    needs_layers = True
    replaces_objective = True

    def __init__(self, layer: str, sign: float):
        self.layer, self.sign = layer, sign

    def __call__(self, feats, target):
        return self.sign * feats.layers[self.layer].mean(1)


def block_ratios(run, *, eps: float = STRESS_EPS, steps: int = STRESS_STEPS,
                 size: int = STRESS_POOL) -> dict[str, tuple[dict, dict]]:
    """``{layer: (ratio after J_up, ratio after J_down)}``: mean activation of the block on the
    AEs over that on the clean inputs, for a seeded sample of the correctly classified pool, each
    a :func:`~hfcbench.stats.bootstrap.ratio_of_means_interval` (each image resampled with
    its AE)."""
    test = run.dataset.test
    sample = pool_sample(run.split.kept, test.labels.numpy(), size, run.config.seed)
    images, labels = test.images[sample], test.labels[sample]
    clean = run.extractor.extract(images, labels, progress=False)
    out = {}
    for layer in [name for name in clean.layer_names if name != PENULTIMATE]:
        means = []
        for sign in (-1.0, 1.0):  # -mean raised (J_up), +mean lowered (J_down)
            attack = BIM(run.model, eps=eps, alpha=2 * eps / steps, steps=steps, seed=run.config.seed,
                         terms=[MeanActivation(layer, sign)])
            adv = run.craft(attack, images, labels, desc=f"stress {layer}").adv
            means.append(run.extractor.extract(adv, labels, progress=False).layers[layer].mean(1).numpy())
        base = clean.layers[layer].mean(1).numpy()  # (n,) each image's mean activation of the block
        out[layer] = tuple(ratio_of_means_interval(moved, base, seed=run.config.seed) for moved in means)
    return out


def stress(config: RunConfig, out: Path) -> Report:
    """Fig. 4: how far BIM moves each block's mean activation, this dataset against CIFAR-10."""
    sets = [config.dataset] + ([COMPARE_WITH] if config.dataset != COMPARE_WITH else [])
    ratios, notes, params = {}, [], {}
    for name in sets:
        run = runner(config, dataset=name, eps=STRESS_EPS)
        ratios[name], params[name] = block_ratios(run), run.params
        notes.append(pool_note(run))
    notes.append(f"BIM within eps = {256 * STRESS_EPS:g}/256, {STRESS_STEPS} steps, on up to {STRESS_POOL} "
                 "correctly classified test images; ratio = mean activation of the block on the AEs / on the "
                 "clean images (up: maximising it, down: minimising it), with its 95% bootstrap interval over images")
    rows, records, series = [], [], {}
    for name, by_layer in ratios.items():
        for i, (layer, (up, down)) in enumerate(by_layer.items()):
            rows.append([name, i + 1, layer, interval_text(up), interval_text(down)])
            records.append({"dataset": name, "layer": layer, "ratio_up": up, "ratio_down": down,
                            "params": params[name]})
        series[f"{name} up"] = [up["value"] for up, _ in by_layer.values()]
        series[f"{name} down"] = [down["value"] for _, down in by_layer.values()]
    groups = {label: label.rsplit(" ", 1)[0] for label in series}  # one colour per dataset
    styles = {label: "-o" if label.endswith(" up") else ":o" for label in series}
    longest = max(len(v) for v in series.values())
    series = {k: v + [None] * (longest - len(v)) for k, v in series.items()}
    name = f"stress-{config.dataset}.png"
    line_plot(figure(out, name), "mean activation after / before the stress attack", list(range(1, longest + 1)),
              series, xlabel="block index (input to output)", ylabel="ratio", groups=groups,
              styles=styles)
    return Report("stress", f"Fig. 4: feature stress test, {' vs '.join(sets)}", command("stress", config), notes,
                  [Table("ratio of a block's mean activation after / before BIM on +-mean(f_l)",
                         ["dataset", "#", "layer", "up", "down"], rows)], [name], records)
