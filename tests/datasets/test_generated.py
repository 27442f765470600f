"""The synthetic dataset and lesions (a user's image folder: test_imagefolder.py)."""

import numpy as np
import pytest
import torch

from hfcbench.datasets import load_dataset
from hfcbench.datasets.lesions import add_lesions, lesion_mask


def test_synthetic_is_deterministic_and_balanced():
    a, b = load_dataset("synthetic"), load_dataset("synthetic")
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.labels, b.test.labels)
    assert a.image_shape == (1, 28, 28) and a.train.labels.bincount().tolist() == [600, 600]
    assert float(a.train.images.min()) >= 0 and float(a.train.images.max()) <= 1


def test_lesion_area_grows_with_size():
    rng = np.random.default_rng(0)
    areas = {size: np.mean([lesion_mask((64, 64), size, rng).sum() for _ in range(20)])
             for size in ("small", "medium", "large")}
    assert areas["small"] < areas["medium"] < areas["large"]


def test_lesions_change_only_the_masked_area():
    rng = np.random.default_rng(1)
    image = np.full((1, 32, 32), 0.2)
    out, mask = add_lesions(image, 2, "medium", rng)
    assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1
    assert np.allclose(out[0][mask == 0], 0.2)
    assert out[0][mask > 0.5].mean() > 0.4


def test_unknown_lesion_size():
    with pytest.raises(ValueError, match="lesion size"):
        lesion_mask((8, 8), "huge", np.random.default_rng(0))
