"""Every segmenter family (SAM/SlimSAM, SAM-HQ, SAM 2) behind one SamPredictor.

Prompts reach each model in its own input frame (checked against its transformers processor's own
normalisation, on a non-square image); one embedding serves many prompts; masks come back at
image size with the best candidate by predicted IoU; checkpoints load from a folder or fail in one
line. Tiny random models, built in code.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from maskedit.errors import CheckpointError, InputError, MissingWeightsError
from maskedit.families import SEGMENTERS, get_segmenter
from maskedit.masks.sam import (
    Sam2LiteProcessor,
    SamPredictor,
    resized_hw,
    to_model_coords,
    to_sam2_coords,
)
from maskedit.models import load_segmenter
from maskedit.tiny import build_tiny_segmenter

FAMILIES = ["sam", "sam-hq", "sam2"]
CPU, FP32 = torch.device("cpu"), torch.float32
POINTS = np.array([[80.0, 30.0, 1], [5.0, 70.0, 0], [99.0, 0.0, 1]])
BOX = np.array([50.0, 15.0, 90.0, 55.0])


@pytest.fixture(scope="module")
def components():
    """(model, processor) of each family's tiny model, built once for the module."""
    return {name: build_tiny_segmenter(name) for name in FAMILIES}


@pytest.fixture(params=FAMILIES)
def family(request):
    return request.param


@pytest.fixture
def predictor(components, family):
    return SamPredictor(*components[family])


def _processor_frame(predictor, image_hw, points, box):
    """The points and box as the family's own transformers processor normalises them."""
    h, w = image_hw
    pts, labels = points[:, :2].tolist(), points[:, 2].astype(int).tolist()
    if predictor.family == "sam2":
        # transformers' Sam2Processor (its image processor needs torchvision; coordinates don't):
        # the placeholder image processor only satisfies its type check and is never called.
        from transformers import Sam2Processor, SamImageProcessorPil

        proc = Sam2Processor(image_processor=SamImageProcessorPil(), target_size=64)
        out = proc(
            images=None,
            original_sizes=[[h, w]],
            input_points=[[pts]],
            input_labels=[[labels]],
            input_boxes=[[box.tolist()]],
            return_tensors="pt",
        )
    else:  # SamProcessor / SamHQProcessor, given the image itself
        image = np.zeros((h, w, 3), np.uint8)
        out = predictor.processor(
            images=image,
            input_points=[[pts]],
            input_labels=[[labels]],
            input_boxes=[[box.tolist()]],
            return_tensors="pt",
        )
    return out["input_points"][0, 0].numpy(), out["input_boxes"][0, 0].numpy()


def _capture_prompt_encoder(model):
    seen = {}

    def hook(module, args, kwargs):
        seen.update(kwargs)

    return seen, model.prompt_encoder.register_forward_pre_hook(hook, with_kwargs=True)


def test_prompts_reach_the_prompt_encoder_in_each_familys_frame(predictor, photo):
    seen, handle = _capture_prompt_encoder(predictor.model)
    predictor.set_image(photo)  # 75×100: non-square, so the families' frames differ
    predictor.predict(points=POINTS, box=BOX)
    handle.remove()
    got_pts = seen["input_points"][0, 0].numpy()
    got_box = seen["input_boxes"][0, 0].numpy()
    # 1. the family's one mapping function, with the scales worked out by hand
    if predictor.family == "sam2":  # stretched to 64×64: x × 64/100, y × 64/75
        sx, sy = 64 / 100, 64 / 75
        ours = to_sam2_coords(POINTS[:, :2], (75, 100), 64)
    else:  # long side to 64, aspect kept: 75×100 → 48×64
        assert resized_hw(75, 100, 64) == (48, 64)
        sx, sy = 64 / 100, 48 / 75
        ours = to_model_coords(POINTS[:, :2], (75, 100), 64)
    by_hand = POINTS[:, :2] * [sx, sy]
    np.testing.assert_allclose(ours, by_hand, rtol=1e-12)
    np.testing.assert_allclose(got_pts, by_hand, rtol=1e-6)
    np.testing.assert_allclose(got_box, BOX * [sx, sy, sx, sy], rtol=1e-6)
    assert seen["input_labels"][0, 0].tolist() == [1, 0, 1]
    # 2. the family's transformers processor normalises the same way
    theirs_pts, theirs_box = _processor_frame(predictor, (75, 100), POINTS, BOX)
    np.testing.assert_allclose(got_pts, theirs_pts, atol=1e-4)
    np.testing.assert_allclose(got_box, theirs_box, atol=1e-4)


