"""Every editor behind the same spatial control: identities that hold whatever the weights are."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from editor_calls import edit_at_working_size
from PIL import Image
from typer.testing import CliRunner

import maskedit
from maskedit import EditSettings, InputError
from maskedit.cli import app
from maskedit.editing.latent import LatentBlend
from maskedit.errors import MissingWeightsError
from maskedit.families import EDITORS

EDITOR_NAMES = ("ip2p-xl", "kontext")


@pytest.fixture(scope="module", params=EDITOR_NAMES)
def models(request):
    return maskedit.load_models("tiny", editor=request.param, need_sam=False)


@pytest.fixture
def photo() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)  # already at the tiny working size


def _part(h=96, w=128) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[24:64, 40:100] = True
    return m


def _user_call(pipe, editor: str, image: np.ndarray, s: EditSettings) -> np.ndarray:
    """What a diffusers user writes for this editor (written out here, not maskedit's code)."""
    h, w = image.shape[:2]
    g = torch.Generator().manual_seed(s.seed)
    if editor == "ip2p-xl":
        out = pipe("make it gold", image=Image.fromarray(image), height=h, width=w,
                   num_inference_steps=s.steps, guidance_scale=s.text_cfg,
                   image_guidance_scale=s.image_cfg, generator=g, output_type="pil")
    else:
        out = pipe(image=Image.fromarray(image), prompt="make it gold", height=h, width=w,
                   max_area=h * w, _auto_resize=False, num_inference_steps=s.steps,
                   guidance_scale=s.text_cfg, generator=g, output_type="pil")
    return np.asarray(out.images[0])


def test_unmasked_path_equals_the_editors_own_pipeline(models, photo):
    res = maskedit.edit(photo, "make it gold", models=models, mask=np.ones((96, 128)),
                        settings=EditSettings(steps=3, seed=4))
    spec = EDITORS[models.editor]
    assert res.settings.text_cfg == spec.text_cfg  # the editor's defaults, recorded
    assert np.array_equal(res.baseline, _user_call(models.pipe, models.editor, photo, res.settings))


def test_latent_with_all_ones_mask_equals_baseline(models, photo):
    res = maskedit.edit(photo, "make it gold", models=models, mask=np.ones((96, 128)),
                        settings=EditSettings(steps=3, methods=("pixel", "latent")))
    assert res.method_info["latent"]["blended_steps"] == 3
    assert np.array_equal(res.outputs["latent"], res.baseline)


def test_every_method_with_all_zeros_mask_returns_the_input(models, photo):
    methods = ("pixel", "latent", "crop") + (("guidance",) if models.editor == "ip2p-xl" else ())
    res = maskedit.edit(photo, "make it gold", models=models, mask=np.zeros((96, 128)),
                        settings=EditSettings(steps=2, methods=methods))
    for m in methods:
        assert np.array_equal(res.outputs[m], photo), m


def test_outside_the_mask_is_the_input_and_methods_differ_inside(models, photo):
    m = _part()
    methods = ("pixel", "latent", "crop") + (("guidance",) if models.editor == "ip2p-xl" else ())
    res = maskedit.edit(photo, "make it gold", models=models, mask=m,
                        settings=EditSettings(steps=3, methods=methods))
    for name in methods:
        assert np.array_equal(res.outputs[name][~m], photo[~m]), name
    assert not np.array_equal(res.outputs["latent"][m], res.outputs["pixel"][m])


def test_latent_keeps_source_track_outside_mask(models, photo):
    """After the last step the latents outside the mask are z₀ (packed tokens for Kontext)."""
    from maskedit.editing.editors import latent_layout

    lm = np.zeros((12, 16), np.float32)
    lm[3:8, 5:12] = 1.0
    blend = LatentBlend(lm, seed=1)
    seen = {}

    def spy(p, i, t, latents, z0):
        out = blend(p, i, t, latents, z0)
        seen.update(latents=out, z0=z0, m=latent_layout(p, lm, latents))
        return out

    s = maskedit.editing.editors.resolve_settings(EditSettings(steps=3), EDITORS[models.editor])
    edit_at_working_size(models.pipe, photo, "make it gold", s, blend=spy)
    outside = (seen["m"] == 0).expand_as(seen["latents"])
    assert torch.equal(seen["latents"][outside], seen["z0"].to(seen["latents"].dtype)[outside])
    assert not torch.equal(seen["latents"][~outside], seen["z0"][~outside])


def test_kontext_has_no_guidance_method():
    models = maskedit.load_models("tiny", editor="kontext", need_sam=False)
    with pytest.raises(InputError, match="'kontext' editor .* has none: use pixel, latent or crop"):
        maskedit.edit(np.zeros((32, 32, 3), np.uint8), "x", models=models,
                      mask=np.ones((32, 32)), settings=EditSettings(methods=("guidance",), steps=1))
    with pytest.raises(InputError, match="no image guidance"):
        maskedit.edit(np.zeros((32, 32, 3), np.uint8), "x", models=models,
                      mask=np.ones((32, 32)), settings=EditSettings(image_cfg=1.5, steps=1))


def test_magicbrush_is_ip2p_with_its_own_id():
    assert EDITORS["magicbrush"].pipeline_class == EDITORS["ip2p"].pipeline_class
    assert EDITORS["magicbrush"].default_id == "vinesmsuic/magicbrush-jul7"


@pytest.mark.parametrize("editor", ["ip2p", "magicbrush", "ip2p-xl", "kontext"])
def test_missing_checkpoint_gives_one_clear_line(tmp_path, editor, monkeypatch):
    from maskedit.models import load_editor

    with pytest.raises(MissingWeightsError, match="not a complete checkpoint"):
        load_editor(editor, str(tmp_path / "nothing"), torch.device("cpu"), torch.float32)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(MissingWeightsError, match=f"'{EDITORS[editor].default_id}' is not in the"):
        load_editor(editor, None, torch.device("cpu"), torch.float32)


def test_cli_editor_choice_end_to_end(tmp_path):
    Image.fromarray(np.zeros((60, 90, 3), np.uint8) + 90).save(tmp_path / "p.png")
    res = CliRunner().invoke(app, ["edit", str(tmp_path / "p.png"), "-i", "make it red", "--box",
                                   "10,10,60,50", "--models", "tiny", "--editor", "kontext",
                                   "--steps", "2", "--method", "pixel,latent,crop",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "o" / "record.json").read_text())
    assert rec["models"]["editor"] == "kontext" and rec["models"]["ip2p"]["class"] == "FluxKontextPipeline"
    assert rec["settings"]["text_cfg"] == 2.5 and rec["settings"]["image_cfg"] is None
    res = CliRunner().invoke(app, ["edit", str(tmp_path / "p.png"), "-i", "x", "--box", "1,1,5,5",
                                   "--models", "tiny", "--editor", "dalle", "--out", str(tmp_path / "q")])
    assert res.exit_code == 2 and "--editor 'dalle': choose one of ip2p, magicbrush, ip2p-xl, kontext" in res.stderr
