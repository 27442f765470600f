"""Average-pooled datasets (the 3-D robustness check, Fig. 9)."""

import pytest
import torch

from hfcbench.datasets import ImageDataset, Split
from hfcbench.datasets.downsample import downsample
from hfcbench.errors import InvalidParameterError


def _volumes():
    images = torch.arange(2 * 4 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4, 4) / 128
    split = Split(images, torch.tensor([0, 1]))
    return ImageDataset("vol", split, split, ("a", "b"), fingerprint="f" * 24)


def test_each_voxel_is_the_mean_of_its_2x2x2_block():
    small = downsample(_volumes(), 2)
    assert small.image_shape == (1, 2, 2, 2) and small.name == "vol-down2"
    block = _volumes().train.images[0, 0, 2:4, 0:2, 2:4]  # the block behind output voxel (1, 0, 1)
    assert small.train.images[0, 0, 1, 0, 1] == pytest.approx(float(block.mean()))
    assert torch.equal(small.test.labels, torch.tensor([0, 1]))
    assert small.fingerprint != _volumes().fingerprint  # cached models never mix the two


def test_bad_factor_is_named():
    with pytest.raises(InvalidParameterError, match="downsample factor"):
        downsample(_volumes(), 3)
