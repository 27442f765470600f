"""The flags an adaptive attack's cell raises (AutoAttack's, for detectors), each planted alone on
a fake run whose detector scores an image by its first pixel."""

from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hfcbench.models.features import Features
from hfcbench.protocol.cells import strength_checks, trace_flags


def features_of(images: torch.Tensor) -> Features:
    return Features(images.flatten(1)[:, :2].double(), OrderedDict())


class PixelDetector:
    """Scores an image by its first pixel, plus ``jitter`` times the number of calls so far."""

    stochastic = False

    def __init__(self, jitter: float = 0.0):
        self.jitter, self.calls = jitter, 0

    def score(self, feats: Features) -> np.ndarray:
        self.calls += 1
        return feats.logits[:, 0].numpy() + self.jitter * self.calls


class FakeRun:
    """What ``strength_checks`` reads from a run: 40 clean AdvTest images scoring 0.5..1, the same
    calibration scores, and an unbounded attack whose AEs score ``unbounded_score``."""

    def __init__(self, *, detector=None, unbounded_success=1.0, unbounded_score=0.0, trace=None, rho=None):
        self.detector = detector or PixelDetector()
        self.clean = torch.linspace(0.5, 1.0, 40).view(40, 1, 1, 1).expand(40, 1, 1, 2).contiguous()
        self.calibration = self.clean[:, 0, 0, 0].double().numpy()
        fooled = int(16 * unbounded_success)
        self.unbounded_state = {"adv": torch.full((16, 1, 1, 2), unbounded_score),
                                "success": torch.arange(16) < fooled}
        self.trace = trace or []
        self.target = {"adaptive": "surrogate", "spearman_heldout": rho} if rho is not None else {"adaptive": "exact"}
        self.extractor = SimpleNamespace(extract=lambda adv, labels: features_of(adv))

    def aes_state(self, attack, pool, against):
        return {"trace": self.trace}

    def unbounded(self, attack, against):
        return self.unbounded_state

    def calibration_scores(self, name, fit_attack):
        return self.calibration

    def needs_maps(self, name):
        return False

    def fitted_detector(self, name, fit_attack):
        return self.detector

    def attack_target(self, name, fit_attack):
        return self.detector, self.target

    def pool(self, pool):
        return self.clean, torch.zeros(40, dtype=torch.long), np.arange(40)

    def clean_features(self, pool, *, maps=False):
        return features_of(self.clean)


def checked(run: FakeRun, *, after=0.1, auc_high=0.6) -> list[str]:
    scores = {"clean": run.calibration.copy(), "before": np.full(30, 0.9), "after": np.full(30, after)}
    return strength_checks(run, "selective", ("pixel", "bim"), scores, {"auc_after_ci_high": auc_high})["warnings"]


def test_a_sound_attack_raises_no_flag():
    assert checked(FakeRun()) == []


@pytest.mark.parametrize("run, options, needle", [
    (FakeRun(), {"after": 0.95}, "left pixel's median score no lower than bim did (0.95 vs 0.9): gradient masking"),
    (FakeRun(unbounded_success=0.5), {}, "selective fooled the classifier on only 50% of 16 images"),
    (FakeRun(unbounded_score=2.0), {}, "unbounded, selective does not evade pixel: AUC 100.0 on its AEs"),
    (FakeRun(detector=PixelDetector(jitter=1e-3)), {}, "pixel gave other scores on the same clean images at a "
                                                       "second call: declare it stochastic"),
    (FakeRun(), {"auc_high": 0.4}, "pixel's AUC after selective lies below chance beyond its interval"),
    (FakeRun(rho=0.1), {}, "the surrogate's gradient estimate barely predicts pixel's score changes"),
])
def test_each_flag_is_raised_alone(run, options, needle):
    warnings = checked(run, **options)
    assert len(warnings) == 1 and needle in warnings[0]


def test_trace_flags_by_hand():
    converged = [{"selective": 10.0 - i if i < 50 else 0.0} for i in range(100)]
    falling = [{"selective": 100.0 - i} for i in range(100)]  # still falling at the last step
    assert trace_flags("selective", converged) == []
    assert trace_flags("selective", falling) == ["selective: the detector term's best value was still falling over "
                                                 "the last 10% of the steps (not converged: more steps may hide the "
                                                 "AEs better)"]
    # two runs (restarts): the first converged, the second still falling
    assert len(trace_flags("selective", converged + [{"run_start": 1, **falling[0]}, *falling[1:]])) == 1
    masked = [{"selective": 1.0, "zero_gradient": 0.25}] + converged
    assert "a zero gradient on 25% of the inputs" in trace_flags("selective", masked)[0]
    assert trace_flags("selective", [{"selective": 1.0, "zero_gradient": 0.1}] + converged) == []  # 10% is allowed
    broken = converged + [{"selective": 0.0, "nonfinite_gradient": 0.01}]
    assert trace_flags("selective", broken) == ["selective: non-finite gradients at some steps"]
    # auto: one trace per arm, each named
    assert trace_flags("auto", {"apgd+selective": falling, "apgd+hfc": converged})[0].startswith("apgd+selective:")
