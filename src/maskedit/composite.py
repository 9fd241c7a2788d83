"""Pure compositing at native resolution: the seed method, done right."""

from __future__ import annotations

import numpy as np


def _is_binary(alpha: np.ndarray) -> bool:
    """True when every value is <= 0 or >= 1, i.e. clipping makes it exactly 0 or 1.

    Bool and integer alpha always are. NaN is neither, so it keeps the float blend (as before).
    """
    if alpha.dtype.kind in "biu":
        return True
    return bool(np.all((alpha <= 0) | (alpha >= 1)))


def alpha_composite(edit: np.ndarray, original: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`alpha * edit + (1 - alpha) * original` for H×W×3 uint8 images and an H×W alpha in [0, 1].

    Where alpha is 0 the output is the original bit for bit, where it is 1 the edit bit for bit;
    in between it is rounded to the nearest integer. Bool alpha counts True as 1.
    """
    if edit.shape != original.shape or edit.dtype != np.uint8 or original.dtype != np.uint8:
        raise ValueError(
            f"alpha_composite: edit {edit.shape} {edit.dtype} and original {original.shape} "
            f"{original.dtype} must be the same shape, uint8"
        )
    if alpha.shape != original.shape[:2]:
        raise ValueError(
            f"alpha_composite: alpha {alpha.shape} does not match image {original.shape[:2]}"
        )
    out = original.copy()  # outside the mask: the input, bit for bit
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        return out
    cols = np.flatnonzero(alpha.any(axis=0))
    # Blend only inside the mask's bounding box: a 10 % mask on a 4096² photo then costs about
    # a tenth of a full-frame blend (the composite dominated crop's overhead at that size).
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    e, o = edit[box], original[box]
    if edit.ndim == 3 and _is_binary(alpha[box]):
        # Hard mask (the default, feathering off): the blend below would give exactly the edit
        # where alpha is 1 and the original where 0, so copy those pixels instead (~5x faster).
        # The mask is repeated over the channels because a contiguous `where` copies several
        # times faster than a broadcast one.
        h, w, c = e.shape
        take = np.repeat(alpha[box] > 0, c, axis=1).reshape(h, w, c)
        np.copyto(out[box], e, where=take)
        return out
    a = np.clip(alpha[box].astype(np.float32), 0.0, 1.0)[..., None]
    mixed = np.round(a * e.astype(np.float32) + (1.0 - a) * o.astype(np.float32))
    blended = np.clip(mixed, 0, 255).astype(np.uint8)
    blended = np.where(a == 0.0, o, blended)  # exact, whatever float rounding did
    out[box] = np.where(a == 1.0, e, blended)
    return out


def composite_regions(
    original: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Several regions' edits laid over `original` in order, each inside its own alpha.

    Each layer is `(edit, alpha)`: an H×W×3 uint8 edit already composited over `original` inside
    its H×W alpha in [0, 1] (what `alpha_composite` gives). Where a layer's alpha is 1 its pixels
    are taken bit for bit, so the later region wins where masks overlap; where it is 0 the layers
    below show; in between, what the earlier layers changed shows through by (1 − alpha):
    ``edit + (1 − alpha)·(below − original)``, which is ``alpha·m + (1 − alpha)·below`` for the
    region's raw edit m. Where no earlier layer changed a pixel that is `edit` bit for bit, and
    outside every alpha the output is `original` bit for bit.
    """
    out = original.copy()
    for edit, alpha in layers:
        if edit.shape != original.shape or alpha.shape != original.shape[:2]:
            raise ValueError(
                f"composite_regions: edit {edit.shape} and alpha {alpha.shape} must match the "
                f"original {original.shape}"
            )
        rows = np.flatnonzero(alpha.any(axis=1))
        if rows.size == 0:
            continue
        cols = np.flatnonzero(alpha.any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        a = np.clip(alpha[box].astype(np.float32), 0.0, 1.0)[..., None]
        e, o, below = edit[box], original[box], out[box]
        changed = below.astype(np.float32) - o.astype(np.float32)
        mixed = np.clip(np.round(e.astype(np.float32) + (1.0 - a) * changed), 0, 255)
        mixed = np.where(a == 1.0, e, mixed.astype(np.uint8))  # exact, whatever float did
        out[box] = np.where(a > 0.0, mixed, below)
    return out
