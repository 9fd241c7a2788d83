"""Mask morphology and feathering, against values worked out by hand."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from maskedit.editing.crop import crop_box
from maskedit.errors import InputError
from maskedit.masks.shape import (
    dilate,
    erode,
    feather,
    fill_holes,
    largest_component,
    shape_mask,
    to_latent_mask,
)


def grid(text: str) -> np.ndarray:
    """'.#' picture → bool mask."""
    return np.array([[c == "#" for c in row] for row in text.split()], dtype=bool)


def one_pixel(h: int, w: int, y: int, x: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y, x] = True
    return m


# --- dilate -------------------------------------------------------------------------------------


def test_dilate_one_pixel_by_one_is_a_plus():
    expected = grid(
        """
        .....
        ..#..
        .###.
        ..#..
        .....
        """
    )
    assert np.array_equal(dilate(one_pixel(5, 5, 2, 2), 1), expected)


def test_dilate_one_pixel_by_two_is_the_radius_two_disk():
    # offsets with dy² + dx² <= 4: (±1, ±1) are in, (±1, ±2) are not
    expected = grid(
        """
        .......
        ...#...
        ..###..
        .#####.
        ..###..
        ...#...
        .......
        """
    )
    assert np.array_equal(dilate(one_pixel(7, 7, 3, 3), 2), expected)


def test_dilate_corner_pixel_is_cut_by_the_border():
    expected = grid(
        """
        ##.
        #..
        ...
        """
    )
    assert np.array_equal(dilate(one_pixel(3, 3, 0, 0), 1), expected)


def test_dilate_zero_is_a_copy_and_empty_stays_empty():
    m = one_pixel(4, 4, 1, 2)
    out = dilate(m, 0)
    assert np.array_equal(out, m) and out is not m
    assert not dilate(np.zeros((4, 4), bool), 3).any()


# --- erode --------------------------------------------------------------------------------------


def test_erode_square_by_one():
    m = np.zeros((9, 9), bool)
    m[2:7, 2:7] = True
    expected = np.zeros((9, 9), bool)
    expected[3:6, 3:6] = True
    assert np.array_equal(erode(m, 1), expected)


def test_erode_keeps_a_mask_touching_the_left_border_on_the_border():
    m = np.zeros((6, 6), bool)
    m[:, :3] = True  # columns 0..2, full height
    expected = np.zeros((6, 6), bool)
    expected[:, :2] = True  # only the inner edge moves; column 0 stays
    assert np.array_equal(erode(m, 1), expected)


def test_erode_block_touching_the_top_border():
    m = grid(
        """
        ..####..
        ..####..
        ..####..
        ..####..
        ........
        """
    )
    expected = grid(
        """
        ...##...
        ...##...
        ...##...
        ........
        ........
        """
    )
    assert np.array_equal(erode(m, 1), expected)


def test_erode_one_pixel_vanishes_even_in_a_corner():
    assert not erode(one_pixel(5, 5, 2, 2), 1).any()
    assert not erode(one_pixel(3, 3, 0, 0), 1).any()


def test_erode_full_and_empty_masks_are_fixed_points():
    assert erode(np.ones((4, 5), bool), 3).all()
    assert not erode(np.zeros((4, 5), bool), 3).any()


@pytest.mark.parametrize("px", [1, 2, 3, 5])
def test_dilate_and_erode_match_opencv_with_a_disk_kernel(px: int):
    rng = np.random.default_rng(px)
    m = rng.random((23, 31)) < 0.55
    yy, xx = np.mgrid[-px : px + 1, -px : px + 1]
    disk = (yy**2 + xx**2 <= px**2).astype(np.uint8)
    u8 = m.astype(np.uint8)
    cv_dil = cv2.dilate(u8, disk).astype(bool)
    cv_ero = cv2.erode(u8, disk, borderType=cv2.BORDER_REPLICATE).astype(bool)
    assert np.array_equal(dilate(m, px), cv_dil)
    assert np.array_equal(erode(m, px), cv_ero)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_dilate_erode_reject_bad_px(bad):
    with pytest.raises(InputError, match="px"):
        dilate(one_pixel(3, 3, 1, 1), bad)
    with pytest.raises(InputError, match="px"):
        erode(one_pixel(3, 3, 1, 1), bad)


@pytest.mark.parametrize(
    "bad", [np.zeros((3, 3), np.uint8), np.zeros((3, 3, 1), bool), np.zeros((0, 3), bool), [[1]]]
)
def test_mask_must_be_2d_bool(bad):
    with pytest.raises(InputError, match="mask"):
        dilate(bad, 1)


# --- fill_holes / largest_component -------------------------------------------------------------


def test_fill_holes_fills_enclosed_but_not_open_regions():
    m = grid(
        """
        #####..
        #...#..
        #####..
        .......
        ##.....
        .#.....
        ##.....
        """
    )
    expected = grid(
        """
        #####..
        #####..
        #####..
        .......
        ##.....
        .#.....
        ##.....
        """
    )
    assert np.array_equal(fill_holes(m), expected)


def test_largest_component_uses_8_connectivity():
    m = grid(
        """
        #.....
        .#..##
        ..#...
        ......
        """
    )
    # the diagonal (3 px, 8-connected) beats the pair (2 px)
    expected = grid(
        """
        #.....
        .#....
        ..#...
        ......
        """
    )
    assert np.array_equal(largest_component(m), expected)
    assert not largest_component(np.zeros((3, 3), bool)).any()


# --- feather ------------------------------------------------------------------------------------


def test_feather_hand_values_on_a_row():
    # 1×9: one False pixel at x = 0; d = 1..8 on the rest (the image border is not False).
    m = np.ones((1, 9), bool)
    m[0, 0] = False
    # sigma 1: alpha(d) = (Φ(d - 1.5) - Φ(-1.5)) / (Φ(1.5) - Φ(-1.5)) for d < 3, else 1
    # Φ(-1.5) = 0.066807, Φ(-0.5) = 0.308538, Φ(0.5) = 0.691462, Φ(1.5) = 0.933193
    a1 = (0.308538 - 0.066807) / (0.933193 - 0.066807)  # 0.279011
    a2 = (0.691462 - 0.066807) / (0.933193 - 0.066807)  # 0.720989
    expected = np.array([[0.0, a1, a2, 1, 1, 1, 1, 1, 1]], np.float32)
    out = feather(m, 1.0)
    assert out.dtype == np.float32 and out.shape == (1, 9)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert out[0, 0] == 0.0 and np.all(out[0, 3:] == 1.0)


def test_feather_zero_outside_one_deep_inside_monotone():
    m = np.zeros((40, 40), bool)
    m[5:35, 5:35] = True
    out = feather(m, 2.0)
    assert np.all(out[~m] == 0.0)
    assert np.all((out >= 0) & (out <= 1))
    assert np.all(out[11:29, 11:29] == 1.0)  # d >= 6 = 3σ
    row = out[20, 5:21]  # from the left edge to the centre
    assert np.all(np.diff(row) >= 0) and row[0] > 0 and row[0] < 0.2


def test_feather_mask_touching_the_border_stays_one_there():
    m = np.zeros((20, 20), bool)
    m[:, :10] = True  # left half, touching top, bottom and left borders
    out = feather(m, 1.5)
    assert np.all(out[:, 0] == 1.0)
    assert np.all(out[0, :5] == 1.0)  # d to column 10 >= 5 > 4.5
    assert np.all(out[:, 9] < 1.0) and np.all(out[:, 9] > 0.0)


def test_feather_sigma_zero_and_full_and_empty():
    m = one_pixel(5, 6, 2, 3)
    out = feather(m, 0.0)
    assert out.dtype == np.float32 and np.array_equal(out, m.astype(np.float32))
    assert np.all(feather(np.ones((3, 4), bool), 2.0) == 1.0)
    assert np.all(feather(np.zeros((3, 4), bool), 2.0) == 0.0)


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf"), "1"])
def test_feather_rejects_bad_sigma(bad):
    with pytest.raises(InputError, match="sigma_px"):
        feather(one_pixel(3, 3, 1, 1), bad)


# --- shape_mask ---------------------------------------------------------------------------------


def test_shape_mask_erodes_before_dilating():
    # an isolated pixel is removed by erode 1 and not brought back by dilate 1 (an opening)
    m = one_pixel(7, 7, 3, 3)
    assert np.all(shape_mask(m, erode_px=1, dilate_px=1) == 0.0)


def test_shape_mask_takes_largest_component_before_dilating():
    m = np.zeros((9, 12), bool)
    m[2:6, 1:5] = True  # 16 px
    m[3, 7] = True  # 1 px, 3 columns away: a dilation by 2 would merge them
    out = shape_mask(m, largest_only=True, dilate_px=2)
    assert np.array_equal(out > 0, dilate(largest_component(m), 2))
    assert out[3, 8] == 0.0


def test_shape_mask_fills_holes_then_feathers_inside_dilated_mask():
    m = grid(
        """
        .......
        .#####.
        .#...#.
        .#####.
        .......
        """
    )
    out = shape_mask(m, fill_holes=True, dilate_px=1, feather_px=0.0)
    assert out.dtype == np.float32
    assert np.array_equal(out, dilate(fill_holes(m), 1).astype(np.float32))
    soft = shape_mask(m, fill_holes=True, dilate_px=1, feather_px=1.0)
    assert np.all(soft[out == 0] == 0.0) and soft.max() <= 1.0


def test_shape_mask_rejects_negative_px():
    with pytest.raises(InputError, match="dilate_px"):
        shape_mask(one_pixel(3, 3, 1, 1), dilate_px=-1)
    with pytest.raises(InputError, match="feather_px"):
        shape_mask(one_pixel(3, 3, 1, 1), feather_px=-1.0)


# --- to_latent_mask -----------------------------------------------------------------------------


def test_to_latent_mask_one_pixel_reaches_its_cell():
    alpha = one_pixel(512, 512, 511, 0).astype(np.float32)
    out = to_latent_mask(alpha, (64, 64), dilate_cells=0)
    assert out.shape == (64, 64) and out.dtype == np.float32
    expected = np.zeros((64, 64), np.float32)
    expected[63, 0] = 1.0
    assert np.array_equal(out, expected)
    grown = to_latent_mask(alpha, (64, 64))  # dilate_cells=1: a 3×3 square cut by the border
    expected[62:64, 0:2] = 1.0
    assert np.array_equal(grown, expected)


def test_to_latent_mask_non_divisible_size_takes_every_overlapping_cell():
    # 10 → 3: cell rows cover [0, 4), [3, 7), [6, 10); pixel 3 lies in cells 0 and 1.
    alpha = np.zeros((10, 10), np.float32)
    alpha[3, 3] = 0.5
    expected = np.array([[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 0]], np.float32)
    assert np.array_equal(to_latent_mask(alpha, (3, 3), dilate_cells=0), expected)


def test_to_latent_mask_accepts_bool_and_keeps_max():
    alpha = np.zeros((16, 8), bool)
    alpha[0:2, 0:2] = True
    out = to_latent_mask(alpha, (4, 2), dilate_cells=0)
    assert np.array_equal(out, np.array([[1, 0], [0, 0], [0, 0], [0, 0]], np.float32))


@pytest.mark.parametrize(
    ("alpha", "hw", "cells", "name"),
    [
        (np.full((4, 4), 1.5, np.float32), (2, 2), 1, "alpha"),
        (np.zeros((4, 4), np.uint8), (2, 2), 1, "alpha"),
        (np.zeros((4, 4, 1), np.float32), (2, 2), 1, "alpha"),
        (np.zeros((4, 4), np.float32), (0, 2), 1, "latent_hw"),
        (np.zeros((4, 4), np.float32), (2,), 1, "latent_hw"),
        (np.zeros((4, 4), np.float32), (2, 2), -1, "dilate_cells"),
    ],
)
def test_to_latent_mask_rejects_bad_arguments(alpha, hw, cells, name):
    with pytest.raises(InputError, match=name):
        to_latent_mask(alpha, hw, cells)


# --- properties ---------------------------------------------------------------------------------


@st.composite
def masks(draw) -> np.ndarray:
    h = draw(st.integers(1, 24))
    w = draw(st.integers(1, 24))
    return draw(arrays(np.bool_, (h, w)))


@settings(max_examples=50, deadline=None)
@given(
    mask=masks(),
    dilate_px=st.integers(0, 4),
    erode_px=st.integers(0, 2),
    feather_px=st.floats(0, 3),
    margin=st.floats(0, 1),
    min_side=st.integers(0, 40),
)
def test_shape_mask_and_crop_box_properties(
    mask, dilate_px, erode_px, feather_px, margin, min_side
):
    alpha = shape_mask(mask, dilate_px=dilate_px, erode_px=erode_px, feather_px=feather_px)
    assert alpha.dtype == np.float32 and alpha.shape == mask.shape
    assert np.all((alpha >= 0) & (alpha <= 1))
    grown = dilate(erode(mask, erode_px), dilate_px)
    assert np.all(alpha[~grown] == 0.0)

    box = crop_box(mask, margin=margin, min_side=min_side)
    if not mask.any():
        assert box is None
        return
    x0, y0, x1, y1 = box
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    assert 0 <= x0 <= xs.min() and xs.max() < x1 <= w
    assert 0 <= y0 <= ys.min() and ys.max() < y1 <= h
    assert x1 - x0 >= min(min_side, w) and y1 - y0 >= min(min_side, h)
