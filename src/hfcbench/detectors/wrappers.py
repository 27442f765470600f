"""Wrappers that make any fitted detector attackable: the attacks stay as they are.

* :class:`EOT` (Athalye et al. 2018, expectation over transformation): a stochastic detector's
  score averaged over ``draws`` fresh draws of its randomness (20 by default, as AutoAttack's
  ``rand`` version), in ``torch_score`` as in ``score``, so an attack follows the gradient of the
  expected score rather than of one draw.
* :class:`Surrogate` (Athalye et al. 2018, BPDA: the real function forward, an approximation of its
  gradient backward; Tramer et al. 2020): for a detector without ``torch_score`` (a plugin, a
  non-differentiable statistic), a score that *is* the detector's, whose gradient in the features
  the detector reads (layer vectors, maps, logits) is estimated from queries of the real detector
  by antithetic finite differences along random directions (Nesterov & Spokoiny 2017), and chained
  with the classifier's exact gradient to the image. The detector is queried on features, not
  images, so a step costs no extra pass through the network. Its fit is the Spearman correlation
  between the change the estimate predicts and the real change, along held-out directions.

  A *learned* surrogate (an MLP regressing the score on clean, noisy and adversarial features, the
  form Tramer et al. describe) was tried first and dropped: on the planted detector of the tests
  it reached a held-out Spearman correlation of 0.88, yet the attacks it led drove the surrogate's
  AUC to 0 while the real detector's stayed at 0.74-0.91 (BIM: 0.93), even with feature-space
  augmentation and four rounds of refitting on the attack's own AEs: the attack finds the
  directions the network extrapolates wrongly. The query estimate took the real AUC to 0.04.

Both expose the wrapped detector's ``requires`` and are fitted already (they wrap a fitted one).
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from scipy.stats import spearmanr
from torch.autograd.function import once_differentiable

from ..errors import HfcbenchError
from ..models.features import PENULTIMATE, Features
from .base import Detector


class SurrogateError(HfcbenchError):
    """No surrogate can be fitted to this detector's scores (constant, or not finite)."""


class EOT(Detector):
    """The mean score of ``draws`` calls of a stochastic detector (differentiable where it is)."""

    name = "eot"

    def __init__(self, detector: Detector, *, draws: int = 20):
        self.detector, self.draws = detector, draws
        self.requires = detector.requires  # type: ignore[misc]  # the wrapped detector's, per instance
        self.fitted_ = True

    def torch_score(self, feats: Features) -> torch.Tensor:
        return torch.stack([self.detector.torch_score(feats) for _ in range(self.draws)]).mean(0)

    def _score(self, feats: Features) -> np.ndarray:
        return np.mean([self.detector.score(feats) for _ in range(self.draws)], axis=0)


class _QueriedScore(torch.autograd.Function):
    """The real score forward; backward, its gradient in the feature tensors estimated from
    queries (:class:`Surrogate`)."""

    @staticmethod
    def forward(ctx, surrogate, feats, *tensors):
        ctx.surrogate, ctx.feats = surrogate, feats
        ctx.save_for_backward(*tensors)
        return torch.as_tensor(surrogate.query(feats, tensors), dtype=tensors[0].dtype, device=tensors[0].device)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        grads = ctx.surrogate.estimate(ctx.feats, ctx.saved_tensors)
        return (None, None, *[g * grad_output.view(-1, *[1] * (g.dim() - 1)) for g in grads])


