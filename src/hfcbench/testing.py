"""Conformance kit: the contract checks every detector must pass, for authors of new ones.

    from .testing import check_detector
    check_detector(MyDetector)               # raises AssertionError naming the broken rule

The checks use a planted problem (:func:`planted_features`): clean features form two class
clusters in every layer; adversarial features are pushed towards the decision boundary and off
the clean distribution along a fixed direction, the paper's picture of conventional AEs
(Sec. III-A). Detectors are fitted with a separate draw of clean features as the ``reference``
(the training set's role). A detector must score them higher (AUC >= ``min_auc``), score two
clean samples alike (AUC near 0.5), return shape (N,), refuse to score before ``fit``, give the
same scores twice under the same parameters, and leave its inputs (the reference included)
untouched. A detector that ignores the reference passes the same checks. A detector with
``torch_score`` must also give ``score``'s values from it (within 1e-4 relative, in float32 as
attacks use it) and finite, non-zero gradients with respect to the features it reads.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from .errors import NotFittedError
from .models.features import PENULTIMATE, Features
from .stats.metrics import auc

LAYER_DIMS = (("block1", 8), ("block2", 16), (PENULTIMATE, 32))
MAP_SIZE = 4  # hooked layers also come as (N, C, 4, 4) maps whose channel means are the layer


def planted_features(n: int, *, adversarial: bool, seed: int, shift: float = 3.0) -> Features:
    """Features of ``n`` inputs of a binary classifier; adversarial ones are moved.

    Every layer has unit Gaussian noise; clean inputs of class ``c`` are offset by ``+-1`` in
    every dimension (hooked layers also by +2, like positive ReLU means); the final linear layer
    reads the sum of the penultimate features (logit margin about 16). Adversarial inputs sit at
    the decision boundary (no class offset) and are moved by ``shift`` along the second axis, so
    they are off the clean distribution in every layer and uncertain under dropout. Hooked layers
    also come as full maps: the channel mean plus spatial noise of mean zero per channel.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    sign = np.where(labels == 0, 1.0, -1.0)
    layers, maps = OrderedDict(), OrderedDict()
    for name, dim in LAYER_DIMS:
        f = rng.normal(size=(n, dim)) + (name != PENULTIMATE) * 2.0
        if adversarial:
            f[:, 1] += shift
        else:
            f += sign[:, None]
        layers[name] = torch.from_numpy(f)
        if name != PENULTIMATE:
            spatial = rng.normal(size=(n, dim, MAP_SIZE * MAP_SIZE))
            spatial -= spatial.mean(2, keepdims=True)
            maps[name] = torch.from_numpy(f[:, :, None] + spatial).reshape(n, dim, MAP_SIZE, MAP_SIZE)
    dim = LAYER_DIMS[-1][1]
    weight = torch.stack([torch.full((dim,), 0.25), torch.full((dim,), -0.25)]).double()
    bias = torch.zeros(2, dtype=torch.float64)
    logits = layers[PENULTIMATE] @ weight.T + bias
    return Features(logits, layers, torch.from_numpy(labels), weight, bias, maps=maps)


def _copy(feats: Features) -> Features:
    return Features(feats.logits.clone(), OrderedDict((k, v.clone()) for k, v in feats.layers.items()),
                    feats.labels.clone(), feats.head_weight.clone(), feats.head_bias.clone(),
                    maps=OrderedDict((k, v.clone()) for k, v in feats.maps.items()))


def _same(a: Features, b: Features) -> bool:
    return (torch.equal(a.logits, b.logits) and all(torch.equal(a.layers[k], b.layers[k]) for k in a.layers)
            and all(torch.equal(a.maps[k], b.maps[k]) for k in a.maps))


