"""Leaderboards: a pure function of result records (so runs from several machines merge).

For each (dataset, model, seed, settings): rows are detectors, columns are evaluated attacks, each cell
``AUC before -> after`` and ``TPR@90 before -> after`` in percent, with an ``Adv. Acc`` row (the
layout of the paper's Table I) and the number of successful AEs each AUC rests on; then detectors ranked by their worst-case AUC over attacks, and
attacks ranked by the mean AUC drop they cause. When records of one (dataset, model) were made
under different settings (budget, M, HFC weight, noise), each setting gets its own tables and the
titles name the settings that differ.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict

import numpy as np
from tabulate import tabulate

from .results import settings


def pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _arrow(metrics: dict, name: str) -> str:
    return f"{pct(metrics.get(f'{name}_before'))} -> {pct(metrics.get(f'{name}_after'))}"


def _setting_text(field: str, value) -> str:
    if field in ("eps", "alpha") and isinstance(value, (int, float)):
        return f"{field}={256 * value:g}/256"
    return f"{field}={value}"


def _varying(groups: dict) -> dict[tuple, str]:
    """``{group key: "eps=8/256, hfc_weight=0.5"}``: the settings that differ between groups of
    one (dataset, model), empty where they agree."""
    by_model = defaultdict(list)
    for key in groups:
        by_model[key[:2]].append(key)
    out = {}
    for keys in by_model.values():
        differing = [i for i in range(len(keys[0][3])) if len({k[3][i] for k in keys}) > 1]
        for key in keys:
            out[key] = ", ".join(_setting_text(*key[3][i]) for i in differing)
    return out


def tables(records: list[dict]) -> list[tuple[str, list[str], list[list]]]:
    """``[(title, headers, rows)]`` for every group of records."""
    groups = defaultdict(list)
    for record in records:
        groups[(record["dataset"], record["model"], record["seed"], settings(record))].append(record)
    varying = _varying(groups)
    out = []
    for (dataset, model, seed, setting), group in sorted(groups.items(), key=lambda item: repr(item[0])):
        where = f" [{varying[dataset, model, seed, setting]}]" if varying[dataset, model, seed, setting] else ""
        attacks = list(dict.fromkeys(r["attack"] for r in group))
        detectors = list(dict.fromkeys(r["detector"] for r in group))
        cell = {(r["detector"], r["attack"]): r for r in group}
        headers = ["detector"] + [f"{a} {m}" for a in attacks for m in ("AUC", "TPR@90")]
        rows = []
        for det in detectors:
            row = [det]
            for attack in attacks:
                metrics = cell[(det, attack)]["metrics"] if (det, attack) in cell else {}
                row += [_arrow(metrics, "auc"), _arrow(metrics, "tpr90")]
            rows.append(row)
        acc, counts = ["Adv. Acc"], ["n AEs scored"]
        for attack in attacks:
            metrics = next(r["metrics"] for r in group if r["attack"] == attack)
            acc += [_arrow(metrics, "adv_acc"), ""]
            counted = next((r["metrics"] for r in group if r["attack"] == attack and "n_adv_after" in r["metrics"]), {})
            counts += [f"{counted.get('n_adv_before', 'n/a')} -> {counted.get('n_adv_after', 'n/a')}", ""]
        rows += [acc, counts]
        title = f"{dataset} / {model} / seed {seed}{where} (fit attack -> evaluated attack: " + ", ".join(
            f"{next(r['fit_attack'] for r in group if r['attack'] == a)} -> {a}" for a in attacks) + ")"
        out.append((title, headers, rows))

        worst = []
        for det in detectors:
            after = [cell[(det, a)]["metrics"].get("auc_after") for a in attacks if (det, a) in cell]
            after = [v for v in after if v is not None]
            worst.append((det, min(after) if after else None))
        worst.sort(key=lambda item: -1 if item[1] is None else item[1], reverse=True)
        out.append((f"{dataset} / {model}{where}: detectors by worst-case AUC after the adaptive attacks",
                    ["rank", "detector", "worst AUC"], [[i + 1, d, pct(v)] for i, (d, v) in enumerate(worst)]))

        drops = []
        for attack in attacks:
            values = [r["metrics"]["auc_before"] - r["metrics"]["auc_after"] for r in group if r["attack"] == attack
                      and r["metrics"].get("auc_before") is not None and r["metrics"].get("auc_after") is not None]
            drops.append((attack, float(np.mean(values)) if values else None))
        drops.sort(key=lambda item: -1 if item[1] is None else item[1], reverse=True)
        out.append((f"{dataset} / {model}{where}: attacks by mean AUC drop over detectors",
                    ["rank", "attack", "mean AUC drop"], [[i + 1, a, pct(v)] for i, (a, v) in enumerate(drops)]))
    return out


def render(records: list[dict], fmt: str = "simple") -> str:
    """All tables as text (``simple``) or Markdown (``github``)."""
    parts = []
    for title, headers, rows in tables(records):
        heading = f"### {title}" if fmt == "github" else title
        parts.append(f"{heading}\n\n{tabulate(rows, headers=headers, tablefmt=fmt)}\n")
    return "\n".join(parts)


def to_csv(records: list[dict]) -> str:
    """One row per record: keys and metrics as numbers."""
    buffer = io.StringIO()
    metric_names = sorted({m for r in records for m in r["metrics"] if m != "error"})
    writer = csv.writer(buffer)
    writer.writerow(["dataset", "model", "seed", "fit_attack", "attack", "detector", *metric_names])
    for r in records:
        writer.writerow([r["dataset"], r["model"], r["seed"], r["fit_attack"], r["attack"], r["detector"],
                         *[r["metrics"].get(m) for m in metric_names]])
    return buffer.getvalue()
