"""MIM (Dong et al. 2018): BIM whose step is the sign of an accumulated, L1-normalised gradient.

    g_{t+1} = mu * g_t + grad_t / mean(|grad_t|);   step = sign(g_{t+1}),   mu = 1.0
"""

from __future__ import annotations

from ..errors import InvalidParameterError
from .bim import BIM


class MIM(BIM):
    """BIM with momentum (decay mu = 1.0) on L1-normalised gradients."""

    name = "mim"

    def __init__(self, model, *, decay: float = 1.0, **kwargs):
        if decay < 0:
            raise InvalidParameterError(f"decay must be >= 0, got {decay}")
        self.decay = decay
        super().__init__(model, **kwargs)

    def direction(self, grad, state):
        l1 = grad.abs().flatten(1).mean(1).clamp_min(1e-12).view(-1, *([1] * (grad.dim() - 1)))
        momentum = grad / l1 if state is None else self.decay * state + grad / l1
        return momentum.sign(), momentum
