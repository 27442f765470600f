"""BIM (Kurakin et al. 2017), targeted: ``T`` signed steps of size ``alpha`` projected into the
eps-ball (Eq. 3). PGD, MIM, TIM and CW change only the start point or the step direction, so they
subclass this loop rather than copy it.

    x*_0 = x;   x*_{t+1} = Pi_eps( x*_t - alpha * sign(grad_x J(x*_t, c)) )
"""

from __future__ import annotations

from collections import deque

import torch

from .base import Attack


class BIM(Attack):
    """Iterative FGSM with step alpha, projected into the eps-ball (the paper's base attack)."""

    name = "bim"

    def start(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The first iterate ``x*_0`` (BIM: the clean input); ``index`` (N,) seeds random starts."""
        return x.clone()

    def direction(self, grad: torch.Tensor, state):
        """The step direction from the gradient, and the state carried to the next step."""
        return grad.sign(), state

    def iterates(self, x, target, index):
        """Yield ``x*_1, ..., x*_T`` (callers inspecting the path, e.g. the gradient-consistency
        experiment, run it inside :func:`~hfcbench.models.features.eval_mode`)."""
        x_adv, state = self.start(x, index), None
        self.begin_run()
        for _ in range(self.steps):
            step, state = self.direction(self.gradient(x_adv, target), state)
            x_adv = self.project(x_adv - self.alpha * step, x)
            yield x_adv

    def perturb(self, x, target, index):
        return deque(self.iterates(x, target, index), maxlen=1)[0]  # the last iterate
