"""The identities on a CUDA GPU, where users run: every editor in fp32 and in the dtype maskedit
picks there (fp16 for the IP2P family, bf16 for the flow transformers), the SAM click path, the
relevance mask, batches, and the CLI with `--device cuda`.

GPU kernels, half precision and CPU-drawn noise moved to the device are what the CPU suite does
not exercise. Skipped without CUDA; `MASKEDIT_TEST_DEVICE=cpu pytest -m gpu` runs the same checks
on the CPU (a check of the tests themselves).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import maskedit
from maskedit import EditSettings
from maskedit.batch import edit_many
from maskedit.cli import app
from maskedit.editing.editors import call_pipeline, plain_kwargs, resolve_settings, to_uint8
from maskedit.families import EDITORS
from maskedit.models.hub import pick_dtype
from maskedit.tiny import build_tiny_editor

DEVICE = os.environ.get("MASKEDIT_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="no CUDA GPU"
    ),
]
H, W = 64, 96  # sides multiples of 32 (Qwen) and at least 64 (FLUX.2)
PROMPT = "make it gold"
FAMILIES = ("ip2p", "ip2p-xl", "kontext", "qwen-edit", "qwen-edit-plus", "flux2-klein",
            "flux2-klein-base")  # fmt: skip
DTYPES = ("picked", "fp32")


def _dtype(editor: str, which: str) -> torch.dtype:
    """`picked`: what `load_models` chooses on a CUDA device for this editor's checkpoints."""
    return pick_dtype(torch.device("cuda"), None if which == "picked" else which, EDITORS[editor])