class Surrogate(Detector):
    """A differentiable stand-in for ``detector`` (module docstring): its score is the real one.
    Its gradient in the features the detector reads (the layer vectors for ``"layers"``, the
    penultimate vector for ``"penultimate"``, ``"logits"`` or ``"head"`` -- the logits follow it
    through the final linear layer -- and the maps for ``"maps"``) is estimated from ``directions``
    antithetic pairs of queries, ``(s(f + h u) - s(f - h u)) / 2h`` along Gaussian directions
    ``u``: a local linear model of the score fitted to queries, chained with the classifier's exact
    gradient. ``h`` is ``sigma`` times each feature's spread over the AdvTrain clean inputs (set by
    :meth:`check`), and each input's directions are drawn from the seed and its own features, so
    an estimate depends neither on the batch nor on what was queried before."""

    name = "surrogate"

    def __init__(self, detector: Detector, *, directions: int = 16, sigma: float = 0.05, seed: int = 0):
        self.detector, self.directions, self.sigma, self.seed = detector, directions, sigma, seed
        self.requires = detector.requires  # type: ignore[misc]  # the wrapped detector's, per instance

    def _parts(self, feats: Features) -> list[tuple[str, str]]:
        """The (kind, name) of each feature tensor the detector reads, which the estimate moves."""
        if "layers" in self.requires:
            parts = [("layers", name) for name in feats.layer_names]
        elif self.requires & {"penultimate", "logits", "head"} or "maps" not in self.requires:
            parts = [("layers", PENULTIMATE)]
        else:
            parts = []
        if "maps" in self.requires:
            parts += [("maps", name) for name in feats.maps]
        return parts

    def _tensors(self, feats: Features) -> list[torch.Tensor]:
        return [getattr(feats, kind)[name] for kind, name in self._parts(feats)]

    def query(self, feats: Features, tensors) -> np.ndarray:
        """(N,) the real detector's scores on ``feats`` with the moved tensors replaced by
        ``tensors``; the logits follow the penultimate vector through the final linear layer
        where the features carry it (so a score of the logits moves with them)."""
        parts = dict(zip(self._parts(feats), (t.detach() for t in tensors), strict=True))
        if feats.head_weight is not None and ("layers", PENULTIMATE) in parts:
            penultimate = parts[("layers", PENULTIMATE)]
            bias = 0.0 if feats.head_bias is None else feats.head_bias.to(penultimate)
            parts[("logits", "")] = penultimate @ feats.head_weight.to(penultimate).T + bias
        return self.detector.score(feats.replaced(parts))

    def _directions(self, tensors, draw: int) -> list[torch.Tensor]:
        """Direction ``draw`` of every input, from a generator of (seed, draw, the input's features)."""
        rows = []
        for i in range(len(tensors[0])):
            content = b"".join(t[i].detach().cpu().double().numpy().tobytes() for t in tensors)
            generator = torch.Generator().manual_seed(int(np.random.SeedSequence(
                [self.seed, draw, zlib.crc32(content)]).generate_state(1)[0]))
            rows.append([torch.randn(t.shape[1:], generator=generator, dtype=t.dtype) for t in tensors])
        return [torch.stack([row[k] for row in rows]).to(t.device) for k, t in enumerate(tensors)]

    def estimate(self, feats: Features, tensors) -> list[torch.Tensor]:
        """The estimated gradient of the score in each of ``tensors`` (class docstring)."""
        steps = [h.to(device=t.device, dtype=t.dtype) for h, t in zip(self.steps_, tensors, strict=True)]
        grads = [torch.zeros_like(t) for t in tensors]
        for draw in range(self.directions):
            directions = self._directions(tensors, draw)
            up = self.query(feats, [t + h * u for t, h, u in zip(tensors, steps, directions, strict=True)])
            down = self.query(feats, [t - h * u for t, h, u in zip(tensors, steps, directions, strict=True)])
            change = torch.as_tensor((up - down) / 2, dtype=tensors[0].dtype, device=tensors[0].device)
            for grad, h, u in zip(grads, steps, directions, strict=True):
                grad += change.view(-1, *[1] * (u.dim() - 1)) * u / h / self.directions
        return grads

    def check(self, feats: Features) -> Surrogate:
        """Set the finite-difference steps from ``feats`` (AdvTrain clean inputs) and measure the
        estimate there before any attack: the Spearman correlation between the score change the
        estimated gradient predicts and the real change, along held-out directions (``fit_quality_``;
        the forward score is the real one, so this is the whole of the surrogate's error). Refuses
        constant or non-finite scores, which no gradient can follow."""
        scores = self.detector.score(feats)
        if not np.isfinite(scores).all():
            raise SurrogateError(f"{type(self.detector).__name__}'s scores hold NaN or infinite values: no surrogate "
                                 "can follow them")
        if len(scores) < 2 or float(np.std(scores)) == 0.0:
            raise SurrogateError(f"{type(self.detector).__name__} gives one constant score on {len(scores)} inputs: "
                                 "no surrogate can follow it")
        tensors = [t.detach() for t in self._tensors(feats)]
        self.steps_ = [self.sigma * t.std(0, keepdim=True).clamp_min(1e-6).cpu() for t in tensors]
        self.fitted_ = True
        grads = self.estimate(feats, tensors)
        held_out = self._directions(tensors, self.directions)  # a draw the estimate did not use
        moved = self.query(feats, [t + h * u for t, h, u in zip(tensors, self.steps_, held_out, strict=True)])
        predicted = sum((g * h * u).flatten(1).sum(1) for g, h, u in zip(grads, self.steps_, held_out, strict=True))
        rho = float(spearmanr(np.asarray(predicted), moved - scores).statistic)
        self.fit_quality_ = {"spearman_heldout": rho if np.isfinite(rho) else None, "directions": self.directions,
                             "n_checked": len(scores)}
        return self

    def torch_score(self, feats: Features) -> torch.Tensor:
        self._check_fitted()
        return _QueriedScore.apply(self, feats, *self._tensors(feats))

    def _score(self, feats: Features) -> np.ndarray:
        return self.detector.score(feats)
