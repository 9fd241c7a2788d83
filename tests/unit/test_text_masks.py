"""Masks from a phrase: CLIPSeg heatmaps and Grounding DINO boxes → SAM, in the user's pixels.

The tiny models' scores are noise, so the tests pin the model outputs with forward hooks (known
logits and boxes) and check what maskedit does with them: sizes, coordinates, thresholds, errors.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from maskedit.errors import InputError, MissingWeightsError
from maskedit.masks.sam import SamPredictor, to_model_coords
from maskedit.masks.text import (
    MaskNotFound,
    PhraseMask,
    clipseg_mask,
    detector_prompt,
    grounded_boxes,
    grounded_sam_mask,
    mask_box,
)
from maskedit.tiny import (
    TINY_CLIPSEG_SIZE,
    build_tiny_clipseg,
    build_tiny_grounding_dino,
    build_tiny_sam,
)

H, W = 75, 100  # the `photo` fixture: non-square


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def clipseg():
    return build_tiny_clipseg()


@pytest.fixture(scope="module")
def gdino():
    return build_tiny_grounding_dino()


@pytest.fixture
def sam():
    return SamPredictor(*build_tiny_sam())


def _pin_clipseg(model, logits: torch.Tensor):
    """Make CLIPSeg return `logits` (S×S at the processor's size) whatever the input."""

    def hook(module, args, output):
        output.logits = logits[None].to(output.logits.dtype)
        return output

    return model.register_forward_hook(hook)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _pin_detector(model, boxes_cxcywh: list[list[float]], scores: list[float]):
    """Make Grounding DINO return these normalised boxes and scores in its first queries.

    Other queries score 1e-4. Text positions past the prompt stay -inf, as the model leaves them.
    """

    def hook(module, args, output):
        logits = output.logits.clone()
        text = torch.isfinite(logits)
        logits[text] = _logit(1e-4)
        boxes = output.pred_boxes.clone()
        for q, (box, score) in enumerate(zip(boxes_cxcywh, scores, strict=True)):
            logits[0, q][text[0, q]] = _logit(score)
            boxes[0, q] = torch.tensor(box)
        output.logits, output.pred_boxes = logits, boxes
        return output

    return model.register_forward_hook(hook)


def _capture_prompts(predictor):
    seen = []

    def hook(module, args, kwargs):
        seen.append({k: kwargs.get(k) for k in ("input_points", "input_labels", "input_boxes")})

    handle = predictor.model.prompt_encoder.register_forward_pre_hook(hook, with_kwargs=True)
    return seen, handle


def _xyxy(cxcywh, h=H, w=W):
    cx, cy, bw, bh = cxcywh
    return [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]


# --- CLIPSeg ---------------------------------------------------------------------------------


def test_clipseg_heatmap_is_at_image_size_and_undoes_the_squash(clipseg, photo):
    model, processor = clipseg
    s = TINY_CLIPSEG_SIZE
    left = torch.full((s, s), -10.0)
    left[:, : s // 2] = 10.0  # the left half of the (squashed, square) model input
    handle = _pin_clipseg(model, left)
    try:
        res = clipseg_mask(model, processor, photo, "the red square", threshold=0.5)
    finally:
        handle.remove()
    assert res.heatmap.shape == (H, W) and res.heatmap.dtype == np.float32
    assert res.mask.shape == (H, W) and res.mask.dtype == bool
    assert 0 <= res.heatmap.min() and res.heatmap.max() <= 1
    expected = np.zeros((H, W), bool)
    expected[:, : W // 2] = True  # the left half of the photo, at its own width
    assert np.array_equal(res.mask, expected)
    assert res.boxes == [[0.0, 0.0, W / 2, float(H)]] and res.backend == "clipseg"
    assert res.best_score == pytest.approx(1 / (1 + math.exp(-10)), abs=1e-6)


def test_clipseg_rows_map_to_image_rows(clipseg, photo):
    model, processor = clipseg
    s = TINY_CLIPSEG_SIZE
    top = torch.full((s, s), -10.0)
    top[: s // 4] = 10.0
    handle = _pin_clipseg(model, top)
    try:
        res = clipseg_mask(model, processor, photo, "sky")
    finally:
        handle.remove()
    rows = np.flatnonzero(res.mask.any(axis=1))
    assert rows[0] == 0 and abs(rows[-1] + 1 - H / 4) <= 1  # a quarter of the photo's height


def test_clipseg_real_forward_runs_on_non_square_image(clipseg, photo):
    model, processor = clipseg
    res = clipseg_mask(model, processor, photo, "the cat", threshold=0.0)
    assert res.heatmap.shape == (H, W) and np.array_equal(res.mask, res.heatmap > 0.0)
    json.dumps(res.to_record())


def test_clipseg_nothing_above_threshold_names_phrase_and_best_score(clipseg, photo):
    model, processor = clipseg
    handle = _pin_clipseg(model, torch.full((TINY_CLIPSEG_SIZE,) * 2, _logit(0.12)))
    try:
        with pytest.raises(MaskNotFound) as err:
            clipseg_mask(model, processor, photo, "the red motorcycle", threshold=0.35)
    finally:
        handle.remove()
    assert str(err.value) == (
        "target 'the red motorcycle': nothing found above threshold 0.35 (best score 0.12)"
    )
    assert isinstance(err.value, InputError) and err.value.best_score == pytest.approx(0.12)


def test_bad_phrase_threshold_and_image_are_named(clipseg, photo):
    model, processor = clipseg
    with pytest.raises(InputError, match="target"):
        clipseg_mask(model, processor, photo, "  ")
    with pytest.raises(InputError, match="target_threshold"):
        clipseg_mask(model, processor, photo, "cat", threshold=1.5)
    with pytest.raises(InputError, match="H×W×3"):
        clipseg_mask(model, processor, photo[..., 0], "cat")


# --- Grounding DINO → SAM --------------------------------------------------------------------

BOXES = [[0.25, 0.5, 0.2, 0.4], [0.7, 0.3, 0.2, 0.2], [0.95, 0.5, 0.2, 0.2]]
SCORES = [0.6, 0.9, 0.5]


def test_detector_boxes_are_scaled_to_the_users_image_not_the_processors(gdino, photo):
    model, processor = gdino
    handle = _pin_detector(model, BOXES, SCORES)
    seen = {}

    def pre_hook(module, args, kwargs):
        seen["pixels"] = tuple(kwargs["pixel_values"].shape)

    pre = model.register_forward_pre_hook(pre_hook, with_kwargs=True)
    try:
        found = grounded_boxes(model, processor, photo, "the red square")
    finally:
        handle.remove()
        pre.remove()
    assert seen["pixels"][-2:] != (H, W)  # the detector saw a resized copy …
    assert [round(s, 4) for _, s, _ in found] == [0.9, 0.6, 0.5]  # best first
    boxes = [b for b, _, _ in found]
    np.testing.assert_allclose(boxes[0], _xyxy(BOXES[1]), atol=1e-3)  # … boxes are in (H, W)
    np.testing.assert_allclose(boxes[1], _xyxy(BOXES[0]), atol=1e-3)
    # the third reaches past the right border (x1 = 1.05 W): clipped to the image
    np.testing.assert_allclose(boxes[2], [0.85 * W, 0.4 * H, W, 0.6 * H], atol=1e-3)
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H


def test_box_threshold_filters(gdino, photo):
    model, processor = gdino
    handle = _pin_detector(model, BOXES, SCORES)
    try:
        found = grounded_boxes(model, processor, photo, "thing", box_threshold=0.55)
    finally:
        handle.remove()
    assert [round(s, 4) for _, s, _ in found] == [0.9, 0.6]


def test_detector_boxes_reach_sam_in_user_pixels(gdino, sam, photo):
    model, processor = gdino
    handle = _pin_detector(model, BOXES[:2], SCORES[:2])
    try:
        found = grounded_boxes(model, processor, photo, "the red square")
        seen, sam_handle = _capture_prompts(sam)
        res = grounded_sam_mask(model, processor, sam, photo, "the red square")
        sam_handle.remove()
    finally:
        handle.remove()
    assert sam.embed_calls == 1  # one embedding for all boxes
    assert len(seen) == 2 and res.boxes == [b for b, _, _ in found]
    for prompt, (box, _, _) in zip(seen, found, strict=True):
        expected = to_model_coords(np.reshape(box, (2, 2)), (H, W), sam.longest_edge).reshape(4)
        np.testing.assert_allclose(prompt["input_boxes"][0, 0].numpy(), expected, rtol=1e-5)
        assert prompt["input_points"] is None
    union = np.zeros((H, W), bool)
    for box, _, _ in found:
        union |= sam.predict(box=np.asarray(box), multimask=False).mask
    assert np.array_equal(res.mask, union) and res.mask.shape == (H, W)
    assert res.backend == "grounded-sam" and res.heatmap is None and res.threshold == 0.35


def test_top_one_prompts_sam_with_the_best_box_only(gdino, sam, photo):
    model, processor = gdino
    handle = _pin_detector(model, BOXES[:2], SCORES[:2])
    try:
        seen, sam_handle = _capture_prompts(sam)
        res = grounded_sam_mask(model, processor, sam, photo, "square", top=1)
        sam_handle.remove()
    finally:
        handle.remove()
    assert len(seen) == 1 and res.scores == [pytest.approx(0.9, abs=1e-4)]
    np.testing.assert_allclose(res.boxes[0], _xyxy(BOXES[1]), atol=1e-3)
    with pytest.raises(InputError, match="target_top"):
        grounded_sam_mask(model, processor, sam, photo, "square", top=0)


def test_detector_finding_nothing_raises_before_sam(gdino, sam, photo):
    model, processor = gdino
    handle = _pin_detector(model, [BOXES[0]], [0.12])
    try:
        with pytest.raises(MaskNotFound) as err:
            grounded_sam_mask(model, processor, sam, photo, "the red motorcycle")
    finally:
        handle.remove()
    assert str(err.value) == (
        "target 'the red motorcycle': nothing found above threshold 0.35 (best score 0.12)"
    )
    assert sam.embed_calls == 0


def test_real_tiny_detector_runs_end_to_end(gdino, sam, photo):
    """No pinning: the random detector's own boxes, post-processed, prompt SAM."""
    model, processor = gdino
    res = grounded_sam_mask(model, processor, sam, photo, "a red square", box_threshold=0.0)
    assert res.mask.shape == (H, W) and len(res.boxes) == len(res.scores) >= 1
    for x0, y0, x1, y1 in res.boxes:
        assert 0 <= x0 <= x1 <= W and 0 <= y0 <= y1 <= H
    json.dumps(res.to_record())


def test_detector_prompt_format():
    assert detector_prompt("The Red Car.") == "the red car."
    assert detector_prompt(" cat ") == "cat."


def test_record_and_mask_box():
    mask = np.zeros((10, 20), bool)
    mask[2:5, 3:9] = True
    assert mask_box(mask) == [3.0, 2.0, 9.0, 5.0]
    assert mask_box(np.zeros((4, 4), bool)) is None
    pm = PhraseMask(mask, None, [[3.0, 2.0, 9.0, 5.0]], [0.91234567], 0.91234567, "clipseg", 0.4)
    rec = pm.to_record()
    assert rec["area_px"] == 18 and rec["scores"] == [0.912346] and rec["threshold"] == 0.4
    json.dumps(rec)


def test_mask_not_found_survives_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(MaskNotFound("cat", 0.4, 0.9999)))
    assert str(err) == "target 'cat': nothing found above threshold 0.4 (best score 0.999900)"


def test_loaders_name_a_missing_local_folder(tmp_path):
    from maskedit.models import load_clipseg, load_grounding_dino

    for load in (load_clipseg, load_grounding_dino):
        with pytest.raises(MissingWeightsError, match="local folder"):
            load(str(tmp_path / "nowhere"), torch.device("cpu"))
    model, _ = load_clipseg("tiny", torch.device("cpu"))
    assert type(model).__name__ == "CLIPSegForImageSegmentation"


@pytest.mark.parametrize("hw", [(1, 40), (3, 5), (3, 80)])
def test_photos_one_or_three_pixels_tall_reach_the_models_as_they_are(clipseg, gdino, sam, hw):
    """Left to guess, transformers takes an H×W×3 array 1 or 3 pixels tall for channels-first (its
    height read as the channels): each model must see what the same photo as a PIL image gives."""
    from PIL import Image

    photo = np.random.default_rng(0).integers(0, 255, (*hw, 3), dtype=np.uint8)
    seen = {}

    def grab(name):
        def hook(module, args, kwargs):
            seen[name] = kwargs["pixel_values"]

        return hook

    model, processor = clipseg
    handle = model.register_forward_pre_hook(grab("clipseg"), with_kwargs=True)
    try:
        clipseg_mask(model, processor, photo, "the cat", threshold=0.0)
    except MaskNotFound:
        pass
    finally:
        handle.remove()
    want = processor(text=["the cat"], images=[Image.fromarray(photo)], padding=True, return_tensors="pt")
    torch.testing.assert_close(seen["clipseg"], want["pixel_values"])

    model, processor = gdino
    handle = model.register_forward_pre_hook(grab("gdino"), with_kwargs=True)
    try:
        grounded_boxes(model, processor, photo, "the cat")
    finally:
        handle.remove()
    want = processor(images=Image.fromarray(photo), text="the cat.", return_tensors="pt")
    torch.testing.assert_close(seen["gdino"], want["pixel_values"])

    embed = sam.model.get_image_embeddings
    sam.model.get_image_embeddings = lambda pixels: seen.setdefault("sam", pixels) is None or embed(pixels)
    sam.set_image(photo)
    want = sam.processor.image_processor(images=Image.fromarray(sam._pad_thin(photo)), return_tensors="pt")
    torch.testing.assert_close(seen["sam"], want["pixel_values"])


@pytest.mark.parametrize("hw", [(1, 200), (200, 1), (2, 300)])
def test_the_detector_takes_a_strip_its_resize_would_make_0_px_thin(gdino, sam, hw):
    """The detector's processor scales the long side to its longest_edge (96 here, 1333 for the
    real one): a 1×200 strip would be 0 px tall there, which transformers refuses. The strip is
    padded to one model pixel; boxes are in the photo's pixels, none lies in the padding."""
    model, processor = gdino
    h, w = hw
    photo = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    # one box over the whole padded image, one wholly in the padding (bottom or right)
    pinned = [[0.5, 0.5, 1.0, 1.0], [0.95, 0.5, 0.1, 1.0] if h > w else [0.5, 0.95, 1.0, 0.1]]
    handle = _pin_detector(model, pinned, [0.9, 0.8])
    try:
        found = grounded_boxes(model, processor, photo, "the cat")
        res = grounded_sam_mask(model, processor, sam, photo, "the cat")
    finally:
        handle.remove()
    assert [box for box, _, _ in found] == [[0.0, 0.0, float(w), float(h)]]
    assert res.mask.shape == (h, w) and res.boxes == [[0.0, 0.0, float(w), float(h)]]


@pytest.mark.parametrize("side", [3, 64, 200])
def test_the_tiny_detector_takes_square_photos(gdino, side):
    """A square photo is resized to the detector's short side on both sides; its coarsest feature
    map must still hold more than one value per GroupNorm group."""
    model, processor = gdino
    photo = np.random.default_rng(0).integers(0, 255, (side, side, 3), dtype=np.uint8)
    found = grounded_boxes(model, processor, photo, "the cat", box_threshold=0.0)
    for x0, y0, x1, y1 in (box for box, _, _ in found):
        assert 0 <= x0 <= x1 <= side and 0 <= y0 <= y1 <= side
