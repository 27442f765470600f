"""Every grid point's names checked before any work, as ``hfcbench run`` checks its own at once.

A misspelled dataset or model, a missing image folder or checkpoint, an unknown detector or
attack: refused with exit status 2 and the grid point named, by ``--dry-run`` too, instead of
failing that point after the others have run. Each distinct value is checked once (a grid of
10,000 points names a few datasets and models). Loading the data itself (checksums, downloads) is
left to the run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..datasets import DATASETS, IMAGEFOLDER_PREFIX
from ..datasets.imagefolder import folder_of
from ..detectors import DETECTORS
from ..errors import HfcbenchError
from ..protocol.config import RunConfig, attack_pairs, fit_attack_names


def _dataset(name: str) -> None:
    if name.startswith(IMAGEFOLDER_PREFIX):
        folder_of(name[len(IMAGEFOLDER_PREFIX):])
    else:
        DATASETS.get(name)


def _model(name: str | None) -> None:
    if name is not None:
        from ..models.own import factory

        factory(name)


def _checkpoint(path: str | None) -> None:
    if path is not None and not Path(path).expanduser().is_file():
        raise HfcbenchError(f"--checkpoint {path} does not exist")


def _attacks(value: tuple[str, str]) -> None:
    attacks, fit_attacks = value
    attack_pairs(attacks, fit_attack_names(fit_attacks))


def check_points(configs: list[RunConfig], where: str) -> None:
    """Raise :class:`HfcbenchError` naming the first grid point whose dataset, model, checkpoint,
    detectors or attacks a run would refuse."""
    checked: set[tuple[str, str]] = set()
    for index, config in enumerate(configs):
        checks: list[tuple[str, Any, Callable[[Any], object]]] = [
            ("dataset", config.dataset, _dataset), ("model", config.model, _model),
            ("checkpoint", config.checkpoint, _checkpoint), ("detectors", config.detectors, DETECTORS.select),
            ("attacks", (config.attacks, config.fit_attacks), _attacks)]
        for option, value, check in checks:
            if (option, str(value)) in checked:
                continue
            try:
                check(value)
            except HfcbenchError as exc:
                raise HfcbenchError(f"{where} point {index} ({config.dataset}, {config.model or 'default model'}, "
                                    f"seed {config.seed}): {exc}") from None
            checked.add((option, str(value)))
