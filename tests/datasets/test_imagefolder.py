"""A user's image folder (``imagefolder:PATH``) on real files written by Pillow, pydicom and
nibabel: every value checked against the scaling rule worked by hand."""

import sys

import numpy as np
import pytest
import torch

from hfcbench.cli import build_parser, main
from hfcbench.datasets import load_dataset
from hfcbench.errors import DataError, InvalidParameterError
from tests.files import write_dicom, write_float_tiff, write_nifti, write_png


def folder(path, name="imagefolder"):
    return f"{name}:{path}"


def two_classes(root, write, n=5):
    """``n`` files per class ``a`` and ``b``, ``write(path, class index, i)`` each."""
    for c, cls in enumerate(("a", "b")):
        for i in range(n):
            write(root / cls, c, i)
    return root


def test_8bit_png_is_value_over_255_and_split_80_20(tmp_path):
    two_classes(tmp_path, lambda d, c, i: write_png(d / f"{i}.png", np.full((40, 30), 30 + 190 * c + i, np.uint8)))
    ds = load_dataset(folder(tmp_path), image_size=16)
    assert ds.class_names == ("a", "b") and ds.image_shape == (1, 16, 16)
    assert len(ds.train) == 8 and len(ds.test) == 2 and ds.test.labels.tolist() == [0, 1]  # stratified
    assert "80/20 stratified split" in ds.note
    for split in (ds.train, ds.test):
        for image, label in zip(split.images, split.labels, strict=True):
            assert float(image.std()) < 1e-6
            assert 30 + 190 * int(label) <= round(float(image[0, 0, 0]) * 255) <= 34 + 190 * int(label)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_image_keeps_its_mean_within_one_grey_level(tmp_path, suffix):
    """Uniform 0..65535 values: the old loader read such PNGs with mean 0.998 (saturated)."""
    rng = np.random.default_rng(0)
    means = []

    def write(d, c, i):
        values = rng.integers(0, 65536, size=(32, 32), dtype=np.uint16)
        means.append(values.mean() / 65535)
        write_png(d / f"{i}{suffix}", values)

    two_classes(tmp_path, write, n=3)
    ds = load_dataset(folder(tmp_path), image_size=16)  # 2x2 bilinear averaging keeps the mean
    loaded = sorted(float(x.mean()) for x in torch.cat([ds.train.images, ds.test.images]))
    assert np.allclose(loaded, sorted(means), atol=1 / 255)
    assert abs(np.mean(loaded) - 0.5) < 0.01


def test_float_tiff_min_max_or_window(tmp_path):
    ramp = np.linspace(-1, 3, 16 * 16).reshape(16, 16)  # the old loader read these near-black
    two_classes(tmp_path, lambda d, c, i: write_float_tiff(d / f"{i}.tif", ramp * (1 + c)))
    by_min_max = load_dataset(folder(tmp_path), image_size=16)
    for image in by_min_max.train.images:
        assert float(image.min()) == 0 and float(image.max()) == pytest.approx(1)
    windowed = load_dataset(folder(tmp_path), image_size=16, window="-1,3")
    for image, label in zip(windowed.train.images, windowed.train.labels, strict=True):
        expected = np.clip((ramp * (1 + int(label)) + 1) / 4, 0, 1)  # (v - low) / (high - low), clipped
        assert np.allclose(image[0].numpy(), expected, atol=1e-6)
    assert windowed.fingerprint != by_min_max.fingerprint


def test_nan_or_inf_pixels_are_refused_with_the_file_named(tmp_path):
    two_classes(tmp_path, lambda d, c, i: write_float_tiff(d / f"{i}.tif", np.ones((8, 8))))
    bad = np.ones((8, 8))
    bad[2, 3] = np.nan
    write_float_tiff(tmp_path / "b" / "3.tif", bad)
    with pytest.raises(DataError, match=r"b/3\.tif holds 1 NaN or infinite"):
        load_dataset(folder(tmp_path), image_size=8)


