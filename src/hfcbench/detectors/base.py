"""The contract every detector follows, built-in or plugged in.

A detector is fitted on :class:`~hfcbench.models.Features` of the AdvTrain split (clean inputs,
their adversarial examples, optionally noisy copies) and scores features of new inputs:

* ``__init__(*, ...)`` stores keyword hyper-parameters only (scikit-learn discipline);
  validation happens in ``fit``, with messages that name the parameter, range and value;
* ``fit(clean, adv, noisy=None, *, reference=None) -> self``; learned attributes end in ``_``;
* ``score(feats) -> np.ndarray`` of shape ``(N,)``: **higher means more adversarial**, for
  every detector (a detector whose raw statistic runs the other way negates it);
* ``characteristics(feats) -> dict[str, np.ndarray]``: the raw per-layer values before any
  learned combination (LID estimate per layer, Mahalanobis distance per layer, kernel
  density, Bayesian uncertainty...), each of shape ``(N,)``, to be checked against the formulas;
* optionally ``torch_score(feats) -> torch.Tensor`` of shape ``(N,)``: the same score, computed
  in torch and differentiable with respect to the tensors of ``feats`` (on their device and in
  their dtype), equal to ``score`` within 1e-4 relative. Detector-aware attacks (``joint``,
  ``selective``, ``orthogonal``) need it; a detector without it is marked "not adaptively
  attacked" in every table. Built-in detectors compute ``score`` through it (one formula, two
  precisions: ``score`` runs it in float64 without gradients).

``stochastic`` (default False) declares a score that draws fresh randomness at every call;
``--attacks auto`` attacks such a detector with EOT (its gradient averaged over 20 fresh draws).

``requires`` names the feature parts a detector reads: ``"layers"`` (hooked layers' channel
means), ``"maps"`` (hooked layers' full activation maps, ``Features.maps``), ``"penultimate"``,
``"logits"``, ``"head"`` (final linear layer's parameters).

**The reference set.** KD (Feinman et al.), MAHA (Lee et al.), LID's neighbours and the HFC score
(paper Eq. 18-19) estimate class statistics (kernel-density points, class means and tied
covariance, reference minibatches, Gaussian mixtures) on the classifier's **training set**, as
their official codes do; only the learned combination (a logistic regression) is fitted on
AdvTrain. ``reference`` carries those training-set features with their true labels, and the
harness always passes it. Without it the clean AdvTrain features serve as the reference: then
clean negatives get in-sample statistics, and an AE whose own source is a reference point has an
unusually close neighbour at fit time that no AdvTest AE has (LID warns about this).

A subclass receives the reference when its ``_fit`` takes a ``reference`` argument; a detector
whose ``_fit(clean, adv, noisy)`` does not (a plugin written before the reference existed) is
fitted as before and simply never sees it.

**Noisy negatives** (Feinman et al., Ma et al., Lee et al.): ``noisy`` holds features of clean
AdvTrain inputs plus Gaussian noise of the AEs' mean L2 norm; detectors with a learned
combination use them as further negatives. The harness generates them (``--no-noisy`` turns that
off).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import ClassVar, cast

import numpy as np
import torch

from ..errors import HfcbenchError, InvalidParameterError, NotFittedError
from ..models.features import PENULTIMATE, Features


class Detector:
    """Base class: subclasses implement ``_fit`` and ``characteristics`` (and ``_score`` if the
    score is not a learned combination of the characteristics)."""

    name: ClassVar[str] = ""
    requires: ClassVar[frozenset[str]] = frozenset({"layers"})

    def __init__(self, **params):
        if params:
            raise InvalidParameterError(f"{type(self).__name__} takes no parameters {sorted(params)}")

    # -- public API ---------------------------------------------------------------------------
    def fit(self, clean: Features, adv: Features, noisy: Features | None = None, *,
            reference: Features | None = None) -> Detector:
        """Learn from AdvTrain features: ``clean`` inputs and their adversarial examples ``adv``
        (``noisy``: noisy copies of clean inputs, further negatives), with class statistics from
        ``reference``, the training-set features with their true labels (default: ``clean``)."""
        for what, feats in (("clean", clean), ("adv", adv), ("noisy", noisy), ("reference", reference)):
            if feats is not None:
                self._check_features(feats, what, maps=what != "reference")
        if len(clean) < 2 or len(adv) < 2:
            raise InvalidParameterError(
                f"{type(self).__name__}.fit needs at least 2 clean and 2 adversarial samples, got "
                f"{len(clean)} and {len(adv)}; use a larger --limit or a stronger attack budget")
        if "reference" in inspect.signature(self._fit).parameters:
            self._fit(clean, adv, noisy, reference=clean if reference is None else reference)
        else:  # a detector written before the reference existed: _fit(clean, adv, noisy)
            cast(Callable[..., None], self._fit)(clean, adv, noisy)
        self.fitted_ = True
        return self

    def score(self, feats: Features) -> np.ndarray:
        """(N,) scores, higher = more adversarial."""
        self._check_fitted()
        self._check_features(feats, "scored")
        scores = np.asarray(self._score(feats), dtype=np.float64).reshape(-1)
        if scores.shape != (len(feats),):
            raise HfcbenchError(f"{type(self).__name__} returned {scores.shape} scores for {len(feats)} inputs")
        return scores

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """Raw per-layer statistics, ``{name: (N,)}``."""
        raise NotImplementedError

    def torch_score(self, feats: Features) -> torch.Tensor:
        """(N,) the score in torch, differentiable in the feature tensors (optional: a detector that
        does not override this cannot be attacked adaptively; see :func:`differentiable`)."""
        raise NotImplementedError(f"{type(self).__name__} has no differentiable score (torch_score)")

    def get_params(self) -> dict:
        """The keyword hyper-parameters given to ``__init__`` (stored as attributes)."""
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names if hasattr(self, n)}

    # -- for subclasses ---------------------------------------------------------------------------
    def _fit(self, clean: Features, adv: Features, noisy: Features | None, *, reference: Features) -> None:
        raise NotImplementedError

    @staticmethod
    def _class_labels(feats: Features) -> np.ndarray:
        """(N,) classes of a reference set: its labels (the true classes of training images), or
        the classifier's predictions where no labels are attached."""
        labels = feats.predictions if feats.labels is None else feats.labels
        return torch.as_tensor(labels).numpy()

    @staticmethod
    def _negatives(clean: Features, noisy: Features | None) -> list[Features]:
        """What a learned combination takes as negatives: clean inputs and their noisy copies."""
        return [clean] if noisy is None else [clean, noisy]

    def _score(self, feats: Features) -> np.ndarray:
        raise NotImplementedError

    def _score_through_torch(self, feats: Features) -> np.ndarray:
        """``torch_score`` on float64 CPU copies of ``feats``, without gradients."""
        with torch.no_grad():
            return self.torch_score(feats.to(torch.float64)).numpy()

    @property
    def stochastic(self) -> bool:
        """Whether every call draws fresh randomness (e.g. ``BU(resample=True)``): two calls on one
        input may differ, and attacks average its gradient over fresh draws (EOT)."""
        return False

    @property
    def differentiable(self) -> bool:
        """Whether the detector has a ``torch_score`` of its own (detector-aware attacks need it)."""
        return type(self).torch_score is not Detector.torch_score

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(clean, adv) first")

    def _check_features(self, feats: Features, what: str, *, maps: bool = True) -> None:
        """Refuse features that lack a part the detector reads (``maps``: whether full maps are
        needed; the reference set never carries them: class statistics come from its vectors)."""
        if not isinstance(feats, Features):
            raise InvalidParameterError(f"{type(self).__name__}: {what} must be a Features object, got "
                                        f"{type(feats).__name__}; extract them with FeatureExtractor")
        if "penultimate" in self.requires and PENULTIMATE not in feats.layers:
            raise InvalidParameterError(f"{type(self).__name__}: {what} features lack the penultimate layer")
        if maps and "maps" in self.requires:
            missing = [n for n in feats.layer_names if n != PENULTIMATE and n not in feats.maps]
            if missing:
                raise InvalidParameterError(f"{type(self).__name__}: {what} features lack the full maps of layers "
                                            f"{missing}; extract them with FeatureExtractor(model, maps='all')")
        if "head" in self.requires and feats.head_weight is None:
            raise InvalidParameterError(f"{type(self).__name__}: {what} features lack the final linear layer "
                                        "(head_weight); extract them with FeatureExtractor")
        feats.check_finite(f"{type(self).__name__}: {what} features")

    @staticmethod
    def _require(name: str, value, ok: bool, allowed: str):
        if not ok:
            raise InvalidParameterError(f"parameter {name} must be {allowed}, got {value!r}")
        return value

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
