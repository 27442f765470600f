"""FGSM (Goodfellow et al. 2015), targeted: one step of size eps against the target's loss (Eq. 2).

    x* = clip_[0,1]( x - eps * sign(grad_x J(x, c)) )
"""

from __future__ import annotations

from .base import Attack


class FGSM(Attack):
    """One signed-gradient step of size eps towards the target class."""

    name = "fgsm"

    def __init__(self, model, **kwargs):
        kwargs.setdefault("steps", 1)
        super().__init__(model, **kwargs)

    def perturb(self, x, target, index):
        return x - self.eps * self.gradient(x, target).sign()
