"""``3d-vs-2d`` (paper Sec. V-G, Fig. 9): are 3-D volumes easier to attack than 2-D images?

Targeted BIM success over tiny budgets on a 3-D set, on a 2-D set, and on the 3-D set average-
pooled 2x per axis (8x fewer input dimensions; a classifier is trained on the pooled volumes).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..datasets import load_dataset
from ..datasets.downsample import downsample
from ..protocol.budget import pool_sample, search_budget
from ..protocol.config import RunConfig
from ..protocol.runner import Runner
from ..report.plots import line_plot
from ..stats.intervals import proportion_interval
from .common import command, figure, pool_note
from .report import Report, Table, pct

DIMS_BUDGETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4)  # /256
DIMS_POOL = 256
VOLUMES, IMAGES = "adrenalmnist3d", "pneumoniamnist"


def success_over_budgets(run: Runner, budgets=DIMS_BUDGETS) -> tuple[dict, int]:
    """``({eps/256: targeted BIM success}, n)`` on ``n`` (up to :data:`DIMS_POOL`) correctly
    classified images."""
    test, c = run.dataset.test, run.config
    sample = pool_sample(run.split.kept, test.labels.numpy(), DIMS_POOL, c.seed)
    rates = search_budget(run.model, test.images[sample], test.labels[sample], steps=c.steps, seed=c.seed,
                          grid=budgets, target=float("inf"), batch_size=c.batch_size, progress=not c.quiet).rates
    return rates, len(sample)


def _wilson(rates: dict, n: int) -> dict:
    """``{eps/256: (low, high)}``: the Wilson interval of each success rate over ``n`` images."""
    return {b: proportion_interval(round(rate * n), n) for b, rate in rates.items()}


def dims(config: RunConfig, out: Path) -> Report:
    """Fig. 9: BIM success over budgets, 3-D volumes against 2-D images and pooled volumes."""
    given = load_dataset(config.dataset, config.data_dir, quiet=True, image_size=config.image_size,
                         window=config.window)
    is_3d = given.spatial_dims == 3
    volumes = given if is_3d else load_dataset(VOLUMES, config.data_dir, quiet=True)
    image_set = IMAGES if is_3d else config.dataset
    # the given set keeps the user's model; the pooled volumes get it trained afresh (no checkpoint
    # fits another input size); a registered set of the other dims gets the zoo's default for them
    volume_config = replace(config, eps=1 / 256) if is_3d else replace(config.on_dataset(VOLUMES), model=None,
                                                                        eps=1 / 256)
    runs = {volumes.name: Runner(volume_config, dataset=volumes)}
    pooled = downsample(volumes, 2)
    runs[pooled.name] = Runner(replace(volume_config, dataset=pooled.name, checkpoint=None), dataset=pooled)
    runs[image_set] = Runner(replace(config.on_dataset(IMAGES), model=None, eps=1 / 256) if is_3d else
                             replace(config, eps=1 / 256),
                             dataset=None if is_3d else given)
    measured = {name: success_over_budgets(run) for name, run in runs.items()}
    rates = {name: found for name, (found, _) in measured.items()}
    intervals = {name: _wilson(found, n) for name, (found, n) in measured.items()}
    rows = [[f"{b:g}/256", *[f"{pct(rates[k][b])} [{pct(intervals[k][b][0])}, {pct(intervals[k][b][1])}]"
                             for k in runs]] for b in DIMS_BUDGETS]
    dims_of = {name: int(np.prod(run.dataset.image_shape)) for name, run in runs.items()}
    name = f"3d-vs-2d-{volumes.name}.png"
    line_plot(figure(out, name), "targeted BIM success over budgets", list(DIMS_BUDGETS),
              {f"{k} ({dims_of[k]} dims)": [100 * v for v in r.values()] for k, r in rates.items()},
              xlabel="eps (/256)", ylabel="Adv. Acc (%)")
    notes = [pool_note(run) for run in runs.values()]
    notes.append(f"BIM with {runs[image_set].config.steps} steps of alpha = 2 eps / steps on up to {DIMS_POOL} "
                 "correctly classified test images per set")
    return Report("3d-vs-2d", f"Fig. 9: BIM success, {volumes.name} (3-D) against {image_set} (2-D)",
                  command("3d-vs-2d", config), notes,
                  [Table("Adv. Acc (%) of targeted BIM", ["eps", *[f"{k} ({dims_of[k]} dims)" for k in runs]], rows,
                         "with 95% Wilson intervals over the images attacked")],
                  [name], [{"dataset": k, "input_dims": dims_of[k], "n": measured[k][1],
                            "success": {str(b): v for b, v in r.items()},
                            "success_ci": {str(b): interval for b, interval in intervals[k].items()},
                            "params": runs[k].params} for k, r in rates.items()])
