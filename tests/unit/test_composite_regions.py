"""`composite_regions`: several regions' edits over one image, by values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from maskedit.composite import alpha_composite, composite_regions


def _grey(value: int, hw=(2, 3)) -> np.ndarray:
    return np.full((*hw, 3), value, dtype=np.uint8)


def test_the_later_region_wins_where_hard_masks_overlap():
    original = _grey(100)
    a = np.array([[1, 1, 0], [0, 0, 0]], np.float32)
    b = np.array([[0, 1, 1], [0, 0, 0]], np.float32)
    first = alpha_composite(_grey(10), original, a)
    second = alpha_composite(_grey(200), original, b)
    out = composite_regions(original, [(first, a), (second, b)])
    assert out[..., 0].tolist() == [[10, 200, 200], [100, 100, 100]]
    swapped = composite_regions(original, [(second, b), (first, a)])
    assert swapped[..., 0].tolist() == [[10, 10, 200], [100, 100, 100]]


def test_a_soft_edge_alone_is_the_regions_own_blend_bit_for_bit():
    original = _grey(100)
    alpha = np.array([[0.25, 0.5, 0.0], [1.0, 0.0, 0.0]], np.float32)
    edit = alpha_composite(_grey(200), original, alpha)  # 125, 150, 100 / 200, 100, 100
    out = composite_regions(original, [(edit, alpha)])
    assert np.array_equal(out, edit)
    assert out[..., 0].tolist() == [[125, 150, 100], [200, 100, 100]]


def test_a_soft_edge_over_an_earlier_region_blends_with_it():
    original = _grey(100)
    hard = np.ones((2, 3), np.float32)
    first = alpha_composite(_grey(20), original, hard)  # everything 20
    soft = np.array([[0.25, 0.5, 0.0], [1.0, 0.0, 0.0]], np.float32)
    second = alpha_composite(_grey(200), original, soft)  # 125, 150, 100 / 200, 100, 100
    out = composite_regions(original, [(first, hard), (second, soft)])
    # alpha·200 + (1 − alpha)·20: 65, 110, 20 / 200, 20, 20
    assert out[..., 0].tolist() == [[65, 110, 20], [200, 20, 20]]


def test_outside_every_mask_is_the_original_and_empty_layers_change_nothing():
    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    edit = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    mask = np.zeros((5, 7), np.float32)
    mask[1:3, 2:5] = 0.7
    layer = (alpha_composite(edit, original, mask), mask)
    empty = (edit, np.zeros((5, 7), np.float32))
    out = composite_regions(original, [empty, layer, empty])
    assert np.array_equal(out[mask == 0], original[mask == 0])
    assert np.array_equal(out, layer[0])
    assert np.array_equal(composite_regions(original, []), original)


def test_shapes_must_match():
    with pytest.raises(ValueError, match="must match"):
        composite_regions(_grey(1), [(_grey(1, (3, 3)), np.ones((3, 3)))])
