"""APGD (Croce & Hein 2020) against hand-worked schedules and a problem whose optimum is known."""

import pytest
import torch

from hfcbench.attacks import build_attack
from hfcbench.attacks.apgd import APGD, checkpoints


def test_checkpoints_follow_autoattacks_rule():
    # intervals 22, 19, 16, 13, 10, 7, then 6 (3% shorter each time, never below 6%)
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(50) == [11, 21, 30, 38, 45]  # intervals 11, 10, 9, 8, 7 (int(1.5) = 1 shorter each)
    # 25 steps: int(0.75) = 0, yet each interval is one step shorter, down to int(1.5) = 1
    assert checkpoints(25) == [5, 9, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]


class Bowl(torch.nn.Module):
    """Two logits of a one-pixel image: class 1's is ``-100 (x - 0.3)^2``, class 0's is 0, so the
    targeted margin towards class 1 is smallest at x = 0.3."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))  # the attack looks up the model's device

    def forward(self, x):
        pixel = x.flatten(1)[:, :1]
        return torch.cat([torch.zeros_like(pixel), -100 * (pixel - 0.3) ** 2], 1)


def test_step_halving_settles_where_fixed_sign_steps_oscillate():
    """From x = 0.5 with eps = 0.4 (the start lies on the ball's surface, 0.1 or 0.9): steps of
    2 eps overshoot 0.3 forever without halving; APGD's halving brings the iterate to the optimum."""
    x, y = torch.full((4, 1, 1, 1), 0.5), torch.zeros(4, dtype=torch.long)
    target = torch.ones(4, dtype=torch.long)
    model = Bowl()
    adv = APGD(model, eps=0.4, steps=100, fast=False)(x, y, target).adv
    assert (adv - 0.3).abs().max() < 1e-3
    fixed = build_attack("bim", model, eps=0.4, alpha=0.3, steps=100, fast=False)(x, y, target).adv
    assert (fixed - 0.3).abs().max() > 0.05  # the same first step, never halved


def test_apgd_stays_in_budget_and_fools_at_least_as_often_as_bim(trained_synthetic):
    model, dataset = trained_synthetic
    x, y = dataset.test.images[:48], dataset.test.labels[:48]
    budget = dict(eps=3 / 256, steps=32)
    apgd = build_attack("apgd", model, **budget)(x, y)
    bim = build_attack("bim", model, alpha=2 * budget["eps"] / 32, **budget)(x, y)
    assert (apgd.adv - x).abs().max() <= 3 / 256 + 1e-6 and apgd.adv.min() >= 0 and apgd.adv.max() <= 1
    assert apgd.success_rate >= bim.success_rate - 1 / 48
    again = build_attack("apgd", model, **budget)(x, y)
    assert torch.equal(again.adv, apgd.adv)  # seeded random starts


def test_restarts_never_lose_a_success(trained_synthetic):
    model, dataset = trained_synthetic
    x, y = dataset.test.images[:32], dataset.test.labels[:32]
    one = build_attack("apgd", model, eps=2 / 256, steps=16)(x, y)
    three = APGD(model, eps=2 / 256, steps=16, restarts=3)(x, y)
    assert (three.success | ~one.success).all()  # the first restart is the single run's


@pytest.mark.parametrize("spec", ["apgd+selective", "apgd+orthogonal", "apgd+joint", "apgd-ce+hfc"])
def test_every_term_composes_with_apgd(spec, trained_synthetic):
    from hfcbench.attacks.adaptive import AttackContext
    from hfcbench.detectors.maha import MAHA
    from hfcbench.models import FeatureExtractor

    model, dataset = trained_synthetic
    extractor = FeatureExtractor(model)
    train = extractor.extract(dataset.train.images, dataset.train.labels)
    detector = MAHA().fit(train, train, reference=train)
    context = AttackContext(train, detector=detector)
    x, y = dataset.test.images[:16], dataset.test.labels[:16]
    result = build_attack(spec, model, context=context, term_params={} if "hfc" not in spec else {"n_components": 2},
                          eps=8 / 256, steps=8)(x, y)
    assert (result.adv - x).abs().max() <= 8 / 256 + 1e-6
