"""Poisson blending and colour matching: bit-exact outside the mask, hand-worked values inside."""

from __future__ import annotations

import numpy as np
import pytest

from maskedit.errors import InputError
from maskedit.harmonize import match_color, poisson_blend


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth-ish random RGB image in 50..150 so ±40 shifts never clip."""
    rng = np.random.default_rng(seed)
    return rng.integers(50, 151, (h, w, 3), dtype=np.uint8)


def box_mask(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


# --- poisson_blend ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mask",
    [
        box_mask(32, 40, 10, 20, 12, 25),  # odd × odd box
        box_mask(32, 40, 9, 21, 11, 27),  # even × even box
        box_mask(32, 40, 0, 8, 0, 40),  # touches top, left and right borders
        box_mask(32, 40, 31, 32, 39, 40),  # one pixel in the bottom-right corner
        box_mask(32, 40, 16, 17, 20, 21),  # one pixel in the middle
    ],
)
def test_poisson_reproduces_an_edit_that_only_changes_the_masked_pixels(mask):
    # edit == original outside the mask, so the Poisson solution with the original's boundary
    # values and the edit's gradients is the edit itself (up to the solver's rounding).
    original = texture(32, 40)
    edit = original.copy()
    edit[mask] = (230, 20, 120)
    out = poisson_blend(edit, original, mask)
    assert out.dtype == np.uint8 and out.shape == original.shape
    assert np.array_equal(out[~mask], original[~mask])
    assert np.abs(out[mask].astype(int) - edit[mask].astype(int)).max() <= 2


def test_poisson_removes_a_global_colour_shift():
    # the edit is the original + 40 everywhere: same gradients, so the blend is the original
    original = texture(32, 32, seed=1)
    edit = original + np.uint8(40)
    mask = box_mask(32, 32, 8, 24, 8, 24)
    out = poisson_blend(edit, original, mask)
    assert np.array_equal(out[~mask], original[~mask])
    assert np.abs(out.astype(int) - original.astype(int)).max() <= 2


def test_poisson_full_and_empty_masks():
    original = texture(16, 16)
    edit = texture(16, 16, seed=2)
    out = poisson_blend(edit, original, np.zeros((16, 16), bool))
    assert np.array_equal(out, original) and out is not original
    # with nothing of the original left to match, the whole-image blend is the edit itself
    full = poisson_blend(edit, original, np.ones((16, 16), bool))
    assert np.array_equal(full, edit) and full is not edit  # so an all-ones mask is the baseline


def test_poisson_border_mask_meets_the_original_at_the_seam():
    # a global +40 shift, mask touching the top border: the original at the seam (row 9 is
    # next to row 10, outside), the edit's own values at the border (row 0)
    original = np.full((32, 32, 3), 100, np.uint8)
    edit = original + np.uint8(40)
    mask = np.zeros((32, 32), bool)
    mask[:10, 8:24] = True
    out = poisson_blend(edit, original, mask).astype(int)
    assert np.array_equal(out[~mask], original[~mask])
    assert np.all((out[mask] >= 99) & (out[mask] <= 141))
    assert np.all(out[9, 8:24] <= 106) and np.all(out[0, 8:24] > out[9, 8:24])


@pytest.mark.parametrize(
    ("edit", "original", "mask", "name"),
    [
        (
            np.zeros((8, 8, 3), np.float32),
            np.zeros((8, 8, 3), np.uint8),
            np.ones((8, 8), bool),
            "edit",
        ),
        (
            np.zeros((8, 8, 3), np.uint8),
            np.zeros((8, 8), np.uint8),
            np.ones((8, 8), bool),
            "original",
        ),
        (
            np.zeros((8, 8, 3), np.uint8),
            np.zeros((8, 8, 3), np.uint8),
            np.ones((8, 8), np.uint8),
            "mask",
        ),
        (
            np.zeros((8, 8, 3), np.uint8),
            np.zeros((8, 9, 3), np.uint8),
            np.ones((8, 8), bool),
            "shapes",
        ),
    ],
)
def test_bad_inputs_are_rejected(edit, original, mask, name):
    with pytest.raises(InputError, match=name):
        poisson_blend(edit, original, mask)
    with pytest.raises(InputError, match=name):
        match_color(edit, original, mask)


# --- match_color --------------------------------------------------------------------------------


def test_match_color_hand_values():
    original = np.empty((10, 10, 3), np.uint8)
    original[:] = (100, 50, 200)
    edit = np.empty_like(original)
    edit[:] = (120, 40, 200)  # the editor shifted everything by (+20, -10, 0)
    mask = box_mask(10, 10, 4, 7, 4, 7)
    edit[mask] = (200, 200, 200)
    # ring offset = original - edit = (-20, +10, 0) → inside (180, 210, 200)
    out = match_color(edit, original, mask, ring_px=2)
    expected = original.copy()
    expected[mask] = (180, 210, 200)
    assert np.array_equal(out, expected)


def test_match_color_clips_to_uint8():
    original = np.full((6, 6, 3), 200, np.uint8)
    edit = np.full((6, 6, 3), 180, np.uint8)
    mask = box_mask(6, 6, 2, 4, 2, 4)
    edit[mask] = 250  # + 20 → 270 → 255
    out = match_color(edit, original, mask)
    assert np.all(out[mask] == 255) and np.array_equal(out[~mask], original[~mask])


def test_match_color_without_a_ring_keeps_the_edit_inside():
    original = np.full((5, 5, 3), 10, np.uint8)
    edit = np.full((5, 5, 3), 90, np.uint8)
    assert np.array_equal(match_color(edit, original, np.ones((5, 5), bool)), edit)
    mask = box_mask(5, 5, 1, 3, 1, 3)
    out = match_color(edit, original, mask, ring_px=0)
    assert np.all(out[mask] == 90) and np.array_equal(out[~mask], original[~mask])
    empty = match_color(edit, original, np.zeros((5, 5), bool))
    assert np.array_equal(empty, original)


def test_match_color_rejects_negative_ring():
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(InputError, match="ring_px"):
        match_color(image, image, np.ones((4, 4), bool), ring_px=-1)