def _photo(seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _part() -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[16:48, 24:72] = True
    return m


def _methods(editor: str) -> tuple[str, ...]:
    return ("pixel", "latent", "crop") + (("guidance",) if EDITORS[editor].masked_guidance else ())


@pytest.fixture(scope="module")
def wrapped() -> dict:
    return {}


def _models(wrapped: dict, editor: str, which: str) -> maskedit.Models:
    """The tiny pipeline moved to the device in that dtype, as a user hands theirs over."""
    if (editor, which) not in wrapped:
        pipe = build_tiny_editor(editor).to(DEVICE, _dtype(editor, which))
        wrapped[editor, which] = maskedit.Models.from_components(pipe, working_size=W)
    return wrapped[editor, which]


@pytest.mark.parametrize("which", DTYPES)
@pytest.mark.parametrize("editor", FAMILIES)
def test_every_identity_on_the_device(wrapped, editor, which):
    """The baseline is the plain diffusers call and repeats bit for bit; an all-ones mask gives
    the baseline, an all-zeros mask the input, and outside a part the output is the input."""
    models = _models(wrapped, editor, which)
    photo, methods, s = _photo(), _methods(editor), EditSettings(steps=3, seed=4)
    ones = maskedit.edit(photo, PROMPT, models=models, mask=np.ones((H, W)), settings=s,
                         methods=methods)  # fmt: skip
    settings = resolve_settings(s, EDITORS[editor])
    plain = to_uint8(call_pipeline(models.pipe, plain_kwargs(models.pipe, photo, PROMPT, settings),
                                   (H, W))[0])  # fmt: skip
    assert np.array_equal(ones.baseline, plain)
    if EDITORS[editor].family.image_guidance:  # and what an IP2P user writes, by hand
        size = {"height": H, "width": W} if editor == "ip2p-xl" else {}
        user = models.pipe(PROMPT, image=Image.fromarray(photo), num_inference_steps=3,
                           guidance_scale=settings.text_cfg,
                           image_guidance_scale=settings.image_cfg,
                           generator=torch.Generator().manual_seed(4), output_type="pil", **size)  # fmt: skip
        assert np.array_equal(ones.baseline, np.asarray(user.images[0]))
    assert 0 < ones.baseline.std()  # not a blank (NaN → 0) picture
    for m in methods:
        if m != "crop":  # crop edits the mask's box again: a new call at another size
            assert np.array_equal(ones.outputs[m], ones.baseline), m
    again = maskedit.edit(photo, PROMPT, models=models, mask=np.ones((H, W)), settings=s,
                          methods=("latent",))  # fmt: skip
    assert np.array_equal(again.baseline, ones.baseline)
    assert np.array_equal(again.outputs["latent"], ones.outputs["latent"])

    zeros = maskedit.edit(photo, PROMPT, models=models, mask=np.zeros((H, W)), settings=s,
                          methods=methods, baseline=False)  # fmt: skip
    for m in methods:
        assert np.array_equal(zeros.outputs[m], photo), m

    part = _part()
    res = maskedit.edit(photo, PROMPT, models=models, mask=part, settings=s, methods=methods)
    for m in methods:
        assert np.array_equal(res.outputs[m][~part], photo[~part]), m
        assert not np.array_equal(res.outputs[m][part], photo[part]), m  # it did edit inside
    dtype = str(_dtype(editor, which)).removeprefix("torch.")
    assert res.models["device"].startswith(DEVICE) and res.models["ip2p"]["dtype"] == dtype


def test_a_click_with_sam_and_the_relevance_mask_on_the_device():
    """`load_models(device=...)`: SAM's embedding and decode on the device; the mask from where
    the instruction acts (the UNet's own forwards); outside each mask the photo."""
    models = maskedit.load_models("tiny", device=DEVICE, working_size=W)
    photo, s = _photo(), EditSettings(steps=3, seed=4)
    click = maskedit.edit(photo, PROMPT, models=models, points=[(48, 32)], settings=s,
                          methods=("pixel", "latent"))  # fmt: skip
    relevance = maskedit.edit(photo, PROMPT, models=models, mask_from="edit", settings=s,
                              methods=("pixel", "latent"))  # fmt: skip
    assert click.sam is not None and click.mask_source == "sam"
    assert relevance.mask_source == "edit"
    for res in (click, relevance):
        inside = res.alpha > 0
        assert 0 < inside.sum() < inside.size
        for m in ("pixel", "latent"):
            assert np.array_equal(res.outputs[m][~inside], photo[~inside]), m


@pytest.mark.parametrize("editor", ["ip2p", "kontext"])
def test_a_batch_on_the_device_keeps_the_photo_outside(wrapped, editor):
    """`edit_many` with one denoiser call for three cases (latents of several cases in one
    batch; GPU kernels may round a batch otherwise than one case, so outside is the test)."""
    models = _models(wrapped, editor, "picked")
    part, s = _part(), EditSettings(steps=2, seed=5, methods=("pixel", "latent"))
    photos = [_photo(k) for k in range(3)]
    results = edit_many([dict(image=p, instruction=PROMPT, mask=part, settings=s) for p in photos],
                        models=models, batch_size=3)  # fmt: skip
    for photo, res in zip(photos, results, strict=True):
        assert isinstance(res, maskedit.EditResult), res
        assert res.batch == {"baseline": 3}  # the three cases shared the editor's calls
        for m in ("pixel", "latent"):
            assert np.array_equal(res.outputs[m][~part], photo[~part]), m


def test_the_cli_edits_on_the_device(tmp_path):
    """`maskedit edit --device cuda` with a mask file: record.json names the device and the
    outputs keep the photo outside the mask."""
    photo, part = _photo(), _part()
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(part.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["edit", str(tmp_path / "photo.png"), "-i", PROMPT, "--mask",
                                   str(tmp_path / "mask.png"), "--models", "tiny", "--device",
                                   DEVICE, "--steps", "2", "--methods", "pixel,latent", "--out",
                                   str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    record = json.loads((out / "record.json").read_text())
    assert record["models"]["device"].startswith(DEVICE)
    for m in ("pixel", "latent"):
        edited = np.asarray(Image.open(out / f"blended_{m}.png").convert("RGB"))
        assert np.array_equal(edited[~part], photo[~part]), m
