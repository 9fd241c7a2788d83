"""Crop boxes, crop/paste and the working-size rule, against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from maskedit.editing.crop import crop, crop_box, fit_long_side, paste
from maskedit.errors import InputError


def box_mask(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


# --- crop_box -----------------------------------------------------------------------------------


def test_crop_box_pads_by_margin_times_larger_side():
    # bbox x 40..60 (20 wide), y 40..50 (10 high): pad = 0.25 × 20 = 5 on every side
    m = box_mask(100, 100, 40, 50, 40, 60)
    assert crop_box(m, margin=0.25, min_side=0) == (35, 35, 65, 55)


def test_crop_box_margin_rounds_half_up():
    # 10×10 bbox: 0.25 × 10 = 2.5 → 3
    m = box_mask(100, 100, 20, 30, 20, 30)
    assert crop_box(m, margin=0.25, min_side=0) == (17, 17, 33, 33)


def test_crop_box_grows_to_min_side_around_the_centre():
    # padded 30 × 20 → 64 × 64: x extra 44 → 40 - 22 = 18; y extra 54 → 40 - 27 = 13
    m = box_mask(100, 100, 40, 50, 40, 60)
    assert crop_box(m, margin=0.25, min_side=64) == (18, 13, 82, 77)


def test_crop_box_shifts_inside_instead_of_cutting():
    assert crop_box(box_mask(100, 100, 0, 1, 0, 1), min_side=64) == (0, 0, 64, 64)
    assert crop_box(box_mask(100, 100, 99, 100, 99, 100), min_side=64) == (36, 36, 100, 100)
    # touching the top-left border: bbox 20×10, pad 5 → 30×20, shifted to start at 0
    assert crop_box(box_mask(100, 100, 0, 10, 0, 20), min_side=0) == (0, 0, 30, 20)


def test_crop_box_is_cut_only_where_the_image_is_too_small():
    # 30 high × 50 wide image, min_side 64 in both directions → the whole image
    assert crop_box(box_mask(30, 50, 10, 11, 25, 26), min_side=64) == (0, 0, 50, 30)


def test_crop_box_full_and_empty_masks():
    assert crop_box(np.ones((30, 40), bool)) == (0, 0, 40, 30)
    assert crop_box(np.zeros((30, 40), bool)) is None


def test_crop_box_returns_python_ints():
    box = crop_box(box_mask(50, 50, 5, 9, 5, 9))
    assert box is not None and all(type(v) is int for v in box)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"margin": -0.1}, "margin"), ({"margin": float("nan")}, "margin"), ({"min_side": -1}, "min")],
)
def test_crop_box_rejects_bad_arguments(kwargs, name):
    with pytest.raises(InputError, match=name):
        crop_box(box_mask(10, 10, 1, 2, 1, 2), **kwargs)
    with pytest.raises(InputError, match="mask"):
        crop_box(np.ones((10, 10), np.uint8))


# --- crop / paste -------------------------------------------------------------------------------


def test_crop_is_the_box_slice():
    image = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    out = crop(image, (1, 2, 4, 5))
    assert out.shape == (3, 3, 3)
    assert np.array_equal(out, image[2:5, 1:4])
    assert np.array_equal(crop(image, (0, 0, 6, 5)), image)


def test_paste_writes_the_patch_into_a_copy():
    full = np.zeros((4, 5, 3), np.uint8)
    patch = np.full((2, 3, 3), 7, np.uint8)
    out = paste(full, patch, (1, 1, 4, 3))
    expected = np.zeros((4, 5, 3), np.uint8)
    expected[1:3, 1:4] = 7
    assert np.array_equal(out, expected)
    assert not full.any()  # the input is untouched


def test_crop_then_paste_round_trips():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (12, 9, 3), dtype=np.uint8)
    box = (2, 3, 7, 11)
    assert np.array_equal(paste(image, crop(image, box).copy(), box), image)


@pytest.mark.parametrize(
    "box", [(0, 0, 6, 4), (-1, 0, 2, 2), (2, 2, 2, 3), (0, 0, 2), (0, 0, 1.5, 2)]
)
def test_bad_boxes_are_rejected(box):
    with pytest.raises(InputError, match="box"):
        crop(np.zeros((4, 5, 3), np.uint8), box)


def test_paste_rejects_a_patch_of_the_wrong_size_or_dtype():
    full = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(InputError, match="patch"):
        paste(full, np.zeros((2, 2, 3), np.uint8), (0, 0, 3, 2))
    with pytest.raises(InputError, match="patch"):
        paste(full, np.zeros((2, 3, 3), np.float32), (0, 0, 3, 2))


# --- fit_long_side ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((300, 451, 512, 64), (320, 512)),  # 300·512/451 = 340.6 → 5.32 × 64 → 320
        ((451, 300, 512, 64), (512, 320)),
        ((512, 512, 512, 64), (512, 512)),
        ((60, 4000, 512, 64), (64, 512)),  # 7.7 px → at least one multiple
        ((500, 741, 512, 8), (344, 512)),  # 345.5 → 43.2 × 8 → 344
        ((5, 8, 8, 2), (6, 8)),  # 5 → 2.5 multiples, half up → 3 × 2
        ((100, 100, 500, 64), (512, 512)),  # a long side that is not a multiple rounds too
    ],
)
def test_fit_long_side_table(args, expected):
    assert fit_long_side(*args) == expected


@pytest.mark.parametrize(
    ("args", "name"),
    [((0, 5, 512, 64), "h"), ((5, 5, 512, 0), "multiple"), ((5, 5, -1, 8), "long_side")],
)
def test_fit_long_side_rejects_bad_arguments(args, name):
    with pytest.raises(InputError, match=name):
        fit_long_side(*args)
