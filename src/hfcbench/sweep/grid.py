"""A sweep's grid file: run options, any of them a list, expanded into one :class:`RunConfig` per point.

    dataset = ["pneumoniamnist", "breastmnist"]   # a list: one value per grid point
    seed = [0, 1, 2]
    profile = "smoke"                             # a scalar: every point
    hfc_weight = [0.5, 1.0]

    [[exclude]]                                   # points matching every key of one table are removed
    dataset = "breastmnist"
    hfc_weight = 0.5

Keys are those of a run's config file (``hfcbench run --config``). Options whose value is itself a
list (``mean``, ``std``, ``plugins``) take a list of lists to vary. ``seeds`` is refused: a sweep
varies ``seed`` (a list), and each seed is its own grid point. The product runs in file order (the
first key varies slowest); points that normalise to the same run are kept once. An exclude table
compares normalised settings (``eps = "8/256"`` matches ``eps = 0.03125``), a list in it means any of
its values, and a table that matches no point is refused.
"""

from __future__ import annotations

import itertools
import json
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import HfcbenchError
from ..protocol.config import RunConfig

LIST_VALUED = ("mean", "std", "plugins")  # options whose single value is a list
NOT_IN_GRIDS = ("seeds", "out", "quiet", "no_cache")


def read_grid(path: str | Path, allowed: tuple[str, ...]) -> tuple[dict[str, list], list[dict[str, Any]]]:
    """``({option: [values...]}, [exclude tables])`` from the TOML file at ``path``; ``allowed``
    names the run options a grid may set."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise HfcbenchError(f"grid file {path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc
        raise HfcbenchError(f"grid file {path}: {reason}") from None
    excludes = raw.pop("exclude", [])
    if not isinstance(excludes, list) or not all(isinstance(e, dict) for e in excludes):
        raise HfcbenchError(f"grid file {path}: exclude must be [[exclude]] tables of option = value")
    options = {key.replace("-", "_"): value for key, value in raw.items()}
    for key in NOT_IN_GRIDS:
        if key in options:
            hint = "give seed = [0, 1, 2]: each seed is a grid point" if key == "seeds" else \
                "give it to hfcbench sweep as a flag"
            raise HfcbenchError(f"grid file {path}: {key} is not a grid option; {hint}")
    allowed_here = [k for k in allowed if k not in NOT_IN_GRIDS]
    unknown = sorted(set(options) - set(allowed_here))
    unknown += sorted({k.replace("-", "_") for e in excludes for k in e} - set(allowed_here))
    if unknown:
        raise HfcbenchError(f"grid file {path}: unknown options {sorted(set(unknown))}; allowed: "
                            f"{', '.join(allowed_here)}")
    axes = {}
    for key, value in options.items():
        varies = isinstance(value, list) and (key not in LIST_VALUED or all(isinstance(v, list) for v in value))
        axes[key] = value if varies else [value]
        if not axes[key]:
            raise HfcbenchError(f"grid file {path}: {key} is an empty list; give at least one value")
    return axes, [{k.replace("-", "_"): v for k, v in e.items()} for e in excludes]


def _alternatives(exclude: dict[str, Any]) -> list[dict[str, Any]]:
    """An exclude table as the option sets it stands for: a list value of an option that takes one
    value (or a list of lists for ``mean``, ``std``, ``plugins``) means any of its values."""
    def choices(key: str, value: Any) -> list:
        varies = isinstance(value, list) and (key not in LIST_VALUED or all(isinstance(v, list) for v in value))
        return value if varies else [value]

    keys = list(exclude)
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(choices(k, exclude[k]) for k in keys))]


def _identity(config: RunConfig) -> str:
    return json.dumps(asdict(config), sort_keys=True, default=str)


def expand(axes: dict[str, list], excludes: list[dict[str, Any]], *, where: str = "grid") -> list[RunConfig]:
    """One :class:`RunConfig` per point of the product of ``axes`` not matched by an exclude
    table, in file order, each checked by the run schema (a bad value names its point).

    A point matches an exclude table when putting the table's values into the point leaves its
    normalised settings unchanged (``eps = "8/256"`` matches ``0.03125``, ``dataset =
    "PneumoniaMNIST"`` matches ``pneumoniamnist``); a table that matches no point is refused, as
    it is surely a typo. Points that normalise to one run are kept once (in linear time)."""
    configs: dict[str, RunConfig] = {}
    tables = [_alternatives(e) for e in excludes]
    used = [False] * len(excludes)
    keys = list(axes)
    for values in itertools.product(*(axes[k] for k in keys)):
        point = dict(zip(keys, values, strict=True))
        shown = ", ".join(f"{k}={v!r}" for k, v in point.items() if len(axes[k]) > 1)
        try:
            config = RunConfig(**point, quiet=True)
        except HfcbenchError as exc:
            raise HfcbenchError(f"{where} point ({shown or 'the only one'}): {exc}") from None
        identity = _identity(config)
        excluded = False
        for i, alternatives in enumerate(tables):
            for alternative in alternatives:
                try:
                    same = _identity(RunConfig(**{**point, **alternative}, quiet=True)) == identity
                except HfcbenchError as exc:
                    raise HfcbenchError(f"{where}: [[exclude]] table {i + 1} ({_shown(excludes[i])}): {exc}") from None
                if same:
                    used[i] = excluded = True
        if not excluded:
            configs.setdefault(identity, config)
    unused = [i for i, flag in enumerate(used) if not flag]
    if unused:
        raise HfcbenchError(f"{where}: [[exclude]] table {unused[0] + 1} ({_shown(excludes[unused[0]])}) matches no "
                            "grid point; correct its values (they must be values the grid takes) or remove it")
    if not configs:
        raise HfcbenchError(f"{where}: every point is excluded; nothing to run")
    return list(configs.values())


def _shown(table: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v!r}" for k, v in table.items())
