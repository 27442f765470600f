"""Real MedMNIST files: shapes, value ranges and label counts against SOURCES.md."""

import shutil

import numpy as np
import pytest
import torch

from hfcbench.datasets import DATASETS, load_dataset
from hfcbench.datasets.medmnist import MedMNISTSource
from hfcbench.errors import DataError, UnknownComponentError

# (train, test) label counts as published with the files (SOURCES.md / MedMNIST info.py)
EXPECTED = {
    "pneumoniamnist": ((1, 28, 28), [1214, 3494], [234, 390]),
    "breastmnist": ((1, 28, 28), [147, 399], [42, 114]),
    "retinamnist": ((3, 28, 28), [486, 594], [174, 226]),  # grade 0 vs grades 1-4
    "retinamnist5": ((3, 28, 28), [486, 128, 206, 194, 66], [174, 46, 92, 68, 20]),
    "adrenalmnist3d": ((1, 28, 28, 28), [929, 259], [229, 69]),
    "adrenalmnist3d_64": ((1, 64, 64, 64), [929, 259], [229, 69]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_file_loads_with_published_counts(name, data_dir):
    shape, train_counts, test_counts = EXPECTED[name]
    ds = load_dataset(name, data_dir, download=False)
    assert ds.image_shape == shape
    assert ds.train.images.dtype == torch.float32 and ds.train.labels.dtype == torch.int64
    assert float(ds.train.images.min()) >= 0.0 and float(ds.train.images.max()) <= 1.0
    assert ds.train.labels.bincount().tolist() == train_counts
    assert ds.test.labels.bincount().tolist() == test_counts
    assert ds.num_classes == len(train_counts)


def test_pixel_scaling_is_value_over_255(data_dir):
    raw = np.load(data_dir / "pneumoniamnist.npz")["train_images"][:3]
    ds = load_dataset("pneumoniamnist", data_dir, download=False)
    np.testing.assert_allclose(ds.train.images[:3, 0].numpy(), raw / 255.0, rtol=0, atol=1e-7)


def test_rgb_channels_come_first(data_dir):
    raw = np.load(data_dir / "retinamnist.npz")["test_images"][0]  # (28, 28, 3)
    ds = load_dataset("retinamnist", data_dir, download=False)
    np.testing.assert_allclose(ds.test.images[0].numpy(), raw.transpose(2, 0, 1) / 255.0, atol=1e-7)


def test_cifar_sample_is_split_and_labelled(data_dir):
    ds = load_dataset("cifar10", data_dir, download=False)
    assert ds.image_shape == (3, 32, 32) and ds.num_classes == 10
    assert len(ds.train) + len(ds.test) == 1017
    assert "SAMPLE" in ds.note


def test_wrong_checksum_is_refused(data_dir, tmp_path):
    shutil.copy(data_dir / "breastmnist.npz", tmp_path / "breastmnist.npz")
    with open(tmp_path / "breastmnist.npz", "r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02")
    with pytest.raises(DataError, match="MD5 .* but the official breastmnist.npz"):
        load_dataset("breastmnist", tmp_path, download=False)


def _fake_source(path, md5):
    return MedMNISTSource(path.name, md5, ("a", "b"), "test source")


def test_wrong_arrays_are_refused(tmp_path):
    from hfcbench.datasets.storage import file_md5

    path = tmp_path / "fake.npz"
    images = np.zeros((4, 28, 28), np.uint8)
    labels = np.zeros((4, 1), np.uint8)
    np.savez(path, train_images=images, train_labels=labels, val_images=images, val_labels=labels)
    with pytest.raises(DataError, match="lacks the array 'test_images'"):
        _fake_source(path, file_md5(path)).load("fake", tmp_path, download=False)
    np.savez(path, train_images=images, train_labels=labels + 7, val_images=images, val_labels=labels,
             test_images=images, test_labels=labels)
    with pytest.raises(DataError, match=r"train_labels outside \[0, 1\]"):
        _fake_source(path, file_md5(path)).load("fake", tmp_path, download=False)
    np.savez(path, train_images=images.astype(np.float32), train_labels=labels, val_images=images,
             val_labels=labels, test_images=images, test_labels=labels)
    with pytest.raises(DataError, match="should be uint8"):
        _fake_source(path, file_md5(path)).load("fake", tmp_path, download=False)
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match="not a readable .npz"):
        _fake_source(path, file_md5(path)).load("fake", tmp_path, download=False)


def test_missing_file_offline_lists_the_three_ways(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("pneumoniamnist", tmp_path, download=False)
    text = str(info.value)
    assert "pneumoniamnist.npz is missing" in text
    assert "--data-dir" in text and "HFCBENCH_DATA" in text and str(tmp_path) in text


def test_unknown_dataset_suggests():
    with pytest.raises(UnknownComponentError, match="Did you mean 'pneumoniamnist'"):
        load_dataset("pneumonia")


def test_every_registered_dataset_has_a_description():
    for name in DATASETS.names():
        assert DATASETS.describe(name)