def test_dicom_rescale_slope_intercept_and_hounsfield_window(tmp_path):
    """Stored s -> HU = 2 s - 1024; the file's window (center 40, width 400) is [-160, 240] HU."""
    rng = np.random.default_rng(1)
    stored = {}

    def write(d, c, i):
        values = rng.integers(300, 700, size=(16, 16)).astype(np.uint16)
        stored[(c, i)] = values
        write_dicom(d / f"{i}.dcm", values, slope=2, intercept=-1024, window=(40, 400))

    two_classes(tmp_path, write, n=3)
    ds = load_dataset(folder(tmp_path), image_size=16)
    expected = sorted(np.clip((2.0 * v - 1024 + 160) / 400, 0, 1).sum() for v in stored.values())
    loaded = sorted(float(x.double().sum()) for x in torch.cat([ds.train.images, ds.test.images]))
    assert np.allclose(loaded, expected, rtol=1e-5)
    # --window overrides the file's: lung window [-1000, 400] HU
    lung = load_dataset(folder(tmp_path), image_size=16, window="-1000,400")
    expected = sorted(np.clip((2.0 * v - 1024 + 1000) / 1400, 0, 1).sum() for v in stored.values())
    loaded = sorted(float(x.double().sum()) for x in torch.cat([lung.train.images, lung.test.images]))
    assert np.allclose(loaded, expected, rtol=1e-5)


def test_nifti_volumes_keep_their_orientation(tmp_path):
    """A volume stored with a flipped x axis (affine diag(-1, 1, 1)) is the same anatomy as its
    mirror stored with the identity affine: both load as one array, (N, 1, D, H, W)."""
    x = np.arange(8, dtype=np.float32)[:, None, None] * np.ones((8, 8, 8), np.float32)  # grows along x
    x[:, :2, :] += 20  # and is bright at low y
    flipped = np.diag([-1.0, 1.0, 1.0, 1.0])
    flipped[0, 3] = 7.0
    for c, cls in enumerate(("a", "b")):
        for i in range(3):
            volume = x * (1 + c + i)
            write_nifti(tmp_path / "plain" / cls / f"{i}.nii.gz", volume)
            write_nifti(tmp_path / "flipped" / cls / f"{i}.nii", volume[::-1].copy(), flipped)
    plain = load_dataset(folder(tmp_path / "plain"), image_size=8)
    other = load_dataset(folder(tmp_path / "flipped"), image_size=8)
    assert plain.image_shape == (1, 8, 8, 8) and plain.spatial_dims == 3
    assert torch.allclose(plain.train.images, other.train.images, atol=1e-6)
    first = plain.train.images[0, 0]
    assert bool((first[1:, 4, 4] > first[:-1, 4, 4]).all())  # RAS+: values grow along the first axis
    assert float(first[0, 0, 0]) > float(first[0, 7, 0])  # bright at low y, as written
    resized = load_dataset(folder(tmp_path / "plain"), image_size=12)
    assert resized.image_shape == (1, 12, 12, 12)


@pytest.mark.parametrize("empty", ["a_first", "m_middle", "z_last"])
def test_an_empty_class_folder_is_refused_wherever_it_sorts(tmp_path, empty):
    for cls in ("b", "c"):
        for i in range(3):
            write_png(tmp_path / cls / f"{i}.png", np.zeros((8, 8), np.uint8))
    (tmp_path / empty).mkdir()
    with pytest.raises(DataError, match=f"class folder .*{empty} holds no images"):
        load_dataset(folder(tmp_path), image_size=8)


def test_a_class_too_small_to_split_is_refused(tmp_path):
    two_classes(tmp_path, lambda d, c, i: write_png(d / f"{i}.png", np.zeros((8, 8), np.uint8)), n=3)
    (tmp_path / "b" / "2.png").unlink()
    with pytest.raises(DataError, match=r"at least 3 images each .* found \{'a': 3, 'b': 2\}"):
        load_dataset(folder(tmp_path), image_size=8)


