"""``layers`` (Fig. 6) and ``tsne`` (Figs. 1 and 7): where in the network HFC hides the AEs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import HfcbenchError
from ..protocol.config import RunConfig
from ..report.plots import layer_auc_plot, tsne_plot
from ..stats.bootstrap import ratio_of_means_interval
from .common import budget_note, command, figure, pool_note, runner
from .report import Report, Table, auc_text, interval_text

LAYER_DETECTORS = "lid,maha,dnn"


def layers(config: RunConfig, out: Path) -> Report:
    """Fig. 6: AUC of each layer's characteristic alone, BIM before and BIM+HFC after."""
    run = runner(config, attacks="hfc", fit_attacks="bim", detectors=LAYER_DETECTORS)
    aucs = {}
    for name in run.detector_names:
        try:
            aucs[name] = run.layer_aucs(name, "bim", "bim+hfc")
        except HfcbenchError as exc:
            aucs[name] = {"error": str(exc)}
    usable = {d: a for d, a in aucs.items() if "error" not in a}
    layer_names = list(next(iter(usable.values()))["before"]) if usable else []
    rows = [[i + 1, layer, *[" -> ".join(auc_text(a[tag].get(layer), config.min_aes) for tag in ("before", "after"))
                             for a in usable.values()]]
            for i, layer in enumerate(layer_names)]
    n_before, n_after = (len(run.sources(spec, "advtest")) for spec in ("bim", "bim+hfc"))
    rows.append(["", "n AEs", *[f"{n_before} -> {n_after}"] * len(usable)])
    name = f"layers-{config.dataset}.png"
    layer_auc_plot(figure(out, name), f"{config.dataset}: AUC per layer, BIM (solid) vs BIM+HFC (dotted)", usable)
    notes = [pool_note(run), budget_note(run)] + [f"{d}: {a['error']}" for d, a in aucs.items() if "error" in a]
    return Report("layers", f"Fig. 6 on {config.dataset}: AUC (%) per layer, BIM -> BIM+HFC",
                  command("layers", config), notes,
                  [Table("hfcbench, one seed: each layer's characteristic alone", ["#", "layer", *usable], rows,
                         f"AUC with 95% bootstrap intervals (each AE resampled with its source image); "
                         f"n<{config.min_aes}: fewer AEs than the min-AE rule allows.")], [name],
                  [{"dataset": config.dataset, "detector": d, "layer_aucs": a, "params": run.params}
                   for d, a in aucs.items()])


def _nearest_distances(points: np.ndarray, reference: np.ndarray, *, same: bool = False) -> np.ndarray:
    """(n,) Euclidean distance from each of the n points to its nearest reference point (``same``:
    the two sets are one, and a point is not its own neighbour); empty without a reference."""
    if len(points) == 0 or len(reference) < 1 + same:
        return np.empty(0)
    dist = torch.cdist(torch.from_numpy(points), torch.from_numpy(reference))
    if same:
        dist.fill_diagonal_(float("inf"))
    return dist.min(1).values.numpy()


def tsne(config: RunConfig, out: Path) -> Report:
    """Figs. 1 and 7: t-SNE of penultimate features of clean inputs, BIM and BIM+HFC AEs."""
    run = runner(config, attacks="hfc", fit_attacks="bim")
    clean = run.clean_features("advtest")
    bim, hfc = run.successful("bim", "advtest"), run.successful("bim+hfc", "advtest")
    groups = {"clean": clean.array("penultimate"), "BIM": bim.array("penultimate"),
              "BIM+HFC": hfc.array("penultimate")}
    name = f"tsne-{config.dataset}.png"
    tsne_plot(figure(out, name), f"{config.dataset}: penultimate features (AdvTest)", groups, seed=config.seed)
    # quantitative companion: distance of each AE to the nearest clean input of its target class
    labels = clean.labels.numpy()
    rows, found = [], []
    for label, feats in (("clean", clean), ("BIM", bim), ("BIM+HFC", hfc)):
        values = feats.array("penultimate")
        own = feats.labels.numpy()
        dists = np.concatenate([np.empty(0)] + [
            _nearest_distances(values[own == k], groups["clean"][labels == k], same=label == "clean")
            for k in np.unique(own)])
        distance = ratio_of_means_interval(dists, seed=config.seed)
        rows.append([label, len(values), interval_text(distance)])
        found.append({"dataset": config.dataset, "group": label, "n": len(values),
                      "nearest_clean_distance": distance, "params": run.params})
    note = ("for clean inputs the nearest neighbour is another clean input of the same class; mean over the "
            "inputs with its 95% bootstrap interval over inputs")
    return Report("tsne", f"Figs. 1/7 on {config.dataset}: t-SNE of penultimate features",
                  command("tsne", config), [pool_note(run), budget_note(run), note],
                  [Table("mean distance to the nearest clean input of the target class (penultimate space)",
                         ["group", "n", "distance"], rows)], [name], found)
