"""Mask morphology and soft edges: bool H×W masks in, bool masks or float32 alpha in [0, 1] out.

Pure numpy/scipy: no I/O. Distances are exact Euclidean (scipy's EDT), so a "disk of radius px"
is the set of offsets (dy, dx) with dy² + dx² <= px², and the cost does not grow with px.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from scipy import ndimage as ndi
from scipy.special import ndtr

from maskedit.errors import InputError

# 8-connectivity for objects; scipy's default cross (4-connectivity) is then the matching
# connectivity for the background, which is what fill_holes uses.
_EIGHT = np.ones((3, 3), dtype=bool)

# Feathering ramps over distances 0..3σ (see `feather`).
_FEATHER_SPAN = 3.0
_PHI_LO = float(ndtr(-_FEATHER_SPAN / 2))
_PHI_HI = float(ndtr(_FEATHER_SPAN / 2))


def check_mask(mask: object, name: str = "mask") -> np.ndarray:
    """Return `mask` if it is an H×W bool array (H, W >= 1); raise InputError naming `name`."""
    if not isinstance(mask, np.ndarray):
        raise InputError(f"{name}: got {type(mask).__name__}, expected an H×W bool numpy array")
    if mask.dtype != np.bool_ or mask.ndim != 2 or mask.size == 0:
        raise InputError(
            f"{name}: got shape {mask.shape} dtype {mask.dtype}, "
            "expected a non-empty H×W bool array"
        )
    return mask


def _check_int(value: object, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise InputError(f"{name}: got {value!r}, expected an integer >= {minimum}")
    return int(value)


def _check_sigma(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise InputError(f"{name}: got {value!r}, expected a finite number >= 0")
    if value < 0:
        raise InputError(f"{name}: got {value!r}, expected a finite number >= 0")
    return float(value)


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """Grow an H×W bool mask by a disk of radius `px` (0: a copy). Returns H×W bool.

    Pixels outside the image are background: they add nothing to the result.
    """
    check_mask(mask)
    px = _check_int(px, "px")
    if px == 0 or not mask.any():
        return mask.copy()
    # Distance from every pixel to the nearest mask pixel; the disk test is `<= px`.
    return ndi.distance_transform_edt(~mask) <= px


def erode(mask: np.ndarray, px: int) -> np.ndarray:
    """Shrink an H×W bool mask by a disk of radius `px` (0: a copy). Returns H×W bool.

    Border rule: pixels outside the image copy the nearest image pixel (edge replication, like
    OpenCV's BORDER_REPLICATE). So the image border itself never eats into the mask: a mask that
    touches the border along a stretch wider than the disk still touches it after erosion.
    """
    check_mask(mask)
    px = _check_int(px, "px")
    if px == 0 or mask.all() or not mask.any():
        return mask.copy()
    padded = np.pad(mask, px, mode="edge")
    # Distance from every mask pixel to the nearest non-mask pixel; keep those farther than px.
    kept = ndi.distance_transform_edt(padded) > px
    return kept[px:-px, px:-px]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not connected (4-connectivity) to the image border. H×W bool."""
    check_mask(mask)
    return ndi.binary_fill_holes(mask)


_fill_holes = fill_holes  # `shape_mask`'s keyword argument shadows the function's name


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep the largest 8-connected component (ties: first in raster order); empty stays empty."""
    check_mask(mask)
    labels, count = ndi.label(mask, structure=_EIGHT)
    if count == 0:
        return mask.copy()
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0  # background
    return labels == int(np.argmax(sizes))


def feather(mask: np.ndarray, sigma_px: float) -> np.ndarray:
    """Soft edge inside `mask`: H×W bool → H×W float32 alpha in [0, 1].

    Why inside: callers dilate first, so the soft ramp falls in the dilated ring outside the
    object while alpha is exactly 0 wherever the mask is False (the output is the input there).

    Rule, with d the Euclidean distance from a pixel to the nearest False pixel *of the image*
    (the image border is not "outside the mask", so a mask touching it stays 1 there)::

        alpha = 0                                        if mask is False (d = 0)
        alpha = 1                                        if d >= 3σ
        alpha = (Φ((d - 1.5σ)/σ) - Φ(-1.5)) / (Φ(1.5) - Φ(-1.5))   otherwise

    i.e. the profile of a step blurred by a Gaussian of std σ, centred 1.5σ inside the edge and
    rescaled so it reaches 0 and 1 exactly. It is strictly increasing in d on (0, 3σ].
    sigma_px = 0 (or < 1/3, where every mask pixel has d >= 1 >= 3σ) gives mask.astype(float32).
    """
    check_mask(mask)
    sigma = _check_sigma(sigma_px, "sigma_px")
    if sigma == 0 or mask.all() or not mask.any():
        return mask.astype(np.float32)
    d = ndi.distance_transform_edt(mask)
    span = _FEATHER_SPAN * sigma
    ramp = (ndtr((np.minimum(d, span) - span / 2) / sigma) - _PHI_LO) / (_PHI_HI - _PHI_LO)
    alpha = np.where(d >= span, 1.0, np.clip(ramp, 0.0, 1.0))
    alpha[~mask] = 0.0
    return alpha.astype(np.float32)


def shape_mask(
    mask: np.ndarray,
    *,
    dilate_px: int = 0,
    erode_px: int = 0,
    feather_px: float = 0.0,
    fill_holes: bool = False,
    largest_only: bool = False,
) -> np.ndarray:
    """Clean up and soften a segmentation: H×W bool → H×W float32 alpha in [0, 1].

    Order: fill holes → largest component → erode → dilate → feather.
    Topology first, so specks are dropped and holes closed before they are grown; erode before
    dilate so erosion removes thin spurs and noise (an opening when both are equal) and dilation
    then adds the safety margin; feather last and inside the final mask, so alpha is exactly 0
    outside the dilated mask and the seam lies in the dilated ring, outside the object.
    """
    check_mask(mask)
    dilate_px = _check_int(dilate_px, "dilate_px")
    erode_px = _check_int(erode_px, "erode_px")
    _check_sigma(feather_px, "feather_px")
    shaped = mask
    if fill_holes:
        shaped = _fill_holes(shaped)
    if largest_only:
        shaped = largest_component(shaped)
    shaped = erode(shaped, erode_px)
    shaped = dilate(shaped, dilate_px)
    return feather(shaped, feather_px)


def to_latent_mask(
    alpha: np.ndarray, latent_hw: tuple[int, int], dilate_cells: int = 1
) -> np.ndarray:
    """Alpha H×W (float in [0, 1], or bool) → float32 (h, w) mask for latent blending.

    Area-max pooling: each latent cell takes the max over every pixel its area overlaps
    (rows floor(i·H/h) .. ceil((i+1)·H/h)), so any pixel with alpha > 0 reaches at least one cell
    and sizes need not divide. Then a (2k+1)×(2k+1) max filter (k = dilate_cells) grows it by whole
    cells, so thin masks survive the ÷8 and the latent edit region covers the pixel one.
    """
    if not isinstance(alpha, np.ndarray) or alpha.ndim != 2 or alpha.size == 0:
        got = alpha.shape if isinstance(alpha, np.ndarray) else type(alpha).__name__
        raise InputError(f"alpha: got {got}, expected a non-empty H×W array")
    if alpha.dtype != np.bool_ and not np.issubdtype(alpha.dtype, np.floating):
        raise InputError(f"alpha: got dtype {alpha.dtype}, expected float in [0, 1] or bool")
    a = alpha.astype(np.float32)
    if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1:
        raise InputError(
            f"alpha: got values in [{a.min()}, {a.max()}], expected finite values in [0, 1]"
        )
    if (
        not isinstance(latent_hw, tuple | list)
        or len(latent_hw) != 2
        or any(isinstance(v, bool) or not isinstance(v, Integral) or v < 1 for v in latent_hw)
    ):
        raise InputError(f"latent_hw: got {latent_hw!r}, expected (h, w) with positive integers")
    k = _check_int(dilate_cells, "dilate_cells")
    h, w = int(latent_hw[0]), int(latent_hw[1])
    big_h, big_w = a.shape
    rows = np.stack([a[(i * big_h) // h : -((-(i + 1) * big_h) // h)].max(0) for i in range(h)])
    out = np.stack(
        [rows[:, (j * big_w) // w : -((-(j + 1) * big_w) // w)].max(1) for j in range(w)], axis=1
    )
    if k > 0:
        out = ndi.maximum_filter(out, size=2 * k + 1, mode="constant", cval=0.0)
    return out.astype(np.float32)
