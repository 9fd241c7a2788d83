"""Pure compositing at native resolution: the seed method, done right."""

from __future__ import annotations

import numpy as np


def alpha_composite(edit: np.ndarray, original: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`alpha * edit + (1 - alpha) * original` for H×W×3 uint8 images and an H×W alpha in [0, 1].

    Where alpha is 0 the output is the original bit for bit, where it is 1 the edit bit for bit;
    in between it is rounded to the nearest integer.
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
    a = np.clip(alpha.astype(np.float32), 0.0, 1.0)[..., None]
    mixed = np.round(a * edit.astype(np.float32) + (1.0 - a) * original.astype(np.float32))
    out = np.clip(mixed, 0, 255).astype(np.uint8)
    out = np.where(a == 0.0, original, out)  # exact, whatever float rounding did
    return np.where(a == 1.0, edit, out)
