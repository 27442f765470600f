"""MedMNIST-C corruptions: every family against a case worked by hand, and the module's contracts."""

import math

import numpy as np
import pytest
import torch

from hfcbench.datasets.corruptions import (
    FAMILIES,
    GENERIC_FAMILIES,
    MODALITY_FAMILIES,
    check_families,
    corrupt,
    families_for,
    motion_blur,
    params_for,
)
from hfcbench.errors import InvalidParameterError

GREY_NOISE_GAIN = math.sqrt(0.299**2 + 0.587**2 + 0.114**2)  # std of the luma of 3 independent unit noises


def _constant(value: float, shape=(1, 3, 128, 128)) -> torch.Tensor:
    return torch.full(shape, value)


def _natural(size: int = 64, channels: int = 3) -> torch.Tensor:
    """Smooth shapes with edges: a bright disk on a shaded background, a dark bar, a colour tint."""
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    grey = 0.3 + 0.3 * x * y + 0.3 * (((x - 0.6) ** 2 + (y - 0.4) ** 2) < 0.05).float()
    grey = grey - 0.2 * ((x > 0.15) & (x < 0.3)).float()
    tint = torch.tensor([1.0, 0.8, 0.6])[:channels, None, None]
    return (grey * tint).clamp(0, 1)[None]


