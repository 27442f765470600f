"""Attacks that adapt to the detector under test: joint (C&W 2017), selective and orthogonal
(Bryniarski et al. 2022), on a planted detector and against hand-worked gradient rules."""

import numpy as np
import pytest
import torch

from hfcbench.attacks import build_attack, is_detector_aware
from hfcbench.attacks.adaptive import AttackContext
from hfcbench.attacks.adaptive.detector import NotAdaptiveError, Orthogonal, Selective, fooled
from hfcbench.detectors.base import Detector
from hfcbench.errors import HfcbenchError
from hfcbench.models import FeatureExtractor
from hfcbench.stats.metrics import auc


class OffAxis(Detector):
    """Squared distance of the penultimate features to their predicted class's centroid, ignoring
    the classifier's own direction ``w_1 - w_0``: how far off the class the features went."""

    requires = frozenset({"penultimate", "logits", "head"})

    def _fit(self, clean, adv, noisy, *, reference):
        z, y = reference.penultimate.double(), torch.as_tensor(self._class_labels(reference))
        self.means_ = torch.stack([z[y == c].mean(0) for c in y.unique()])
        w = reference.head_weight.double()
        self.axis_ = (w[1] - w[0]) / (w[1] - w[0]).norm()

    def torch_score(self, feats):
        z = feats.penultimate
        d = z - self.means_.to(z)[feats.predictions]
        axis = self.axis_.to(z)
        return (d - (d @ axis)[:, None] * axis).square().sum(1)

    def characteristics(self, feats):
        return {"penultimate": self._score_through_torch(feats)}

    def _score(self, feats):
        return self._score_through_torch(feats)


@pytest.fixture(scope="module")
def planted(trained_synthetic):
    model, dataset = trained_synthetic
    extractor = FeatureExtractor(model)
    train = extractor.extract(dataset.train.images, dataset.train.labels)
    x, y = dataset.test.images[:64], dataset.test.labels[:64]
    clean = extractor.extract(x, y)
    detector = OffAxis().fit(clean, clean, reference=train)
    return model, extractor, AttackContext(train, detector=detector), detector, clean, x, y


def _auc_and_success(planted, spec):
    model, extractor, context, detector, clean, x, y = planted
    result = build_attack(spec, model, context=context, eps=24 / 256, alpha=3 / 256, steps=32)(x, y)
    adv = extractor.extract(result.adv[result.success], result.target[result.success])
    return auc(detector.score(clean), detector.score(adv)), result.success_rate


def test_plain_bim_is_caught_by_the_planted_detector(planted):
    value, success = _auc_and_success(planted, "bim")
    assert value >= 0.9 and success >= 0.9  # (0.924, 1.0 when written)


@pytest.mark.parametrize("spec", ["joint", "selective", "orthogonal"])
def test_detector_aware_attacks_hide_from_the_detector_they_attack(planted, spec):
    value, success = _auc_and_success(planted, spec)
    assert value <= 0.3 and success >= 0.9  # (joint 0.014, selective 0.024, orthogonal 0.026; all 1.0)


def test_selective_and_orthogonal_rules_by_hand():
    g_f = torch.tensor([[1.0, 0.0], [1.0, 1.0]]).view(2, 1, 1, 2)   # classification loss gradients
    g_d = torch.tensor([[1.0, 1.0], [0.0, 2.0]]).view(2, 1, 1, 2)   # detector gradients
    logits = torch.tensor([[0.0, 1.0], [0.0, 0.01]])                # input 0 fooled (target 1), input 1 not (margin)
    target = torch.tensor([1, 1])
    assert fooled(logits, target).tolist() == [True, False]
    selective = Selective.__new__(Selective)
    selective.margin = 0.05
    f, g = torch.tensor([3.0, 4.0]), torch.tensor([5.0, 6.0])  # per-input losses
    torch.testing.assert_close(selective.choose(f, g, logits, target), torch.tensor([5.0, 4.0]))  # g for input 0
    orthogonal = Orthogonal.__new__(Orthogonal)
    orthogonal.margin = 0.05
    got = orthogonal.combine(g_f, g_d, logits, target).view(2, 2)
    # input 0: g_d - <g_d,g_f>/|g_f|^2 g_f = (1,1) - 1 * (1,0) = (0,1)
    # input 1: g_f - <g_f,g_d>/|g_d|^2 g_d = (1,1) - 2/4 * (0,2) = (1,0)
    torch.testing.assert_close(got, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))


def test_joint_searches_lambda_per_input_and_keeps_the_best_iterate(planted):
    model, extractor, context, detector, clean, x, y = planted
    attack = build_attack("joint", model, context=context, eps=24 / 256, alpha=3 / 256, steps=8)
    attack.trace = []
    result = attack(x, y)
    term = attack.terms[0]
    assert len(attack.trace) == 4 * 8  # four rounds of eight steps, each traced
    assert set(attack.trace[1]) == {"success", "joint", "zero_gradient", "nonfinite_gradient"}  # no "ce"
    assert sum("run_start" in step for step in attack.trace) == 4  # each round of the lambda search is a run
    assert len(set(term.lam.tolist())) > 1  # lambda went up for some inputs and down for others
    with torch.no_grad():
        reached = model(result.adv).argmax(1) == result.target
    assert torch.equal(reached, result.success)


