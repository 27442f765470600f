"""A sweep's task graph: the work of every grid point, cut where points share it.

One task per piece of work a run computes and caches, named by the options that piece depends on,
so that grid points that agree on those options share it:

* ``classifier``: the trained (or loaded) classifier, its protocol split and, under ``eps auto``,
  its budget; one per (dataset, model, seed, training and budget options);
* ``aes``: one AE set per (classifier, attack, pool, budget; M and the HFC weight for ``+hfc``),
  and ``auto``'s arms that do not read the detector, once per (classifier, auto's options);
* ``fit``: one fitted detector per (AE set it is fitted on, detector, noisy negatives);
* ``aware``: a detector-aware attack's AE set per (fitted detector, attack);
* ``records``: a grid point's result records, assembled from the cache once its pieces are there.

A task depends on the tasks whose results it reads, so a classifier is trained, and an AE set
crafted, once, before anything that needs it. The content-keyed cache stays the single source of
truth: tasks return nothing but records, and a task computed twice (two ids that happen to have
one cache key) waits on the cache's lock and reads the first one's result.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field

from ..attacks import is_detector_aware
from ..detectors import DETECTORS
from ..protocol.config import RunConfig, attack_pairs

# the options each kind of task depends on (after the profile has filled them in)
CLASSIFIER_OPTIONS = ("dataset", "data_dir", "image_size", "window", "model", "checkpoint", "layers", "head", "mean",
                      "std", "profile", "epochs", "seed", "limit", "eps", "alpha", "steps", "device", "batch_size",
                      "cache_dir", "plugins")
HFC_OPTIONS = ("gmm_components", "hfc_weight")
AUTO_OPTIONS = ("auto_version", "auto_steps") + HFC_OPTIONS  # auto's arms include apgd+hfc
AUTO_SHARED = "auto's arms that do not read the detector"
FIT_OPTIONS = ("noisy", "gmm_components")
KINDS = {"classifier": "classifiers", "aes": "AE sets", "fit": "detector fits",
         "aware": "detector-aware AE sets", "records": "record sets"}
GPU_KINDS = ("classifier", "aes", "aware")  # the tasks that run the model many times


@dataclass
class Task:
    """One unit of work: ``kind`` with ``args`` ((spec, pool), (detector, fit attack), (detector,
    fit attack, attack) or ()), computed by a runner on ``config``, after the tasks ``deps``."""

    id: str
    kind: str
    label: str
    config: RunConfig
    args: tuple = ()
    deps: list[str] = field(default_factory=list)
    point: int | None = None  # records tasks: the grid point's index


def _digest(values: dict, options: tuple[str, ...], *extra) -> str:
    """A short hash of the ``options`` of a grid point's settings ``values`` (``asdict``) and ``extra``."""
    payload = json.dumps([[values[o] for o in options], extra], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:10]


def plan(configs: list[RunConfig]) -> list[Task]:
    """The tasks of every grid point in ``configs``, deduplicated, in an order that puts every
    task after its dependencies (grid point by grid point)."""
    tasks: dict[str, Task] = {}
    for point, config in enumerate(configs):
        _plan_point(point, config.resolved(), tasks)
    return list(tasks.values())


def _plan_point(point: int, c: RunConfig, tasks: dict[str, Task]) -> None:
    """Add grid point ``point``'s tasks (those not there yet) to ``tasks``."""

    values = asdict(c)  # once per point: the tasks' ids hash parts of it

    def add(kind: str, label: str, options: tuple[str, ...], args: tuple = (), deps: list[str] | None = None) -> str:
        task_id = f"{kind}:{label}@{_digest(values, options, *args)}"
        if task_id not in tasks:
            tasks[task_id] = Task(task_id, kind, label, c, args, deps or [], point if kind == "records" else None)
        return task_id

    fits = list(dict.fromkeys(a.strip().lower() for a in c.fit_attacks.split(",") if a.strip()))
    pairs = attack_pairs(c.attacks, fits)
    model = f"{c.dataset}/{c.model or 'default'}/seed{c.seed}"
    classifier = add("classifier", model, CLASSIFIER_OPTIONS)

    def aes(spec: str, pool: str) -> str:
        hfc = HFC_OPTIONS if "hfc" in spec.split("+") else ()
        return add("aes", f"{model} {spec} on {pool}", CLASSIFIER_OPTIONS + hfc, (spec, pool), [classifier])

    own = [classifier]
    for fit, attack in pairs:
        own += [aes(fit, "advtrain"), aes(fit, "advtest")]
        if attack != fit and not is_detector_aware(attack):
            own.append(aes(attack, "advtest"))
    for detector in DETECTORS.select(c.detectors):
        fitted = {fit: add("fit", f"{model} {detector} <- {fit}", CLASSIFIER_OPTIONS + FIT_OPTIONS, (detector, fit),
                           [aes(fit, "advtrain")])
                  for fit in dict.fromkeys(fit for fit, _ in pairs)}
        own += fitted.values()
        for fit, attack in pairs:
            if is_detector_aware(attack):
                hfc = AUTO_OPTIONS if attack == "auto" else HFC_OPTIONS if "hfc" in attack.split("+") else ()
                shared = [add("aes", f"{model} {AUTO_SHARED} on advtest", CLASSIFIER_OPTIONS + AUTO_OPTIONS,
                              (AUTO_SHARED, "advtest"), [classifier])] if attack == "auto" else []
                own.append(add("aware", f"{model} {attack} vs {detector} <- {fit}",
                               CLASSIFIER_OPTIONS + FIT_OPTIONS + hfc, (detector, fit, attack),
                               [fitted[fit], aes(fit, "advtest"), *shared]))
    add("records", f"point {point}: {model}", tuple(values), (point,), list(dict.fromkeys(own)))


def needed(tasks: list[Task], points: set[int]) -> list[Task]:
    """The tasks the records of grid ``points`` need (themselves and their dependencies), in order."""
    by_id = {t.id: t for t in tasks}
    keep: set[str] = set()
    stack = [t.id for t in tasks if t.kind == "records" and t.point in points]
    while stack:
        task_id = stack.pop()
        if task_id not in keep:
            keep.add(task_id)
            stack += by_id[task_id].deps
    return [t for t in tasks if t.id in keep]


SHOWN_TASKS = 200  # --dry-run lists at most this many tasks (a big grid has hundreds of thousands)


def describe(tasks: list[Task], points: int) -> str:
    """The task graph for ``--dry-run``: counts by kind, then the first :data:`SHOWN_TASKS` tasks
    with their dependencies, and how many more there are."""
    counts = Counter(t.kind for t in tasks)
    alone = sum(len(t.deps) + 1 for t in tasks if t.kind == "records")
    index = {t.id: i for i, t in enumerate(tasks)}
    lines = [f"{points} grid point(s) -> {len(tasks)} tasks (run one by one, the points would take {alone}):"]
    lines += [f"  {KINDS[kind]:<24}{counts[kind]}" for kind in KINDS if counts[kind]]
    lines.append("tasks (#: kind label <- the tasks it needs):")
    for i, task in enumerate(tasks[:SHOWN_TASKS]):
        deps = ", ".join(f"#{index[d]}" for d in task.deps)
        lines.append(f"  #{i}: {task.kind} {task.label}" + (f" <- {deps}" if deps else ""))
    if len(tasks) > SHOWN_TASKS:
        lines.append(f"  ... and {len(tasks) - SHOWN_TASKS} more tasks of the kinds counted above")
    return "\n".join(lines)
