"""``hfcbench experiment NAME``: the paper's tables and figures reproduced on real data.

Each experiment is a function ``(config: RunConfig, out: Path) -> Report`` registered by name;
:func:`run_experiment` runs one and writes ``NAME.md``, ``NAME.jsonl`` and ``figures/*.png``
into ``out``. Every intermediate goes through the content-keyed cache, so ``all`` killed midway
resumes where it stopped.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import HfcbenchError
from ..protocol.config import RunConfig
from ..registry import Registry
from .report import Report

# in the order ``all`` runs them: the paper's, with adaptive (every detector attacked as itself) after
# Table II, weight-sweep beside the sweeps and benign-shift last (none of them is in the paper)
BUILT_IN = {
    "table1": "hfcbench.experiments.tables:table1",
    "table2": "hfcbench.experiments.tables:table2",
    "adaptive": "hfcbench.experiments.adaptive:adaptive",
    "gmm-sweep": "hfcbench.experiments.sweeps:gmm_sweep",
    "eps-sweep": "hfcbench.experiments.sweeps:eps_sweep",
    "weight-sweep": "hfcbench.experiments.sweeps:weight_sweep",
    "layers": "hfcbench.experiments.features:layers",
    "tsne": "hfcbench.experiments.features:tsne",
    "stress": "hfcbench.experiments.stress:stress",
    "gradient-consistency": "hfcbench.experiments.gradients:gradient_consistency",
    "semi-white-box": "hfcbench.experiments.transfer:semi_white_box",
    "natural-vs-medical": "hfcbench.experiments.natural:natural_vs_medical",
    "ood-lesions": "hfcbench.experiments.ood:ood_lesions",
    "3d-vs-2d": "hfcbench.experiments.dims:dims",
    "benign-shift": "hfcbench.experiments.benign:benign_shift",
}
EXPERIMENTS: Registry = Registry("experiments", BUILT_IN)
ORDER = tuple(BUILT_IN)
# the experiments that run every seed of --seeds; the others run its first seed and say so
MULTI_SEED = ("table1", "table2", "adaptive", "weight-sweep")


def run_experiment(name: str, config: RunConfig, out: Path) -> Report:
    """Run experiment ``name`` and write its report into ``out``."""
    report = EXPERIMENTS.get(name)(config, Path(out))
    if len(config.seeds) > 1 and name not in MULTI_SEED:
        report.notes.insert(0, f"one seed ({config.seeds[0]}): this experiment does not run every seed of --seeds")
    report.write(out)
    return report


def run_all(config: RunConfig, out: Path, names: list[str] | None = None):
    """Every experiment in turn (``names`` or all); yields ``(name, Report or the error)``: an
    experiment that does not apply to the dataset (2-D lesions on volumes) is reported, not fatal."""
    for name in names or [*ORDER, *sorted(set(EXPERIMENTS.names()) - set(ORDER))]:
        try:
            yield name, run_experiment(name, config, out)
        except HfcbenchError as exc:
            yield name, exc


__all__ = ["EXPERIMENTS", "Report", "run_all", "run_experiment"]