def test_detector_aware_attacks_need_a_detector_with_torch_score(planted):
    model, _, context, detector, *_ = planted

    class NoGradient(Detector):
        requires = frozenset({"penultimate"})

    with pytest.raises(NotAdaptiveError, match="has no torch_score"):
        build_attack("joint", model,
                     context=AttackContext(context.reference, detector=NoGradient(), detector_scale=1.0))
    with pytest.raises(HfcbenchError, match="needs the fitted detector under evaluation"):
        build_attack("orthogonal", model, context=AttackContext(context.reference))
    assert is_detector_aware("pgd+orthogonal") and not is_detector_aware("mim+hfc")
    with pytest.raises(HfcbenchError, match="one gradient-combination rule"):
        build_attack("selective+orthogonal", model, context=context)


def test_joint_bisects_lambda_without_repeating_itself(planted):
    """Each input's lambdas over 4 rounds follow C&W's bracket: x4 after a success, /4 after a
    failure while one side is unknown, then the geometric mean of the bracket; so no input runs
    the same lambda twice (the earlier x4 / 4 search returned to 1 after one change of outcome)."""
    model, _, context, _, _, x, y = planted
    attack = build_attack("joint", model, context=context, eps=8 / 256, alpha=1 / 256, steps=8)
    attack(x, y)
    term = attack.terms[0]
    tried = torch.stack(term.tried, 1)  # (N, rounds)
    assert tried.shape == (len(x), 4)
    assert all(len(set(row.tolist())) == 4 for row in tried)
    for row in tried:
        for previous, current in zip(row[:-1], row[1:], strict=True):
            ratio = float(current / previous)
            assert ratio in (4.0, 0.25) or 0.25 < ratio < 4.0  # a step of the search or a bisection
    # the bracket holds: every lambda that fooled is below every one that failed
    assert (term.fooled_at < term.failed_at).all()


class NumpyOnly(Detector):
    """The planted detector's score without a torch_score (a plugin no gradient can follow)."""

    requires = frozenset({"penultimate", "logits", "head"})

    def __init__(self, planted=None):
        self.planted = planted

    def _fit(self, clean, adv, noisy, *, reference):
        pass

    def _score(self, feats):
        return self.planted.score(feats)


def test_a_detector_without_torch_score_is_attacked_through_a_surrogate(planted):
    """The surrogate (the real score, its gradient estimated from queries) leads ``selective``
    past the real detector: at a budget where BIM succeeds its AUC falls by at least 0.2."""
    from hfcbench.attacks.adaptive.detector import attackable
    from hfcbench.detectors.wrappers import Surrogate

    model, extractor, context, detector, clean, x, y = planted
    blind = NumpyOnly(detector).fit(clean, clean, reference=context.reference)
    assert not attackable(blind)
    surrogate = Surrogate(blind).check(clean)
    # 16 directions in ~120 feature dimensions: a rough but useful direction (about sqrt(16 / 120) = 0.37)
    assert surrogate.fit_quality_["spearman_heldout"] > 0.2
    np.testing.assert_array_equal(surrogate.score(clean), blind.score(clean))  # forward: the real score
    budget = dict(eps=24 / 256, alpha=3 / 256, steps=32)
    bim = build_attack("bim", model, **budget)(x, y)
    hidden = build_attack("selective", model, context=AttackContext(context.reference, detector=surrogate),
                          **budget)(x, y)
    assert bim.success_rate >= 0.9 and hidden.success_rate >= 0.9

    def real_auc(result):
        adv = extractor.extract(result.adv[result.success], result.target[result.success])
        return auc(blind.score(clean), blind.score(adv))

    assert real_auc(bim) - real_auc(hidden) >= 0.2  # (0.93 -> 0.04 when written)


def test_the_query_estimate_matches_a_known_gradient():
    """A linear score w . z on the penultimate features: the estimate equals w per input (the
    antithetic differences of a linear function are exact along every direction, so only the
    finite number of directions adds error)."""
    from collections import OrderedDict

    from hfcbench.detectors.wrappers import Surrogate
    from hfcbench.models.features import Features

    w = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)

    class Linear(NumpyOnly):
        requires = frozenset({"penultimate"})

        def _score(self, feats):
            return (feats.penultimate.double() @ w).numpy()

    z = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    feats = Features(torch.zeros(6, 2, dtype=torch.float64), OrderedDict(penultimate=z))
    surrogate = Surrogate(Linear().fit(feats, feats), directions=4000).check(feats)
    (grad,) = surrogate.estimate(feats, [z])
    torch.testing.assert_close(grad, w.expand(6, 4), atol=0.15, rtol=0)
    assert surrogate.fit_quality_["spearman_heldout"] > 0.99


def test_no_surrogate_follows_a_constant_or_nan_score():
    from collections import OrderedDict

    from hfcbench.detectors.wrappers import Surrogate, SurrogateError
    from hfcbench.models.features import Features

    class Constant(NumpyOnly):
        requires = frozenset({"penultimate"})

        def _score(self, feats):
            return np.full(len(feats), self.value)

    feats = Features(torch.zeros(20, 2), OrderedDict(penultimate=torch.randn(20, 4)))
    constant = Constant().fit(feats, feats)
    constant.value = 0.0
    with pytest.raises(SurrogateError, match="one constant score on 20 inputs"):
        Surrogate(constant).check(feats)
    constant.value = float("nan")
    with pytest.raises(Exception, match="NaN"):
        Surrogate(constant).check(feats)
