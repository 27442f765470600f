"""Helpers every experiment shares: runners for a changed config, the reproducing command line,
record slimming and detector-by-attack AUC tables."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..benchmark.config import RunConfig
from ..benchmark.runner import Runner
from .report import FIGURES

# flags an experiment's command line repeats when they differ from the RunConfig defaults
COMMAND_FLAGS = ("dataset", "model", "profile", "eps", "steps", "epochs", "limit", "gmm_components", "hfc_weight",
                 "seed")


def command(name: str, config: RunConfig) -> str:
    """The ``hfcbench experiment`` line that reproduces a report (paths and devices left out)."""
    default = RunConfig()
    parts = ["hfcbench", "experiment", name]
    for key in COMMAND_FLAGS:
        value = getattr(config, key)
        if value is not None and value != getattr(default, key):
            text = f"{256 * value:g}/256" if key == "eps" and not isinstance(value, str) else str(value)
            parts += [f"--{key.replace('_', '-')}", text]
    return " ".join(parts)


def runner(config: RunConfig, **changes) -> Runner:
    """A :class:`Runner` on ``config`` with ``changes`` (e.g. another budget or M)."""
    return Runner(replace(config, **changes))


def records(run: Runner, out: Path, tag: str) -> list[dict]:
    """Every record of ``run`` (resumed from ``out/raw/TAG.jsonl``: a killed experiment resumes)."""
    return list(run.run(Path(out) / "raw" / f"{tag}.jsonl"))


def figure(out: Path, name: str) -> Path:
    return Path(out) / FIGURES / name


def slim(record: dict, **extra) -> dict:
    """A record without its bulky parameter block, plus ``extra`` fields (the swept value...)."""
    return {**{k: v for k, v in record.items() if k != "params"}, "eps": record["params"]["eps"], **extra}


def budget_note(run: Runner) -> str:
    """How the budget was set: the auto search result, or the fixed value."""
    c = run.config
    fixed = f"eps = {256 * c.eps:g}/256 (fixed), alpha = {256 * c.alpha:g}/256, {c.steps} steps"
    if run.budget_search is None:
        return fixed
    return f"{run.budget_search.describe()}; alpha = {256 * c.alpha:g}/256, {c.steps} steps"


def pool_note(run: Runner) -> str:
    s = run.split
    return (f"{run.arch} on {run.config.dataset} (test accuracy {100 * run.trained.test_accuracy:.1f}%): pool "
            f"{s.pool_size} test images, {s.misclassified} misclassified dropped, AdvTrain {len(s.adv_train)}, "
            f"AdvTest {len(s.adv_test)}. {run.dataset.note}".strip())
