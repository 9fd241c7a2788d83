"""The faster background metrics give the numbers the straightforward implementation gave.

The reference below is the code as it was before: full-frame float64 masked images, built once
per metric, and SSIM with ``scipy.ndimage.gaussian_filter`` over the whole image. MSE and PSNR
must match it exactly; SSIM (strip-wise filtering, summed per strip) within 1e-10, far inside
the 1e-5 the metrics promise.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from skimage.metrics import structural_similarity

from maskedit.errors import InputError
from maskedit.metrics import background
from maskedit.metrics.background import (
    background_metrics,
    masked_background,
    masked_mse,
    masked_psnr,
    masked_ssim,
)

SSIM_TOL = 1e-10


def ref_masked(edit, original, mask):
    keep = (1.0 - mask.astype(np.float64))[..., None]
    return edit / 255.0 * keep, original / 255.0 * keep


def ref_has_background(mask):
    return bool(np.any(mask < 1)) if mask.dtype != np.bool_ else not bool(mask.all())


def ref_mse(edit, original, mask):
    a, b = ref_masked(edit, original, mask)
    if not ref_has_background(mask):
        return math.nan
    return float(np.mean((a - b) ** 2))


def ref_psnr(edit, original, mask):
    mse = ref_mse(edit, original, mask)
    if math.isnan(mse):
        return math.nan
    return math.inf if mse == 0 else float(10.0 * math.log10(1.0 / mse))


def ref_ssim_gaussian(a, b, border=5):
    """The SSIM map of the whole image, averaged without ``border`` pixels at each side (PIE-Bench's
    torchmetrics left out 5)."""

    def blur(x):
        return ndimage.gaussian_filter(x, sigma=(1.5, 1.5, 0.0), mode="mirror", truncate=3.5)

    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = blur(a), blur(b)
    var_a = np.maximum(blur(a * a) - mu_a**2, 0.0)
    var_b = np.maximum(blur(b * b) - mu_b**2, 0.0)
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    h, w = ssim_map.shape[:2]
    if min(h, w) <= 2 * border:
        return math.nan
    return float(ssim_map[border : h - border, border : w - border].mean())


def ref_ssim(edit, original, mask, variant="pie"):
    a, b = ref_masked(edit, original, mask)
    if not ref_has_background(mask) or (variant == "pie" and min(mask.shape) <= 10):
        return math.nan
    if np.array_equal(a, b):
        return 1.0
    if variant == "pie":
        return ref_ssim_gaussian(a, b)
    return float(structural_similarity(a, b, channel_axis=-1, data_range=1.0))


def same(x: float, y: float, tol: float = 0.0) -> bool:
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= tol


def assert_matches_reference(edit, original, mask):
    mse, psnr = ref_mse(edit, original, mask), ref_psnr(edit, original, mask)
    ssim = ref_ssim(edit, original, mask)
    got = background_metrics(edit, original, mask)
    assert set(got) == {"bg_mse", "bg_psnr", "bg_ssim"}
    assert same(got["bg_mse"], mse) and same(masked_mse(edit, original, mask), mse)
    assert same(got["bg_psnr"], psnr) and same(masked_psnr(edit, original, mask), psnr)
    assert same(got["bg_ssim"], ssim, SSIM_TOL)
    assert same(masked_ssim(edit, original, mask), ssim, SSIM_TOL)
    skimage_ssim = ref_ssim(edit, original, mask, variant="skimage")  # unchanged: exact
    assert same(masked_ssim(edit, original, mask, variant="skimage"), skimage_ssim)
    by_skimage = background_metrics(edit, original, mask, variant="skimage")
    assert same(by_skimage["bg_ssim"], skimage_ssim)
    return got


def _case(rng, h=45, w=61, mask_kind="bool", background_changed=True):
    original = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    inside = np.zeros((h, w), bool)
    inside[h // 4 : h // 2, w // 5 : w // 2] = True
    edit = original.copy()
    edit[inside] = rng.integers(0, 256, (int(inside.sum()), 3), dtype=np.uint8)
    if background_changed:
        noise = rng.integers(-20, 21, original.shape)
        edit = np.clip(edit.astype(int) + noise, 0, 255).astype(np.uint8)
    if mask_kind == "bool":
        mask = inside
    elif mask_kind == "float32":
        mask = inside.astype(np.float32)
    else:  # soft: feathered edge, values strictly between 0 and 1 around the box
        mask = np.clip(ndimage.gaussian_filter(inside.astype(np.float64), 2.0) * 1.5, 0, 1)
    return edit, original, mask


@pytest.mark.parametrize("mask_kind", ["bool", "float32", "soft"])
@pytest.mark.parametrize("background_changed", [True, False])
def test_metrics_match_the_reference(rng, mask_kind, background_changed):
    edit, original, mask = _case(rng, mask_kind=mask_kind, background_changed=background_changed)
    got = assert_matches_reference(edit, original, mask)
    if not background_changed and mask_kind != "soft":
        assert got == {"bg_mse": 0.0, "bg_psnr": math.inf, "bg_ssim": 1.0}


def test_soft_mask_edge_counts_as_background(rng):
    # a change where the mask is 0.999 is still (weakly) in the background: not identical
    edit, original, _ = _case(rng, background_changed=False)
    mask = np.zeros(original.shape[:2])
    mask[5, 5] = 0.999
    edit = original.copy()
    edit[5, 5] = original[5, 5] ^ 1
    got = assert_matches_reference(edit, original, mask)
    assert got["bg_mse"] > 0 and got["bg_ssim"] < 1
    mask[5, 5] = 1.0  # fully masked: the same change no longer counts
    assert assert_matches_reference(edit, original, mask)["bg_mse"] == 0.0


@pytest.mark.parametrize("y, x, channel", [(0, 0, 0), (0, -1, 2), (-1, 0, 1), (-1, -1, 2)])
def test_one_changed_value_anywhere_in_the_background_counts(rng, y, x, channel):
    edit, original, mask = _case(rng, background_changed=False)
    edit[y, x, channel] ^= 0x80
    got = assert_matches_reference(edit, original, mask)
    assert got["bg_mse"] > 0 and got["bg_psnr"] < math.inf and got["bg_ssim"] < 1


def test_empty_and_full_masks(rng):
    edit, original, _ = _case(rng)
    h, w = original.shape[:2]
    for empty in (np.zeros((h, w), bool), np.zeros((h, w), np.float32)):
        got = assert_matches_reference(edit, original, empty)
        assert got["bg_mse"] > 0
        assert assert_matches_reference(original, original, empty)["bg_ssim"] == 1.0
    for full in (np.ones((h, w), bool), np.ones((h, w), np.float32)):
        got = assert_matches_reference(edit, original, full)
        assert all(math.isnan(v) for v in got.values())


def test_nan_in_the_mask_still_gives_nan(rng):
    edit, original, mask = _case(rng, mask_kind="float32", background_changed=False)
    mask[0, 0] = np.nan
    got = assert_matches_reference(edit, original, mask)
    assert all(math.isnan(v) for v in got.values())


@pytest.mark.parametrize("hw", [(1, 1), (1, 9), (2, 2), (3, 5), (6, 4), (11, 12), (13, 1)])
def test_tiny_images_mirror_like_ndimage(rng, hw):
    a = rng.random((*hw, 3))
    b = rng.random((*hw, 3))
    whole = background._ssim_gaussian(a, b, border=0)  # the map itself, every pixel averaged
    assert abs(whole - ref_ssim_gaussian(a, b, border=0)) <= SSIM_TOL
    assert same(background._ssim_gaussian(a, b), ref_ssim_gaussian(a, b), SSIM_TOL)


@pytest.mark.parametrize("values", [3, 200, 3 * 61 * 7])
def test_strip_boundaries_do_not_show(rng, monkeypatch, values):
    # a few rows per strip (1, 1 and 7 here) with a short last strip: same as one whole image
    monkeypatch.setattr(background, "_STRIP_ROWS_VALUES", values)
    a, b = ref_masked(*_case(rng, h=45, w=61))
    assert abs(background._ssim_gaussian(a, b) - ref_ssim_gaussian(a, b)) <= SSIM_TOL


def test_mirror_indices_are_ndimage_mirror_mode():
    for n in (1, 2, 3, 7):
        x = np.arange(n, dtype=float)
        padded = ndimage.correlate1d(x, np.eye(1, 11, 0)[0], mode="mirror")  # x[i - 5]
        np.testing.assert_array_equal(padded, x[background._mirror(-5, n - 5, n)])


def test_agrees_with_torchmetrics(rng):
    tmf = pytest.importorskip("torchmetrics.functional")
    import torch

    edit, original, mask = _case(rng, h=40, w=48)
    a, b = masked_background(edit, original, mask)

    def nchw(x):
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]

    got = background_metrics(edit, original, mask)
    # torchmetrics' map, averaged as the torchmetrics PIE-Bench ran with (up to 1.4.1) did
    _, ssim_map = tmf.structural_similarity_index_measure(
        nchw(a), nchw(b), data_range=1.0, return_full_image=True
    )
    ssim = ssim_map[..., 5:-5, 5:-5].mean().item()
    psnr = tmf.peak_signal_noise_ratio(nchw(a), nchw(b), data_range=1.0).item()
    assert abs(got["bg_ssim"] - ssim) <= 1e-5
    assert abs(got["bg_psnr"] - psnr) <= 1e-5
    assert abs(got["bg_mse"] - tmf.mean_squared_error(nchw(a), nchw(b)).item()) <= 1e-5


def test_masked_background_unchanged(rng):
    edit, original, mask = _case(rng, mask_kind="soft")
    a, b = masked_background(edit, original, mask)
    ra, rb = ref_masked(edit, original, mask)
    assert a.dtype == np.float64
    np.testing.assert_array_equal(a, ra)
    np.testing.assert_array_equal(b, rb)


def test_bad_inputs_are_refused_once(rng):
    edit, original, mask = _case(rng)
    with pytest.raises(InputError, match="mask"):
        background_metrics(edit, original, mask[1:])
    with pytest.raises(InputError, match="alpha"):
        background_metrics(edit, original, mask.astype(np.uint8) * 255)
    with pytest.raises(InputError, match="uint8"):
        background_metrics(edit.astype(np.float32), original, mask)
    with pytest.raises(InputError, match="same shape"):
        background_metrics(edit[1:], original, mask)
    with pytest.raises(InputError, match="variant"):
        background_metrics(edit, original, mask, variant="gaussian")  # type: ignore[arg-type]