def check_detector(cls, *, params: dict | None = None, n: int = 240, min_auc: float = 0.9,
                   chance_band: float = 0.15) -> dict[str, float]:
    """Run the contract checks on detector class ``cls`` with keyword ``params``.

    Returns the measured AUCs ``{"planted": ..., "clean_vs_clean": ...}``.
    """
    params = params or {}
    name = cls.__name__
    clean, adv = planted_features(n, adversarial=False, seed=1), planted_features(n, adversarial=True, seed=2)
    test_clean, test_adv = planted_features(n, adversarial=False, seed=3), planted_features(n, adversarial=True, seed=4)
    other_clean = planted_features(n, adversarial=False, seed=5)
    reference = planted_features(2 * n, adversarial=False, seed=6)
    originals = [_copy(f) for f in (clean, adv, test_clean, reference)]

    unfitted = cls(**params)
    try:
        unfitted.score(test_clean)
    except NotFittedError:
        pass
    else:
        raise AssertionError(f"{name}.score before fit must raise hfcbench.errors.NotFittedError")

    detector = cls(**params)
    assert detector.fit(clean, adv, reference=reference) is detector, f"{name}.fit must return self"
    scores = detector.score(test_clean)
    assert isinstance(scores, np.ndarray) and scores.shape == (n,), \
        f"{name}.score must return an np.ndarray of shape ({n},), got {getattr(scores, 'shape', type(scores))}"
    planted = auc(scores, detector.score(test_adv))
    assert planted >= min_auc, (f"{name}: AUC {planted:.3f} < {min_auc} on the planted problem; is the score's "
                                "sign right (higher = more adversarial)?")
    chance = auc(scores, detector.score(other_clean))
    assert abs(chance - 0.5) <= chance_band, f"{name}: clean vs clean AUC {chance:.3f} is far from 0.5"

    again = cls(**params).fit(clean, adv, reference=reference).score(test_clean)
    assert np.array_equal(scores, again), f"{name}: two fits with the same parameters gave different scores"
    for original, used in zip(originals, (clean, adv, test_clean, reference), strict=True):
        assert _same(original, used), f"{name} modified its input features"
    characteristics = detector.characteristics(test_clean)
    assert isinstance(characteristics, dict) and characteristics, f"{name}.characteristics must return a dict"
    for key, values in characteristics.items():
        assert np.asarray(values).shape == (n,), f"{name}.characteristics()[{key!r}] must have shape ({n},)"
    if detector.differentiable:
        check_torch_score(detector, test_adv)
    return {"planted": planted, "clean_vs_clean": chance}


def check_torch_score(detector, feats: Features, *, rtol: float = 1e-4) -> None:
    """``torch_score`` equals ``score`` within ``rtol`` (relative to the largest score) on float32
    copies of ``feats`` that require gradients, and its gradients are finite and not all zero."""
    name = type(detector).__name__
    expected = detector.score(feats)
    inputs = feats.to(torch.float32)
    tensors = [inputs.logits, *inputs.layers.values(), *inputs.maps.values()]
    for tensor in tensors:
        tensor.requires_grad_(True)
    got = detector.torch_score(inputs)
    assert isinstance(got, torch.Tensor) and got.shape == (len(feats),), \
        f"{name}.torch_score must return a tensor of shape ({len(feats)},), got {getattr(got, 'shape', type(got))}"
    scale = max(float(np.abs(expected).max()), 1e-12)
    assert np.allclose(got.detach().double().numpy(), expected, rtol=rtol, atol=rtol * scale), \
        f"{name}.torch_score differs from score by up to {np.abs(got.detach().numpy() - expected).max():.3g}"
    assert got.requires_grad, f"{name}.torch_score is not differentiable with respect to the features"
    grads = [g for g in torch.autograd.grad(got.sum(), tensors, allow_unused=True) if g is not None]
    assert grads, f"{name}.torch_score is not differentiable with respect to the features"
    assert all(torch.isfinite(g).all() for g in grads), f"{name}.torch_score has non-finite gradients"
    assert any(g.abs().sum() > 0 for g in grads), f"{name}.torch_score has zero gradients everywhere"
