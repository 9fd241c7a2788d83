"""Qwen-Image-Edit, Qwen-Image-Edit-Plus and FLUX.2 [klein] behind maskedit's spatial control.

Identities that hold whatever the weights are, with tiny pipelines built in code at 64×96 and two
steps: the unmasked path is the diffusers call a user writes; masks of all ones / all zeros change
nothing / everything back; outside any mask the output is the input; masked true CFG is the
formula; what cannot batch runs alone, what can matches one at a time.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import maskedit
from maskedit import EditSettings, InputError
from maskedit.batch import edit_many
from maskedit.cli import app
from maskedit.editing.editors import resolve_settings, working_hw
from maskedit.editing.jobs import EditorJob, run_jobs
from maskedit.editing.source_area import PIPELINE_AREA, pipeline_hw, source_area
from maskedit.errors import CheckpointError, MaskeditWarning, MissingWeightsError
from maskedit.families import EDITORS

pytestmark = pytest.mark.usefixtures("one_torch_thread")
H, W = 64, 96  # the working size: sides multiples of 32 (Qwen) and at least 64 (FLUX.2)
NEW = ("qwen-edit", "qwen-edit-plus", "flux2-klein", "flux2-klein-base")
GUIDED = ("qwen-edit", "qwen-edit-plus", "flux2-klein-base")
FAST = dict(steps=2, seed=3)


@pytest.fixture(scope="module")
def loaded() -> dict:
    return {}


def _models(loaded: dict, editor: str):
    if editor not in loaded:
        loaded[editor] = maskedit.load_models("tiny", editor=editor, need_sam=False, working_size=W)
    return loaded[editor]


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """A second picture, of another size and aspect than the source."""
    return np.random.default_rng(4).integers(0, 256, (64, 80, 3), dtype=np.uint8)


def _part() -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[16:48, 24:72] = True
    return m


def _refs(editor: str, reference: np.ndarray) -> list[np.ndarray] | None:
    return [reference] if EDITORS[editor].family.references and editor != "flux2-klein" else None


def _user_call(pipe, editor, image, s, monkeypatch, reference=None) -> np.ndarray:
    """What a diffusers user writes for this editor (written out here, not maskedit's code)."""
    h, w = image.shape[:2]
    g = torch.Generator().manual_seed(s.seed)
    source = Image.fromarray(image)
    images = [source, Image.fromarray(reference)] if reference is not None else source
    if editor.startswith("qwen"):
        # The pipelines resize every image to ~1024² via their module's calculate_dimensions;
        # held at the working area here, so the source is encoded at h×w.
        module = sys.modules[type(pipe).__module__]
        original = module.calculate_dimensions
        monkeypatch.setattr(
            module,
            "calculate_dimensions",
            lambda area, ratio: original(h * w if area == 1024 * 1024 else area, ratio),
        )
        out = pipe(image=images, prompt="make it gold", negative_prompt=" ",
                   true_cfg_scale=s.text_cfg, height=h, width=w, num_inference_steps=s.steps,
                   generator=g, output_type="pil")  # fmt: skip
        monkeypatch.undo()
    else:
        out = pipe(image=images, prompt="make it gold", height=h, width=w,
                   guidance_scale=s.text_cfg, num_inference_steps=s.steps, generator=g,
                   output_type="pil")  # fmt: skip
    return np.asarray(out.images[0])


@pytest.mark.parametrize("editor", NEW)
def test_unmasked_path_equals_the_editors_own_pipeline(loaded, editor, photo, reference,
                                                       monkeypatch):  # fmt: skip
    models = _models(loaded, editor)
    refs = _refs(editor, reference)
    res = maskedit.edit(photo, "make it gold", models=models, mask=np.ones((H, W)),
                        settings=EditSettings(**FAST), references=refs)  # fmt: skip
    spec = EDITORS[editor]
    assert res.settings.text_cfg == spec.text_cfg and res.settings.image_cfg is None
    assert res.working_hw == (H, W)
    user = _user_call(models.pipe, editor, photo, res.settings, monkeypatch,
                      refs[0] if refs else None)  # fmt: skip
    assert np.array_equal(res.baseline, user)
    if refs:  # the reference really reaches the pipeline
        assert not np.array_equal(user, _user_call(models.pipe, editor, photo, res.settings,
                                                   monkeypatch))  # fmt: skip


@pytest.mark.parametrize("editor", ["qwen-edit", "qwen-edit-plus", "flux2-klein"])
def test_masks_of_ones_zeros_and_a_part(loaded, editor, photo, reference):
    """All ones: latent (and guidance) = the baseline; all zeros: every method gives the input;
    a part: outside it the input, inside latent ≠ pixel. (flux2-klein-base differs from
    flux2-klein only by its guidance, pinned in `test_masked_cfg_guidance_is_the_formula`.)"""
    models = _models(loaded, editor)
    refs = _refs(editor, reference)
    guided = ("guidance",) if editor in GUIDED else ()
    ones = maskedit.edit(photo, "make it gold", models=models, mask=np.ones((H, W)),
                         settings=EditSettings(methods=("pixel", "latent", *guided), **FAST),
                         references=refs)  # fmt: skip
    assert ones.method_info["latent"]["blended_steps"] == 2
    for method in ("latent", *guided):
        assert np.array_equal(ones.outputs[method], ones.baseline), method
    methods = ("pixel", "latent", "crop", *guided)
    with pytest.warns(MaskeditWarning, match="the mask is empty"):
        zeros = maskedit.edit(photo, "make it gold", models=models, mask=np.zeros((H, W)),
                              settings=EditSettings(methods=methods, **FAST),
                              references=refs)  # fmt: skip
    for method in methods:
        assert np.array_equal(zeros.outputs[method], photo), method
    m = _part()
    part = maskedit.edit(photo, "make it gold", models=models, mask=m,
                         settings=EditSettings(methods=methods, **FAST), references=refs)  # fmt: skip
    for method in methods:
        assert np.array_equal(part.outputs[method][~m], photo[~m]), method
    assert not np.array_equal(part.outputs["latent"][m], part.outputs["pixel"][m])
    if guided:
        assert part.method_info["guidance"]["masked_steps"] == 2
        assert not np.array_equal(part.outputs["guidance"][m], part.outputs["pixel"][m])


@pytest.mark.parametrize("editor", ["qwen-edit-plus", "flux2-klein"])
def test_z0_is_the_sources_own_latents_with_a_reference(loaded, editor, photo, reference):
    """The blend's z₀ is the source's tokens as the pipeline's own preprocess, VAE encode,
    normalisation and packing make them (called here), not the reference's that follow."""
    pipe = _models(loaded, editor).pipe
    seen = {}

    def spy(p, i, t, latents, z0):
        seen["z0"] = z0
        return None

    s = resolve_settings(EditSettings(**FAST), EDITORS[editor])
    run_jobs(pipe, [EditorJob(photo, "make it gold", s, blend=spy, references=(reference,))])
    source = Image.fromarray(photo)
    with torch.no_grad():
        if EDITORS[editor].family.patchified_latents:  # FLUX.2: patchify + batch-norm statistics
            x = pipe.image_processor.preprocess(source, height=H, width=W, resize_mode="crop")
            expected = pipe._pack_latents(pipe._encode_vae_image(x, generator=None))
        else:  # Qwen: (B, C, 1, H, W), latents_mean/latents_std
            x = pipe.image_processor.preprocess(source, H, W).unsqueeze(2)
            z = pipe._encode_vae_image(x, generator=None)
            expected = pipe._pack_latents(z, 1, z.shape[1], z.shape[3], z.shape[4])
    assert seen["z0"].shape == expected.shape == (1, (H // 16) * (W // 16), expected.shape[2])
    assert torch.equal(seen["z0"], expected)


# --- masked classifier-free guidance ---------------------------------------------------------


def _token_masks() -> torch.Tensor:
    """Two per-sample masks on the (H/16)×(W/16) = 4×6 packed token grid, written by hand:
    sample 0: the left half at 1 and a column at 0.5 (a soft weight, where masking v₊ before the
    norm rescale would differ); sample 1: the top half."""
    left = torch.zeros(4, 6)
    left[:, :3] = 1.0
    left[:, 3] = 0.5
    top = torch.zeros(4, 6)
    top[:2] = 1.0
    return torch.stack([left, top]).reshape(2, 24, 1)


def _latent_masks() -> list[np.ndarray]:
    """The same masks at latent size (8×12): each token's 2×2 cells carry its weight."""
    tokens = _token_masks().reshape(2, 4, 6).numpy()
    return [np.kron(t, np.ones((2, 2), np.float32)) for t in tokens]


def _guided(cond, neg, scale: float, rescale: bool) -> torch.Tensor:
    """The pipelines' CFG line: Qwen rescales to the positive's norm per token, klein does not."""
    comb = neg + scale * (cond - neg)
    if not rescale:
        return comb
    return comb * (torch.norm(cond, dim=-1, keepdim=True) / torch.norm(comb, dim=-1, keepdim=True))


@pytest.mark.parametrize("editor", ["qwen-edit", "flux2-klein-base"])
def test_masked_cfg_guidance_is_the_formula(loaded, editor, photo, monkeypatch):
    """What reaches `scheduler.step` at every step is m ⊙ v + (1 − m) ⊙ v₋ with v the pipeline's
    guided prediction from the positive and negative calls (recorded here by a hook of our own)."""
    pipe = _models(loaded, editor).pipe
    outputs, seen = [], []
    handle = pipe.transformer.register_forward_hook(lambda mod, a, out: outputs.append(out[0]))
    step = pipe.scheduler.step

    def spy(model_output, *args, **kwargs):
        seen.append((model_output.detach().clone(), [o.detach().clone() for o in outputs]))
        outputs.clear()
        return step(model_output, *args, **kwargs)

    monkeypatch.setattr(pipe.scheduler, "step", spy)
    s = resolve_settings(EditSettings(**FAST), EDITORS[editor])
    masks, tokens = _latent_masks(), _token_masks()
    rescale = editor.startswith("qwen")
    try:
        if EDITORS[editor].family.batchable:  # two samples, each with its own mask, one call
            jobs = [EditorJob(photo, f"make it gold {k}", s, guidance_mask=masks[k])
                    for k in range(2)]  # fmt: skip
        else:
            jobs, tokens = [EditorJob(photo, "make it gold", s, guidance_mask=masks[0])], tokens[:1]
        run_jobs(pipe, jobs)
    finally:
        handle.remove()
    assert len(seen) == s.steps and jobs[0].stats["guidance"]["calls"] == s.steps
    for pred, (cond, neg) in seen:
        n = pred.shape[1]
        cond, neg = cond[:, :n].double(), neg[:, :n].double()
        full = _guided(cond, neg, s.text_cfg, rescale)
        expected = tokens * full + (1 - tokens) * neg
        assert float((pred.double() - expected).abs().max()) <= 1e-5
        inside, outside = tokens.expand_as(pred) == 1, tokens.expand_as(pred) == 0
        assert torch.allclose(pred.double()[inside], full[inside], atol=1e-5)
        assert torch.allclose(pred.double()[outside], neg[outside], atol=1e-5)


def test_the_cfg_check_catches_masking_before_the_rescale():
    """With known predictions (v₊, v₋ of unit scale), maskedit's hook gives the formula and not
    what masking v₊ before Qwen's combination and norm rescale gives: they differ where
    0 < m < 1, by far more than the tolerance above."""
    from maskedit.editing.guidance import masked_cfg_guidance

    g = torch.Generator().manual_seed(0)
    cond, neg = torch.randn((2, 24, 16), generator=g), torch.randn((2, 24, 16), generator=g)
    calls = iter([cond, neg])
    transformer = torch.nn.Module()
    transformer.forward = lambda: (next(calls),)
    scheduler = type("Scheduler", (), {"step": lambda self, model_output: model_output})()
    tokens = _token_masks()
    guided = _guided(cond, neg, 4.0, rescale=True)
    with masked_cfg_guidance(transformer, scheduler, tokens) as stats:
        transformer(), transformer()
        pred = scheduler.step(guided)
    assert stats["calls"] == 1 and "step" not in vars(scheduler)  # the wrapper is gone again
    assert torch.allclose(pred, tokens * guided + (1 - tokens) * neg, atol=1e-6)
    wrong = _guided(tokens * cond + (1 - tokens) * neg, neg, 4.0, rescale=True)
    assert float((pred - wrong).abs().max()) > 0.1


def test_guidance_is_refused_where_there_is_no_term(loaded, photo):
    with pytest.raises(InputError, match="'flux2-klein' editor .* has none: use pixel, latent"):
        maskedit.edit(photo, "x", models=_models(loaded, "flux2-klein"), mask=np.ones((H, W)),
                      settings=EditSettings(methods=("guidance",), steps=1))  # fmt: skip
    with pytest.raises(InputError, match="classifier-free guidance term.*text_cfg > 1"):
        maskedit.edit(photo, "x", models=_models(loaded, "qwen-edit"), mask=np.ones((H, W)),
                      settings=EditSettings(methods=("guidance",), text_cfg=1.0, steps=1))  # fmt: skip
    with pytest.raises(InputError, match="no image guidance"):
        maskedit.edit(photo, "x", models=_models(loaded, "qwen-edit"), mask=np.ones((H, W)),
                      settings=EditSettings(image_cfg=1.5, steps=1))  # fmt: skip


@pytest.mark.parametrize("editor", ["qwen-edit", "qwen-edit-plus"])
def test_one_step_is_refused_where_the_scheduler_needs_two(loaded, photo, editor):
    """Qwen-Image's scheduler stretches its sigmas to end at shift_terminal: with one step it
    divides by zero and every pixel is NaN. One line before the editor runs instead."""
    with pytest.raises(InputError, match=r"steps 1: .* shift_terminal 0.02, which takes at least 2"):
        maskedit.edit(photo, "x", models=_models(loaded, editor), mask=np.ones((H, W)),
                      settings=EditSettings(steps=1))  # fmt: skip
    one = maskedit.edit(photo, "x", models=_models(loaded, "flux2-klein"), mask=np.ones((H, W)),
                        settings=EditSettings(steps=1))  # fmt: skip
    assert one.outputs["pixel"].shape == photo.shape  # its scheduler has no terminal: one step


# --- batching ----------------------------------------------------------------------------------


def test_qwen_edit_batches_of_three_match_one_at_a_time(loaded):
    models = _models(loaded, "qwen-edit")
    rng = np.random.default_rng(5)
    m = _part()
    methods = ("pixel", "latent", "guidance")
    reqs = [dict(image=rng.integers(0, 256, (H, W, 3), dtype=np.uint8), mask=m,
                 instruction=f"make it gold {k}",
                 settings=EditSettings(steps=2, seed=k, methods=methods)) for k in range(3)]  # fmt: skip
    alone = [maskedit.edit(models=models, **r) for r in reqs]
    together = edit_many(reqs, models=models, batch_size=3)
    for req, one, many in zip(reqs, alone, together, strict=True):
        assert many.batch == {"baseline": 3}
        assert many.method_info["latent"]["batch"] == 3
        assert int(np.abs(many.baseline.astype(int) - one.baseline).max()) <= 2
        for method in methods:
            assert int(np.abs(many.outputs[method].astype(int) - one.outputs[method]).max()) <= 2
            assert np.array_equal(many.outputs[method][~m], req["image"][~m])


def test_what_cannot_batch_runs_alone(loaded, photo, reference):
    """Plus refuses batches; klein shares its images across a batch: their jobs never share a
    call, and a job with references runs alone whatever the editor."""
    s = EditSettings(**FAST)
    for editor in ("qwen-edit-plus", "flux2-klein", "flux2-klein-base"):
        pipe = _models(loaded, editor).pipe
        assert EditorJob(photo, "x", s).batch_key(pipe) is None, editor
    qwen = _models(loaded, "qwen-edit").pipe
    assert EditorJob(photo, "x", s).batch_key(qwen) is not None
    assert EditorJob(photo, "x", s, references=(reference,)).batch_key(qwen) is None
    models = _models(loaded, "flux2-klein")
    reqs = [dict(image=photo[:, ::-1].copy() if k else photo, instruction="make it gold",
                 mask=_part(), settings=EditSettings(steps=2, seed=k)) for k in range(2)]  # fmt: skip
    for one, many in zip([maskedit.edit(models=models, **r) for r in reqs],
                         edit_many(reqs, models=models, batch_size=2), strict=True):  # fmt: skip
        assert many.batch == {} and np.array_equal(one.baseline, many.baseline)


# --- the source held at the working size, working sizes -----------------------------------------


def test_qwen_source_area_holds_the_working_size_and_is_undone(loaded):
    pipe = _models(loaded, "qwen-edit-plus").pipe
    module = sys.modules[type(pipe).__module__]
    original = module.calculate_dimensions
    assert pipeline_hw(pipe, (H, W)) == (832, 1248)  # what the pipeline does alone: ~1 MP
    with source_area(pipe, H * W):
        assert tuple(module.calculate_dimensions(PIPELINE_AREA, W / H)) == (W, H)
        assert module.calculate_dimensions(384 * 384, 1.0) == original(384 * 384, 1.0)  # VL size
    assert module.calculate_dimensions is original
    with source_area(pipe, PIPELINE_AREA):  # the default area: the plain call, nothing patched
        assert module.calculate_dimensions is original


def test_auto_vae_tiling_starts_above_1024_for_qwens_vae_too(loaded):
    """Qwen-Image's VAE tiles from 256 px by its own default: `--vae-tiling auto` (the default)
    keeps the 1024 px threshold of every editor, so a 1024² edit is the plain call."""
    from maskedit.speedups import vae_tiles

    pipe = _models(loaded, "qwen-edit").pipe
    assert pipe.vae.use_tiling and pipe.vae.tile_sample_min_height == 1024
    assert not vae_tiles(pipe, (1024, 1024)) and vae_tiles(pipe, (1024, 1056))
    assert not vae_tiles(_models(loaded, "flux2-klein").pipe, (1024, 1024))


def test_working_sizes_follow_each_pipelines_rules(loaded):
    qwen, klein = _models(loaded, "qwen-edit").pipe, _models(loaded, "flux2-klein").pipe
    assert working_hw(qwen, (300, 451), 512) == (352, 512)  # sides in 32s
    assert working_hw(klein, (300, 451), 512) == (336, 512)  # sides in 16s
    with pytest.raises(InputError, match="shrinks images over 1048576 pixels"):
        working_hw(klein, (1000, 1000), 1280)
    with pytest.raises(InputError, match="sides of at least 64 px"):
        working_hw(klein, (100, 600), 256)  # 256×48
    with pytest.raises(InputError, match="more elongated than 8:1; no working size fixes"):
        working_hw(klein, (100, 1000), 512)
    # 820×100 is 8.2:1, but sides rounded to 16 px bring some working sizes to 8:1: it names one
    with pytest.raises(InputError, match="at least 64 px; use --working-size 464$"):
        working_hw(klein, (100, 820), 384)
    with pytest.raises(InputError, match="more elongated than 8:1; use --working-size 768$"):
        working_hw(klein, (100, 820), 800)
    assert working_hw(klein, (100, 820), 464) == (64, 464)


# --- references: API, record, manifest, CLI ------------------------------------------------------


def test_references_reach_the_record_and_only_editors_that_take_them(loaded, photo, tmp_path):
    Image.fromarray(photo).save(tmp_path / "ref.png")
    res = maskedit.edit(photo, "make it gold", models=_models(loaded, "qwen-edit-plus"),
                        mask=_part(), settings=EditSettings(**FAST),
                        references=[str(tmp_path / "ref.png")])  # fmt: skip
    assert res.to_record()["references"] == [
        {"source": str(tmp_path / "ref.png"), "width": W, "height": H}
    ]
    with pytest.raises(InputError, match="'qwen-edit' editor takes one image; reference images"):
        maskedit.edit(photo, "x", models=_models(loaded, "qwen-edit"), mask=_part(),
                      references=[photo])  # fmt: skip
    with pytest.raises(InputError, match="reference 1: .*too small.*at least 64 px"):
        maskedit.edit(photo, "x", models=_models(loaded, "flux2-klein"), mask=_part(),
                      references=[photo[:32]])  # fmt: skip


def test_manifest_references_are_paths_inside_its_folder(tmp_path):
    from maskedit.config import load_manifest

    (tmp_path / "m.yaml").write_text(
        "editor: qwen-edit-plus\ncases:\n  - {id: a, image: p.png, instruction: x, "
        "mask: m.png, references: [r1.png, sub/r2.png]}\n"
    )
    case = load_manifest(tmp_path / "m.yaml").cases[0]
    assert case.references == (str(tmp_path / "r1.png"), str(tmp_path / "sub/r2.png"))
    (tmp_path / "bad.yaml").write_text(
        "cases:\n  - {id: a, image: p.png, instruction: x, mask: m.png, references: [../r.png]}\n"
    )
    with pytest.raises(InputError, match="reference 1 '.*' is outside the manifest's folder"):
        load_manifest(tmp_path / "bad.yaml")
    (tmp_path / "bad2.yaml").write_text(
        "cases:\n  - {id: a, image: p.png, instruction: x, mask: m.png, references: r.png}\n"
    )
    with pytest.raises(InputError, match="references: expected a list of image paths"):
        load_manifest(tmp_path / "bad2.yaml")


def test_cli_edit_with_a_reference_end_to_end(tmp_path, photo, reference):
    Image.fromarray(photo).save(tmp_path / "p.png")
    Image.fromarray(reference).save(tmp_path / "r.png")
    Image.fromarray(_part()).save(tmp_path / "m.png")
    res = CliRunner().invoke(app, ["edit", str(tmp_path / "p.png"), "-i", "make it gold",
                                   "--mask", str(tmp_path / "m.png"), "--reference",
                                   str(tmp_path / "r.png"), "--models", "tiny", "--editor",
                                   "qwen-edit-plus", "--steps", "2", "--working-size", "96",
                                   "--method", "pixel,latent", "--out", str(tmp_path / "o")])  # fmt: skip
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "o" / "record.json").read_text())
    assert rec["models"]["editor"] == "qwen-edit-plus"
    assert rec["models"]["ip2p"]["class"] == "QwenImageEditPlusPipeline"
    assert rec["references"] == [{"source": str(tmp_path / "r.png"), "width": 80, "height": 64}]
    assert rec["settings"]["text_cfg"] == 4.0 and rec["settings"]["steps"] == 2
    res = CliRunner().invoke(app, ["edit", str(tmp_path / "p.png"), "-i", "x", "--mask",
                                   str(tmp_path / "m.png"), "--reference", str(tmp_path / "no.png"),
                                   "--models", "tiny", "--editor", "qwen-edit-plus",
                                   "--out", str(tmp_path / "q")])  # fmt: skip
    assert res.exit_code != 0 and "reference 1:" in res.stderr


# --- loading: missing checkpoints, the wrong [klein], download ----------------------------------


@pytest.mark.parametrize("editor", NEW)
def test_missing_checkpoint_gives_one_clear_line(tmp_path, editor, monkeypatch):
    from maskedit.models import load_editor

    with pytest.raises(MissingWeightsError, match="not a complete checkpoint"):
        load_editor(editor, str(tmp_path / "nothing"), torch.device("cpu"), torch.float32)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    default = EDITORS[editor].default_id
    with pytest.raises(MissingWeightsError, match=f"'{default}' is not in the .*maskedit download"):
        load_editor(editor, None, torch.device("cpu"), torch.float32)


def test_a_klein_base_checkpoint_is_not_the_distilled_editor(loaded, tmp_path):
    """Both load as Flux2KleinPipeline; `is_distilled` tells them apart, in one line."""
    _models(loaded, "flux2-klein-base").pipe.save_pretrained(tmp_path / "base")
    with pytest.raises(CheckpointError, match="flux2-klein-base checkpoint .*--editor flux2-kl"):
        maskedit.load_models("real", editor="flux2-klein", ip2p=str(tmp_path / "base"),
                             need_sam=False, device="cpu")  # fmt: skip
    models = maskedit.load_models("real", editor="flux2-klein-base", ip2p=str(tmp_path / "base"),
                                  need_sam=False, device="cpu")  # fmt: skip
    assert models.describe()["ip2p"]["dtype"] == "float32"  # CPU: fp32; CUDA: the table's bf16
    # a user's own pipeline runs with the defaults of the editor its config says it is
    assert maskedit.Models.from_components(models.pipe).editor == "flux2-klein-base"
    assert maskedit.Models.from_components(_models(loaded, "flux2-klein").pipe).editor == (
        "flux2-klein"
    )


def test_download_knows_each_editors_checkpoints(monkeypatch):
    import huggingface_hub

    from maskedit import models as models_module

    fetched = []
    monkeypatch.setattr(
        huggingface_hub,
        "snapshot_download",
        lambda model_id, allow_patterns: fetched.append((model_id, allow_patterns)) or model_id,
    )
    monkeypatch.setattr(huggingface_hub, "list_repo_files", lambda model_id: ["model_index.json"])
    res = CliRunner().invoke(app, ["download", "--editor", "qwen-edit-plus"])
    assert res.exit_code == 0, res.output
    assert [m for m, _ in fetched] == [
        "Qwen/Qwen-Image-Edit-2511", models_module.DEFAULT_SAM_ID, models_module.DEFAULT_CLIP_ID
    ]
    assert "*.jinja" in fetched[0][1]  # the Qwen3 / Qwen2-VL chat templates
    assert models_module.download(editor="flux2-klein")[0] == "black-forest-labs/FLUX.2-klein-4B"
    assert models_module.download()[0] == "timbrooks/instruct-pix2pix"  # as before: IP2P's
    for editor in NEW:
        assert EDITORS[editor].default_id in EDITORS[editor].ids
    assert "Qwen/Qwen-Image-Edit-2509" in EDITORS["qwen-edit-plus"].ids
    res = CliRunner().invoke(app, ["download", "--editor", "dalle"])
    assert res.exit_code != 0 and "--editor 'dalle'" in res.stderr
