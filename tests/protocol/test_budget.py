"""``--eps auto`` against a model whose BIM success is known in closed form."""

import pytest
import torch
from torch import nn

from hfcbench.errors import InvalidParameterError
from hfcbench.protocol.budget import search_budget
from hfcbench.protocol.config import RunConfig


class MeanThreshold(nn.Module):
    """Logit gap ``l1 - l0 = 100 (mean(x) - 0.5)``: targeted BIM to class 1 raises every pixel by
    eps (the gradient sign is +1 everywhere), so it succeeds exactly when ``0.5 - mean(x) < eps``."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # attacks find the device from a parameter

    def forward(self, x):
        gap = 100 * (x.flatten(1).mean(1) - 0.5) + 0 * self.anchor
        return torch.stack([torch.zeros_like(gap), gap], 1)


def _images(gaps_256):
    return torch.stack([torch.full((1, 4, 4), 0.5 - g / 256) for g in gaps_256])


def test_smallest_budget_meeting_the_rule():
    gaps = [0.25] * 10 + [1.5] * 9 + [3.0]  # success at eps > gap (in 1/256 units)
    images = _images(gaps)
    search = search_budget(MeanThreshold(), images, torch.zeros(20, dtype=torch.long), steps=4, seed=0,
                           progress=False)
    assert search.rates == {0.5: 0.5, 1: 0.5, 2: 0.95}  # stops at the first budget reaching 95%
    assert search.eps == 2 / 256 and search.reached
    assert "eps auto = 2/256" in search.describe()


def test_unreachable_target_takes_the_largest_budget():
    search = search_budget(MeanThreshold(), _images([0.25, 30.0]), torch.zeros(2, dtype=torch.long), steps=4,
                           seed=0, progress=False)
    assert not search.reached and search.eps == 16 / 256 and len(search.rates) == 6
    assert "no budget reached 95%" in search.describe()


def test_budget_rules_of_the_profiles():
    paper = RunConfig(profile="paper").resolved()
    assert (paper.eps, paper.alpha, paper.steps) == (1 / 256, 0.02 / 256, 100)  # T = 2 eps / alpha
    quick = RunConfig(profile="quick").resolved()
    assert quick.eps == "auto" and quick.with_budget(4 / 256).alpha == pytest.approx(0.5 / 256)
    with pytest.raises(InvalidParameterError, match=r"--eps \(eps in a config file\) must be 'auto' or a number in"):
        RunConfig(profile="quick", eps=2.0).resolved()


def test_an_explicit_budget_rescales_the_profiles_step():
    """--profile smoke --eps 16/256 used to keep smoke's alpha = 1/256 and 8 steps, so the attack
    could never leave 8/256 while the record said 0.0625: alpha now follows as 2 eps / steps."""
    smoke = RunConfig(profile="smoke", eps="16/256").resolved()
    assert (smoke.eps, smoke.steps) == (16 / 256, 8) and smoke.alpha == pytest.approx(4 / 256)
    assert RunConfig(profile="smoke", eps=16 / 256, alpha=1 / 256).resolved().alpha == 1 / 256  # given: kept
    paper = RunConfig(profile="paper", eps=2 / 256).resolved()  # the paper fixes the step: T = 2 eps / alpha
    assert paper.alpha == 0.02 / 256 and paper.steps == 200