def test_unreadable_unsupported_and_mixed_files(tmp_path):
    two_classes(tmp_path, lambda d, c, i: write_png(d / f"{i}.png", np.zeros((8, 8), np.uint8)))
    (tmp_path / "a" / "9.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"cannot read .*a/9\.png"):
        load_dataset(folder(tmp_path), image_size=8)
    (tmp_path / "a" / "9.png").unlink()
    (tmp_path / "a" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"notes\.txt is not a supported image file"):
        load_dataset(folder(tmp_path), image_size=8)
    (tmp_path / "a" / "notes.txt").unlink()
    write_nifti(tmp_path / "b" / "vol.nii", np.zeros((8, 8, 8)))
    with pytest.raises(DataError, match="is a 3-D volume but .* is a 2-D image"):
        load_dataset(folder(tmp_path), image_size=8)


def test_grey_and_colour_together_become_rgb(tmp_path):
    two_classes(tmp_path, lambda d, c, i: write_png(d / f"{i}.png", np.full((8, 8), 100, np.uint8)))
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 0] = 255
    write_png(tmp_path / "b" / "9.png", colour)
    ds = load_dataset(folder(tmp_path), image_size=8)
    assert ds.image_shape == (3, 8, 8)
    images = torch.cat([ds.train.images, ds.test.images])
    reds = [x for x in images if float(x[0].mean()) == 1.0]
    greys = [x for x in images if float(x[0].mean()) < 1.0]
    assert len(reds) == 1 and float(reds[0][1:].abs().max()) == 0
    assert len(greys) == 10 and all(torch.allclose(g, torch.full_like(g, 100 / 255)) for g in greys)


def test_train_and_test_folders_are_used_as_given(tmp_path):
    for part, n in (("train", 4), ("test", 2)):
        for cls in ("a", "b"):
            for i in range(n):
                write_png(tmp_path / part / cls / f"{i}.png", np.full((8, 8), 10 * i, np.uint8))
    ds = load_dataset(folder(tmp_path), image_size=8)
    assert len(ds.train) == 8 and len(ds.test) == 4 and "its own train/ and test/ folders" in ds.note
    write_png(tmp_path / "test" / "c" / "0.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(DataError, match=r"train has classes \['a', 'b'\] but .*test has \['a', 'b', 'c'\]"):
        load_dataset(folder(tmp_path), image_size=8)


def test_without_the_medical_extra_a_dicom_folder_is_one_line(tmp_path, monkeypatch, capsys):
    two_classes(tmp_path, lambda d, c, i: write_dicom(d / f"{i}.dcm", np.zeros((8, 8), np.uint16)), n=3)
    monkeypatch.setitem(sys.modules, "pydicom", None)  # as if not installed: import raises ImportError
    assert main(["validate", "--dataset", folder(tmp_path), "--image-size", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "hfcbench[medical]"' in err and "DICOM" in err


@pytest.mark.parametrize("command", [["run"], ["train"], ["experiment", "table1"], ["validate"], ["layers"]])
def test_image_size_and_window_are_options_of_every_command(command):
    args = build_parser().parse_args([*command, "--image-size", "48", "--window=-1000,400"])
    assert args.image_size == 48 and args.window == "-1000,400"


def test_image_size_on_a_registered_dataset_is_refused():
    with pytest.raises(InvalidParameterError, match="--image-size applies to imagefolder"):
        load_dataset("pneumoniamnist", image_size=32)


@pytest.mark.parametrize("window", ["400,-1000", "a,b", "1", "nan,3"])
def test_a_bad_window_is_named(tmp_path, capsys, window):
    assert main(["validate", "--dataset", folder(tmp_path), f"--window={window}"]) == 2
    assert "--window" in capsys.readouterr().err
