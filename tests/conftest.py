"""Shared fixtures: the real data directory, a private cache, and a tiny model and dataset."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

torch.set_num_threads(min(2, torch.get_num_threads()))


def _data_dir() -> Path | None:
    env = os.environ.get("HFCBENCH_DATA")
    if env and Path(env).is_dir():
        return Path(env)
    guess = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    return guess if guess.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder holding the real MedMNIST/CIFAR files ($HFCBENCH_DATA)."""
    found = _data_dir()
    if found is None:
        pytest.fail("real data not found: set HFCBENCH_DATA to the folder holding pneumoniamnist.npz etc.")
    return found


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Every test writes its cache under a fresh temporary folder, never the user's."""
    monkeypatch.setenv("HFCBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def isolated_registries():
    """Components a test registers (``--plugin``, decorators) do not leak into later tests."""
    from hfcbench.attacks import ATTACKS
    from hfcbench.detectors import DETECTORS

    saved = [(registry, {k: dict(v) if isinstance(v, dict) else v for k, v in vars(registry).items()})
             for registry in (DETECTORS, ATTACKS)]
    yield
    for registry, state in saved:
        vars(registry).clear()
        vars(registry).update(state)


class TinyNet(nn.Module):
    """A small CNN with zoo-style ``feature_modules`` and ``classifier`` (fast to train)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.act2 = nn.ReLU()
        self.fc = nn.Linear(2 * width, num_classes)

    def feature_modules(self):
        return OrderedDict(block1=self.act1, block2=self.act2)

    @property
    def classifier(self):
        return self.fc

    def forward(self, x):
        return self.fc(self.act2(self.conv2(self.act1(self.conv1(x)))).mean((2, 3)))


@pytest.fixture
def tiny_net():
    torch.manual_seed(0)
    return TinyNet().eval()


@pytest.fixture(scope="session")
def trained_synthetic(tmp_path_factory):
    """ResNet-8 trained for 3 epochs on the synthetic set (seconds on a CPU), with the dataset."""
    from hfcbench.cache import Cache
    from hfcbench.datasets import load_dataset
    from hfcbench.models.training import TrainConfig
    from hfcbench.models.zoo import load_or_train

    dataset = load_dataset("synthetic")
    trained = load_or_train(dataset, "resnet8", TrainConfig(epochs=3, batch_size=100), quiet=True,
                            cache=Cache(tmp_path_factory.mktemp("zoo")), device=torch.device("cpu"))
    return trained.model, dataset


def require(available: bool, what: str) -> None:
    """Skip a test whose optional dependency is missing, saying which and how to get it; under
    ``HFCBENCH_REQUIRE_ALL=1`` (``.ci/run``, which installs every extra) fail instead."""
    if available:
        return
    if os.environ.get("HFCBENCH_REQUIRE_ALL") == "1":
        pytest.fail(f"{what} (HFCBENCH_REQUIRE_ALL=1: every optional part must be installed)")
    pytest.skip(what)
