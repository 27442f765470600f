"""Executors of a sweep's task graph: ``local`` (in this process, one task at a time, in order)
and ``ray`` (tasks on Ray workers, each started when the tasks it needs have finished).

Both call ``on_records(task, records)`` as each grid point's records arrive, and return the tasks
that failed, ``{task id: reason}``; a task whose dependency failed fails with it, the others go on.
Under Ray a task whose worker dies is retried (``retries`` times): every task recomputes only what
is missing from the cache, so a retried sweep ends with the records of an uninterrupted one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from tqdm.auto import tqdm

from ..errors import PLUGIN_FAILURES, HfcbenchError, failure_text
from .plan import GPU_KINDS, Task
from .tasks import execute, execute_remote

OnRecords = Callable[[Task, list[dict]], None]
RAY_EXTRA = 'pip install "hfcbench[ray]"'
# Workers share the machine's cores and each runs the sweep's thread count: OpenMP threads that
# wait passively instead of spinning keep that oversubscription cheap (numbers do not change).
WORKER_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def reason(exc: BaseException) -> str:
    """One line saying why a task failed (a Ray error unwrapped to its cause)."""
    cause = getattr(exc, "cause", None) or exc
    text = str(cause) if isinstance(cause, HfcbenchError) else failure_text(cause)
    return (text.strip().splitlines() or [type(cause).__name__])[0]


def run_local(tasks: list[Task], *, threads: int, on_records: OnRecords, progress: bool) -> dict[str, str]:
    """Every task in this process, in order (the same numbers as ``hfcbench run``)."""
    failed: dict[str, str] = {}
    for task in tqdm(tasks, desc="sweep (local)", disable=not progress):
        broken = [d for d in task.deps if d in failed]
        if broken:
            failed[task.id] = f"needs {broken[0]}, which failed: {failed[broken[0]]}"
            continue
        try:
            result = execute(task, threads)
        except PLUGIN_FAILURES as exc:  # a plugin raising or calling sys.exit fails its task only
            failed[task.id] = reason(exc)
            continue
        if task.kind == "records":
            assert result is not None
            on_records(task, result)
    return failed


def run_ray(tasks: list[Task], *, threads: int, on_records: OnRecords, progress: bool, address: str | None = None,
            workers: int = 2, retries: int = 3) -> dict[str, str]:
    """Every task on Ray: a local instance of ``workers`` CPUs started here (and stopped after), or
    the cluster at ``address``. Tasks that run the model ask for a GPU where the cluster has one.
    Ctrl-C cancels the tasks still running; what finished is in the cache."""
    try:
        import ray
    except ImportError:
        raise HfcbenchError(f"--executor ray needs Ray: {RAY_EXTRA}") from None
    started = not ray.is_initialized()
    if started:
        env = dict(WORKER_ENV)
        if not address:  # local workers import plugins and module:factory models as this process does
            env["PYTHONPATH"] = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH")) if p)
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 logging_level=logging.ERROR, log_to_driver=False, runtime_env={"env_vars": env})
    waiting: dict = {}
    try:
        gpus = ray.cluster_resources().get("GPU", 0) > 0
        remote = ray.remote(execute_remote)
        refs: dict[str, object] = {}
        for task in tasks:
            refs[task.id] = remote.options(num_cpus=1, num_gpus=1 if gpus and task.kind in GPU_KINDS else 0,
                                           max_retries=retries, name=f"hfcbench {task.kind} {task.label}").remote(
                task, threads, *[refs[d] for d in task.deps])
        waiting = {refs[t.id]: t for t in tasks}
        failed: dict[str, str] = {}
        with tqdm(total=len(tasks), desc=f"sweep (ray, {address or f'{workers} local workers'})",
                  disable=not progress) as bar:
            while waiting:
                done, _ = ray.wait(list(waiting), num_returns=1)
                for ref in done:
                    task = waiting.pop(ref)
                    bar.update()
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        failed[task.id] = reason(exc)
                        continue
                    if task.kind == "records":
                        on_records(task, result)
        return failed
    except KeyboardInterrupt:
        for ref in waiting:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
