"""Noisy copies (Feinman et al.; Ma et al.): Gaussian noise of the AEs' mean L2 norm, clipped."""

import math

import numpy as np
import pytest
import torch

from hfcbench.errors import InvalidParameterError
from hfcbench.protocol.noise import noisy_copies, perturbation_l2


def test_noise_has_the_requested_l2_norm_and_stays_in_the_box():
    images = torch.full((400, 1, 28, 28), 0.5)
    noisy = noisy_copies(images, 0.8, seed=0)
    norms = perturbation_l2(images, noisy)
    # sigma = 0.8 / 28: no value reaches the box at 0.5 +- 0.5, so every norm is sqrt(chi2_784) * sigma
    assert norms.mean().item() == pytest.approx(0.8, rel=0.01)
    assert norms.std().item() == pytest.approx(0.8 / math.sqrt(2 * 784), rel=0.15)
    edge = noisy_copies(torch.ones(10, 3, 8, 8), 5.0, seed=0)
    assert edge.min() >= 0 and edge.max() == 1.0 and (edge < 1).any()  # clipped, not shifted


def test_noise_follows_seed_and_index_not_the_call():
    images = torch.rand(20, 1, 6, 6)
    whole = noisy_copies(images, 0.5, seed=1, index=np.arange(100, 120))
    part = noisy_copies(images[5:9], 0.5, seed=1, index=np.arange(105, 109))
    assert torch.equal(whole[5:9], part)
    assert not torch.equal(whole, noisy_copies(images, 0.5, seed=2, index=np.arange(100, 120)))
    assert torch.equal(noisy_copies(images, 0.0, seed=1), images)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_noise_norm_is_refused(bad):
    with pytest.raises(InvalidParameterError, match="noise norm"):
        noisy_copies(torch.rand(2, 1, 4, 4), bad, seed=0)
