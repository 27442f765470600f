"""``--attacks auto``: what AutoAttack (Croce & Hein 2020) did for classifiers, for a classifier
with a detector. One name, nothing to tune but the budget: every arm is an APGD run (the step
schedule of :mod:`.apgd`) against the detector under evaluation, and the AE set keeps, per image,
the successful AE of any arm that the detector scores lowest.

Arms (``standard``; each ``steps`` APGD iterations, default 100, one restart):

* ``apgd+selective`` and ``apgd+orthogonal``: Bryniarski et al.'s switching and projection;
* ``apgd+joint``: C&W's margin plus lambda times the detector's score, lambda bisected over 4
  rounds of ``steps / 4`` iterations each (the arm costs what the others do);
* ``apgd+hfc``: the targeted margin with the HFC term (the paper's feature hiding), which needs no
  gradient of the detector.

``plus`` runs each arm with 5 restarts and adds ``apgd-ce+selective`` and ``apgd-ce+hfc`` (the
cross-entropy arms, as AutoAttack's ``plus`` adds APGD-CE and APGD-DLR to each other). The
detector the arms descend is the fitted one itself when it is deterministic and has
``torch_score``, its :class:`~hfcbench.detectors.wrappers.EOT` average when it is ``stochastic``,
or its :class:`~hfcbench.detectors.wrappers.Surrogate` when it has no gradient; which one is
recorded, and the per-image choice between arms uses that same score.

As AutoAttack runs each next attack only on the points still robust, each arm here attacks only
the images that no earlier arm *broke*: fooled the classifier with a score below every score of
the detector's calibration set (the AdvTrain clean inputs). Such an AE evades at every
false-positive rate and ranks below every calibration image, so no later arm could improve any
metric the records take from the calibration set (evasion and TPR at 1% and 5% FPR); AUC and
TPR at 90% TNR are taken against the AdvTest clean inputs, of the same distribution, where a
later arm could move a pair only against an AdvTest clean score below the calibration set's
lowest. Arms that do not read the detector (``apgd+hfc``, ``apgd-ce+hfc``) are the same
against every detector: a run crafts them once per image pool and they count first.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InvalidParameterError
from ..models.features import FeatureExtractor, eval_mode
from .adaptive.detector import JOINT_ROUNDS
from .base import AttackResult

VERSIONS = ("standard", "plus")
STEPS = 100
ARMS = {"standard": ("apgd+selective", "apgd+orthogonal", "apgd+joint", "apgd+hfc"),
        "plus": ("apgd+selective", "apgd+orthogonal", "apgd+joint", "apgd+hfc", "apgd-ce+selective", "apgd-ce+hfc")}
RESTARTS = {"standard": 1, "plus": 5}


def check_version(version: str) -> str:
    if version not in VERSIONS:
        raise InvalidParameterError(f"--auto-version must be standard or plus, got {version!r}")
    return version


def arm_budgets(version: str, steps: int | None) -> dict[str, dict]:
    """``{arm spec: its budget}`` for ``version``: ``steps`` APGD iterations (default 100) and the
    version's restarts; ``apgd+joint`` gets ``steps / JOINT_ROUNDS`` per round of its lambda search,
    so each arm costs about the same."""
    steps = STEPS if steps is None else steps
    return {spec: {"steps": max(steps // (JOINT_ROUNDS if spec.endswith("+joint") else 1), 1),
                   "restarts": RESTARTS[version]} for spec in ARMS[check_version(version)]}


class AutoDetectorAttack:
    """The per-image worst case over ``arms`` (name -> attack), judged by ``detector``'s score
    (the one the arms descend), the arms run one after another as AutoAttack runs its attacks:
    each attacks only the images no earlier arm broke (module docstring), judged against
    ``calibration``, the detector's (n,) scores of its clean calibration inputs (``None``: every
    arm attacks every image). ``done`` holds arms' results already computed on the whole set in
    its order (an arm that does not read the detector is the same against every detector, so a
    run crafts it once); they count first. ``worst_by`` counts, after a call, the images each arm
    supplied."""

    name = "auto"

    def __init__(self, model: torch.nn.Module, arms: dict, detector, *, calibration=None,
                 done: dict[str, AttackResult] | None = None):
        self.model, self.arms, self.detector = model, arms, detector
        self.floor = None if calibration is None else float(np.min(calibration))  # below every clean score
        self.done = dict(done or {})
        self.worst_by: dict[str, int] = {}

    @property
    def trace(self) -> dict[str, list[dict]] | None:
        """The per-step trace of each arm that ran (None unless tracing was switched on)."""
        traces = {name: arm.trace for name, arm in self.arms.items() if name not in self.done}
        return None if all(t is None for t in traces.values()) else traces

    @trace.setter
    def trace(self, value) -> None:
        for arm in self.arms.values():
            arm.trace = None if value is None else []

    def _scores(self, adv: torch.Tensor) -> torch.Tensor:
        maps = "all" if "maps" in self.detector.requires else ()
        with torch.no_grad(), eval_mode(self.model):
            feats = FeatureExtractor(self.model, maps=maps).extract(adv, None)
            return torch.as_tensor(self.detector.score(feats), dtype=torch.float64)

    def in_batches(self, x: torch.Tensor, y: torch.Tensor, *, batch_size: int, desc: str = "auto",
                   progress: bool = False) -> AttackResult:
        """The arms (``done`` first) on ``x``, each on the images not yet broken; per image the
        successful AE with the lowest score (the first arm's AE where no arm fooled the
        classifier)."""
        adv, target = x, None
        success = torch.zeros(len(x), dtype=torch.bool)
        lowest = torch.full((len(x),), torch.inf, dtype=torch.float64)   # the best successful AE's score
        supplier = torch.full((len(x),), -1)                              # which arm supplied it
        names = [*[n for n in self.arms if n in self.done], *[n for n in self.arms if n not in self.done]]
        for i, name in enumerate(names):
            broken = success & (lowest < self.floor) if self.floor is not None else torch.zeros_like(success)
            rows = (~broken).nonzero().squeeze(1)
            if not len(rows):
                break
            if name in self.done:
                if len(self.done[name].adv) != len(x):
                    raise ValueError(f"auto: the given results of {name} hold {len(self.done[name].adv)} images, "
                                     f"the attacked set {len(x)}")
                result = AttackResult(*(getattr(self.done[name], f)[rows] for f in ("adv", "target", "success")))
            else:
                result = self.arms[name].in_batches(x[rows], y[rows], batch_size=batch_size, index=rows.numpy(),
                                                    desc=f"{desc}: {name}", progress=progress)
            if target is None:  # the first arm attacks every image
                adv, target = result.adv.clone(), result.target.clone()
            if not torch.equal(result.target, target[rows]):
                raise ValueError(f"auto: arm {name} aimed at other classes than the first arm")
            score = torch.where(result.success, self._scores(result.adv), torch.inf)
            score = torch.nan_to_num(score, nan=torch.inf)  # a NaN score never wins over a number
            take = result.success & ((score < lowest[rows]) | ~success[rows])
            adv[rows[take]] = result.adv[take]
            lowest[rows[take]] = score[take]
            supplier[rows[take]] = i
            success[rows] |= result.success
        self.worst_by = {name: int((supplier == i).sum()) for i, name in enumerate(names)}
        assert target is not None
        return AttackResult(adv, target, success)