def _delta(size: int, channels: int = 1) -> torch.Tensor:
    image = torch.zeros(1, channels, size, size)
    image[..., size // 2, size // 2] = 1.0
    return image


# --- noise -------------------------------------------------------------------------------------------------


def test_gaussian_noise_has_the_severity_sigma_and_no_bias():
    clean = _constant(0.5)
    delta = corrupt(clean, "gaussian_noise", 5, dataset="pneumoniamnist") - clean  # sigma 0.08 (registry l.132)
    assert delta.std().item() == pytest.approx(0.08, rel=0.03)
    assert abs(delta.mean().item()) < 0.002


def test_gaussian_noise_on_grey_images_is_the_luma_of_rgb_noise():
    clean = _constant(0.5, (1, 1, 192, 192))
    delta = corrupt(clean, "gaussian_noise", 3) - clean  # default sigma 0.12 per RGB channel
    assert delta.std().item() == pytest.approx(0.12 * GREY_NOISE_GAIN, rel=0.03)


def test_severities_share_their_draws():
    clean = _constant(0.5, (1, 3, 16, 16))
    mild, strong = (corrupt(clean, "gaussian_noise", s) - clean for s in (1, 2))  # sigma 0.04, 0.08
    assert torch.allclose(strong, 2 * mild, atol=1e-6)


def test_speckle_noise_scales_with_the_pixel_value():
    clean = _constant(0.5)
    delta = corrupt(clean, "speckle_noise", 2) - clean  # 0.5 * N(0, 0.10**2)
    assert delta.std().item() == pytest.approx(0.05, rel=0.03)
    assert torch.equal(corrupt(_constant(0.0, (1, 3, 8, 8)), "speckle_noise", 5), _constant(0.0, (1, 3, 8, 8)))


def test_impulse_noise_sets_about_amount_of_values_to_0_or_1():
    clean = _constant(0.5)
    noisy = corrupt(clean, "impulse_noise", 5)  # amount 0.08 (registry l.151)
    changed = noisy != 0.5
    assert changed.float().mean().item() == pytest.approx(0.08, abs=0.006)
    assert set(noisy[changed].unique().tolist()) == {0.0, 1.0}
    assert (noisy[changed] == 1).float().mean().item() == pytest.approx(0.5, abs=0.05)


def test_impulse_noise_on_grey_images_changes_a_pixel_when_any_of_its_rgb_values_flips():
    clean = _constant(0.5, (1, 1, 128, 128))
    changed = (corrupt(clean, "impulse_noise", 5) - clean).abs() > 1e-6
    assert changed.float().mean().item() == pytest.approx(1 - (1 - 0.08) ** 3, abs=0.015)


def test_shot_noise_is_poisson_counts_over_photons():
    clean = _constant(0.5)
    noisy = corrupt(clean, "shot_noise", 1)  # 200 photons: Poisson(100) / 200
    assert torch.allclose(noisy * 200, (noisy * 200).round(), atol=1e-4)
    assert noisy.mean().item() == pytest.approx(0.5, abs=0.002)
    assert noisy.std().item() == pytest.approx(math.sqrt(100) / 200, rel=0.03)


# --- intensity ---------------------------------------------------------------------------------------------


def test_brightness_multiplies_and_clips():
    image = torch.tensor([0.4, 0.7]).reshape(1, 1, 1, 2)
    assert torch.allclose(corrupt(image, "brightness_up", 5, dataset="breastmnist"),  # factor 2.0 (l.106)
                          torch.tensor([0.8, 1.0]).reshape(1, 1, 1, 2))
    assert torch.allclose(corrupt(_constant(0.5, (1, 3, 2, 2)), "brightness_down", 2, dataset="pneumoniamnist"),
                          _constant(0.4, (1, 3, 2, 2)))  # factor 0.8 (l.138)


def test_contrast_moves_values_about_the_image_mean():
    image = torch.tensor([0.2, 0.2, 0.6, 0.6]).reshape(1, 1, 2, 2)  # mean 0.4
    expected = torch.tensor([0.3, 0.3, 0.5, 0.5]).reshape(1, 1, 2, 2)  # 0.4 + 0.5 * (v - 0.4)
    assert torch.allclose(corrupt(image, "contrast_down", 5), expected)  # factor 0.5 (l.157)


def test_contrast_of_a_colour_image_uses_its_luma_mean():
    image = torch.zeros(1, 3, 2, 2)
    image[:, 0] = 0.5  # mean luma 0.299 * 0.5 = 0.1495
    out = corrupt(image, "contrast_up", 1)  # factor 1.3 (l.156)
    assert torch.allclose(out[:, 0], torch.full((1, 2, 2), 0.1495 + 1.3 * (0.5 - 0.1495)))
    assert torch.equal(out[:, 1:], torch.zeros(1, 2, 2, 2))  # 0.1495 * (1 - 1.3) < 0, clipped


def test_gamma_raises_to_the_power():
    image = _constant(0.25, (1, 1, 2, 2))
    assert torch.allclose(corrupt(image, "gamma_corr_up", 5), _constant(0.0625, (1, 1, 2, 2)))  # 2.0
    assert torch.allclose(corrupt(image, "gamma_corr_down", 5, dataset="pneumoniamnist"),
                          _constant(0.25**0.4, (1, 1, 2, 2)))  # 0.4 (l.142)


# --- digital -----------------------------------------------------------------------------------------------


def test_pixelate_replaces_blocks_by_their_mean():
    image = torch.arange(16.0).reshape(1, 1, 4, 4) / 16
    expected = torch.tensor([[2.5, 2.5, 4.5, 4.5], [2.5, 2.5, 4.5, 4.5],
                             [10.5, 10.5, 12.5, 12.5], [10.5, 10.5, 12.5, 12.5]]) / 16
    assert torch.allclose(corrupt(image, "pixelate", 3)[0, 0], expected)  # factor 0.5 (l.147)


def test_pixelate_factor_is_relative_to_the_image_size():
    image = _natural(28, 1)
    out = corrupt(image, "pixelate", 5, dataset="breastmnist")[0, 0]  # factor 0.10: int(2.8) = 2 pixels a side
    for rows in (slice(0, 14), slice(14, 28)):
        for cols in (slice(0, 14), slice(14, 28)):
            assert torch.allclose(out[rows, cols], image[0, 0, rows, cols].mean().expand(14, 14), atol=1e-6)


def test_jpeg_keeps_a_flat_image_and_removes_fine_detail():
    flat = _constant(128 / 255, (1, 3, 32, 32))
    assert torch.allclose(corrupt(flat, "jpeg_compression", 5), flat, atol=1 / 255)
    noisy = (_natural(32) + 0.2 * torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    out = corrupt(noisy, "jpeg_compression", 5)  # quality 7 (l.148)

    def detail(x: torch.Tensor) -> float:
        return float((x.diff(dim=-1) ** 2).sum() + (x.diff(dim=-2) ** 2).sum())

    assert detail(out) < 0.5 * detail(noisy)
    assert torch.allclose(out * 255, (out * 255).round(), atol=1e-3)  # 8-bit values


# --- blur --------------------------------------------------------------------------------------------------


def test_gaussian_blur_spreads_a_delta_as_torchvisions_kernel_at_224_pixels():
    out = corrupt(_delta(224), "gaussian_blur", 1, dataset="pneumoniamnist")[0, 0]  # kernel 3: sigma 0.8
    side = math.exp(-1 / (2 * 0.8**2))
    taps = torch.tensor([side, 1.0, side]) / (1 + 2 * side)
    assert torch.allclose(out[111:114, 111:114], torch.outer(taps, taps), atol=1e-6)
    assert out.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(corrupt(_constant(0.3, (1, 1, 40, 40)), "gaussian_blur", 5), _constant(0.3, (1, 1, 40, 40)))


def test_a_224_pixel_blur_is_sub_pixel_at_28_pixels():
    image = _natural(28, 1)
    for severity in range(1, 6):  # sigma 0.8..2.0 px at 224 px is 0.10..0.25 px here: neighbour weights <= exp(-8)
        assert torch.allclose(corrupt(image, "gaussian_blur", severity, dataset="pneumoniamnist"), image, atol=1e-3)


def test_defocus_blur_averages_over_a_disk():
    out = corrupt(_delta(224), "defocus_blur", 1, dataset="retinamnist")[0, 0]  # radius 4, alias 0.1 (l.72)
    assert int((out > 1e-6).sum()) == 49  # lattice points with dx**2 + dy**2 <= 16
    assert torch.allclose(out[out > 1e-6], torch.full((49,), 1 / 49), atol=1e-6)
    assert out[112, 116] > 0 and out[115, 115] < 1e-6  # (0, 4) is in the disk, (3, 3) is not


def test_defocus_radius_is_scaled_to_28_pixels():
    image = _delta(28)
    for severity in range(1, 5):  # radius 4..7 px at 224 px is 0.5..0.875 px: the disk is one pixel
        assert torch.allclose(corrupt(image, "defocus_blur", severity, dataset="retinamnist"), image, atol=1e-6)
    out = corrupt(image, "defocus_blur", 5, dataset="retinamnist")[0, 0]  # radius 1 px: centre and 4 neighbours
    plus = torch.zeros(28, 28)
    plus[14, 13:16] = plus[13:16, 14] = 0.2
    assert torch.allclose(out, plus, atol=1e-6)


def test_motion_blur_kernel_is_a_one_sided_gaussian_along_the_angle():
    weights = np.array([1.0, math.exp(-0.5), math.exp(-2.0)])  # exp(-i**2 / 2), i = 0, 1, 2 (radius 1, sigma 1)
    weights /= weights.sum()
    delta = np.zeros((1, 9, 9))
    delta[0, 4, 4] = 1.0
    along = motion_blur(delta, 1, 1, 0)[0]  # pixel (r, c) reads (r, c + i): the delta lands at (4, 4 - i)
    assert np.allclose(along[4, 2:5], weights[::-1]) and along.sum() == pytest.approx(1.0)
    down = motion_blur(delta, 1, 1, 90)[0]
    assert np.allclose(down[2:5, 4], weights[::-1])
    rows_only = np.tile(np.arange(9.0)[:, None], (1, 1, 9))  # varies down the rows, constant along them
    assert np.allclose(motion_blur(rows_only, 3, 2, 0), rows_only)


def test_motion_blur_of_a_vertical_edge_spreads_from_one_side_only():
    image = torch.zeros(1, 1, 64, 64)
    image[..., 32:] = 1.0
    out = corrupt(image, "motion_blur", 5, dataset="breastmnist")[0, 0]  # radius 17, sigma 12 at 224 px
    assert torch.allclose(out, out[:1].expand(64, 64))  # every row alike: nothing moves across rows
    assert torch.equal(out[:, 32:], torch.ones(64, 32))  # it reads towards +col, where all is bright
    assert out[0, 31] > 0.3 and torch.equal(out[:, :20], torch.zeros(64, 20))  # reach 2 * ceil(4.86) = 10 px


def test_zoom_blur_of_a_ramp_is_the_ramp_shrunk_by_the_mean_inverse_factor():
    centre, slope = 16, 0.02
    ramp = (0.5 + slope * (torch.arange(33.0) - centre)).expand(1, 3, 33, 33)
    factors = np.arange(1, 1.11, 0.01)  # severity 1 (registry l.52)
    shrink = (1 + np.sum(1 / factors)) / (len(factors) + 1)
    expected = (0.5 + slope * shrink * (torch.arange(33.0) - centre)).expand(1, 3, 33, 33)
    assert torch.allclose(corrupt(ramp, "zoom_blur", 1), expected, atol=1e-5)


# --- contracts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", [None, "pneumoniamnist", "retinamnist", "breastmnist"])
@pytest.mark.parametrize("channels", [1, 3])
def test_distortion_grows_with_severity(dataset, channels):
    image = _natural(64, channels)
    for family in families_for(dataset)[0] if dataset else FAMILIES:
        distortion = [float((corrupt(image, family, s, dataset=dataset) - image).abs().mean()) for s in range(1, 6)]
        assert all(b >= a - 1e-6 for a, b in zip(distortion, distortion[1:], strict=False)), (family, distortion)
        assert distortion[-1] > 0 or family in ("gaussian_blur", "defocus_blur"), family


@pytest.mark.parametrize("shape", [(2, 1, 28, 28), (2, 3, 28, 28), (2, 1, 6, 28, 28), (2, 3, 6, 16, 16)])
def test_shape_dtype_and_range_are_kept(shape):
    images = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    for name, family in FAMILIES.items():
        if family.planar and len(shape) == 5:
            continue
        out = corrupt(images, name, 5)
        assert out.shape == images.shape and out.dtype == torch.float32, name
        assert out.min() >= 0 and out.max() <= 1, name
    assert corrupt(images.double(), "gaussian_noise", 1).dtype == torch.float64


def test_same_seed_same_result_and_images_independent_of_their_batch():
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    for family in ("gaussian_noise", "impulse_noise", "motion_blur"):
        first = corrupt(images, family, 3, seed=7)
        assert torch.equal(first, corrupt(images, family, 3, seed=7))
        assert not torch.equal(first, corrupt(images, family, 3, seed=8))
        assert torch.equal(first[1:], corrupt(images[1:], family, 3, seed=7, index=range(1, len(images))))
        other = images.clone()
        other[0] = 0.5
        assert torch.equal(first[1:], corrupt(other, family, 3, seed=7)[1:])


def test_unknown_family_is_one_line_naming_the_valid_ones():
    with pytest.raises(InvalidParameterError) as caught:
        corrupt(_constant(0.5, (1, 1, 4, 4)), "fog", 1)
    message = str(caught.value)
    assert "\n" not in message and "'fog'" in message and all(name in message for name in FAMILIES)
    with pytest.raises(InvalidParameterError, match="'bubble'"):
        check_families(["gaussian_noise", "bubble"])
    assert check_families([" Gaussian_Noise "]) == ["gaussian_noise"]


@pytest.mark.parametrize("severity", [0, 6, "3", 3.0, True])
def test_severity_outside_1_to_5_is_refused(severity):
    with pytest.raises(InvalidParameterError, match="severity.*" + repr(severity).replace(".", r"\.")):
        corrupt(_constant(0.5, (1, 1, 4, 4)), "gaussian_noise", severity)


def test_planar_families_refuse_volumes_and_bad_shapes_are_named():
    with pytest.raises(InvalidParameterError, match="'jpeg_compression' is 2-D only"):
        corrupt(_constant(0.5, (1, 1, 4, 8, 8)), "jpeg_compression", 1)
    with pytest.raises(InvalidParameterError, match=r"\(1, 2, 8, 8\)"):
        corrupt(_constant(0.5, (1, 2, 8, 8)), "gaussian_noise", 1)


def test_families_for_medmnistc_datasets_and_others():
    families, note = families_for("pneumoniamnist")
    assert note is None and families == (
        "pixelate", "jpeg_compression", "gaussian_noise", "speckle_noise", "impulse_noise", "shot_noise",
        "gaussian_blur", "brightness_up", "brightness_down", "contrast_up", "contrast_down", "gamma_corr_up",
        "gamma_corr_down")  # registry.py l.129-143
    assert families_for("BreastMNIST") == (("pixelate", "jpeg_compression", "speckle_noise", "motion_blur",
                                            "brightness_up", "brightness_down", "contrast_down"), None)
    assert families_for("retinamnist5") == families_for("retinamnist")
    assert set(MODALITY_FAMILIES) == {"pneumoniamnist", "retinamnist", "retinamnist5", "breastmnist"}
    for other in ("imagefolder:/x", "adrenalmnist3d", "cifar10", "synthetic"):
        families, note = families_for(other)
        assert families == GENERIC_FAMILIES and note is not None
        assert note.startswith(f"{other} has no MedMNIST-C families") and "\n" not in note
    assert not any(FAMILIES[name].planar for name in GENERIC_FAMILIES)  # they all work on volumes


def test_parameters_come_from_the_dataset_where_it_has_its_own():
    assert params_for("brightness_up", "breastmnist") == (1.4, 1.5, 1.6, 1.8, 2.0)  # registry.py l.106
    assert params_for("gaussian_noise", "breastmnist") == params_for("gaussian_noise") == FAMILIES[
        "gaussian_noise"].params
    assert params_for("motion_blur", "retinamnist5") == ((8, 5), (15, 5), (15, 8), (15, 12), (20, 15))  # l.73
