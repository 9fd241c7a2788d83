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
SSIM_TRUNCATE = 3.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _check_inputs(edit: np.ndarray, original: np.ndarray, mask: np.ndarray) -> None:
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


def _masked(
    edit: np.ndarray, original: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    # in place: the same values as `edit / 255.0 * keep`, without a third 8-byte-per-value array
    keep = (1.0 - mask.astype(np.float64))[..., None]
    a = edit / 255.0
    a *= keep
    b = original / 255.0
    b *= keep
    return a, b


def masked_background(
    edit: np.ndarray, original: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Both images on [0, 1], times ``1 - mask``: HxWx3 uint8 x2 + HxW mask -> two HxWx3 float64.

    ``mask`` is HxW bool or float alpha in [0, 1], 1 = edit allowed (the foreground).
    """
    _check_inputs(edit, original, mask)
    return _masked(edit, original, mask)


def _has_background(mask: np.ndarray) -> bool:
    return bool(np.any(mask < 1)) if mask.dtype != np.bool_ else not bool(mask.all())


def _same_background(edit: np.ndarray, original: np.ndarray, mask: np.ndarray) -> bool:
    """Whether both masked images are equal, decided on the uint8 inputs (no float arrays).

    They are equal exactly when the images agree wherever ``1 - mask > 0`` (a weight > 0 keeps
    distinct uint8 values distinct). True for every maskedit method without feathering, so only
    the baseline pays for the float images and the SSIM filters. NaN weights make both images
    NaN there, never equal, as before.
    """
    if mask.dtype.kind == "f" and np.isnan(mask).any():
        return False
    background = ~mask if mask.dtype == np.bool_ else mask < 1
    differ = edit != original
    differ &= background[..., None]
    return not differ.any()


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    d = a - b
    np.square(d, out=d)  # the same values as (a - b) ** 2, one array fewer
    return float(np.mean(d))


def _psnr(mse: float) -> float:
    if math.isnan(mse):
        return math.nan
    if mse == 0:
        return math.inf
    return float(10.0 * math.log10(1.0 / mse))


def masked_mse(edit: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared error of the masked images on [0, 1], averaged over all HxWx3 values.

    Multiply by 255**2 for the 0-255 scale; PIE-Bench's tables print this value x 10^4.
    """
    _check_inputs(edit, original, mask)
    if not _has_background(mask):
        return math.nan
    if _same_background(edit, original, mask):
        return 0.0
    return _mse(*_masked(edit, original, mask))


def masked_psnr(edit: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB of the masked images, ``10 log10(1 / mse)`` on [0, 1].

    That is the same number as data range 255 on the 0-255 scale (PSNR does not depend on the
    scale). Identical backgrounds give ``inf``.
    """
    return _psnr(masked_mse(edit, original, mask))


SSIM_RADIUS = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)  # scipy's radius for these settings: 5
_STRIP_ROWS_VALUES = 1 << 20  # values per strip: its float64 temporaries stay cache-sized


def _mirror(lo: int, hi: int, n: int) -> np.ndarray:
    """Row indices lo..hi-1 folded into [0, n) as ndimage's mode="mirror" (d c b | a b c d)."""
    i = np.arange(lo, hi)
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = np.abs(i) % period
    return np.where(i >= n, period - i, i)


def _ssim_gaussian(
    a: np.ndarray, b: np.ndarray, data_range: float = 1.0, border: int = SSIM_RADIUS
) -> float:
    """torchmetrics' SSIM as PIE-Bench ran it: 11-tap Gaussian (sigma 1.5), mirror padding, mean
    over the pixels at least ``border`` from every edge (NaN when there is none).

    torchmetrics up to 1.4.1, which PIE-Bench's evaluation used, mirror-pads by the window's radius
    (5) and then leaves that many pixels out at each side of the SSIM map; 1.4.2 and later average
    the whole map (``border=0``). Either way it is not skimage's (uniform window, sample
    covariance): the two differ by ~1e-2, so this reimplements it with scipy. The image is filtered
    in strips of rows, each with `SSIM_RADIUS` mirrored rows of context above and below: the
    separable filter then gives every kept pixel exactly its whole-image value, while the ten
    float64 temporaries stay strip-sized instead of 400 MB each at 4096² (about 3× faster there).
    Only the order in which the mean adds the pixels changes (~1e-16).
    """

    def blur(x: np.ndarray) -> np.ndarray:
        # sigma 0 on the channel axis: each channel is filtered on its own
        sigma = (SSIM_SIGMA, SSIM_SIGMA, 0.0)
        return ndimage.gaussian_filter(x, sigma=sigma, mode="mirror", truncate=SSIM_TRUNCATE)

    h, w, c = a.shape
    if h <= 2 * border or w <= 2 * border:
        return math.nan
    r = SSIM_RADIUS
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    rows = max(1, _STRIP_ROWS_VALUES // (w * c))
    columns = slice(border, w - border)
    total = 0.0
    for y0 in range(border, h - border, rows):
        n = min(rows, h - border - y0)
        take = _mirror(y0 - r, y0 + n + r, h)
        sa, sb = a[take], b[take]
        keep = (slice(r, r + n), columns)  # the strip itself; context rows only feed the filter
        mu_a, mu_b = blur(sa)[keep], blur(sb)[keep]
        var_a = np.maximum(blur(sa * sa)[keep] - mu_a**2, 0.0)
        var_b = np.maximum(blur(sb * sb)[keep] - mu_b**2, 0.0)
        cov = blur(sa * sb)[keep] - mu_a * mu_b
        ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
            (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
        )
        total += float(ssim_map.sum())
    return total / ((h - 2 * border) * (w - 2 * border) * c)


def _ssim(a: np.ndarray, b: np.ndarray, variant: str) -> float:
    if variant == "pie":
        return _ssim_gaussian(a, b, data_range=1.0)
    return float(structural_similarity(a, b, channel_axis=-1, data_range=1.0))


SKIMAGE_WIN_SIZE = 7  # scikit-image's default SSIM window: an image's side must hold it


def _too_small_for(variant: str, image: np.ndarray) -> bool:
    """Whether the variant's SSIM has no pixel to average: PIE-Bench's has none `SSIM_RADIUS`
    from every edge; scikit-image's 7x7 window does not fit (it would raise)."""
    side = min(image.shape[:2])
    return side <= 2 * SSIM_RADIUS if variant == "pie" else side < SKIMAGE_WIN_SIZE


def _check_variant(variant: str) -> None:
    if variant not in ("pie", "skimage"):
        raise InputError(f"masked_ssim: variant must be 'pie' or 'skimage', got {variant!r}")


def masked_ssim(
    edit: np.ndarray,
    original: np.ndarray,
    mask: np.ndarray,
    *,
    variant: Literal["pie", "skimage"] = "pie",
) -> float:
    """SSIM of the masked images on [0, 1] (data range 1), in [-1, 1]; 1 = identical.

    ``variant="pie"`` (default) matches PIE-Bench, which uses torchmetrics'
    ``StructuralSimilarityIndexMeasure`` (Gaussian window, sigma 1.5, mirror padding) of the
    torchmetrics it ran with (up to 1.4.1): the mean leaves out the 5 pixels nearest each edge,
    so an image of 10 pixels or fewer on a side has no SSIM (NaN).
    ``variant="skimage"`` is ``skimage.metrics.structural_similarity`` with its defaults (7x7
    uniform window, sample covariance, borders cropped), as many other papers report it; an
    image under 7 pixels on a side has none (NaN).
    """
    _check_variant(variant)
    _check_inputs(edit, original, mask)
    if not _has_background(mask) or _too_small_for(variant, edit):
        return math.nan
    if _same_background(edit, original, mask):  # every masked method's background: exactly 1
        return 1.0
    return _ssim(*_masked(edit, original, mask), variant)


def background_metrics(
    edit: np.ndarray,
    original: np.ndarray,
    mask: np.ndarray,
    *,
    variant: Literal["pie", "skimage"] = "pie",
) -> dict[str, float]:
    """``{"bg_mse", "bg_psnr", "bg_ssim"}`` as masked_mse / masked_psnr / masked_ssim give them.

    Checks the inputs and builds the masked images once instead of three times. An output equal
    to the original outside the mask (every maskedit method without feathering) costs one uint8
    comparison: MSE 0, PSNR inf, SSIM 1. No background (a full mask): all three NaN. An image
    too small for the variant's SSIM (10 pixels or fewer on a side for PIE-Bench's, under 7 for
    scikit-image's) has SSIM NaN.
    """
    _check_variant(variant)
    _check_inputs(edit, original, mask)
    if not _has_background(mask):
        return {"bg_mse": math.nan, "bg_psnr": math.nan, "bg_ssim": math.nan}
    ssim = math.nan if _too_small_for(variant, edit) else None
    if _same_background(edit, original, mask):
        return {"bg_mse": 0.0, "bg_psnr": math.inf, "bg_ssim": 1.0 if ssim is None else ssim}
    a, b = _masked(edit, original, mask)
    mse = _mse(a, b)
    ssim = _ssim(a, b, variant) if ssim is None else ssim
    return {"bg_mse": mse, "bg_psnr": _psnr(mse), "bg_ssim": ssim}