def test_real_size_geometry_of_both_frames():
    # SAM keeps the aspect ratio (pads below), SAM 2 stretches: the far corner maps differently
    np.testing.assert_allclose(
        to_model_coords(np.array([[741, 500]]), (500, 741), 1024), [[1024, 691]]
    )
    np.testing.assert_allclose(
        to_sam2_coords(np.array([[741, 500]]), (500, 741), 1024), [[1024, 1024]]
    )


def test_one_embedding_serves_many_prompts(predictor, photo):
    calls = {"n": 0}
    handle = predictor.model.vision_encoder.register_forward_hook(
        lambda *a: calls.__setitem__("n", calls["n"] + 1)
    )
    predictor.set_image(photo)
    for x in (10, 40, 90):
        predictor.predict(points=np.array([[x, 30.0, 1]]))
    predictor.predict(box=BOX)
    predictor.predict(points=POINTS, box=BOX, multimask=False)
    predictor.set_image(photo.copy())  # same pixels: cached
    assert calls["n"] == 1 and predictor.embed_calls == 1
    predictor.set_image(photo[::-1].copy())  # other pixels: a new embedding
    handle.remove()
    assert calls["n"] == 2 and predictor.embed_calls == 2


def test_cached_embedding_gives_the_models_own_full_forward(predictor, photo):
    """Embedding once then prompting equals one full forward from pixels (SAM-HQ: with its
    intermediate ViT features; SAM 2: with all three feature levels)."""
    seen = {}
    handle = predictor.model.register_forward_hook(lambda m, a, out: seen.update(out=out))
    predictor.set_image(photo)
    pred = predictor.predict(points=POINTS[:2], box=BOX, multimask=True)
    handle.remove()
    if predictor.family == "sam2":
        pixels = predictor._sam2.pixel_values(photo)
    else:
        pixels = predictor.processor.image_processor(images=photo, return_tensors="pt")
        pixels = pixels["pixel_values"]
    kwargs = {
        "input_points": torch.tensor(predictor.to_model_frame(POINTS[:2, :2]), dtype=torch.float32)[
            None, None
        ],
        "input_labels": torch.tensor([[[1, 0]]]),
        "input_boxes": torch.tensor(
            predictor.to_model_frame(BOX.reshape(2, 2)), dtype=torch.float32
        ).reshape(1, 1, 4),
    }
    with torch.no_grad():
        full = predictor.model(pixel_values=pixels, **kwargs)
    np.testing.assert_allclose(pred.scores, full.iou_scores[0, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(
        seen["out"].pred_masks.numpy(), full.pred_masks.numpy(), rtol=1e-4, atol=1e-8
    )


@pytest.mark.parametrize("hw", [(75, 100), (120, 30)])
def test_masks_at_image_size_best_is_argmax(predictor, hw, rng):
    image = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
    predictor.set_image(image)
    pred = predictor.predict(points=np.array([[hw[1] / 2, hw[0] / 3, 1]]))
    assert pred.masks.shape == (3, *hw) and pred.masks.dtype == bool
    assert pred.best == int(np.argmax(pred.scores)) and len(pred.scores) == 3
    assert np.array_equal(pred.mask, pred.masks[pred.best])
    assert pred.to_record()["chosen"] == pred.best
    single = predictor.predict(box=np.array([0, 0, hw[1] - 1, hw[0] - 1]), multimask=False)
    assert single.masks.shape == (1, *hw) and single.best == 0


def test_sam2_pixels_are_the_image_stretched_and_normalised():
    lite = Sam2LiteProcessor(size=64)
    image = np.zeros((40, 100, 3), np.uint8)
    image[:, :50] = (255, 0, 0)  # left half red, right half black
    pixels = lite.pixel_values(image)
    assert pixels.shape == (1, 3, 64, 64)
    mean, std = np.array(lite.image_mean), np.array(lite.image_std)
    red = (np.array([1.0, 0.0, 0.0]) - mean) / std
    black = -mean / std
    np.testing.assert_allclose(pixels[0, :, :, :30].mean((1, 2)).numpy(), red, atol=1e-5)
    np.testing.assert_allclose(pixels[0, :, :, 34:].mean((1, 2)).numpy(), black, atol=1e-5)
    logits = torch.full((3, 16, 16), -1.0)
    logits[:, :, :8] = 1.0
    masks = lite.post_process_masks(logits, (40, 100))
    assert masks.shape == (3, 40, 100) and masks[:, :, :45].all() and not masks[:, :, 55:].any()


@pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is None, reason="Sam2ImageProcessor needs torchvision"
)
def test_sam2_pixels_match_transformers_image_processor(photo):
    from transformers import Sam2ImageProcessor

    theirs = Sam2ImageProcessor(size={"height": 64, "width": 64})(photo, return_tensors="pt")
    ours = Sam2LiteProcessor(size=64).pixel_values(photo)
    # both resize uint8 → uint8 (antialiased bilinear); rounding may differ by one grey level
    np.testing.assert_allclose(ours.numpy(), theirs["pixel_values"].numpy(), atol=0.02)


@pytest.mark.parametrize("name", ["sam", "slimsam", "sam-hq", "sam2"])
def test_missing_checkpoint_is_one_clear_line(tmp_path, name):
    with pytest.raises(MissingWeightsError, match="not a complete checkpoint") as err:
        load_segmenter(name, str(tmp_path / "nope"), CPU, FP32)
    assert "\n" not in str(err.value) and name in str(err.value)


@pytest.mark.parametrize("name", ["sam", "slimsam", "sam-hq", "sam2"])
def test_saved_folder_loads_back_with_the_same_masks(tmp_path, name, photo):
    model, processor = build_tiny_segmenter(name)
    model.save_pretrained(tmp_path / name)
    processor.save_pretrained(tmp_path / name)
    loaded = load_segmenter(name, str(tmp_path / name), CPU, FP32)
    assert type(loaded.model) is type(model) and loaded.family == SEGMENTERS[name].family
    before = SamPredictor(model, processor)
    for p in (before, loaded):
        p.set_image(photo)
    a = before.predict(points=POINTS, box=BOX, multimask=True)
    b = loaded.predict(points=POINTS, box=BOX, multimask=True)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)
    assert np.array_equal(a.masks, b.masks)


