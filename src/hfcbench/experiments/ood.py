"""``ood-lesions`` (paper Sec. V-H, Table VI): the HFC score as an out-of-distribution detector.

Synthesised lesions (:mod:`hfcbench.datasets.lesions`) of a size and count are blended into each
clean AdvTest image, ``repeats`` times with fresh random lesions. FR is the share of lesioned
images the classifier gets wrong; as in the paper those are left out, and the AUC of ``S_HFC``
(Eq. 19) separates the clean images from the remaining lesioned ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..datasets.lesions import add_lesions
from ..errors import InvalidParameterError
from ..protocol.config import RunConfig
from ..stats.bootstrap import auc_interval
from .common import command, pool_note, runner
from .paper import TABLE6, paper_name
from .report import Report, Table, auc_text, pct

LESION_GRID = (("small", 2), ("small", 4), ("small", 6), ("medium", 1), ("medium", 2), ("medium", 4),
               ("large", 1), ("large", 2), ("large", 3))
REPEATS = 10
SMOKE_GRID, SMOKE_REPEATS = (("small", 2), ("large", 3)), 2


def ood_lesions(config: RunConfig, out: Path) -> Report:
    """Table VI: AUC of the HFC score on lesioned against clean images, and the false-prediction rate."""
    smoke = config.profile == "smoke"
    grid, repeats = (SMOKE_GRID, SMOKE_REPEATS) if smoke else (LESION_GRID, REPEATS)
    run = runner(config)
    if run.dataset.spatial_dims != 2:
        raise InvalidParameterError(f"ood-lesions draws 2-D lesions; {config.dataset} is "
                                    f"{run.dataset.spatial_dims}-D")
    detector = run.fitted_detector("hfc", "bim")  # S_HFC reads training features only; the fit ignores AEs
    clean = run.clean_features("advtest")
    clean_scores = detector.score(clean)
    images, labels, _ = run.pool("advtest")
    rows, records = [], []
    paper = TABLE6.get(paper_name(config.dataset), {})
    for size, count in grid:
        rng = np.random.default_rng([config.seed, count, len(size)])
        lesioned = torch.cat([torch.stack([torch.from_numpy(add_lesions(img.numpy(), count, size, rng)[0])
                                           for img in images]) for _ in range(repeats)])
        truth = labels.repeat(repeats)
        feats = run.extractor.extract(lesioned, truth, progress=False)
        wrong = (feats.predictions != truth).numpy()
        kept = feats.subset(np.flatnonzero(~wrong))
        sources = np.tile(np.arange(len(images)), repeats)[~wrong]
        value = auc_interval(clean_scores, detector.score(kept) if len(kept) else np.empty(0), sources,
                             seed=config.seed)
        theirs = paper.get((size, count))
        rows.append([size, count, auc_text(value, 1), pct(float(wrong.mean())),
                     *([f"{theirs[0]:.1f}", f"{theirs[1]:.1f}"] if theirs else ["n/a", "n/a"])])
        records.append({"dataset": config.dataset, "size": size, "count": count, "repeats": repeats,
                        **value, "false_prediction_rate": float(wrong.mean()), "n_lesioned": len(lesioned),
                        "params": run.params})
    notes = [pool_note(run), f"S_HFC fitted on the training images' penultimate features ({detector.n_components} "
                             f"components per class); {len(images)} AdvTest images x {repeats} lesion draws per row"]
    return Report("ood-lesions", f"Table VI on {config.dataset}: the HFC score against synthesised lesions",
                  command("ood-lesions", config), notes,
                  [Table(f"AUC (%) and FR (%): hfcbench, then the paper ({paper_name(config.dataset) or 'n/a'})",
                         ["size", "count", "AUC", "FR", "paper AUC", "paper FR"], rows,
                         "AUC with its 95% bootstrap interval over AdvTest images (each lesioned copy resampled "
                         "with its source image).")], [], records)
