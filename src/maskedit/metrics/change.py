"""Where did the edit change the image? Change maps, their binarisation, IoU and leakage.

These are the seed study's locality metrics, corrected: IoU is reported per case and mIoU is the
mean over cases (the study called a single IoU "mIoU"). All functions are pure: arrays in, floats
or arrays out. See docs/metrics.md for the formulas and how they map to the study.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from maskedit.errors import InputError

STUDY_CHANGE_FLOOR = 10.0  # the study's floor on the change threshold, 0-255 scale


def _check_rgb_uint8(name: str, image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(
            f"{name}: expected an HxWx3 uint8 RGB array, got {image.dtype} of shape {image.shape}"
        )


def _check_bool_2d(name: str, mask: np.ndarray) -> None:
    if mask.dtype != np.bool_ or mask.ndim != 2:
        raise InputError(
            f"{name}: expected an HxW bool array, got {mask.dtype} of shape {mask.shape} "
            "(convert alpha with `alpha > 0.5`, never by dividing by 255)"
        )


def change_map(edit: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Per-pixel change, ``mean_c |edit - original|`` over RGB, on the 0-255 scale.

    Two HxWx3 uint8 images in, an HxW float32 map in [0, 255] out.
    """
    _check_rgb_uint8("edit", edit)
    _check_rgb_uint8("original", original)
    if edit.shape != original.shape:
        raise InputError(
            f"edit and original must have the same shape, got {edit.shape} and {original.shape}"
        )
    # int16 so that the difference of two uint8 values cannot wrap around
    diff = np.abs(edit.astype(np.int16) - original.astype(np.int16))
    return diff.mean(axis=2, dtype=np.float32)


def binarize_change(
    change: np.ndarray, threshold: float | None = None, floor: float = STUDY_CHANGE_FLOOR
) -> np.ndarray:
    """Changed pixels, ``change > t``: HxW float -> HxW bool.

    ``t`` is ``threshold`` when given; otherwise the study's adaptive ``max(floor, mean(change))``,
    so an image that barely changed is not all "changed" and a heavily changed one keeps only its
    above-average pixels.
    """
    if change.ndim != 2:
        raise InputError(f"change: expected an HxW array, got shape {change.shape}")
    t = max(floor, float(change.mean())) if threshold is None else float(threshold)
    return change > t


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two HxW bool masks, ``|a & b| / |a | b|``, in [0, 1].

    Two empty masks agree perfectly, so their IoU is 1.0 (not 0/0).
    """
    _check_bool_2d("a", a)
    _check_bool_2d("b", b)
    if a.shape != b.shape:
        raise InputError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    union = np.count_nonzero(a | b)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(a & b) / union)


def reference_iou(own: np.ndarray, reference: np.ndarray) -> float:
    """IoU of an editing mask with the benchmark mask it is scored against (alphas in [0, 1],
    binarised at 0.5): how well the mask source found the annotated region.

    PIE-Bench's reference marks the image's one-pixel border as edited in every case, to keep it
    out of the background metrics; a reference whose whole border ring is set is compared inside
    that ring, so an editing mask equal to the annotation scores 1.0, not less.
    """
    own, reference = np.asarray(own) > 0.5, np.asarray(reference) > 0.5
    ring = np.ones(reference.shape, bool)
    ring[1:-1, 1:-1] = False
    if min(reference.shape) > 2 and reference[ring].all():
        own, reference = own[1:-1, 1:-1], reference[1:-1, 1:-1]
    return iou(own, reference)


def miou(values: Iterable[float]) -> float:
    """Mean IoU over cases (one IoU per case in, one number out)."""
    values = [float(v) for v in values]
    if not values:
        raise InputError("miou: expected at least one IoU value, got none")
    return float(np.mean(values))


def leakage(change: np.ndarray, mask: np.ndarray) -> float:
    """Share of the change outside the mask, ``sum(change * (1 - m)) / sum(change)``, in [0, 1].

    ``change`` is an HxW change map (>= 0), ``mask`` an HxW bool mask or float alpha in [0, 1]
    (1 = edit allowed). 0.0 means every bit of change is inside the mask, 1.0 that all of it leaked.
    An image with no change at all has leaked nothing: 0.0.
    """
    if change.ndim != 2 or change.shape != mask.shape:
        raise InputError(
            f"change and mask must be HxW arrays of the same shape, got {change.shape} and "
            f"{mask.shape}"
        )
    if np.any(change < 0):
        raise InputError("change: expected a non-negative change map, got negative values")
    if mask.dtype != np.bool_ and (mask.min() < 0 or mask.max() > 1):
        raise InputError(
            f"mask: expected bool or alpha in [0, 1], got values in [{mask.min()}, {mask.max()}]"
        )
    change = change.astype(np.float64)
    total = change.sum()
    if total == 0:
        return 0.0
    outside = 1.0 - mask.astype(np.float64)
    return float((change * outside).sum() / total)


def area_fraction(alpha: np.ndarray) -> float:
    """Share of the image where the edit is allowed, ``mean(alpha > 0)``, in [0, 1].

    ``alpha`` is an HxW bool mask or float alpha in [0, 1]; a feathered edge counts as inside.
    """
    if alpha.ndim != 2:
        raise InputError(f"alpha: expected an HxW array, got shape {alpha.shape}")
    return float(np.mean(alpha > 0))


def max_change_outside(edit: np.ndarray, original: np.ndarray, alpha: np.ndarray) -> float:
    """``max |edit - original|`` over every channel of the pixels with ``alpha == 0``, 0-255 scale.

    Outside the mask a maskedit result equals the input bit for bit, so this must be 0; any
    other value is a leak. HxWx3 uint8 images and an HxW mask (bool or alpha in [0, 1]) in; a mask
    with no outside gives 0.0.
    """
    _check_rgb_uint8("edit", edit)
    _check_rgb_uint8("original", original)
    if edit.shape != original.shape or alpha.shape != original.shape[:2]:
        raise InputError(
            f"edit {edit.shape}, original {original.shape} and alpha {alpha.shape} must share HxW"
        )
    outside = alpha == 0
    if not outside.any():
        return 0.0
    diff = np.abs(edit[outside].astype(np.int16) - original[outside].astype(np.int16))
    return float(diff.max())
