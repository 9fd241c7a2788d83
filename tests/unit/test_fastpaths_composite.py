"""alpha_composite's binary-alpha fast path gives the float blend's pixels bit for bit.

The reference is the full-frame float formula the function used before the fast path (no box,
no shortcut), so any difference in rounding or in which pixels are touched shows up here.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from maskedit import composite
from maskedit.composite import alpha_composite


def blend_reference(edit: np.ndarray, original: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The slow formula over the whole frame: float32 blend, rounded, exact at alpha 0 and 1."""
    a = np.clip(alpha.astype(np.float32), 0.0, 1.0)[..., None]
    mixed = np.round(a * edit.astype(np.float32) + (1.0 - a) * original.astype(np.float32))
    blended = np.clip(mixed, 0, 255).astype(np.uint8)
    blended = np.where(a == 0.0, original, blended)
    return np.where(a == 1.0, edit, blended)


def _images(rng: np.random.Generator, h: int = 37, w: int = 53) -> tuple[np.ndarray, np.ndarray]:
    edit = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    original = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return edit, original


def _disk(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - 0.55 * h) ** 2 + (xx - 0.4 * w) ** 2 <= (0.3 * min(h, w)) ** 2


def _check(edit: np.ndarray, original: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    before_edit, before_original = edit.copy(), original.copy()
    out = alpha_composite(edit, original, alpha)
    assert out.dtype == np.uint8 and out.shape == original.shape
    np.testing.assert_array_equal(out, blend_reference(edit, original, alpha))
    assert not np.shares_memory(out, original) and not np.shares_memory(out, edit)
    np.testing.assert_array_equal(edit, before_edit)  # inputs untouched
    np.testing.assert_array_equal(original, before_original)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.uint8, np.bool_])
def test_binary_alpha_of_any_dtype_matches_the_blend(rng, dtype):
    edit, original = _images(rng)
    alpha = _disk(*original.shape[:2]).astype(dtype)
    assert composite._is_binary(alpha)
    out = _check(edit, original, alpha)
    inside = alpha.astype(bool)
    np.testing.assert_array_equal(out[inside], edit[inside])
    np.testing.assert_array_equal(out[~inside], original[~inside])


def test_bool_alpha_counts_true_as_one(rng):
    edit, original = _images(rng)
    mask = rng.random(original.shape[:2]) > 0.7  # scattered pixels, not one blob
    out = _check(edit, original, mask)
    np.testing.assert_array_equal(out, alpha_composite(edit, original, mask.astype(np.float32)))


def test_values_outside_0_1_clip_to_exact_0_and_1(rng):
    # after clipping these are binary: the fast path must give what the clipped blend gives
    edit, original = _images(rng)
    alpha = rng.choice(np.array([-3.0, -0.0, 0.0, 1.0, 1.5, 255.0, np.inf], np.float32), (37, 53))
    assert composite._is_binary(alpha)
    _check(edit, original, alpha)
    _check(edit, original, (alpha > 0).astype(np.uint8) * 255)  # an 8-bit 0/255 mask


def test_soft_alpha_keeps_the_float_blend(rng):
    edit, original = _images(rng)
    alpha = np.where(_disk(37, 53), 1.0, 0.0).astype(np.float32)
    alpha[10:14, 5:30] = rng.random((4, 25), dtype=np.float32)  # a feathered band
    alpha[0, 0] = 1e-7  # tiny but not 0: blended (and rounds to the original)
    alpha[1, 1] = np.float32(0.99999994)  # just below 1
    assert not composite._is_binary(alpha)
    _check(edit, original, alpha)


def test_nan_alpha_is_not_taken_for_binary(rng):
    alpha = np.zeros((4, 4), np.float32)
    alpha[1, 1] = np.nan
    assert not composite._is_binary(alpha)


def test_empty_mask_returns_a_copy_of_the_original(rng):
    edit, original = _images(rng)
    for alpha in (np.zeros((37, 53), np.float32), np.zeros((37, 53), bool)):
        out = _check(edit, original, alpha)
        np.testing.assert_array_equal(out, original)


def test_full_mask_returns_the_edit(rng):
    edit, original = _images(rng)
    for alpha in (np.ones((37, 53), np.float32), np.ones((37, 53), bool)):
        out = _check(edit, original, alpha)
        np.testing.assert_array_equal(out, edit)


@pytest.mark.parametrize("hw", [(1, 1), (1, 7), (9, 1), (2, 3)])
def test_tiny_images(rng, hw):
    edit, original = _images(rng, *hw)
    for alpha in (rng.random(hw) > 0.5, (rng.random(hw) > 0.5).astype(np.float32)):
        _check(edit, original, alpha)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.tuples(st.integers(1, 30), st.integers(1, 30)).flatmap(
        lambda hw: st.tuples(
            arrays(np.uint8, (*hw, 3)),
            arrays(np.uint8, (*hw, 3)),
            arrays(np.float32, hw, elements=st.sampled_from([0.0, 1.0, -1.0, 2.0, 0.5, 1e-7])),
        )
    )
)
def test_fuzz_matches_the_blend(data):
    edit, original, alpha = data
    _check(edit, original, alpha)
    _check(edit, original, alpha > 0)
