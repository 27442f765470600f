"""The attack copy of a model (BatchNorm folded, channels_last) and the allocator settings: the
same function, the same adversarial examples within a stated tolerance, the model untouched."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from hfcbench.allocator import keep_freed_memory
from hfcbench.attacks import build_attack
from hfcbench.attacks.adaptive import AttackContext
from hfcbench.models import FeatureExtractor, build_model
from hfcbench.models.fast import attack_copy

# A signed step flips where the folded and the plain input gradient differ in sign, i.e. where it
# is about 1e-7 of its scale; the paths then part. Measured on ResNet-20 at eps 8/256 over 16 steps:
# 0.03% (BIM) to 0.9% (BIM+HFC) of pixel values differ, success masks identical.
MAX_DIFFERING_PIXELS = 0.02


def with_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """``model`` in eval mode with BatchNorm statistics and affine parameters away from their
    defaults (an untrained BatchNorm is an identity, which would make folding look exact)."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=generator) * 0.4 - 0.2)
    return model.eval()


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return with_statistics(build_model("resnet20", (1, 28, 28), 2, [0.5], [0.25]))


def batchnorms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def test_every_batchnorm_of_a_zoo_resnet_is_folded_and_the_function_kept(resnet):
    x = torch.rand(16, 1, 28, 28)
    before = {k: v.clone() for k, v in resnet.state_dict().items()}
    fast = attack_copy(resnet, x[:8])
    assert fast is not resnet and batchnorms(resnet) == 21  # stem 1, nine blocks 2 each, two shortcuts 1 each
    assert batchnorms(fast) == 0
    assert all(p.requires_grad for p in resnet.parameters()) and not any(p.requires_grad for p in fast.parameters())
    assert all(torch.equal(before[k], v) for k, v in resnet.state_dict().items())  # the model is untouched
    plain, folded = FeatureExtractor(resnet)(x), FeatureExtractor(fast)(x)
    assert plain.layer_names == folded.layer_names
    for a, b in zip([plain.logits, *plain.layers.values()], [folded.logits, *folded.layers.values()],
                    strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(a.detach().abs().max()))


def test_a_3d_model_is_folded_without_channels_last():
    torch.manual_seed(0)
    model = with_statistics(build_model("resnet8_3d", (1, 16, 16, 16), 2, [0.5], [0.25]))
    x = torch.rand(4, 1, 16, 16, 16)
    fast = attack_copy(model, x)
    assert fast is not model and batchnorms(fast) == 0
    assert torch.allclose(fast(x), model(x), rtol=1e-4, atol=1e-5)


class SharedConvOutput(nn.Module):
    """A convolution whose output feeds a BatchNorm *and* a skip connection: folding would
    change the skip, so the copy must not be used."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.act = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()
        self.classifier = nn.Linear(4, 2)

    def forward(self, x):
        y = self.conv(x)
        return self.classifier(self.act(self.bn(y) + y).mean((2, 3)))


def test_a_copy_that_changes_the_function_is_refused():
    model = with_statistics(SharedConvOutput())
    assert attack_copy(model, torch.rand(8, 1, 12, 12)) is model


def test_an_empty_probe_checks_nothing_so_the_model_itself_is_used(resnet):
    assert attack_copy(resnet, torch.rand(0, 1, 28, 28)) is resnet


@pytest.mark.parametrize("spec", ["bim", "pgd", "mim", "tim", "cw", "bim+hfc", "closest"])
def test_fast_and_plain_attacks_give_the_same_aes_within_the_stated_tolerance(resnet, spec):
    torch.manual_seed(1)
    images, labels = torch.rand(200, 1, 28, 28), torch.arange(200) % 2
    context = AttackContext(FeatureExtractor(resnet).extract(images, labels))
    x, y = torch.rand(16, 1, 28, 28), torch.arange(16) % 2
    settings = dict(context=context, eps=8 / 256, alpha=1 / 256, steps=10, seed=3)
    fast = build_attack(spec, resnet, **settings)(x, y)
    plain = build_attack(spec, resnet, fast=False, **settings)(x, y)
    differing = float(((fast.adv - plain.adv).abs() > 1e-6).float().mean())
    assert differing <= MAX_DIFFERING_PIXELS, f"{spec}: {differing:.2%} of pixel values differ"
    assert int((fast.success != plain.success).sum()) <= 1
    assert torch.equal(fast.target, plain.target)


AES_SCRIPT = """
import sys, torch
from hfcbench.attacks import build_attack
from hfcbench.models import build_model
torch.manual_seed(0)
torch.set_num_threads(1)
model = build_model("resnet20", (1, 28, 28), 2, [0.5], [0.25]).eval()
x, y = torch.rand(16, 1, 28, 28), torch.arange(16) % 2
torch.save(build_attack("bim", model, eps=4 / 256, alpha=1 / 256, steps=4)(x, y).adv, sys.argv[1])
"""


def test_the_allocator_settings_change_no_number(tmp_path, monkeypatch):
    """The same AEs, bit for bit, with glibc's defaults (``HFCBENCH_SYSTEM_MALLOC=1``) and with
    hfcbench's settings, each in a fresh process."""
    assert keep_freed_memory() is sys.platform.startswith("linux")  # glibc accepts both settings
    monkeypatch.setenv("HFCBENCH_SYSTEM_MALLOC", "1")
    assert keep_freed_memory() is False
    paths = {}
    for setting in ("0", "1"):
        paths[setting] = tmp_path / f"aes-{setting}.pt"
        env = {**os.environ, "HFCBENCH_SYSTEM_MALLOC": setting}
        subprocess.run([sys.executable, "-c", AES_SCRIPT, str(paths[setting])], check=True, env=env)
    assert torch.equal(torch.load(paths["0"]), torch.load(paths["1"]))


class Flattens(nn.Module):
    """A user's CNN that flattens with ``view``, which a ``channels_last`` activation refuses."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.act = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()
        self.classifier = nn.Linear(4 * 12 * 12, 2)

    def forward(self, x):
        out = self.act(self.bn(self.conv(x)))
        return self.classifier(out.view(len(out), -1))


def test_a_model_that_cannot_run_channels_last_still_gets_its_batchnorm_folded():
    model = with_statistics(Flattens())
    x = torch.rand(8, 1, 12, 12)
    fast = attack_copy(model, x)
    assert fast is not model and batchnorms(fast) == 0
    assert torch.allclose(fast(x), model(x), rtol=1e-4, atol=1e-6)
