"""Equivalence tests: hold whatever the weights are (tiny random models here)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from maskedit import EditSettings, edit
from maskedit.editing.editors import working_hw


def _diffusers(pipe, image: np.ndarray, instruction: str, s: EditSettings) -> np.ndarray:
    """What a user of plain diffusers would get (PIL output, diffusers' own rounding)."""
    out = pipe(
        instruction,
        image=Image.fromarray(image),
        num_inference_steps=s.steps,
        guidance_scale=s.text_cfg,
        image_guidance_scale=s.image_cfg,
        generator=torch.Generator().manual_seed(s.seed),
        output_type="pil",
    )
    return np.asarray(out.images[0])


def test_unmasked_path_reproduces_diffusers_exactly(tiny_models, rng):
    img = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)  # already at the tiny working size
    s = EditSettings(steps=4, seed=7)
    ours = edit(img, "make it red", models=tiny_models, mask=np.ones((96, 128)), settings=s)
    assert ours.working_hw == (96, 128)
    ref = _diffusers(tiny_models.pipe, img, "make it red", ours.settings)
    assert np.array_equal(ours.baseline, ref)
    assert np.array_equal(ours.blended, ref)  # all-ones mask: the blend is the baseline
    # the settings used (and recorded) are the ip2p editor's defaults, as the user left them unset
    assert (ours.settings.text_cfg, ours.settings.image_cfg) == (7.5, 1.5)


def test_non_square_photo_keeps_aspect_and_native_size(tiny_models, photo):
    from maskedit.images import resize_rgb

    s = EditSettings(steps=3)
    res = edit(photo, "make it blue", models=tiny_models, mask=np.ones(photo.shape[:2]), settings=s)
    assert res.baseline.shape == photo.shape and res.blended.shape == photo.shape
    h, w = res.working_hw
    assert max(h, w) == 128 and abs(w / h - 100 / 75) < 0.1  # aspect kept, sides multiples of 16
    assert h % 16 == 0 and w % 16 == 0
    ref = _diffusers(tiny_models.pipe, resize_rgb(photo, (h, w)), "make it blue", res.settings)
    assert np.array_equal(resize_rgb(ref, photo.shape[:2]), res.baseline)


def test_all_zeros_mask_returns_input(tiny_models, photo):
    res = edit(
        photo,
        "make it blue",
        models=tiny_models,
        mask=np.zeros(photo.shape[:2]),
        settings=EditSettings(steps=2),
    )
    assert np.array_equal(res.blended, photo)
    assert not np.array_equal(res.baseline, photo)  # the edit itself did change pixels


def test_outside_mask_is_bit_exact(tiny_models, photo, rng):
    alpha = np.zeros(photo.shape[:2], np.float32)
    alpha[10:40, 20:70] = 1.0
    alpha[40:45, 20:70] = 0.5  # a soft edge
    res = edit(
        photo, "make it blue", models=tiny_models, mask=alpha, settings=EditSettings(steps=2)
    )
    assert np.array_equal(res.blended[alpha == 0], photo[alpha == 0])
    assert np.array_equal(res.blended[alpha == 1], res.baseline[alpha == 1])
    soft = res.blended[alpha == 0.5].astype(int)
    expect = np.round(0.5 * res.baseline[alpha == 0.5] + 0.5 * photo[alpha == 0.5].astype(float))
    assert np.abs(soft - expect).max() <= 1


def test_same_seed_same_pixels_other_seed_differs(tiny_models, photo):
    m = np.ones(photo.shape[:2])
    a = edit(photo, "x", models=tiny_models, mask=m, settings=EditSettings(steps=2, seed=1))
    b = edit(photo, "x", models=tiny_models, mask=m, settings=EditSettings(steps=2, seed=1))
    c = edit(photo, "x", models=tiny_models, mask=m, settings=EditSettings(steps=2, seed=2))
    assert np.array_equal(a.baseline, b.baseline)
    assert not np.array_equal(a.baseline, c.baseline)


def test_working_size_rule_real_geometries():
    """Real geometries: SD 1.5 (VAE ×8, 4 UNet levels → multiples of 64), SDXL (3 levels → 32),
    FLUX.1 Kontext (VAE ×8, 2×2 packing → 16), on the demo photos and a 4:3 phone photo."""

    def fake(class_name: str, levels: int):
        cfg = type("Cfg", (), {"block_out_channels": (320,) * levels})
        return type(class_name, (), {"vae_scale_factor": 8, "unet": type("U", (), {"config": cfg})})()

    sd = fake("StableDiffusionInstructPix2PixPipeline", 4)
    assert working_hw(sd, (512, 512), 512) == (512, 512)
    assert working_hw(sd, (300, 451), 512) == (320, 512)
    assert working_hw(sd, (500, 741), 512) == (320, 512)
    assert working_hw(sd, (3000, 4000), 512) == (384, 512)
    xl = fake("StableDiffusionXLInstructPix2PixPipeline", 3)
    assert working_hw(xl, (3000, 4000), 768) == (576, 768)
    kontext = fake("FluxKontextPipeline", 0)
    assert working_hw(kontext, (500, 741), 1024) == (688, 1024)