def test_device_and_dtype_may_be_spelled_as_maskedit_spells_them(tmp_path):
    """"cpu" and "fp32" load as torch's objects do; a wrong spelling is named as such, not as a
    checkpoint that does not load."""
    model, processor = build_tiny_segmenter("sam")
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded = load_segmenter("sam", str(tmp_path), "cpu", "fp32")
    assert loaded.model.dtype == torch.float32 and loaded.model.device.type == "cpu"
    assert load_segmenter("sam", str(tmp_path), "cpu", "bf16").model.dtype == torch.bfloat16
    with pytest.raises(InputError, match="'int8': expected one of fp32, fp16, bf16"):
        load_segmenter("sam", str(tmp_path), "cpu", "int8")
    with pytest.raises(InputError, match="'tpu': expected cuda, cuda:N, mps or cpu"):
        load_segmenter("sam", str(tmp_path), "tpu", FP32)


def test_sam2_video_checkpoint_layout_loads_into_the_image_model(tmp_path, components, photo):
    """The facebook/sam2.1-* repos hold a `sam2_video` config: Sam2Model loads its image half."""
    from transformers import Sam2VideoConfig, Sam2VideoModel

    model, processor = components["sam2"]
    cfg = model.config
    video = Sam2VideoConfig(
        vision_config=cfg.vision_config,
        prompt_encoder_config=cfg.prompt_encoder_config,
        mask_decoder_config=cfg.mask_decoder_config,
        image_size=64,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        video_model = Sam2VideoModel(video)
    video_model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded = load_segmenter("sam2", str(tmp_path), CPU, FP32)
    assert loaded.family == "sam2"
    weights = video_model.state_dict()
    assert all(torch.equal(v, weights[k]) for k, v in loaded.model.state_dict().items())
    loaded.set_image(photo)
    assert loaded.predict(points=POINTS, multimask=True).masks.shape == (3, 75, 100)


def test_another_familys_checkpoint_is_named(tmp_path, components):
    model, processor = components["sam"]
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="'sam' model, a sam2 checkpoint is 'sam2'"):
        load_segmenter("sam2", str(tmp_path), CPU, FP32)
    with pytest.raises(CheckpointError, match="a sam-hq checkpoint is 'sam_hq'"):
        load_segmenter("sam-hq", str(tmp_path), CPU, FP32)


def test_processor_and_model_input_sizes_must_agree(components):
    model, _ = components["sam2"]
    with pytest.raises(CheckpointError, match="resizes to 1024 px but the Sam2Model expects 64"):
        SamPredictor(model, Sam2LiteProcessor())


def test_registry_lists_loadable_choices():
    import transformers

    assert set(SEGMENTERS) == {"sam", "slimsam", "sam-hq", "sam2"}
    for name, seg in SEGMENTERS.items():
        assert seg.name == name and seg.default_id in seg.ids
        assert hasattr(transformers, seg.model_class)
        assert seg.processor_class == "Sam2LiteProcessor" or hasattr(
            transformers, seg.processor_class
        )
        model, processor = build_tiny_segmenter(name) if name != "sam2" else (None, None)
        if model is not None:
            assert SamPredictor(model, processor).family == seg.family
    assert SEGMENTERS["sam"].default_id == "facebook/sam-vit-huge"
    with pytest.raises(InputError, match="expected one of sam, slimsam, sam-hq, sam2"):
        get_segmenter("sam3")
