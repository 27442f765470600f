"""Base attacks against closed-form truths and invariants."""

import pytest
import torch
from torch import nn

from hfcbench.attacks import ATTACKS, BASE_ATTACKS, build_attack
from hfcbench.attacks.base import CWMargin, choose_targets
from hfcbench.attacks.cw import mean_logit_gap
from hfcbench.errors import HfcbenchError, InvalidParameterError, UnknownComponentError
from hfcbench.models.features import Features


class Linear(nn.Module):
    """logits = W x + b: the cross-entropy input gradient for target c is (1 - p_c)(W_o - W_c)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        return self.fc(x.flatten(1))


def expected_step(model, target):
    w = model.fc.weight.detach()
    return torch.sign(w[target] - w[1 - target]).view(-1, 1, 4, 4)  # direction that raises the target


def test_fgsm_lands_exactly_on_the_sign_step():
    model = Linear()
    x = torch.rand(5, 1, 4, 4) * 0.5 + 0.25
    target = torch.tensor([0, 1, 1, 0, 1])
    result = build_attack("fgsm", model, eps=0.1)(x, 1 - target, target)
    torch.testing.assert_close(result.adv, x + 0.1 * expected_step(model, target))


def test_bim_walks_to_the_corner_of_the_ball():
    model = Linear()
    x = torch.rand(3, 1, 4, 4) * 0.5 + 0.25
    target = torch.tensor([1, 0, 1])
    for name in ("bim", "mim"):
        # 10 steps of 0.03 overshoot eps = 0.1: projection stops every pixel at x +- eps
        result = build_attack(name, model, eps=0.1, alpha=0.03, steps=10)(x, 1 - target, target)
        torch.testing.assert_close(result.adv, x + 0.1 * expected_step(model, target))
    after_two = build_attack("bim", model, eps=0.1, alpha=0.03, steps=2)(x, 1 - target, target)
    torch.testing.assert_close(after_two.adv, x + 0.06 * expected_step(model, target))


def test_box_clipping():
    model = Linear()
    x = torch.zeros(2, 1, 4, 4)
    target = torch.tensor([0, 1])
    adv = build_attack("fgsm", model, eps=0.2)(x, 1 - target, target).adv
    torch.testing.assert_close(adv, (0.2 * expected_step(model, target)).clamp(0, 1))


def test_paper_defaults():
    attack = build_attack("bim", Linear())
    assert attack.eps == 1 / 256 and attack.alpha == 0.02 / 256 and attack.steps == 100  # T = 2 eps / alpha


@pytest.mark.parametrize("name", BASE_ATTACKS)
def test_ball_box_determinism_and_input_gradient_only(name, tiny_net):
    x = torch.rand(6, 1, 12, 12)
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    attack = build_attack(name, tiny_net, eps=8 / 256, alpha=2 / 256, steps=5, seed=3)
    first, second = attack(x, y), attack(x, y)
    assert (first.adv - x).abs().max() <= 8 / 256 + 1e-6 and first.adv.min() >= 0 and first.adv.max() <= 1
    assert torch.equal(first.adv, second.adv) and torch.equal(first.target, 1 - y)
    assert all(p.grad is None for p in tiny_net.parameters())
    assert not tiny_net.training


def test_batches_join_to_the_whole_batch_result(tiny_net):
    x, y = torch.rand(7, 1, 12, 12), torch.tensor([0, 1, 0, 1, 1, 0, 1])
    attack = build_attack("bim", tiny_net, eps=8 / 256, alpha=2 / 256, steps=3)
    whole, batched = attack(x, y), attack.in_batches(x, y, batch_size=3)
    torch.testing.assert_close(batched.adv, whole.adv, rtol=0, atol=1e-6)  # per-sample: BN in eval mode
    assert torch.equal(batched.target, whole.target) and torch.equal(batched.success, whole.success)
    with pytest.raises(InvalidParameterError, match="batch_size"):
        attack.in_batches(x, y, batch_size=0)


def test_pgd_start_depends_on_seed(tiny_net):
    x, y = torch.rand(4, 1, 12, 12), torch.tensor([0, 1, 0, 1])
    a = build_attack("pgd", tiny_net, eps=8 / 256, alpha=1 / 256, steps=1, seed=0)(x, y).adv
    b = build_attack("pgd", tiny_net, eps=8 / 256, alpha=1 / 256, steps=1, seed=1)(x, y).adv
    assert not torch.equal(a, b)


def test_volumes_are_attacked():
    from hfcbench.models import build_model

    model = build_model("resnet8", (1, 8, 8, 8), 2, [0.5], [0.25]).eval()
    x = torch.rand(2, 1, 8, 8, 8)
    for name in ("bim", "tim"):
        result = build_attack(name, model, eps=4 / 256, alpha=1 / 256, steps=3)(x, torch.tensor([0, 1]))
        assert result.adv.shape == x.shape and (result.adv - x).abs().max() <= 4 / 256 + 1e-6


def test_cw_margin_by_hand():
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 5.0, 1.0]])
    feats = Features(logits, {})
    # target 1: max other - l_1 = 3 - 1 = 2 ; target 1 on row 2: max(1 - 5, -kappa) = -2 with kappa 2
    torch.testing.assert_close(CWMargin(2.0)(feats, torch.tensor([1, 1])), torch.tensor([2.0, -2.0]))
    assert mean_logit_gap(logits) == pytest.approx((2.0 + 4.0) / 2)


def test_targets():
    y = torch.tensor([0, 1, 1])
    assert torch.equal(choose_targets(y, 2), 1 - y)
    y = torch.arange(100) % 5
    t = choose_targets(y, 5, seed=1)
    assert (t != y).all() and torch.equal(t, choose_targets(y, 5, seed=1))
    logits = torch.randn(100, 5)
    assert torch.equal(choose_targets(y, 5, mode="least_likely", logits=logits), logits.argmin(1))


def test_bad_inputs_and_names(tiny_net):
    with pytest.raises(InvalidParameterError, match="eps must be in"):
        build_attack("bim", tiny_net, eps=0)
    with pytest.raises(InvalidParameterError, match=r"in \[0, 1\]"):
        build_attack("bim", tiny_net)(torch.full((1, 1, 8, 8), 2.0), torch.tensor([0]))
    with pytest.raises(InvalidParameterError, match=r"got \(1, 8, 8\)"):
        build_attack("bim", tiny_net)(torch.rand(1, 8, 8), torch.tensor([0]))
    with pytest.raises(HfcbenchError, match="'bim' is a base attack"):
        build_attack("pgd+bim", tiny_net)
    with pytest.raises(HfcbenchError, match="needs an AttackContext"):
        build_attack("hfc", tiny_net)
    with pytest.raises(UnknownComponentError, match="Did you mean 'pgd'"):
        ATTACKS.get("pdg")


def test_targeted_success_on_a_trained_model(trained_synthetic):
    model, dataset = trained_synthetic
    x, y = dataset.test.images[:64], dataset.test.labels[:64]
    result = build_attack("bim", model, eps=16 / 256, alpha=2 / 256, steps=16)(x, y)
    assert result.success_rate >= 0.9
