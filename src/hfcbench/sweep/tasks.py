"""Running one sweep task, in the driver (``local``) or in a Ray worker: a :class:`Runner` on the
task's configuration computes its piece into the cache, and a ``records`` task returns the grid
point's records.

Every task first sets torch's thread count to the sweep's (numbers depend on it: oneDNN splits
its reductions by thread) and registers the point's plugins. A process keeps the runners of its
last two configurations, so consecutive tasks of one grid point do not reload data and model.
"""

from __future__ import annotations

import json
import tempfile
from collections import OrderedDict
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ..errors import PLUGIN_FAILURES, failure_text
from ..plugins import register_plugin
from ..protocol.config import RunConfig
from ..protocol.runner import Runner
from .plan import AUTO_SHARED, Task

_RUNNERS: OrderedDict[str, Runner] = OrderedDict()
KEPT_RUNNERS = 2


def runner_for(config: RunConfig) -> Runner:
    """A runner on ``config`` (quiet), reused while it is one of this process's last two."""
    key = json.dumps(asdict(config), sort_keys=True, default=str)
    if key in _RUNNERS:
        _RUNNERS.move_to_end(key)
    else:
        _RUNNERS[key] = Runner(replace(config, quiet=True))
        while len(_RUNNERS) > KEPT_RUNNERS:
            _RUNNERS.popitem(last=False)
    return _RUNNERS[key]


def execute(task: Task, threads: int) -> list[dict] | None:
    """Compute ``task`` into the cache; a ``records`` task returns its grid point's records.
    A detector that fails to fit is not an error here: its point's records carry the error."""
    torch.set_num_threads(threads)
    for plugin in task.config.plugins:
        register_plugin(plugin)
    runner = runner_for(task.config)
    if task.kind == "aes" and task.args[0] == AUTO_SHARED:
        runner.auto_shared_arms(task.args[1])
    elif task.kind == "aes":
        runner.aes_state(*task.args)
    elif task.kind in ("fit", "aware"):
        detector, fit = task.args[:2]
        try:
            runner.fitted_detector(detector, fit)
            if task.kind == "aware":
                runner.attack_target(detector, fit)  # raises where not even a surrogate can be fitted
                attack = task.args[2]
                runner.aes_state(attack, "advtest", (detector, fit))
                runner.unbounded(attack, (detector, fit))
        except PLUGIN_FAILURES:  # the records task records this detector's error in its cells
            return None
    elif task.kind == "records":
        with tempfile.TemporaryDirectory() as folder:
            return list(runner.run(Path(folder) / "results.jsonl"))
    return None


def execute_remote(task: Task, threads: int, *_dependencies) -> list[dict] | None:
    """:func:`execute` as a Ray task: the dependencies' results are passed so that Ray starts it
    only after they finished (and fails it when one of them failed)."""
    try:
        return execute(task, threads)
    except SystemExit as exc:  # a plugin's sys.exit would end the worker, and Ray retry the task in vain
        raise RuntimeError(failure_text(exc)) from None
