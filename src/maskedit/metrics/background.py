"""Background preservation outside the mask, PIE-Bench protocol (Ju et al. 2024, Direct Inversion).

PIE-Bench's evaluation code scales both images to [0, 1], multiplies each by (1 - mask) and
compares the two whole images: masked-out pixels are zero in both, so they count as perfect
agreement and stay in the denominators. These functions reproduce that, and return NaN, as
PIE-Bench does, when the mask covers the whole image and there is no background to score.
See docs/metrics.md.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

from maskedit.errors import InputError

SSIM_SIGMA = 1.5  # torchmetrics' default Gaussian window (11 taps after truncation at 3.5 sigma)
SSIM_K1, SSIM_K2 = 0.01, 0.03


def masked_background(
    edit: np.ndarray, original: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Both images on [0, 1], times ``1 - mask``: HxWx3 uint8 x2 + HxW mask -> two HxWx3 float64.

    ``mask`` is HxW bool or float alpha in [0, 1], 1 = edit allowed (the foreground).
    """
    for name, image in (("edit", edit), ("original", original)):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InputError(
                f"{name}: expected an HxWx3 uint8 RGB array, got {image.dtype} of shape "
                f"{image.shape}"
            )
    if edit.shape != original.shape:
        raise InputError(
            f"edit and original must have the same shape, got {edit.shape} and {original.shape}"
        )
    if mask.shape != edit.shape[:2]:
        raise InputError(f"mask: expected shape {edit.shape[:2]}, got {mask.shape}")
    if mask.dtype != np.bool_ and (mask.min() < 0 or mask.max() > 1):
        raise InputError(
            f"mask: expected bool or alpha in [0, 1], got values in [{mask.min()}, {mask.max()}]"
        )
    keep = (1.0 - mask.astype(np.float64))[..., None]
    return edit / 255.0 * keep, original / 255.0 * keep


def _has_background(mask: np.ndarray) -> bool:
    return bool(np.any(mask < 1)) if mask.dtype != np.bool_ else not bool(mask.all())


def masked_mse(edit: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared error of the masked images on [0, 1], averaged over all HxWx3 values.

    Multiply by 255**2 for the 0-255 scale; PIE-Bench's tables print this value x 10^4.
    """
    a, b = masked_background(edit, original, mask)
    if not _has_background(mask):
        return math.nan
    return float(np.mean((a - b) ** 2))


def masked_psnr(edit: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB of the masked images, ``10 log10(1 / mse)`` on [0, 1].

    That is the same number as data range 255 on the 0-255 scale (PSNR does not depend on the
    scale). Identical backgrounds give ``inf``.
    """
    mse = masked_mse(edit, original, mask)
    if math.isnan(mse):
        return math.nan
    if mse == 0:
        return math.inf
    return float(10.0 * math.log10(1.0 / mse))


def _ssim_gaussian(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """torchmetrics' SSIM: 11-tap Gaussian (sigma 1.5), mirror padding, mean over every pixel.

    Unlike skimage, torchmetrics keeps the border pixels (computed on mirror-padded input), so this
    reimplements it with scipy rather than calling skimage: the two differ by ~1e-2.
    """

    def blur(x: np.ndarray) -> np.ndarray:
        # sigma 0 on the channel axis: each channel is filtered on its own
        sigma = (SSIM_SIGMA, SSIM_SIGMA, 0.0)
        return ndimage.gaussian_filter(x, sigma=sigma, mode="mirror", truncate=3.5)

    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = np.maximum(blur(a * a) - mu_a**2, 0.0)
    var_b = np.maximum(blur(b * b) - mu_b**2, 0.0)
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return float(ssim_map.mean())


def masked_ssim(
    edit: np.ndarray,
    original: np.ndarray,
    mask: np.ndarray,
    *,
    variant: Literal["pie", "skimage"] = "pie",
) -> float:
    """SSIM of the masked images on [0, 1] (data range 1), in [-1, 1]; 1 = identical.

    ``variant="pie"`` (default) matches PIE-Bench, which uses torchmetrics'
    ``StructuralSimilarityIndexMeasure`` (Gaussian window, sigma 1.5, borders kept).
    ``variant="skimage"`` is ``skimage.metrics.structural_similarity`` with its defaults (7x7
    uniform window, sample covariance, borders cropped), as many other papers report it.
    """
    if variant not in ("pie", "skimage"):
        raise InputError(f"masked_ssim: variant must be 'pie' or 'skimage', got {variant!r}")
    a, b = masked_background(edit, original, mask)
    if not _has_background(mask):
        return math.nan
    if np.array_equal(a, b):  # every masked method's background: SSIM is exactly 1, no filtering
        return 1.0
    if variant == "pie":
        return _ssim_gaussian(a, b, data_range=1.0)
    return float(structural_similarity(a, b, channel_axis=-1, data_range=1.0))
