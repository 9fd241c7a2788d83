"""Background preservation (PIE-Bench): values by hand, agreement with torchmetrics and skimage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from maskedit.errors import InputError
from maskedit.metrics import (
    background_metrics,
    masked_background,
    masked_mse,
    masked_psnr,
    masked_ssim,
)

TOL = 1e-5


def _two_by_two() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    original = np.zeros((2, 2, 3), np.uint8)
    edit = np.zeros((2, 2, 3), np.uint8)
    edit[0, 0] = 255  # a full-scale change in the background
    edit[1, 1] = 51  # a change inside the mask: multiplied away
    mask = np.array([[False, False], [False, True]])
    return edit, original, mask


def test_masked_background_zeroes_the_mask_and_scales_to_unit_range():
    edit, original, mask = _two_by_two()
    a, b = masked_background(edit, original, mask)
    assert a.dtype == np.float64
    np.testing.assert_array_equal(a[..., 0], [[1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(b, 0.0)


def test_mse_and_psnr_by_hand():
    # one background pixel differs by 1.0 in all 3 channels: 3 / 12 values = 0.25
    edit, original, mask = _two_by_two()
    assert masked_mse(edit, original, mask) == pytest.approx(0.25)
    assert masked_psnr(edit, original, mask) == pytest.approx(10 * math.log10(4))  # 6.0206 dB


def test_mse_with_soft_alpha():
    # alpha 0.5 everywhere halves the difference: (0.5 ** 2) * 3 / 12
    edit, original, _ = _two_by_two()
    edit[1, 1] = 0
    assert masked_mse(edit, original, np.full((2, 2), 0.5)) == pytest.approx(0.0625)


def test_identical_backgrounds():
    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    edit = original.copy()
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    edit[mask] = 0  # changes inside the mask do not count
    assert masked_mse(edit, original, mask) == 0.0
    assert masked_psnr(edit, original, mask) == math.inf
    assert masked_ssim(edit, original, mask) == pytest.approx(1.0)
    assert masked_ssim(edit, original, mask, variant="skimage") == pytest.approx(1.0)


def test_full_mask_has_no_background_to_score():
    edit, original, _ = _two_by_two()
    full = np.ones((2, 2), bool)
    assert math.isnan(masked_mse(edit, original, full))
    assert math.isnan(masked_psnr(edit, original, full))
    assert math.isnan(masked_ssim(edit, original, full))


def test_bad_inputs_are_refused():
    edit, original, mask = _two_by_two()
    with pytest.raises(InputError, match="mask"):
        masked_mse(edit, original, np.zeros((3, 2), bool))
    with pytest.raises(InputError, match="alpha"):
        masked_mse(edit, original, mask.astype(np.uint8) * 255)
    with pytest.raises(InputError, match="uint8"):
        masked_mse(edit.astype(np.float32), original, mask)
    with pytest.raises(InputError, match="variant"):
        masked_ssim(edit, original, mask, variant="gaussian")


# --- agreement with the reference implementations -----------------------------------------------


@pytest.fixture(scope="module")
def case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 40x48 original, a noisy edit, and a rectangular mask (non-square on purpose)."""
    rng = np.random.default_rng(1)
    original = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    noise = rng.integers(-25, 26, original.shape)
    edit = np.clip(original.astype(int) + noise, 0, 255).astype(np.uint8)
    mask = np.zeros((40, 48), bool)
    mask[10:25, 12:30] = True
    return edit, original, mask


