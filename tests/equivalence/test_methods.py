"""Spatial-control methods: identities that hold whatever the weights are."""

from __future__ import annotations

import numpy as np
import pytest
from editor_calls import edit_at_working_size

from maskedit import EditSettings, InputError, edit
from maskedit.editing.latent import LatentBlend

METHODS = ("pixel", "latent", "guidance", "crop")
FAST = dict(steps=3, seed=11)


@pytest.fixture
def square(rng) -> np.ndarray:
    """An image exactly at the tiny working size (128×128)."""
    return rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)


def _part_mask(h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[h // 4 : h // 2, w // 3 : 2 * w // 3] = True
    return m


def test_all_ones_mask_latent_and_guidance_equal_baseline(tiny_models, square):
    res = edit(
        square,
        "make it gold",
        models=tiny_models,
        mask=np.ones((128, 128)),
        settings=EditSettings(methods=("pixel", "latent", "guidance"), **FAST),
    )
    for method in ("pixel", "latent", "guidance"):
        assert np.array_equal(res.outputs[method], res.baseline), method
    assert res.method_info["latent"]["blended_steps"] == 3  # blending did run, as a no-op
    assert res.method_info["guidance"]["masked_unet_calls"] == 3


@pytest.mark.parametrize("harmonize", ["poisson", "color"])
def test_all_ones_mask_equals_baseline_with_a_seam_method_too(tiny_models, square, harmonize):
    """With the whole image inside the mask there is no seam to harmonise: still the baseline."""
    res = edit(square, "make it gold", models=tiny_models, mask=np.ones((128, 128)),
               settings=EditSettings(methods=("pixel", "latent"), harmonize=harmonize, **FAST))
    for method in ("pixel", "latent"):
        assert np.array_equal(res.outputs[method], res.baseline), method


def test_empty_blend_window_equals_baseline(tiny_models, square):
    m = _part_mask(128, 128)
    for start, end in ((0.5, 0.5), (1.0, 1.0)):  # start > end is refused (test_manifest_bounds)
        res = edit(
            square,
            "make it gold",
            models=tiny_models,
            mask=m,
            settings=EditSettings(methods=("latent",), blend_start=start, blend_end=end, **FAST),
        )
        assert res.method_info["latent"]["blended_steps"] == 0
        # with no blending the latent method's edit is the baseline; the composite is then pixel's
        pixel = edit(
            square, "make it gold", models=tiny_models, mask=m, settings=EditSettings(**FAST)
        )
        assert np.array_equal(res.blended, pixel.blended)


def test_all_zeros_mask_every_method_returns_input(tiny_models, photo):
    res = edit(
        photo,
        "make it gold",
        models=tiny_models,
        mask=np.zeros(photo.shape[:2]),
        settings=EditSettings(methods=METHODS, **FAST),
    )
    for method in METHODS:
        assert np.array_equal(res.outputs[method], photo), method


@pytest.mark.parametrize("harmonize", ["none", "poisson", "color"])
def test_outside_the_shaped_mask_every_method_is_bit_exact(tiny_models, photo, harmonize):
    m = _part_mask(*photo.shape[:2])
    res = edit(
        photo,
        "make it gold",
        models=tiny_models,
        mask=m,
        settings=EditSettings(methods=METHODS, dilate=3, feather=2.0, harmonize=harmonize, **FAST),
    )
    outside = res.alpha == 0
    assert outside.sum() > 0 and (res.alpha[m] == 1).any()
    assert not outside[m].any()  # the dilated mask contains the given one
    for method in METHODS:
        out = res.outputs[method]
        assert np.array_equal(out[outside], photo[outside]), method
        assert not np.array_equal(out, photo), method  # and something did change inside


def test_crop_equals_pixel_on_working_size_image_with_full_mask(tiny_models, square):
    res = edit(
        square,
        "make it gold",
        models=tiny_models,
        mask=np.ones((128, 128)),
        settings=EditSettings(methods=("pixel", "crop"), **FAST),
    )
    assert res.method_info["crop"]["crop_box"] == [0, 0, 128, 128]
    assert np.array_equal(res.outputs["crop"], res.outputs["pixel"])


def test_crop_edits_the_box_at_working_size(tiny_models, rng):
    big = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    m = np.zeros((300, 400), bool)
    m[100:140, 200:260] = True
    res = edit(
        big,
        "make it gold",
        models=tiny_models,
        mask=m,
        settings=EditSettings(methods=("crop",), crop_margin=0.25, **FAST),
    )
    x0, y0, x1, y1 = res.method_info["crop"]["crop_box"]
    assert x0 <= 200 and y0 <= 100 and x1 >= 260 and y1 >= 140  # box holds the mask
    assert max(res.method_info["crop"]["crop_working_size"]) == 128  # the crop got the full size
    assert np.array_equal(res.blended[~m], big[~m])


def test_latent_blend_keeps_source_track_outside_mask(tiny_models, square):
    """At the end of the loop the latents outside the latent mask are exactly z₀, the VAE latent
    of the source that IP2P itself encoded (× scaling factor)."""
    pipe = tiny_models.pipe
    lm = np.zeros((16, 16), np.float32)
    lm[4:10, 5:12] = 1.0
    blend = LatentBlend(lm, seed=5)
    seen = {}

    def spy(p, i, t, latents, z0):
        out = blend(p, i, t, latents, z0)
        seen["latents"], seen["z0"] = out, z0
        return out

    edit_at_working_size(pipe, square, "make it gold", EditSettings(**FAST, text_cfg=7.5, image_cfg=1.5),
               blend=spy)
    outside = lm == 0
    lat, z0 = seen["latents"][0].numpy(), seen["z0"][0].numpy()
    assert np.array_equal(lat[:, outside], z0[:, outside])
    assert not np.allclose(lat[:, ~outside], z0[:, ~outside])
    # z0 is what the pipeline encoded: the VAE mode of the source × scaling factor
    from diffusers.pipelines.stable_diffusion import (
        pipeline_stable_diffusion_instruct_pix2pix as ip2p_module,
    )
    from PIL import Image

    pixels = pipe.image_processor.preprocess(Image.fromarray(square))
    mode = ip2p_module.retrieve_latents(pipe.vae.encode(pixels), sample_mode="argmax")
    np.testing.assert_allclose(z0, (mode * pipe.vae.config.scaling_factor)[0].detach().numpy(),
                               rtol=1e-5, atol=1e-5)


def test_latent_differs_from_pixel_inside_mask(tiny_models, square):
    m = _part_mask(128, 128)
    res = edit(
        square,
        "make it gold",
        models=tiny_models,
        mask=m,
        settings=EditSettings(methods=("pixel", "latent", "guidance"), **FAST),
    )
    assert not np.array_equal(res.outputs["latent"][m], res.outputs["pixel"][m])
    assert not np.array_equal(res.outputs["guidance"][m], res.outputs["pixel"][m])


def test_guidance_needs_a_text_guidance_term(tiny_models, square):
    with pytest.raises(InputError, match="guidance.*text_cfg > 1"):
        edit(
            square,
            "x",
            models=tiny_models,
            mask=np.ones((128, 128)),
            settings=EditSettings(methods=("guidance",), text_cfg=1.0, steps=1),
        )


def test_unknown_method_is_a_clear_error(tiny_models, square):
    with pytest.raises(
        InputError, match="method 'blur' is not one of pixel, latent, guidance, crop"
    ):
        edit(square, "x", models=tiny_models, mask=np.ones((128, 128)), methods="pixel,blur")


def test_methods_are_deterministic(tiny_models, photo):
    m = _part_mask(*photo.shape[:2])
    s = EditSettings(methods=METHODS, **FAST)
    a = edit(photo, "make it gold", models=tiny_models, mask=m, settings=s)
    b = edit(photo, "make it gold", models=tiny_models, mask=m, settings=s)
    for method in METHODS:
        assert np.array_equal(a.outputs[method], b.outputs[method])


def test_method_alone_skips_the_baseline_and_matches(tiny_models, photo):
    """`baseline=False`: a method runs alone (as benchmarks time it), same pixels as with it."""
    m = _part_mask(*photo.shape[:2])
    calls = []
    s = EditSettings(methods=("latent",), **FAST)
    alone = edit(
        photo,
        "make it gold",
        models=tiny_models,
        mask=m,
        settings=s,
        baseline=False,
        progress=lambda stage, i, n: calls.append((stage, i, n)),
    )
    both = edit(photo, "make it gold", models=tiny_models, mask=m, settings=s)
    assert alone.baseline is None and "edit" not in alone.timings
    assert np.array_equal(alone.blended, both.blended)
    assert calls == [("latent", 1, 3), ("latent", 2, 3), ("latent", 3, 3)]
