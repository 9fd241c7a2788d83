"""Fuzz (hypothesis) over mask shapes/values and prompt coordinates for the mask and composite code:
never a crash other than the documented errors, and outside-mask pixels always unchanged."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from maskedit.composite import alpha_composite
from maskedit.config import Prompts
from maskedit.editing.crop import crop_box
from maskedit.errors import InputError
from maskedit.masks.sam import to_model_coords
from maskedit.masks.shape import shape_mask, to_latent_mask

sizes = st.tuples(st.integers(1, 40), st.integers(1, 40))


@st.composite
def image_and_alpha(draw):
    h, w = draw(sizes)
    orig = draw(arrays(np.uint8, (h, w, 3)))
    edit = draw(arrays(np.uint8, (h, w, 3)))
    alpha = draw(
        arrays(np.float32, (h, w), elements=st.sampled_from([0.0, 1.0, 0.5, 0.25, 1e-7, 0.999999]))
    )
    return orig, edit, alpha


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image_and_alpha())
def test_composite_never_touches_outside(data):
    orig, edit, alpha = data
    out = alpha_composite(edit, orig, alpha)
    assert out.dtype == np.uint8 and out.shape == orig.shape
    assert np.array_equal(out[alpha == 0], orig[alpha == 0])
    assert np.array_equal(out[alpha == 1], edit[alpha == 1])
    lo = np.minimum(orig, edit).astype(int)
    hi = np.maximum(orig, edit).astype(int)
    assert ((out >= lo) & (out <= hi)).all()  # a blend stays between its two sources


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mask=sizes.flatmap(lambda hw: arrays(np.bool_, hw)),
    dilate=st.integers(0, 4),
    erode=st.integers(0, 3),
    feather=st.sampled_from([0.0, 0.5, 1.0, 2.5]),
    fill=st.booleans(),
    largest=st.booleans(),
)
def test_shaped_masks_are_valid_alphas_and_composite_exactly(
    mask, dilate, erode, feather, fill, largest
):
    alpha = shape_mask(
        mask,
        dilate_px=dilate,
        erode_px=erode,
        feather_px=feather,
        fill_holes=fill,
        largest_only=largest,
    )
    assert alpha.shape == mask.shape and alpha.dtype == np.float32
    assert np.isfinite(alpha).all() and alpha.min() >= 0 and alpha.max() <= 1
    if not mask.any():
        assert not alpha.any()
    rng = np.random.default_rng(0)
    orig = rng.integers(0, 256, (*mask.shape, 3), dtype=np.uint8)
    edit = rng.integers(0, 256, (*mask.shape, 3), dtype=np.uint8)
    out = alpha_composite(edit, orig, alpha)
    assert np.array_equal(out[alpha == 0], orig[alpha == 0])
    lm = to_latent_mask(alpha, (max(1, mask.shape[0] // 8), max(1, mask.shape[1] // 8)))
    assert lm.min() >= 0 and lm.max() <= 1
    box = crop_box(alpha > 0)
    if box is None:
        assert not (alpha > 0).any()
    else:
        x0, y0, x1, y1 = box
        ys, xs = np.nonzero(alpha > 0)
        assert x0 <= xs.min() and y0 <= ys.min() and x1 > xs.max() and y1 > ys.max()


coord = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(x=coord, y=coord, w=st.integers(1, 5000), h=st.integers(1, 5000), label=st.integers(0, 1))
def test_prompt_coordinates_are_accepted_inside_and_refused_outside(x, y, w, h, label):
    prompts = Prompts(points=[(x, y, 1), (x, y, label)])
    inside = 0 <= x < w and 0 <= y < h
    try:
        prompts.check_inside(w, h)
        assert inside
        mapped = to_model_coords(np.array([[x, y]]), (h, w), 1024)
        assert (mapped >= 0).all() and mapped[0, 0] <= 1024 and mapped[0, 1] <= 1024
    except InputError as err:
        assert not inside and "outside the image" in str(err)


@settings(max_examples=100, deadline=None)
@given(box=st.tuples(coord, coord, coord, coord), w=st.integers(1, 3000), h=st.integers(1, 3000))
def test_boxes_are_validated_or_refused_with_the_documented_errors(box, w, h):
    try:
        p = Prompts(box=box)
    except ValueError as err:  # pydantic: x1 <= x0 or y1 <= y0
        assert "x1 > x0 and y1 > y0" in str(err)
        return
    try:
        p.check_inside(w, h)
        x0, y0, x1, y1 = box
        assert x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h
    except InputError as err:
        assert "not inside the image" in str(err)
