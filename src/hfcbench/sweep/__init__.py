"""``hfcbench sweep GRID.toml``: a grid of run settings as one task graph, run locally or on Ray.

The grid file (:mod:`hfcbench.sweep.grid`) expands into grid points; their work is cut into tasks
that points share (:mod:`hfcbench.sweep.plan`); an executor runs the tasks
(:mod:`hfcbench.sweep.executors`). Each grid point's records are written to
``OUT/points/<point>.jsonl`` as soon as they exist, so an interrupted sweep resumes from its
finished points and, for the rest, from the cache; at the end every point's records, in grid
order, make ``OUT/results.jsonl`` and the leaderboards (``.md``, ``.csv``, ``.html``).

Numbers depend on the torch thread count, so every task runs with the same one (``threads``,
by default this machine's torch default): ``local`` and ``ray`` give identical records. On a
cluster (``address``) every worker must see the cache (and the data, checkpoints and image
folders) on shared storage at the same absolute path: a relative or unset cache path is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, replace
from pathlib import Path

from ..cache import CACHE_ENV, atomic_write_bytes
from ..datasets import IMAGEFOLDER_PREFIX
from ..datasets.storage import DATA_ENV
from ..errors import InvalidParameterError
from ..paths import writable_dir
from ..plugins import register_plugin
from ..protocol.config import FILE_KEYS, RunConfig
from ..report.cells import MIN_AES
from ..report.files import write_tables
from ..report.leaderboard import render
from ..results import read_records
from .grid import expand, read_grid
from .plan import describe, needed, plan
from .preflight import check_points

EXECUTORS = ("local", "ray")


def point_name(config: RunConfig) -> str:
    """The file name of a grid point's records: a hash of its settings (stable when the grid grows)."""
    payload = json.dumps(asdict(config), sort_keys=True, default=str)
    stem = config.dataset.replace("/", "_").replace(":", "-")[-40:]
    return f"{stem}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


def located(config: RunConfig, *, remote: bool) -> RunConfig:
    """``config`` with every path absolute (workers may run elsewhere); on a cluster, a cache or
    data path that is relative or unset is refused."""
    def absolute(value: str | None, env: str, what: str) -> str | None:
        given = value or os.environ.get(env)
        if remote and given is not None and not Path(given).expanduser().is_absolute():
            raise InvalidParameterError(f"{what} {given!r} is relative: on a cluster every worker must see it at one "
                                        "absolute path on shared storage")
        return None if given is None else str(Path(given).expanduser().resolve())

    cache = absolute(config.cache_dir, CACHE_ENV, "the cache folder")
    if remote and cache is None:
        raise InvalidParameterError(f"on a cluster give the cache folder (cache_dir in the grid, or ${CACHE_ENV}) as "
                                    "an absolute path on storage every worker sees")
    dataset = config.dataset
    if dataset.startswith(IMAGEFOLDER_PREFIX):
        dataset = IMAGEFOLDER_PREFIX + str(Path(dataset[len(IMAGEFOLDER_PREFIX):]).expanduser().resolve())
    checkpoint = None if config.checkpoint is None else str(Path(config.checkpoint).expanduser().resolve())
    return replace(config, cache_dir=cache, data_dir=absolute(config.data_dir, DATA_ENV, "the data folder"),
                   dataset=dataset, checkpoint=checkpoint)


def write_jsonl(path: Path, records: list[dict]) -> None:
    """``records`` as JSON Lines at ``path``, written atomically (a killed sweep leaves no half file)."""
    data = "".join(json.dumps(r, allow_nan=False) + "\n" for r in records).encode()
    atomic_write_bytes(path, lambda handle: handle.write(data))


def run_sweep(grid: str, *, out: str, executor: str = "local", address: str | None = None, workers: int = 2,
              threads: int | None = None, dry_run: bool = False, min_aes: int = MIN_AES,
              progress: bool = True, data_dir: str | None = None, cache_dir: str | None = None) -> int:
    """Run the sweep of ``grid``; returns the exit status (1 when a grid point failed). ``data_dir``
    and ``cache_dir`` (``--data-dir``, ``--cache-dir``), when given, win over the grid's values."""
    import torch

    from .executors import run_local, run_ray

    if executor not in EXECUTORS:
        raise InvalidParameterError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if address and executor != "ray":
        raise InvalidParameterError("--address names a Ray cluster: give it with --executor ray")
    for name, value in (("--workers", workers), ("--threads", threads)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidParameterError(f"{name} must be a whole number >= 1, got {value!r}")
    axes, excludes = read_grid(grid, (*FILE_KEYS, "plugins"))
    axes.update({key: [value] for key, value in (("data_dir", data_dir), ("cache_dir", cache_dir)) if value})
    configs = expand(axes, excludes, where=f"grid {grid}")
    for config in configs:
        for plugin in config.plugins:
            register_plugin(plugin)
    check_points(configs, f"grid {grid}")
    configs = [located(c, remote=bool(address)) for c in configs]
    tasks = plan(configs)
    if dry_run:
        print(describe(tasks, len(configs)))
        return 0
    folder = writable_dir(out, "--out")
    points = folder / "points"
    shards = [points / f"{point_name(c)}.jsonl" for c in configs]
    todo = needed(tasks, {i for i, shard in enumerate(shards) if not shard.exists()})
    if len(todo) < len(tasks):
        print(f"resuming: {sum(s.exists() for s in shards)} of {len(configs)} grid points have their records")

    def on_records(task, records: list[dict]) -> None:
        write_jsonl(shards[task.point], records)

    threads = threads or torch.get_num_threads()
    if executor == "local":
        failed = run_local(todo, threads=threads, on_records=on_records, progress=progress)
    else:
        failed = run_ray(todo, threads=threads, on_records=on_records, progress=progress, address=address,
                         workers=workers)
    finished = [s for s in shards if s.exists()]
    records = read_records(finished, allow_empty=True) if finished else []
    write_jsonl(folder / "results.jsonl", records)
    if records:
        print(render(records, min_aes=min_aes))
        write_tables(records, folder, min_aes=min_aes)
    print(f"results: {folder / 'results.jsonl'} ({len(records)} records of {len(finished)} of {len(configs)} grid "
          f"points); tables: {folder / 'leaderboard.md'}, .csv, .html")
    lost = [t for t in todo if t.kind == "records" and t.id in failed]
    for task in lost:
        print(f"hfcbench: grid point {task.point} ({task.label}) failed: {failed[task.id]}", file=sys.stderr)
    if lost:
        print(f"hfcbench: {len(lost)} of {len(configs)} grid point(s) failed (exit status 1); a rerun retries them "
              "and reuses everything cached", file=sys.stderr)
        return 1
    return 0


__all__ = ["EXECUTORS", "run_sweep"]
