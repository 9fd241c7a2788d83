"""SAM prompts: image-pixel coordinates reach the model right; one embedding per image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maskedit import edit
from maskedit.masks.sam import SamPredictor, resized_hw, to_model_coords
from maskedit.tiny import build_tiny_sam


@pytest.fixture
def predictor():
    return SamPredictor(*build_tiny_sam())


def _capture_prompt_points(predictor):
    seen = {}

    def hook(module, args, kwargs):
        seen["points"] = kwargs.get("input_points", args[0] if args else None)
        seen["boxes"] = kwargs.get("input_boxes")
        seen["labels"] = kwargs.get("input_labels")

    handle = predictor.model.prompt_encoder.register_forward_pre_hook(hook, with_kwargs=True)
    return seen, handle


def test_coords_match_transformers_processor_on_non_square_image(predictor, photo):
    """Our one mapping agrees with SamProcessor's own normalisation (x, y order)."""
    pts = [[10.0, 60.0], [99.0, 0.0], [0.0, 74.0]]
    inputs = predictor.processor(images=photo, input_points=[pts], return_tensors="pt")
    theirs = inputs["input_points"][0, 0].numpy()
    ours = to_model_coords(np.array(pts), photo.shape[:2], predictor.longest_edge)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_resized_hw_real_sam_geometry():
    assert resized_hw(500, 741, 1024) == (691, 1024)
    assert resized_hw(3000, 4000, 1024) == (768, 1024)
    # x scales with width, y with height: a click at the far corner stays at the far corner
    np.testing.assert_allclose(
        to_model_coords(np.array([[741, 500]]), (500, 741), 1024), [[1024, 691]]
    )


def test_points_and_box_reach_the_prompt_encoder_in_model_frame(predictor, photo):
    seen, handle = _capture_prompt_points(predictor)
    predictor.set_image(photo)
    predictor.predict(
        points=np.array([[80.0, 30.0, 1], [5.0, 5.0, 0]]), box=np.array([50, 15, 90, 55])
    )
    handle.remove()
    scale_x = resized_hw(75, 100, 64)[1] / 100
    scale_y = resized_hw(75, 100, 64)[0] / 75
    got = seen["points"][0, 0].numpy()
    np.testing.assert_allclose(
        got, [[80 * scale_x, 30 * scale_y], [5 * scale_x, 5 * scale_y]], rtol=1e-5
    )
    assert seen["labels"][0, 0].tolist() == [1, 0]
    np.testing.assert_allclose(
        seen["boxes"][0, 0].numpy(),
        [50 * scale_x, 15 * scale_y, 90 * scale_x, 55 * scale_y],
        rtol=1e-5,
    )


def test_embedding_computed_once_for_many_prompts(predictor, photo):
    calls = {"n": 0}
    predictor.model.vision_encoder.register_forward_hook(
        lambda *a: calls.__setitem__("n", calls["n"] + 1)
    )
    predictor.set_image(photo)
    for x in (10, 40, 90):
        predictor.predict(points=np.array([[x, 30.0, 1]]))
    predictor.predict(box=np.array([0, 0, 50, 50]))
    predictor.set_image(photo.copy())  # same pixels: cached
    assert calls["n"] == 1 and predictor.embed_calls == 1
    predictor.set_image(photo[::-1].copy())  # other pixels: a new embedding
    assert calls["n"] == 2


def test_best_scoring_candidate_is_used_and_recorded(tiny_models, photo):
    res = edit(
        photo,
        "make it blue",
        models=tiny_models,
        points=[(70, 35)],
        settings=__import__("maskedit").EditSettings(steps=1),
    )
    assert res.sam is not None and res.sam.masks.shape == (3, 75, 100)
    assert res.sam.best == int(np.argmax(res.sam.scores))
    assert np.array_equal(res.alpha > 0.5, res.sam.masks[res.sam.best])
    rec = res.to_record()
    assert rec["mask"]["sam"]["chosen"] == res.sam.best and len(rec["mask"]["sam"]["scores"]) == 3


def test_masks_come_back_at_native_size_for_tall_image(predictor):
    img = np.zeros((120, 30, 3), np.uint8)
    predictor.set_image(img)
    pred = predictor.predict(points=np.array([[15.0, 100.0, 1]]))
    assert pred.masks.shape == (3, 120, 30) and pred.masks.dtype == bool
    assert torch.is_tensor(predictor._embedding)
