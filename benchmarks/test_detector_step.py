"""Per-step time of the detector-aware attacks against BIM, for every built-in detector.

Target: a detector-aware step costs at most 1.5x a BIM step for MAHA (ResNet-20 on 28x28
inputs, untrained weights: a step's cost does not depend on them; batch 64). Each detector is
fitted on features of 400 clean and 400 noisy images, with 800 images as its reference set.
``joint`` and ``selective`` take one backward pass per step (selective: of whichever loss an
input follows), ``orthogonal`` two (it needs both gradients).
"""

import pytest
import torch

from hfcbench.attacks import build_attack
from hfcbench.attacks.adaptive import AttackContext
from hfcbench.detectors import DETECTORS
from hfcbench.models import FeatureExtractor, build_model

BUILT_IN = ("kd", "bu", "lid", "maha", "svm", "dnn", "dnn-mlp", "hfc")


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = build_model("resnet20", (1, 28, 28), 2, [0.5], [0.25]).eval()
    images, labels = torch.rand(800, 1, 28, 28), torch.arange(800) % 2
    extractor = FeatureExtractor(model, maps="all")
    reference = FeatureExtractor(model).extract(images, labels)
    clean = extractor.extract(images[:400], labels[:400])
    noisy = extractor.extract((images[400:] + 0.1 * torch.randn(400, 1, 28, 28)).clamp(0, 1), labels[400:])
    x, target = torch.rand(64, 1, 28, 28), torch.arange(64) % 2
    budget = dict(eps=4 / 256, alpha=0.5 / 256, steps=1)
    attacks = {}
    for name in BUILT_IN:
        detector = DETECTORS.get(name)().fit(clean, noisy, reference=reference)
        context = AttackContext(reference, detector=detector, detector_scale=1.0)
        for spec in ("joint", "selective", "orthogonal"):
            attacks[name, spec] = build_attack(spec, model, context=context, **budget)
    return build_attack("bim", model, **budget), attacks, x, target


def step(attack, x, target):
    """One attack step: the gradient at x, with the terms' per-batch set-up done."""
    for term in attack.terms:
        term.prepare(attack, x, target, torch.arange(len(x)))
    return attack.gradient(x, target)


@pytest.mark.benchmark(group="detector-step")
def test_bim_step(benchmark, setup):
    bim, _, x, target = setup
    benchmark.pedantic(step, args=(bim, x, target), rounds=20, iterations=1, warmup_rounds=2)


@pytest.mark.parametrize("name", BUILT_IN)
@pytest.mark.parametrize("spec", ["joint", "selective", "orthogonal"])
@pytest.mark.benchmark(group="detector-step")
def test_detector_aware_step(benchmark, setup, name, spec):
    _, attacks, x, target = setup
    benchmark.pedantic(step, args=(attacks[name, spec], x, target), rounds=20, iterations=1, warmup_rounds=2)
