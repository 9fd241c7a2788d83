"""Masks from the edit itself (Watch Your Steps relevance): exact properties on tiny models.

- an empty instruction makes the text term, hence the map, exactly zero;
- recording during the edit adds no UNet forward and leaves the edit unchanged;
- the pre-pass stays within its budget of 4 forwards and conditions like the pipeline;
- thresholding and SAM refinement do what their docstrings say, on hand-made maps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from editor_calls import edit_at_working_size as run_ip2p

from maskedit.config import EditSettings
from maskedit.errors import InputError, RunFailure
from maskedit.masks.relevance import (
    MAX_PREPASS_FORWARDS,
    RELEVANCE_LEVELS,
    record_relevance,
    refine_with_sam,
    relevance_prepass,
    relevance_to_image,
    relevance_to_mask,
)
from maskedit.masks.sam import SamPredictor, to_model_coords
from maskedit.tiny import build_tiny_ip2p, build_tiny_sam

CFG = {"text_cfg": 7.5, "image_cfg": 1.5}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pipe():
    return build_tiny_ip2p()


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(3).integers(0, 256, (64, 96, 3), dtype=np.uint8)  # working size


def _settings(steps: int = 3) -> EditSettings:
    return EditSettings(steps=steps, seed=5, **CFG)


class _Count:
    """Counts UNet forwards and keeps their inputs/outputs."""

    def __init__(self, unet):
        self.calls, self.inputs, self.outputs = 0, [], []
        self.handle = unet.register_forward_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs, output):
        self.calls += 1
        self.inputs.append((args[0].clone(), kwargs["encoder_hidden_states"].clone()))
        self.outputs.append((output[0] if isinstance(output, tuple) else output.sample).clone())

    def remove(self):
        self.handle.remove()


def test_empty_instruction_gives_an_exactly_zero_map(pipe, image):
    rel, calls = relevance_prepass(pipe, image, "", seed=1, **CFG)
    assert calls == len(RELEVANCE_LEVELS) and rel.shape == (8, 12) and rel.dtype == np.float32
    assert np.all(rel == 0)
    with record_relevance(pipe.unet) as rec:
        run_ip2p(pipe, image, "", _settings(2))
    assert rec.calls == 2 and np.all(rec.map() == 0)
    mask, threshold = relevance_to_mask(rec.map(), (75, 100))  # no crash on a flat map
    assert mask.shape == (75, 100) and not mask.any() and threshold == 1.0


def test_recording_adds_no_unet_forward_and_changes_nothing(pipe, image):
    steps = 3
    count = _Count(pipe.unet)
    plain = run_ip2p(pipe, image, "make it red", _settings(steps))
    plain_calls = count.calls
    count.remove()
    count = _Count(pipe.unet)
    with record_relevance(pipe.unet) as rec:
        recorded = run_ip2p(pipe, image, "make it red", _settings(steps))
    count.remove()
    assert plain_calls == steps and count.calls == steps and rec.calls == steps
    assert np.array_equal(plain, recorded)
    # the map is mean over steps of mean_c |ε_text − ε_image| of the edit's own forwards
    expected = torch.stack(
        [(out.chunk(3)[0] - out.chunk(3)[1]).abs().mean(dim=(0, 1)) for out in count.outputs]
    ).mean(0)
    np.testing.assert_allclose(rec.map(), expected.numpy(), rtol=1e-5, atol=1e-7)
    assert rec.map().shape == (8, 12) and rec.map().max() > 0


def test_recorder_without_guidance_says_why(pipe, image):
    with record_relevance(pipe.unet) as rec:
        run_ip2p(pipe, image, "make it red", EditSettings(steps=1, text_cfg=1.0, image_cfg=1.5))
    assert rec.calls == 0
    with pytest.raises(RunFailure, match="text_cfg > 1"):
        rec.map()


def test_prepass_stays_within_its_budget_and_conditions_like_the_pipeline(pipe, image):
    count = _Count(pipe.unet)
    rel, calls = relevance_prepass(pipe, image, "make it red", seed=1, **CFG)
    count.remove()
    assert count.calls == calls == MAX_PREPASS_FORWARDS == 4
    assert rel.shape == (8, 12) and rel.max() > 0
    # the pipeline's own first forward: its image latents and prompt embeddings
    ref = _Count(pipe.unet)
    run_ip2p(pipe, image, "make it red", _settings(1))
    ref.remove()
    ref_sample, ref_embeds = ref.inputs[0]
    for sample, embeds in count.inputs:
        assert sample.shape[0] == 2  # [text + image, image only]: no unconditional row needed
        assert torch.equal(sample[:, 4:], ref_sample[:2, 4:])  # IP2P's image conditioning
        assert torch.equal(embeds, ref_embeds[:2])  # [instruction, ""]
    # fewer levels, fewer forwards; never more than the budget
    count = _Count(pipe.unet)
    _, calls = relevance_prepass(pipe, image, "make it red", seed=1, levels=(0.5,), **CFG)
    count.remove()
    assert calls == count.calls == 1
    with pytest.raises(InputError, match="1 to 4"):
        relevance_prepass(pipe, image, "x", seed=1, levels=(0.9, 0.8, 0.7, 0.6, 0.5), **CFG)
    with pytest.raises(InputError, match="text_cfg"):
        relevance_prepass(pipe, image, "x", seed=1, text_cfg=1.0, image_cfg=1.5)


def test_prepass_is_reproducible_and_depends_on_the_seed(pipe, image):
    a, _ = relevance_prepass(pipe, image, "make it red", seed=1, **CFG)
    b, _ = relevance_prepass(pipe, image, "make it red", seed=1, **CFG)
    c, _ = relevance_prepass(pipe, image, "make it red", seed=2, **CFG)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("scheduler", ["LCMScheduler", "TCDScheduler"])
def test_the_prepass_runs_with_a_scheduler_of_few_steps(scheduler, image):
    """LCM and TCD (IP2P with an LCM- or TCD-LoRA) schedule at most `original_inference_steps`
    (50) steps: the pre-pass asked them for all 1000 training steps and failed with their
    ValueError, a traceback from `maskedit.edit`. It noises to the same fractions of their own
    longest schedule."""
    import diffusers

    import maskedit

    pipe = build_tiny_ip2p()
    pipe.scheduler = getattr(diffusers, scheduler).from_config(pipe.scheduler.config)
    rel, calls = relevance_prepass(pipe, image, "make it red", seed=1, **CFG)
    assert calls == MAX_PREPASS_FORWARDS and rel.shape == (8, 12) and rel.max() > 0
    again, _ = relevance_prepass(pipe, image, "make it red", seed=1, **CFG)
    assert np.array_equal(rel, again)
    models = maskedit.Models.from_components(pipe, working_size=96)
    res = maskedit.edit(image, "make it red", models=models, mask_from="edit",
                        settings=EditSettings(steps=4, seed=5, methods=("latent",)))
    assert res.alpha.any() and res.mask_info["relevance"]["extra_unet_forwards"] == calls


def test_a_prepass_the_scheduler_cannot_run_is_one_line_and_fails_alone(image):
    """A scheduler with no `add_noise` (IPNDM): a `RunFailure` naming the pre-pass and the
    scheduler, so `edit_many` keeps the other requests' results (its AttributeError stopped
    them all)."""
    import diffusers

    import maskedit
    from maskedit.batch import edit_many

    pipe = build_tiny_ip2p()
    pipe.scheduler = diffusers.IPNDMScheduler.from_config(pipe.scheduler.config)
    with pytest.raises(RunFailure, match=r"^the relevance pre-pass \(IPNDMScheduler\) failed: "
                                         r"AttributeError: .*add_noise") as err:
        relevance_prepass(pipe, image, "make it red", seed=1, **CFG)
    assert "\n" not in str(err.value)
    models = maskedit.Models.from_components(pipe, working_size=96)
    s = EditSettings(steps=2, seed=5)
    out = edit_many([dict(image=image, instruction="x", mask_from="edit", settings=s,
                          methods="latent"),
                     dict(image=image, instruction="x", mask=np.ones((64, 96)), settings=s)],
                    models=models)
    assert isinstance(out[0], RunFailure) and "IPNDMScheduler" in str(out[0])
    assert np.array_equal(out[1].outputs["pixel"], out[1].baseline)


# --- thresholding and refinement on hand-made maps -------------------------------------------


def _stripe_map() -> np.ndarray:
    rel = np.zeros((4, 4), np.float32)
    rel[:2] = 3.0  # the top half
    return rel


def test_otsu_on_a_two_level_map_gives_the_stripe_exactly():
    # Bilinear ×8 (half-pixel centres): row y samples the map at (y + 0.5) / 8 − 0.5, so the
    # value falls from 1 to 0 between rows 12 and 19 and crosses 0.5 between rows 15 and 16.
    mask, threshold = relevance_to_mask(_stripe_map(), (32, 32))
    expected = np.zeros((32, 32), bool)
    expected[:16] = True
    assert threshold == 0.5  # midway in the gap between the classes {0} and {1}
    assert np.array_equal(mask, expected)
    mask, threshold = relevance_to_mask(_stripe_map(), (32, 32), 0.5)
    assert threshold == 0.5 and np.array_equal(mask, expected)


def test_otsu_splits_noisy_background_from_object():
    rng = np.random.default_rng(0)
    rel = rng.uniform(0.0, 0.1, (8, 8))
    rel[2:5, 3:7] = rng.uniform(0.8, 1.0, (3, 4))
    mask, threshold = relevance_to_mask(rel, (64, 64))
    norm = (rel - rel.min()) / (rel.max() - rel.min())
    assert norm[norm <= threshold].max() < threshold < norm[norm > threshold].min()
    assert mask[2 * 8 + 4 : 5 * 8 - 4, 3 * 8 + 4 : 7 * 8 - 4].all()  # the object's cells
    outside = np.ones((64, 64), bool)
    outside[2 * 8 - 8 : 5 * 8 + 8, 3 * 8 - 8 : 7 * 8 + 8] = False
    assert not mask[outside].any()  # nothing beyond one cell around it


def test_low_and_high_fixed_thresholds_and_bad_methods():
    rel = _stripe_map()
    low, _ = relevance_to_mask(rel, (32, 32), 0.05)
    high, _ = relevance_to_mask(rel, (32, 32), 0.95)
    assert high.sum() < 16 * 32 < low.sum() and np.array_equal(high & low, high)
    with pytest.raises(InputError, match="otsu"):
        relevance_to_mask(rel, (32, 32), "median")
    with pytest.raises(InputError, match="otsu"):
        relevance_to_mask(rel, (32, 32), 1.5)
    with pytest.raises(InputError, match="finite"):
        relevance_to_mask(np.full((4, 4), np.nan), (8, 8))
    flat, t = relevance_to_mask(np.full((4, 4), 2.0), (8, 8), 0.3)
    assert not flat.any() and t == 0.3


def test_relevance_to_image_is_normalised_at_image_size():
    up = relevance_to_image(_stripe_map(), (30, 50))
    assert up.shape == (30, 50) and up.dtype == np.float32
    assert up.min() == 0.0 and up.max() == 1.0
    assert not relevance_to_image(np.zeros((4, 4)), (8, 8)).any()


def test_refine_with_sam_prompts_with_the_maps_box_and_peak(photo):
    sam = SamPredictor(*build_tiny_sam())
    h, w = photo.shape[:2]
    coarse = np.zeros((h, w), bool)
    coarse[20:50, 55:85] = True
    rel_image = np.zeros((h, w), np.float32)
    rel_image[30, 70] = 0.9  # the peak inside the coarse mask …
    rel_image[5, 5] = 1.0  # … wins over a higher value outside it
    seen = {}

    def hook(module, args, kwargs):
        seen.update(points=kwargs["input_points"], labels=kwargs["input_labels"])
        seen.update(boxes=kwargs["input_boxes"])

    handle = sam.model.prompt_encoder.register_forward_pre_hook(hook, with_kwargs=True)
    refined = refine_with_sam(sam, photo, coarse, rel_image)
    handle.remove()
    edge = sam.longest_edge
    np.testing.assert_allclose(
        seen["points"][0, 0].numpy(), to_model_coords(np.array([[70, 30]]), (h, w), edge), rtol=1e-5
    )
    assert seen["labels"][0, 0].tolist() == [1]
    box = to_model_coords(np.array([[55, 20], [85, 50]]), (h, w), edge).reshape(4)
    np.testing.assert_allclose(seen["boxes"][0, 0].numpy(), box, rtol=1e-5)
    assert refined.shape == (h, w) and refined.dtype == bool
    # an empty coarse mask stays empty, without a SAM call
    empty = refine_with_sam(sam, photo, np.zeros((h, w), bool), rel_image)
    assert not empty.any() and sam.embed_calls == 1
