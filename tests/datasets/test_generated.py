"""The synthetic dataset, lesions, and a user's image folder."""

import numpy as np
import pytest
import torch

from hfcbench.datasets import load_dataset
from hfcbench.datasets.lesions import add_lesions, lesion_mask
from hfcbench.errors import DataError


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


def test_image_folder(tmp_path):
    from PIL import Image

    for cls, value in (("benign", 30), ("malignant", 220)):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(np.full((40, 30), value + i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    ds = load_dataset(f"imagefolder:{tmp_path}", image_size=16)
    assert ds.class_names == ("benign", "malignant") and ds.image_shape == (1, 16, 16)
    assert len(ds.train) == 8 and len(ds.test) == 2  # 80/20 per class
    # every pixel of a constant image keeps its value / 255
    for split in (ds.train, ds.test):
        for image, label in zip(split.images, split.labels, strict=True):
            assert float(image.std()) < 1e-6
            assert (30 <= image[0, 0, 0] * 255 <= 35) if label == 0 else (220 <= image[0, 0, 0] * 255 <= 225)


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="not a directory"):
        load_dataset(f"imagefolder:{tmp_path / 'nope'}")
    (tmp_path / "only").mkdir()
    with pytest.raises(DataError, match="at least two class sub-folders"):
        load_dataset(f"imagefolder:{tmp_path}")
    (tmp_path / "other").mkdir()
    (tmp_path / "only" / "a.png").write_bytes(b"garbage")
    (tmp_path / "other" / "b.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read"):
        load_dataset(f"imagefolder:{tmp_path}")
