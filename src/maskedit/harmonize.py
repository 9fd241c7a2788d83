"""Hide the seam between an edited region and the untouched photo: Poisson blending, colour shift.

Both take H×W×3 uint8 RGB `edit` and `original` and an H×W bool `mask`, and return H×W×3 uint8
that equals `original` bit for bit wherever the mask is False.
"""

from __future__ import annotations

from numbers import Integral

import cv2
import numpy as np

from maskedit.errors import InputError
from maskedit.masks.shape import check_mask, dilate

# cv2.seamlessClone (OpenCV 4.x/5.x) pins the pixels on the edge of the mask's bounding box to the
# destination and erodes the mask by 3 px (a cross, 3 times) before taking the source's gradients,
# so a 1-pixel mask crashes and a thin one has no effect. We clone through the mask grown by
# _GROW px, so every mask pixel lies well inside the cloned region, and restore the original
# outside the mask afterwards. _PAD keeps that grown mask off the (padded) image border, which
# seamlessClone zeroes.
_GROW = 5
_PAD = _GROW + 3


def _check_pair(edit: object, original: object, mask: object) -> np.ndarray:
    for name, image in (("edit", edit), ("original", original)):
        if (
            not isinstance(image, np.ndarray)
            or image.dtype != np.uint8
            or image.ndim != 3
            or image.shape[2] != 3
        ):
            got = (image.shape, image.dtype) if isinstance(image, np.ndarray) else type(image)
            raise InputError(f"{name}: got {got}, expected an H×W×3 uint8 RGB array")
    m = check_mask(mask)
    if edit.shape != original.shape or m.shape != original.shape[:2]:
        raise InputError(
            f"edit/original/mask: got shapes {edit.shape}, {original.shape}, {m.shape}, "
            "expected H×W×3, H×W×3, H×W of the same H×W"
        )
    return m


def poisson_blend(edit: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson (gradient-domain) blend of `edit` into `original` inside `mask` → H×W×3 uint8.

    Inside the mask the result follows the edit's gradients and meets the original at the seam
    (OpenCV NORMAL_CLONE). Inputs are padded by a reflected border so masks touching the image
    border blend like any other (at the border itself they keep the edit's values, as there is
    no original beyond it to match); an empty mask returns a copy of the original, a full one a
    copy of the edit.
    """
    m = _check_pair(edit, original, mask)
    if not m.any():
        return original.copy()
    if m.all():  # no seam: nothing of the original to meet (an all-ones mask gives the edit)
        return edit.copy()
    p = _PAD
    pad3 = ((p, p), (p, p), (0, 0))
    src = np.pad(edit, pad3, mode="symmetric")  # == cv2.BORDER_REFLECT
    # Beyond the image border there is no original to match: mirror the composite there, so a
    # mask touching the border keeps the edit's own values at the border and meets the original
    # only at the seam inside the image.
    composite = np.where(m[..., None], edit, original)
    dst = np.pad(composite, pad3, mode="symmetric")
    dst[p:-p, p:-p] = original
    grown = np.pad(m, p).astype(np.uint8) * 255
    grown = cv2.dilate(grown, np.ones((2 * _GROW + 1, 2 * _GROW + 1), np.uint8))
    x, y, w, h = cv2.boundingRect(grown)
    # seamlessClone places the source's mask box at (cx - w//2, cy - h//2): the same place.
    centre = (x + w // 2, y + h // 2)
    cloned = cv2.seamlessClone(src, dst, grown, centre, cv2.NORMAL_CLONE)[p:-p, p:-p]
    return np.where(m[..., None], cloned, original)


def match_color(
    edit: np.ndarray, original: np.ndarray, mask: np.ndarray, ring_px: int = 8
) -> np.ndarray:
    """Shift the edit's colour inside `mask` so the seam matches the original → H×W×3 uint8.

    Instruction editors often shift the whole image's colour or brightness. Per channel c, with
    the ring = pixels within `ring_px` (Euclidean) outside the mask, the offset is
    mean(original[ring, c]) - mean(edit[ring, c]); the result is clip(round(edit + offset)) inside
    the mask and the original outside. No ring (ring_px 0, or a mask covering the image): no shift.
    """
    m = _check_pair(edit, original, mask)
    if isinstance(ring_px, bool) or not isinstance(ring_px, Integral) or ring_px < 0:
        raise InputError(f"ring_px: got {ring_px!r}, expected an integer >= 0")
    if not m.any():
        return original.copy()
    ring = dilate(m, int(ring_px)) & ~m
    offset = np.zeros(3)
    if ring.any():
        offset = original[ring].mean(axis=0) - edit[ring].mean(axis=0)
    shifted = np.clip(np.rint(edit.astype(np.float64) + offset), 0, 255).astype(np.uint8)
    return np.where(m[..., None], shifted, original)
