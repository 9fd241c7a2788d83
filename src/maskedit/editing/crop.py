"""Crop boxes around a mask and the model's working size: pure integer geometry, no I/O.

Boxes are (x0, y0, x1, y1) in image pixels with x1, y1 exclusive, so the full image is (0, 0, W, H).

diffusers' `VaeImageProcessor.get_crop_region` (the `padding_mask_crop` option) also pads the
mask's bounding box and shifts it inside the image, but then widens it to the model's aspect ratio
and resizes the crop to the model size. maskedit keeps the crop's own aspect and lets
`fit_long_side` pick the working size, and pastes back at native resolution, so that pixels outside
the mask stay bit-exact.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from maskedit.errors import InputError
from maskedit.masks.shape import check_mask


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise InputError(f"{name}: got {value!r}, expected an integer >= {minimum}")
    return int(value)


def _span(lo: int, hi: int, pad: int, min_side: int, size: int) -> tuple[int, int]:
    """Grow [lo, hi) by `pad` each side to at least `min_side`, at most `size`, kept inside."""
    want = min(max(hi - lo + 2 * pad, min_side), size)
    start = lo - (want - (hi - lo)) // 2
    start = min(max(start, 0), size - want)  # shift back inside rather than cut
    return start, start + want


def crop_box(
    mask: np.ndarray, margin: float = 0.25, min_side: int = 64
) -> tuple[int, int, int, int] | None:
    """Padded box around an H×W bool mask's pixels, or None when the mask is empty.

    Each side of the bounding box is padded by round_half_up(margin × its larger side); each box
    side is then at least `min_side` (when the image is that large). Where the padded box would
    leave the image it is shifted back inside, and only cut where the image is too small.
    Width and height are handled independently; the box always contains the mask's bounding box.
    """
    check_mask(mask)
    if isinstance(margin, bool) or not isinstance(margin, Real) or not math.isfinite(margin):
        raise InputError(f"margin: got {margin!r}, expected a finite number >= 0")
    if margin < 0:
        raise InputError(f"margin: got {margin!r}, expected a finite number >= 0")
    min_side = _check_int(min_side, "min_side", 0)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    pad = math.floor(margin * max(x1 - x0, y1 - y0) + 0.5)
    h, w = mask.shape
    bx0, bx1 = _span(x0, x1, pad, min_side, w)
    by0, by1 = _span(y0, y1, pad, min_side, h)
    return bx0, by0, bx1, by1


def _check_box(box: object, height: int, width: int) -> tuple[int, int, int, int]:
    ok = (
        isinstance(box, tuple | list)
        and len(box) == 4
        and all(isinstance(v, Integral) and not isinstance(v, bool) for v in box)
    )
    if ok:
        x0, y0, x1, y1 = (int(v) for v in box)
        if 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height:
            return x0, y0, x1, y1
    raise InputError(
        f"box: got {box!r}, expected integers (x0, y0, x1, y1) with "
        f"0 <= x0 < x1 <= {width} and 0 <= y0 < y1 <= {height}"
    )


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The (y1-y0)×(x1-x0)[×C] part of an H×W[×C] array inside `box` (a view, not a copy)."""
    if not isinstance(image, np.ndarray) or image.ndim < 2:
        raise InputError(f"image: got {getattr(image, 'shape', type(image))}, expected H×W[×C]")
    x0, y0, x1, y1 = _check_box(box, image.shape[0], image.shape[1])
    return image[y0:y1, x0:x1]


def paste(full: np.ndarray, patch: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A copy of H×W[×C] `full` with `patch` (box-sized, same dtype) written into `box`."""
    if not isinstance(full, np.ndarray) or full.ndim < 2:
        raise InputError(f"full: got {getattr(full, 'shape', type(full))}, expected H×W[×C]")
    x0, y0, x1, y1 = _check_box(box, full.shape[0], full.shape[1])
    expected = (y1 - y0, x1 - x0, *full.shape[2:])
    if not isinstance(patch, np.ndarray) or patch.shape != expected or patch.dtype != full.dtype:
        got = (patch.shape, patch.dtype) if isinstance(patch, np.ndarray) else type(patch)
        raise InputError(f"patch: got {got}, expected shape {expected} dtype {full.dtype}")
    out = full.copy()
    out[y0:y1, x0:x1] = patch
    return out


def fit_long_side(h: int, w: int, long_side: int, multiple: int) -> tuple[int, int]:
    """Model working size (h', w') for an h×w image: the aspect kept, the long side `long_side`.

    Each side is h·long_side/max(h, w) rounded half up to the nearest multiple of `multiple`
    (at least `multiple`), in exact integer arithmetic. The one rule for every model input size:
    e.g. (300, 451, 512, 64) → (320, 512).
    """
    h = _check_int(h, "h", 1)
    w = _check_int(w, "w", 1)
    long_side = _check_int(long_side, "long_side", 1)
    multiple = _check_int(multiple, "multiple", 1)
    big = max(h, w)

    def side(n: int) -> int:
        # round(n·L / (big·m)) half up == floor((2·n·L + big·m) / (2·big·m))
        k = (2 * n * long_side + big * multiple) // (2 * big * multiple)
        return max(k, 1) * multiple

    return side(h), side(w)
