"""Per-step time of BIM and BIM+HFC on the same model and batch, measured in one run.

Target: BIM+HFC <= 1.15x BIM per step. The default CPU model (ResNet-20 on 28x28 inputs,
untrained weights: the cost of a step does not depend on them), a batch of 64, mixtures of
M = 16 components on every hooked layer fitted on 400 random feature vectors per class.
"""

import pytest
import torch

from hfcbench.attacks import build_attack
from hfcbench.attacks.adaptive import AttackContext
from hfcbench.models import FeatureExtractor, build_model


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = build_model("resnet20", (1, 28, 28), 2, [0.5], [0.25]).eval()
    images = torch.rand(800, 1, 28, 28)
    labels = torch.arange(800) % 2
    context = AttackContext(FeatureExtractor(model).extract(images, labels))
    x, target = torch.rand(64, 1, 28, 28), torch.arange(64) % 2
    bim = build_attack("bim", model, eps=4 / 256, alpha=0.5 / 256, steps=1)
    hfc = build_attack("bim+hfc", model, context=context, eps=4 / 256, alpha=0.5 / 256, steps=1)
    return bim, hfc, x, target


@pytest.mark.benchmark(group="attack-step")
def test_bim_step(benchmark, setup):
    bim, _, x, target = setup
    benchmark.pedantic(bim.gradient, args=(x, target), rounds=30, iterations=1, warmup_rounds=3)


@pytest.mark.benchmark(group="attack-step")
def test_bim_hfc_step(benchmark, setup):
    _, hfc, x, target = setup
    benchmark.pedantic(hfc.gradient, args=(x, target), rounds=30, iterations=1, warmup_rounds=3)
