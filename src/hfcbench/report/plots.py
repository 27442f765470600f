"""PNG figures (the ``plots`` extra: ``pip install "hfcbench[plots]"``).

* :func:`roc_plot`: ROC curves of every detector, before (dashed) and after (solid) an adaptive
  attack;
* :func:`tsne_plot`: a 2-D t-SNE of penultimate features, e.g. clean / BIM / BIM+HFC (Figs. 1, 7);
* :func:`layer_auc_plot`: AUC of each layer's characteristic, before and after (Fig. 6);
* :func:`line_plot`: any metric against a swept parameter (Figs. 5, 9);
* :func:`write_run_plots`: all of the above for the pairs of a :class:`Runner`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import HfcbenchError


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or a clear error naming the extra."""
    try:
        import matplotlib
    except ImportError:
        raise HfcbenchError('plots need matplotlib: pip install "hfcbench[plots]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    from ..cache import atomic_write_bytes

    atomic_write_bytes(Path(path), lambda handle: fig.savefig(handle, format="png", dpi=120, bbox_inches="tight"))
    pyplot().close(fig)
    return Path(path)


def roc_plot(path: Path, title: str, scores: dict[str, dict[str, np.ndarray]]) -> Path:
    """``scores[detector] = {"clean", "before", "after"}`` (N,) arrays, higher = adversarial."""
    from sklearn.metrics import roc_curve

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (detector, parts) in enumerate(scores.items()):
        for tag, style in (("before", "--"), ("after", "-")):
            if len(parts[tag]) and len(parts["clean"]):
                labels = np.r_[np.zeros(len(parts["clean"])), np.ones(len(parts[tag]))]
                fpr, tpr, _ = roc_curve(labels, np.r_[parts["clean"], parts[tag]])
                ax.plot(fpr, tpr, style, color=colors[i % len(colors)], label=f"{detector} {tag}")
    ax.plot([0, 1], [0, 1], ":", color="grey", linewidth=0.8)
    ax.set(xlabel="false-positive rate (clean flagged)", ylabel="true-positive rate (AEs flagged)", title=title)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def tsne_plot(path: Path, title: str, groups: dict[str, np.ndarray], *, seed: int = 0,
              max_points: int = 400) -> Path:
    """``groups[label] = (N, D)`` features; at most ``max_points`` per group (seeded subsample)."""
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    kept = {k: v[rng.choice(len(v), max_points, replace=False)] if len(v) > max_points else v
            for k, v in groups.items() if len(v)}
    stacked = np.concatenate(list(kept.values()))
    if len(stacked) < 5:
        raise HfcbenchError(f"t-SNE needs at least 5 points, got {len(stacked)}")
    embedded = TSNE(n_components=2, perplexity=min(30.0, (len(stacked) - 1) / 3), init="pca",
                    random_state=seed).fit_transform(stacked)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    start = 0
    for label, values in kept.items():
        part = embedded[start:start + len(values)]
        ax.scatter(part[:, 0], part[:, 1], s=6, label=f"{label} ({len(values)})", alpha=0.7)
        start += len(values)
    ax.set(title=title, xticks=[], yticks=[])
    ax.legend(fontsize=7, markerscale=2)
    return _save(fig, path)


def layer_auc_plot(path: Path, title: str, aucs: dict[str, dict[str, dict[str, dict | None]]]) -> Path:
    """``aucs[detector] = {"before"|"after": {layer: {"auc": AUC, ...} or None}}`` (as
    :func:`~hfcbench.protocol.per_layer.layer_aucs` gives them); solid before, dotted after."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (detector, parts) in enumerate(aucs.items()):
        layers = list(parts["before"])
        for tag, style in (("before", "-o"), ("after", ":o")):
            values = [np.nan if (v := parts[tag].get(layer)) is None or v["auc"] is None else 100 * v["auc"]
                      for layer in layers]
            ax.plot(range(1, len(layers) + 1), values, style, markersize=3, color=colors[i % len(colors)],
                    label=f"{detector} {tag}")
    ax.set(xlabel="layer index (input to output)", ylabel="AUC (%)", title=title, ylim=(0, 101))
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def line_plot(path: Path, title: str, x: list, series: dict[str, list[float | None]], *, xlabel: str,
              ylabel: str, styles: dict[str, str] | None = None, groups: dict[str, str] | None = None) -> Path:
    """One line per ``series[label]`` over ``x`` (None = missing point); ``styles[label]`` is a
    matplotlib format (default ``-o``); labels with the same ``groups[label]`` share a colour."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    group_of = groups or {label: label for label in series}
    order = list(dict.fromkeys(group_of[label] for label in series))
    for label, values in series.items():
        ax.plot(x, [np.nan if v is None else v for v in values], (styles or {}).get(label, "-o"), markersize=3,
                label=label, color=colors[order.index(group_of[label]) % len(colors)])
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def _slug(text: str) -> str:
    return text.replace("+", "-").replace("/", "-")


def write_run_plots(runner, folder: Path) -> list[Path]:
    """ROC curves per pair, per-layer AUCs for multi-layer detectors, t-SNE for ``+hfc`` pairs."""
    folder = Path(folder)
    written = []
    for fit_attack, attack in runner.pairs:
        title = f"{runner.config.dataset}: fit on {fit_attack}, {fit_attack} -> {attack}"
        scores, per_layer = {}, {}
        for name in runner.detector_names:
            try:
                scores[name] = runner.detector_scores(name, fit_attack, attack)
                aucs = runner.layer_aucs(name, fit_attack, attack)
            except HfcbenchError:
                continue  # the records already say why this detector could not be fitted
            if len(aucs["before"]) > 1:
                per_layer[name] = aucs
        stem = f"{_slug(fit_attack)}_{_slug(attack)}"
        written.append(roc_plot(folder / f"roc_{stem}.png", title, scores))
        if per_layer:
            written.append(layer_auc_plot(folder / f"layers_{stem}.png", title, per_layer))
        if "hfc" in attack.split("+"):
            clean = runner.clean_features("advtest")
            groups = {"clean": clean.array("penultimate"),
                      fit_attack: runner.successful(fit_attack, "advtest").array("penultimate"),
                      attack: runner.successful(attack, "advtest").array("penultimate")}
            written.append(tsne_plot(folder / f"tsne_{stem}.png", f"{runner.config.dataset}: penultimate features",
                                     groups, seed=runner.config.seed))
    return written
