"""APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks"): BIM's loop with a step size that needs no tuning.

Read from AutoAttack's ``autopgd_base.py``. ``steps`` iterations (default 100), from a random
start on the surface of the eps-ball (``x + eps t / ||t||_inf``, ``t ~ U[-1, 1]``), step size
``eta = 2 eps`` at first, and momentum 0.75 after the first iteration:

    z = P(x_k - eta sign(grad));   x_{k+1} = P(x_k + 0.75 (z - x_k) + 0.25 (x_k - x_{k-1}))

(``P`` clips into the eps-ball and [0, 1]; the sign is a descent: hfcbench *minimises* its
objectives.) At checkpoints whose intervals start at 22% of ``steps`` and shrink by 3% down to 6%
(for 100 iterations: after 22, 41, 57, 70, 80, 87, 93 and 99), each input's step is halved, and
its iterate set back to the best one so far, when (1) at most 75% of the steps since the last
checkpoint improved on their predecessor, or (2) its step was not halved at the last checkpoint
and its best value has not improved since. Restarts run again from fresh random starts; per
input the result is the best iterate that fooled the classifier (else the best iterate) over all
restarts. "Best" compares (phase, value) (:class:`~hfcbench.attacks.base.Step`): the detector-aware
rules' second phase (fooled, descending the detector's score) beats any iterate of the first.

The classification loss is a targeted margin that works for two classes, where AutoAttack's DLR
is undefined: ``max(max_{i != t} z_i - z_t, -kappa)`` (C&W's, ``kappa`` = 0.05: past it the
budget goes to the add-on terms); with four classes or more, the same margin over AutoAttack's
targeted DLR scale, ``max((max_{i != t} z_i - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2), -kappa)``,
which no rescaling of the logits changes (AutoAttack's numerator is ``z_y - z_t``, the true class
against the target; hfcbench's targeted protocol has no untargeted counterpart, so it takes the
strongest other class). ``apgd-ce`` uses cross-entropy instead (AutoAttack's APGD-CE).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..seeding import per_input
from .base import Attack, CrossEntropy, LossTerm, Step, better

MOMENTUM = 0.75
RHO = 0.75
KAPPA = 0.05


def checkpoints(steps: int) -> list[int]:
    """The iterations after which APGD checks its progress: intervals of 22% of ``steps`` at
    first, each 3% (at least one step) shorter than the last down to 6% (AutoAttack's integer
    arithmetic)."""
    out, at = [], 0
    interval, shrink, floor = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    while at + interval <= steps:
        at += interval
        out.append(at)
        interval = max(interval - shrink, floor)
    return out


class TargetedMargin(LossTerm):
    """(N,) the targeted margin to minimise: C&W's hinge below four classes, DLR's scale from four."""

    name = "margin"

    def __call__(self, feats, target):
        logits = feats.logits
        target_logit = logits.gather(1, target[:, None]).squeeze(1)
        others = logits.masked_fill(F.one_hot(target, logits.shape[1]).bool(), float("-inf")).max(1).values
        if logits.shape[1] < 4:
            return torch.clamp(others - target_logit, min=-KAPPA)
        ordered = logits.sort(1, descending=True).values
        scale = ordered[:, 0] - (ordered[:, 2] + ordered[:, 3]) / 2 + 1e-12
        return torch.clamp((others - target_logit) / scale, min=-KAPPA)


class APGD(Attack):
    """APGD with the targeted margin loss (module docstring); ``restarts`` random restarts."""

    name = "apgd"

    def __init__(self, model, *, eps: float = 1 / 256, alpha: float | None = None, steps: int | None = 100,
                 seed: int = 0, restarts: int = 1, terms=(), fast: bool = True):
        # alpha is APGD's own (2 eps, then halved); the argument is accepted for a uniform builder
        super().__init__(model, eps=eps, alpha=min(2 * eps, 1.0), steps=100 if steps is None else steps, seed=seed,
                         terms=terms, fast=fast)
        if not (isinstance(restarts, int) and restarts >= 1):
            raise ValueError(f"restarts must be a whole number >= 1, got {restarts!r}")
        self.restarts = restarts

    def classification_terms(self) -> list[LossTerm]:
        return [TargetedMargin()]

    def start(self, x: torch.Tensor, index: torch.Tensor, restart: int) -> torch.Tensor:
        """A random point on the surface of the eps-ball, drawn per input (and restart)."""
        t = per_input("uniform", tuple(x.shape[1:]), self.seed + (restart << 40), index, "apgd-start",
                      dtype=x.dtype, device=x.device) * 2 - 1
        scale = t.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, *[1] * (x.dim() - 1))
        return (x + self.eps * t / scale).clamp(0.0, 1.0)

    def perturb(self, x, target, index):
        chosen, chosen_step = None, None
        for restart in range(self.restarts):
            adv, step = self._run(self.start(x, index, restart), x, target)
            if chosen is None or chosen_step is None:
                chosen, chosen_step = adv, step
                continue
            keep = _preferred(step, chosen_step)
            chosen = torch.where(keep.view(-1, *[1] * (x.dim() - 1)), adv, chosen)
            chosen_step = _merged(keep, step, chosen_step)
        assert chosen is not None
        return chosen

    def _run(self, x_start: torch.Tensor, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, Step]:
        """One APGD run from ``x_start``: per input the best iterate that fooled the classifier,
        else the best iterate, and that iterate's evaluation."""
        shape = (-1, *[1] * (x.dim() - 1))
        eta = torch.full((len(x),), 2 * self.eps, device=x.device, dtype=x.dtype)
        x_k = x_prev = x_start
        self.begin_run()
        now = self.evaluate(x_k, target)
        best_x, best = x_k.clone(), now
        adv_x, adv = x_k.clone(), now  # the best iterate that fooled the classifier
        marks, last_mark = set(checkpoints(self.steps)), 0
        improved = torch.zeros(len(x), device=x.device)
        halved_last = torch.ones(len(x), dtype=torch.bool, device=x.device)
        best_at_mark = best
        for i in range(self.steps):
            z = self.project(x_k - eta.view(shape) * now.grad.sign(), x)
            a = 1.0 if i == 0 else MOMENTUM
            x_next = self.project(x_k + a * (z - x_k) + (1 - a) * (x_k - x_prev), x)
            x_prev, x_k = x_k, x_next
            step = self.evaluate(x_k, target)
            improved += better(step.value, step.phase, now.value, now.phase).float()
            now = step
            new_best = better(now.value, now.phase, best.value, best.phase)
            best_x = torch.where(new_best.view(shape), x_k, best_x)
            best = _merged(new_best, now, best)
            new_adv = now.success & (~adv.success | better(now.value, now.phase, adv.value, adv.phase))
            adv_x = torch.where(new_adv.view(shape), x_k, adv_x)
            adv = _merged(new_adv, now, adv)
            if i + 1 in marks:
                stalled = ~halved_last & ~better(best.value, best.phase, best_at_mark.value, best_at_mark.phase)
                halve = (improved <= RHO * (i + 1 - last_mark)) | stalled
                eta = torch.where(halve, eta / 2, eta)
                x_k = torch.where(halve.view(shape), best_x, x_k)
                now = _merged(halve, best, now)
                halved_last, best_at_mark, last_mark = halve, best, i + 1
                improved = torch.zeros_like(improved)
        result = torch.where(adv.success.view(shape), adv_x, best_x)
        return result, _merged(adv.success, adv, best)


def _merged(take: torch.Tensor, first: Step, second: Step) -> Step:
    """Per input, ``first`` where ``take`` else ``second``."""
    shape = (-1, *[1] * (first.grad.dim() - 1))
    return Step(torch.where(take.view(shape), first.grad, second.grad), torch.where(take, first.value, second.value),
                torch.where(take, first.phase, second.phase), torch.where(take, first.success, second.success))


def _preferred(step: Step, other: Step) -> torch.Tensor:
    """(N,) whether ``step``'s iterate beats ``other``'s: fooling the classifier first, then (phase, value)."""
    return (step.success & ~other.success) | ((step.success == other.success)
                                             & better(step.value, step.phase, other.value, other.phase))


class APGDCE(APGD):
    """APGD on cross-entropy to the target (AutoAttack's APGD-CE)."""

    name = "apgd-ce"

    def classification_terms(self) -> list[LossTerm]:
        return [CrossEntropy()]
