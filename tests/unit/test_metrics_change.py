"""Change map, binarisation, IoU, mIoU and leakage, checked against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from maskedit.errors import InputError
from maskedit.metrics import (
    area_fraction,
    binarize_change,
    change_map,
    iou,
    leakage,
    max_change_outside,
    miou,
    reference_iou,
)

T, F = True, False


def _pair() -> tuple[np.ndarray, np.ndarray]:
    """2x2 images whose change map is [[10, 255], [6, 190]] (mean 115.25)."""
    original = np.zeros((2, 2, 3), np.uint8)
    edit = np.zeros((2, 2, 3), np.uint8)
    edit[0, 0] = (30, 0, 0)  # (30 + 0 + 0) / 3 = 10
    edit[0, 1] = (255, 255, 255)  # 255
    edit[1, 0] = (3, 6, 9)  # 18 / 3 = 6
    original[1, 1] = (200, 200, 200)  # |10 - 200| = 190: uint8 subtraction would wrap to 66
    edit[1, 1] = (10, 10, 10)
    return edit, original


def test_change_map_is_mean_abs_difference_over_rgb():
    change = change_map(*_pair())
    assert change.dtype == np.float32
    np.testing.assert_array_equal(change, [[10, 255], [6, 190]])


def test_change_map_is_symmetric():
    edit, original = _pair()
    np.testing.assert_array_equal(change_map(edit, original), change_map(original, edit))


@pytest.mark.parametrize(
    "edit, original",
    [
        (np.zeros((2, 2, 3), np.float32), np.zeros((2, 2, 3), np.uint8)),
        (np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8)),
        (np.zeros((2, 2, 3), np.uint8), np.zeros((2, 3, 3), np.uint8)),
    ],
)
def test_change_map_rejects_bad_images(edit, original):
    with pytest.raises(InputError):
        change_map(edit, original)


def test_binarize_default_is_mean_when_above_floor():
    # max(10, 115.25) = 115.25
    change = np.array([[10, 255], [6, 190]], np.float32)
    np.testing.assert_array_equal(binarize_change(change), [[F, T], [F, T]])


def test_binarize_default_uses_floor_when_mean_is_small_and_is_strict():
    # mean = (10 + 12) / 4 = 5.5 -> threshold max(10, 5.5) = 10; 10 > 10 is False
    change = np.array([[10, 0], [0, 12]], np.float32)
    np.testing.assert_array_equal(binarize_change(change), [[F, F], [F, T]])
    # a lower floor lets the mean (5.5) decide
    np.testing.assert_array_equal(binarize_change(change, floor=0.0), [[T, F], [F, T]])


def test_binarize_given_threshold_overrides_the_study_rule():
    change = np.array([[10, 255], [6, 190]], np.float32)
    np.testing.assert_array_equal(binarize_change(change, threshold=8), [[T, T], [F, T]])


def test_binarize_unchanged_image_is_all_false():
    assert not binarize_change(np.zeros((3, 3), np.float32)).any()


def test_iou_by_hand():
    a = np.array([[T, T], [F, F]])
    b = np.array([[T, F], [T, F]])
    assert iou(a, b) == pytest.approx(1 / 3)  # intersection 1, union 3
    assert iou(a, a) == 1.0
    assert iou(a, ~a) == 0.0


def test_iou_of_two_empty_masks_is_one():
    empty = np.zeros((2, 2), bool)
    assert iou(empty, empty) == 1.0
    assert iou(empty, np.array([[T, F], [F, F]])) == 0.0


def test_iou_rejects_non_bool_masks():
    # a 0/255 array is the kind of mask that broke the seed study: refuse it, do not guess
    with pytest.raises(InputError, match="bool"):
        iou(np.full((2, 2), 255, np.uint8), np.ones((2, 2), bool))
    with pytest.raises(InputError, match="same shape"):
        iou(np.ones((2, 2), bool), np.ones((2, 3), bool))


def test_miou_is_mean_over_cases():
    assert miou([1 / 3, 1.0, 0.5]) == pytest.approx((1 / 3 + 1.0 + 0.5) / 3)
    assert miou([0.183, 0.265, 0.173]) == pytest.approx(0.207)  # the study's three cases
    assert isinstance(miou(np.array([0.25])), float)
    with pytest.raises(InputError):
        miou([])


def test_leakage_by_hand():
    change = np.array([[10, 255], [6, 190]], np.float32)  # total 461
    mask = np.array([[T, T], [F, F]])
    assert leakage(change, mask) == pytest.approx(196 / 461)  # 6 + 190 outside
    assert leakage(change, np.ones((2, 2), bool)) == 0.0
    assert leakage(change, np.zeros((2, 2), bool)) == 1.0


def test_leakage_with_soft_alpha():
    change = np.array([[0, 4], [0, 4]], np.float32)
    alpha = np.array([[1.0, 0.5], [0.0, 0.0]])
    assert leakage(change, alpha) == pytest.approx((4 * 0.5 + 4) / 8)


def test_leakage_without_any_change_is_zero():
    assert leakage(np.zeros((2, 2), np.float32), np.zeros((2, 2), bool)) == 0.0


def test_leakage_rejects_bad_inputs():
    with pytest.raises(InputError):
        leakage(np.zeros((2, 2)), np.zeros((3, 2), bool))
    with pytest.raises(InputError):
        leakage(np.zeros((2, 2)), np.full((2, 2), 255.0))
    with pytest.raises(InputError):
        leakage(-np.ones((2, 2)), np.zeros((2, 2), bool))


def test_study_pipeline_on_an_edit_confined_to_the_mask():
    """An edit that changes exactly the masked square: IoU 1, no leakage."""
    original = np.full((8, 8, 3), 100, np.uint8)
    mask = np.zeros((8, 8), bool)
    mask[2:5, 3:7] = True
    edit = original.copy()
    edit[mask] = (160, 160, 160)  # change 60 inside, 0 outside; mean 60 * 12 / 64 = 11.25
    change = change_map(edit, original)
    assert iou(binarize_change(change), mask) == 1.0
    assert leakage(change, mask) == 0.0


def test_area_fraction_counts_soft_edges_as_inside():
    alpha = np.zeros((4, 5), np.float32)
    alpha[0, :2] = 1.0
    alpha[1, 0] = 0.25
    assert area_fraction(alpha) == 3 / 20
    assert area_fraction(np.ones((2, 2), bool)) == 1.0
    with pytest.raises(InputError, match="HxW"):
        area_fraction(np.zeros((2, 2, 1)))


def test_max_change_outside_by_hand():
    original = np.zeros((4, 5, 3), np.uint8)
    edit = original.copy()
    alpha = np.zeros((4, 5), np.float32)
    alpha[0, :2] = 1.0
    alpha[1, 0] = 0.25  # soft edge: inside, may change
    edit[0, 0] = 200
    edit[1, 0] = 90
    assert max_change_outside(edit, original, alpha) == 0.0
    edit[3, 4, 2] = 7  # one channel of one outside pixel: the max over channels, not the mean
    assert max_change_outside(edit, original, alpha) == 7.0
    assert max_change_outside(original, edit, alpha) == 7.0  # no uint8 wrap-around
    assert max_change_outside(edit, original, np.ones((4, 5))) == 0.0  # no outside
    with pytest.raises(InputError, match="must share HxW"):
        max_change_outside(edit, original, np.zeros((5, 4)))


def test_reference_iou_leaves_out_pie_bench_s_border_ring():
    annotation = np.zeros((8, 10), bool)
    annotation[2:5, 3:7] = True  # 12 px
    reference = annotation.copy()  # PIE-Bench's scoring mask: the annotation and the image border
    reference[0, :] = reference[-1, :] = reference[:, 0] = reference[:, -1] = True
    assert iou(annotation, reference) == pytest.approx(12 / 44)  # the 32 ring pixels count
    assert reference_iou(annotation.astype(np.float32), reference) == 1.0
    half = annotation.copy()
    half[2:5, 5:7] = False  # 6 of the 12 px
    assert reference_iou(half, reference) == 0.5


def test_reference_iou_without_a_full_ring_is_plain_iou():
    own = np.zeros((6, 6), np.float32)
    own[0, :] = 1.0  # the top row: 6 px
    reference = np.zeros((6, 6), bool)
    reference[0, :3] = True  # 3 of them; the ring is not all set
    assert reference_iou(own, reference) == 0.5
    tiny = np.ones((2, 2), bool)  # no inside: the whole image counts
    assert reference_iou(tiny, tiny) == 1.0
