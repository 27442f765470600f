"""The contract every attack follows, and the loss terms attacks minimise.

All attacks are *targeted* (paper Sec. II, footnote 3) and L-inf bounded: an adversarial example
``x*`` satisfies ``||x* - x||_inf <= eps`` and ``0 <= x* <= 1``.

* :class:`Attack` holds the model, the budget and the objective. ``attack(x, y, target)`` does
  the bookkeeping (eval mode on and restored, seeding, [0, 1] and eps checks, success mask);
  subclasses write only ``perturb``, the maths.
* The objective is a sum of :class:`LossTerm` s, each ``(N,)`` per-sample values to *minimise*.
  Base attacks use cross-entropy to the target (or the CW margin); add-ons such as HFC append
  their term, which is how ``mim+hfc`` is MIM with one more term, not a copy of MIM.
* Only the input gradient is computed (``torch.autograd.grad`` w.r.t. ``x``).
* Every random choice (a random start, a random target class, a random guide) is drawn per input
  from ``(seed, index)`` (:mod:`hfcbench.seeding`), where ``index`` is the input's position in
  the set attacked: batching never changes an adversarial example.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import InvalidParameterError
from ..models.fast import attack_copy
from ..models.features import FeatureExtractor, Features, eval_mode
from ..seeding import per_input_integers

PROBE = 8  # inputs on which an attack copy of the model is checked against the model


class LossTerm:
    """One part of an attack objective: ``term(feats, target) -> (N,)`` values to minimise.

    ``feats`` holds logits and, when ``needs_layers`` is true, the hooked layers of the model
    (with their full maps when ``needs_maps`` is true). A term with ``replaces_objective`` (the
    feature-guide attacks) is minimised alone, without the attack's classification loss.

    Hooks, each optional: ``prepare`` runs once per batch before the first step; ``observe``
    sees every iterate with its features; ``finish`` may replace the final AEs (the detector-aware
    attacks keep the best iterate). A term with a rule is not added to the loss; the rule is the
    one hook in the BIM loop for the detector-aware attacks: ``choose`` picks, per input, the loss
    to descend from the rest of the objective and the term (selective; one backward pass), or
    ``combine`` combines the two gradients (orthogonal; two backward passes).
    """

    name: ClassVar[str] = ""
    needs_layers: ClassVar[bool] = False
    replaces_objective: ClassVar[bool] = False
    rule: ClassVar[str | None] = None  # "choose" or "combine": the term is a rule (see choose, combine)

    @property
    def needs_maps(self) -> bool:
        """Whether the term reads full activation maps (``Features.maps``)."""
        return False

    def prepare(self, attack: Attack, x: torch.Tensor, target: torch.Tensor, index: torch.Tensor) -> None:
        """Per-batch set-up from the clean inputs ``x`` (N, ...), their targets and their
        positions ``index`` (N,) in the attacked set, which seed any random choice (default: nothing)."""

    def observe(self, x: torch.Tensor, feats: Features, target: torch.Tensor) -> None:
        """Called at every iterate ``x`` (N, ...) with its features (default: nothing)."""

    def finish(self, attack: Attack, adv: torch.Tensor) -> torch.Tensor:
        """The batch's final AEs, given the last iterate ``adv`` (default: ``adv``)."""
        return adv

    def choose(self, rest: torch.Tensor, term: torch.Tensor, logits: torch.Tensor,
               target: torch.Tensor) -> torch.Tensor:
        """(``rule = "choose"``) the (N,) loss each input descends, from the rest of the objective's
        and this term's (N,) values."""
        raise NotImplementedError

    def combine(self, g_rest: torch.Tensor, g_term: torch.Tensor, logits: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """(``rule = "combine"``) the gradient each input follows, from the rest of the objective's
        gradient and this term's."""
        raise NotImplementedError

    def schedule(self, rest: torch.Tensor, term: torch.Tensor, logits: torch.Tensor,
                 target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(a rule) the (N,) value each input descends and its (N,) phase, for a step-size schedule
        that compares iterates (:class:`Step`)."""
        raise NotImplementedError

    def __call__(self, feats: Features, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def _total(values: list[torch.Tensor]) -> torch.Tensor:
    """The sum of (N,) loss values (at least one)."""
    return torch.stack(values).sum(0)


class CrossEntropy(LossTerm):
    """``J = -log p(c | x)`` for the target class ``c`` (Eq. 2-3)."""

    name = "ce"

    def __call__(self, feats, target):
        return F.cross_entropy(feats.logits, target, reduction="none")


class CWMargin(LossTerm):
    """The L-inf CW loss of Eq. 4: ``max(l_max_other - l_c, -kappa)`` (the paper's sign:
    minimising it raises the target logit ``l_c`` above every other logit by ``kappa``)."""

    name = "cw"

    def __init__(self, kappa: float):
        if kappa < 0:
            raise InvalidParameterError(f"kappa must be >= 0, got {kappa}")
        self.kappa = kappa

    def __call__(self, feats, target):
        logits = feats.logits
        target_logit = logits.gather(1, target[:, None]).squeeze(1)
        others = logits.masked_fill(F.one_hot(target, logits.shape[1]).bool(), float("-inf"))
        return torch.clamp(others.max(1).values - target_logit, min=-self.kappa)


@dataclass
class Step:
    """One evaluation of the objective at the iterates: ``grad`` the input gradient the step
    follows, ``value`` (N,) float64 the value each input descends, ``phase`` (N,) bool whether an
    input is in a rule's second phase (selective and orthogonal: fooled, now descending the
    detector's score), and ``success`` (N,) whether the classifier predicts the target. An iterate
    in the second phase is better than any in the first; within a phase, the lower value is."""

    grad: torch.Tensor
    value: torch.Tensor
    phase: torch.Tensor
    success: torch.Tensor


def better(value: torch.Tensor, phase: torch.Tensor, than_value: torch.Tensor,
           than_phase: torch.Tensor) -> torch.Tensor:
    """(N,) whether each iterate (value, phase) beats the other (:class:`Step`)."""
    return (phase & ~than_phase) | ((phase == than_phase) & (value < than_value))


@dataclass
class AttackResult:
    """``adv`` (N, C, *spatial) adversarial inputs, ``target`` (N,), ``success`` (N,) bool:
    the classifier predicts the target class on ``adv``."""

    adv: torch.Tensor
    target: torch.Tensor
    success: torch.Tensor

    @property
    def success_rate(self) -> float:
        return float(self.success.float().mean()) if len(self.success) else 0.0


def choose_targets(labels: torch.Tensor, num_classes: int, *, seed: int = 0, mode: str = "random",
                   logits: torch.Tensor | None = None, index=None) -> torch.Tensor:
    """Target class per input: the other class for binary tasks; for more classes a random wrong
    class drawn from ``(seed, index)`` per input (``mode="random"``; ``index`` defaults to
    ``0..N-1``) or the least-likely class (``mode="least_likely"``, needs logits)."""
    if num_classes == 2:
        return 1 - labels
    if mode == "least_likely":
        if logits is None:
            raise InvalidParameterError("target mode 'least_likely' needs the clean logits")
        return logits.argmin(1)
    if mode != "random":
        raise InvalidParameterError(f"target mode must be 'random' or 'least_likely', got {mode!r}")
    index = np.arange(len(labels)) if index is None else np.asarray(index)
    shift = torch.from_numpy(per_input_integers(num_classes - 1, seed, index, "target") + 1)
    return (labels.cpu() + shift) % num_classes


class Attack:
    """Base class of every attack.

    Args:
        model: the classifier under attack (inputs in [0, 1]); never moved or modified.
        eps: L-inf budget in pixel units (paper default 1/256).
        alpha: step size (paper default 0.02/256).
        steps: iterations (paper default ``T = 2 * eps / alpha``, rounded).
        seed: fixes random starts and any other random choice.
        terms: extra loss terms added to the attack's own objective (e.g. the HFC term).
        fast: compute the steps on :func:`~hfcbench.models.fast.attack_copy` of the model
            (BatchNorm folded into convolutions, ``channels_last``; checked against the model on
            the first batch); ``False`` steps on the model itself. The target, the success mask
            and CW's kappa always come from the model itself.
    """

    name: ClassVar[str] = ""

    def __init__(self, model: torch.nn.Module, *, eps: float = 1 / 256, alpha: float | None = None,
                 steps: int | None = None, seed: int = 0, terms: Sequence[LossTerm] = (), fast: bool = True):
        if not 0 < eps <= 1:
            raise InvalidParameterError(f"eps must be in (0, 1] (pixel units; 1/256 is one grey level), got {eps}")
        alpha = 0.02 / 256 if alpha is None else alpha
        if not 0 < alpha <= 1:
            raise InvalidParameterError(f"alpha (step size) must be in (0, 1], got {alpha}")
        steps = max(1, round(2 * eps / alpha)) if steps is None else steps
        if steps < 1:
            raise InvalidParameterError(f"steps must be >= 1, got {steps}")
        self.model, self.eps, self.alpha, self.steps, self.seed = model, eps, alpha, steps, seed
        self.terms = list(terms)
        rules = [t for t in self.terms if t.rule is not None]
        if len(rules) > 1:
            raise InvalidParameterError(f"one gradient-combination rule per attack, got {[t.name for t in rules]}")
        self._rule = rules[0] if rules else None
        self.fast = fast
        layered = any(t.needs_layers for t in self.terms)
        self._maps = "all" if any(t.needs_maps for t in self.terms) else ()
        self._stepped: torch.nn.Module | None = None  # the model the steps run on, chosen at the first one
        self._extractor = FeatureExtractor(model, maps=self._maps) if layered else None  # checks the layers
        self.trace: list[dict] | None = None  # set to a list to record every step (see evaluate)
        self._run_start = True  # the next evaluation begins a run (perturb marks it; the trace says so)

    # -- objective ------------------------------------------------------------------------------
    def classification_terms(self) -> list[LossTerm]:
        """The attack's own loss: cross-entropy to the target (CW: the margin of Eq. 4)."""
        return [CrossEntropy()]

    def objective_terms(self) -> list[LossTerm]:
        """The classification loss (unless an add-on replaces it) followed by the add-on terms."""
        own = [] if any(t.replaces_objective for t in self.terms) else self.classification_terms()
        return [*own, *self.terms]

    def features(self, x: torch.Tensor) -> Features:
        """Logits (and hooked layers when a term needs them) of ``x``, differentiable, computed on
        the attack copy of the model when ``fast`` (made from the first ``x`` of a call)."""
        if self._stepped is None:
            self._stepped = attack_copy(self.model, x.detach()[:PROBE]) if self.fast else self.model
            if self._extractor is not None:
                self._extractor = FeatureExtractor(self._stepped, maps=self._maps)
        if self._extractor is not None:
            return self._extractor(x)
        return Features(self._stepped(x), OrderedDict())

    def loss(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(N,) objective to minimise: the sum of every term."""
        feats = self.features(x)
        return _total([term(feats, target) for term in self.objective_terms()])

    def gradient(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The input gradient of the objective at ``x`` (see :meth:`evaluate`)."""
        return self.evaluate(x, target).grad

    def evaluate(self, x: torch.Tensor, target: torch.Tensor) -> Step:
        """The input gradient of the objective at ``x`` (no parameter gradients): of the sum of the
        terms, or, with a rule, of the loss it chooses per input or the combination of the rest of
        the objective's and the rule's term's gradients; with the value each input descends and
        its phase (:class:`Step`). Every term then observes the iterate, and the step is traced
        when ``trace`` is a list: the share of inputs at their target, each term's mean value, and
        the share of inputs whose gradient is zero or not finite."""
        x = x.detach().requires_grad_(True)
        feats = self.features(x)
        values = {term: term(feats, target) for term in self.objective_terms()}
        logits = feats.logits.detach()
        if self._rule is None:
            total = _total(list(values.values()))
            (grad,) = torch.autograd.grad(total.sum(), x)
            value, phase = total.detach(), torch.zeros(len(x), dtype=torch.bool, device=x.device)
        else:
            rest = _total([v for term, v in values.items() if term is not self._rule])
            if self._rule.rule == "choose":
                (grad,) = torch.autograd.grad(self._rule.choose(rest, values[self._rule], logits, target).sum(), x)
            else:
                (g_rest,) = torch.autograd.grad(rest.sum(), x, retain_graph=True)
                (g_rule,) = torch.autograd.grad(values[self._rule].sum(), x)
                grad = self._rule.combine(g_rest, g_rule, logits, target)
            value, phase = self._rule.schedule(rest.detach(), values[self._rule].detach(), logits, target)
        detached = x.detach()
        for term in self.terms:
            term.observe(detached, feats, target)
        if self.trace is not None:
            with torch.no_grad():
                flat = grad.flatten(1)
                self.trace.append({**({"run_start": 1} if self._run_start else {}),
                                   "success": float((logits.argmax(1) == target).float().mean()),
                                   **{term.name or type(term).__name__: float(v.mean()) for term, v in values.items()},
                                   "zero_gradient": float((flat == 0).all(1).float().mean()),
                                   "nonfinite_gradient": float((~torch.isfinite(flat)).any(1).float().mean())})
        self._run_start = False
        return Step(grad, value.double(), phase, logits.argmax(1) == target)

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Clip into the eps-ball around ``x``, then into [0, 1]."""
        return torch.min(torch.max(x_adv, x - self.eps), x + self.eps).clamp_(0.0, 1.0)

    # -- the maths (subclasses) ----------------------------------------------------------------------
    def perturb(self, x: torch.Tensor, target: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The adversarial inputs for ``x`` (N, C, *spatial); ``index`` (N,) seeds random choices.
        A subclass calls :meth:`begin_run` before each run of steps it makes (a restart, say)."""
        raise NotImplementedError

    def begin_run(self) -> None:
        """Mark the next evaluation as the first of a run of steps (the trace records where runs begin)."""
        self._run_start = True

    def calibrate(self, x: torch.Tensor) -> None:
        """Set data-dependent constants from every input of one call (``x`` on the model's device),
        before any batch is attacked (default: nothing; CW measures its kappa here)."""

    # -- bookkeeping -----------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None, *,
                 index=None) -> AttackResult:
        """Attack a batch: ``x`` (N, C, *spatial) in [0, 1], ``y`` (N,) true labels, ``target``
        (N,) classes to reach (default: :func:`choose_targets`), ``index`` (N,) the inputs'
        positions in the attacked set (default ``0..N-1``), which seed every random choice."""
        self._begin(x)
        return self._attack(x, y, target, np.arange(len(x)) if index is None else np.asarray(index))

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _begin(self, x: torch.Tensor) -> None:
        """Check every input of one call, then :meth:`calibrate` on them."""
        if x.ndim not in (4, 5):
            raise InvalidParameterError(f"x must be (N, C, H, W) or (N, C, D, H, W), got {tuple(x.shape)}")
        if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise InvalidParameterError("x must be finite and in [0, 1] (normalisation belongs inside the model)")
        self._stepped = None  # the model may have changed since the last call
        with eval_mode(self.model):
            self.calibrate(x.detach().to(self._device()))

    def _attack(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None,
                positions: np.ndarray) -> AttackResult:
        """One batch, after :meth:`calibrate` has seen every input of the call."""
        device = self._device()
        x = x.detach().to(device)
        index = torch.as_tensor(positions, dtype=torch.long)
        with eval_mode(self.model):
            if target is None:
                with torch.no_grad():
                    num_classes = self.model(x[:1]).shape[1]
                target = choose_targets(y, num_classes, seed=self.seed, index=positions)
            target = target.to(device)
            for term in self.terms:
                term.prepare(self, x, target, index)
            adv = self.project(self.perturb(x, target, index).detach(), x)
            for term in self.terms:
                adv = term.finish(self, adv)
            with torch.no_grad():
                success = self.model(adv).argmax(1) == target
        assert (adv - x).abs().max() <= self.eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
        return AttackResult(adv.cpu(), target.cpu(), success.cpu())

    def in_batches(self, x: torch.Tensor, y: torch.Tensor, *, batch_size: int, desc: str = "attack",
                   progress: bool = False, index=None) -> AttackResult:
        """The attack on ``x`` (N, C, *spatial) in batches of ``batch_size``, joined into one
        result: the same as ``attack(x, y, index=index)`` in one batch, whatever ``batch_size``.
        ``index`` (N,): the inputs' positions in the attacked set (default ``0..N-1``), which key
        every per-input random draw, so that a subset given its positions draws what it would
        within the whole set (:meth:`calibrate`, e.g. CW's kappa, still sees only the subset)."""
        if batch_size < 1:
            raise InvalidParameterError(f"batch_size must be >= 1, got {batch_size}")
        positions = np.arange(len(x)) if index is None else np.asarray(index)
        self._begin(x)
        parts = [self._attack(x[first:first + batch_size], y[first:first + batch_size], None,
                              positions[first:first + batch_size])
                 for first in tqdm(range(0, len(x), batch_size), desc=desc, disable=not progress, leave=False)]
        return AttackResult(*(torch.cat([getattr(p, field) for p in parts]) for field in ("adv", "target", "success")))

    def __repr__(self) -> str:
        extra = "".join(f"+{type(t).__name__}" for t in self.terms)
        return f"{type(self).__name__}{extra}(eps={self.eps:.5g}, alpha={self.alpha:.5g}, steps={self.steps})"
