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
"""

from __future__ import annotations

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
    (the one the arms descend). ``worst_by`` counts, after a call, the images each arm supplied."""

    name = "auto"

    def __init__(self, model: torch.nn.Module, arms: dict, detector):
        self.model, self.arms, self.detector = model, arms, detector
        self.worst_by: dict[str, int] = {}

    @property
    def trace(self) -> dict[str, list[dict]] | None:
        """Each arm's per-step trace (None unless tracing was switched on)."""
        traces = {name: arm.trace for name, arm in self.arms.items()}
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
        """Every arm on ``x``, then per image the successful AE with the lowest score (the first
        arm's AE where no arm fooled the classifier)."""
        results = {name: arm.in_batches(x, y, batch_size=batch_size, desc=f"{desc}: {name}", progress=progress)
                   for name, arm in self.arms.items()}
        names = list(results)
        first = results[names[0]]
        scores = torch.stack([torch.where(results[n].success, self._scores(results[n].adv), torch.inf) for n in names])
        scores = torch.nan_to_num(scores, nan=torch.inf)  # a NaN score never wins
        winner = scores.argmin(0)                                                    # (N,) the arm chosen per image
        success = torch.stack([results[n].success for n in names]).any(0)
        adv = first.adv.clone()
        for i, name in enumerate(names):
            take = success & (winner == i)
            adv[take] = results[name].adv[take]
        self.worst_by = {name: int((success & (winner == i)).sum()) for i, name in enumerate(names)}
        return AttackResult(adv, first.target, success)
