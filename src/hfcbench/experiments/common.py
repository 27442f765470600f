"""Helpers every experiment shares: runners for a changed config, the reproducing command line,
records with their settings and detector-by-attack AUC tables."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import HfcbenchError
from ..protocol.config import RunConfig
from ..protocol.runner import Runner
from ..report.cells import Cell
from ..report.leaderboard import groups
from .report import FIGURES

# flags an experiment's command line repeats when they differ from the RunConfig defaults
COMMAND_FLAGS = ("dataset", "model", "profile", "eps", "steps", "epochs", "limit", "gmm_components", "hfc_weight",
                 "noisy", "seed", "seeds")


def command(name: str, config: RunConfig) -> str:
    """The ``hfcbench experiment`` line that reproduces a report (paths and devices left out)."""
    default = RunConfig()
    parts = ["hfcbench", "experiment", name]
    for key in COMMAND_FLAGS:
        value = getattr(config, key)
        if value is not None and value != getattr(default, key):
            if key == "noisy":
                parts.append("--no-noisy")
                continue
            text = (f"{256 * value:g}/256" if key == "eps" and not isinstance(value, str)
                    else ",".join(map(str, value)) if key == "seeds" else str(value))
            parts += [f"--{key.replace('_', '-')}", text]
    return " ".join(parts)


def runner(config: RunConfig, **changes) -> Runner:
    """A :class:`Runner` on ``config`` with ``changes`` (e.g. another budget or M), for the first
    seed of ``--seeds`` (experiments of one seed; see ``seeded_records`` for the others)."""
    return Runner(replace(config.per_seed()[0], **changes))


def cells(found: list[dict]) -> dict[tuple[str, str, str], Cell]:
    """``{(fit attack, attack, detector): Cell}`` of records made under one setting (seeds aggregated)."""
    grouped = groups(found)
    if len(grouped) != 1:
        raise HfcbenchError(f"expected records of one setting, got {len(grouped)} groups")
    return next(iter(grouped.values()))


def of_attack(found: list[dict], fit_attack: str, attack: str) -> dict[str, Cell]:
    """``{detector: Cell}`` of one (fit attack, attack) column of records made under one setting."""
    return {detector: cell for (fit, spec, detector), cell in cells(found).items()
            if (fit, spec) == (fit_attack, attack)}


def records(run: Runner, out: Path, tag: str) -> list[dict]:
    """Every record of ``run`` (resumed from ``out/raw/TAG.jsonl``: a killed experiment resumes)."""
    return list(run.run(Path(out) / "raw" / f"{tag}.jsonl"))


def seeded_records(config: RunConfig, out: Path, tag: str, **changes) -> tuple[list[Runner], list[dict]]:
    """The runners and records of ``config`` with ``changes``, once per seed of ``--seeds``
    (every seed a whole protocol: classifier, split, targets, attacks)."""
    runs, found = [], []
    for seeded in replace(config, **changes).per_seed():
        run = Runner(seeded)
        runs.append(run)
        found += records(run, out, f"{tag}-seed{seeded.seed}" if config.seeds else tag)
    return runs, found


def figure(out: Path, name: str) -> Path:
    return Path(out) / FIGURES / name


def traced(record: dict, **extra) -> dict:
    """A record as the run wrote it (``params`` kept, so every number traces to its settings),
    plus ``eps`` at the top and ``extra`` fields (the swept value...)."""
    return {**record, "eps": record["params"]["eps"], **extra}


def budget_note(run: Runner) -> str:
    """How the budget was set: the auto search result, or the fixed value."""
    c = run.config
    fixed = f"eps = {256 * c.eps:g}/256 (fixed), alpha = {256 * c.alpha:g}/256, {c.steps} steps"
    if run.budget_search is None:
        return fixed
    return f"{run.budget_search.describe()}; alpha = {256 * c.alpha:g}/256, {c.steps} steps"


def seeds_note(runs: list[Runner]) -> list[str]:
    """One note per seed (pool and budget), or the single run's two notes."""
    if len(runs) == 1:
        return [pool_note(runs[0]), budget_note(runs[0])]
    return [f"seed {run.config.seed}: {pool_note(run)} {budget_note(run)}" for run in runs]


def pool_note(run: Runner) -> str:
    s = run.split
    return (f"{run.arch} on {run.config.dataset} (test accuracy {100 * run.trained.test_accuracy:.1f}%): pool "
            f"{s.pool_size} test images, {s.misclassified} misclassified dropped, AdvTrain {len(s.adv_train)}, "
            f"AdvTest {len(s.adv_test)}. {run.dataset.note}".strip())