def _nchw(image: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def _pie_bench_float32(edit, original, mask):
    """Masked images exactly as PIE-Bench's evaluation code builds them (float32, / 255)."""
    keep = (1 - mask.astype(np.float32))[..., None]
    return (edit.astype(np.float32) / 255) * keep, (original.astype(np.float32) / 255) * keep


def test_mse_agrees_with_torchmetrics_and_skimage(case):
    tmf = pytest.importorskip("torchmetrics.functional")
    from skimage.metrics import mean_squared_error

    a, b = masked_background(*case)
    ours = masked_mse(*case)
    assert abs(ours - tmf.mean_squared_error(_nchw(a), _nchw(b)).item()) <= TOL
    assert abs(ours - mean_squared_error(a, b)) <= TOL
    pa, pb = _pie_bench_float32(*case)
    assert abs(ours - tmf.mean_squared_error(_nchw(pa), _nchw(pb)).item()) <= TOL


def test_psnr_agrees_with_torchmetrics_and_skimage(case):
    tmf = pytest.importorskip("torchmetrics.functional")
    from skimage.metrics import peak_signal_noise_ratio

    a, b = masked_background(*case)
    ours = masked_psnr(*case)
    assert 20 < ours < 40
    # data range 1 on [0, 1] (PIE-Bench) and data range 255 on 0-255 are the same number
    assert abs(ours - tmf.peak_signal_noise_ratio(_nchw(a), _nchw(b), data_range=1.0).item()) <= TOL
    ref_255 = tmf.peak_signal_noise_ratio(_nchw(a * 255), _nchw(b * 255), data_range=255.0)
    assert abs(ours - ref_255.item()) <= TOL
    assert abs(ours - peak_signal_noise_ratio(b, a, data_range=1.0)) <= TOL
    pa, pb = _pie_bench_float32(*case)
    ref_pie = tmf.peak_signal_noise_ratio(_nchw(pa), _nchw(pb), data_range=1.0)
    assert abs(ours - ref_pie.item()) <= TOL


def _torchmetrics_ssim_as_pie_bench_ran_it(tmf, a, b) -> float:
    """torchmetrics' SSIM as PIE-Bench's evaluation ran it (torchmetrics up to 1.4.1): the SSIM
    map of the mirror-padded images, averaged without the 5 pixels (the 11-tap window's radius)
    at each side. Later torchmetrics average the whole map; its map is the same."""
    _, full = tmf.structural_similarity_index_measure(
        _nchw(a), _nchw(b), data_range=1.0, return_full_image=True
    )
    return full[..., 5:-5, 5:-5].mean().item()


def test_ssim_pie_variant_agrees_with_torchmetrics_as_pie_bench_ran_it(case):
    tmf = pytest.importorskip("torchmetrics.functional")

    a, b = masked_background(*case)
    ours = masked_ssim(*case)
    assert abs(ours - _torchmetrics_ssim_as_pie_bench_ran_it(tmf, a, b)) <= TOL
    pa, pb = _pie_bench_float32(*case)
    assert abs(ours - _torchmetrics_ssim_as_pie_bench_ran_it(tmf, pa, pb)) <= TOL
    # the whole map's mean (torchmetrics >= 1.4.2) is another number
    whole = tmf.structural_similarity_index_measure(_nchw(a), _nchw(b), data_range=1.0).item()
    assert abs(ours - whole) > 1e-3


def test_ssim_pie_variant_needs_a_pixel_five_from_every_edge():
    """PIE-Bench's SSIM averages the pixels at least 5 from the image's edges: an image of 10
    pixels or fewer on a side has none, so no SSIM (NaN), identical or not; 11 has one row."""
    rng = np.random.default_rng(2)
    original = rng.integers(0, 256, (10, 30, 3), dtype=np.uint8)
    mask = np.zeros((10, 30), bool)
    assert math.isnan(masked_ssim(255 - original, original, mask))
    assert math.isnan(masked_ssim(original, original, mask))
    assert math.isnan(background_metrics(original, original, mask)["bg_ssim"])
    assert masked_ssim(original, original, mask, variant="skimage") == pytest.approx(1.0)
    taller = rng.integers(0, 256, (11, 30, 3), dtype=np.uint8)
    assert masked_ssim(taller, taller, np.zeros((11, 30), bool)) == 1.0
    assert masked_ssim(255 - taller, taller, np.zeros((11, 30), bool)) < 1


def test_ssim_skimage_variant_needs_its_seven_pixel_window():
    """scikit-image's SSIM slides a 7x7 window: an image under 7 pixels on a side has no SSIM
    (NaN, identical or not, as PIE-Bench's variant for its own size), never an error."""
    rng = np.random.default_rng(3)
    original = rng.integers(0, 256, (6, 30, 3), dtype=np.uint8)
    mask = np.zeros((6, 30), bool)
    assert math.isnan(masked_ssim(255 - original, original, mask, variant="skimage"))
    assert math.isnan(masked_ssim(original, original, mask, variant="skimage"))
    assert math.isnan(background_metrics(original, original, mask, variant="skimage")["bg_ssim"])
    taller = rng.integers(0, 256, (7, 30, 3), dtype=np.uint8)
    assert masked_ssim(taller, taller, np.zeros((7, 30), bool), variant="skimage") == 1.0
    assert masked_ssim(255 - taller, taller, np.zeros((7, 30), bool), variant="skimage") < 1


def test_ssim_skimage_variant_agrees_with_skimage(case):
    from skimage.metrics import structural_similarity

    a, b = masked_background(*case)
    ref = structural_similarity(a, b, channel_axis=-1, data_range=1.0)
    assert abs(masked_ssim(*case, variant="skimage") - ref) <= TOL
    # the two conventions really differ (window, covariance, borders): report which one a table
    # uses. On a picture, not noise, where a uniform and a Gaussian window weigh it differently.
    from skimage import data

    picture = np.asarray(Image.fromarray(data.astronaut()).resize((48, 40)))
    edited = np.clip(picture.astype(int) + 20, 0, 255).astype(np.uint8)
    mask = case[2]
    a, b = masked_background(edited, picture, mask)
    ref = structural_similarity(a, b, channel_axis=-1, data_range=1.0)
    assert abs(masked_ssim(edited, picture, mask) - ref) > 1e-3
