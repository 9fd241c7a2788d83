"""Each checkpoint run as its authors run it: scheduler, dtype, CosXL latents, SAM's prompt rule.

Tiny models cannot show a checkpoint's shipped configuration, so these tests give the tiny
pipelines the real checkpoints' settings (PNDM as the MagicBrush checkpoints ship it, CosXL's
`is_cosxl_edit`) and check that maskedit does what the authors' code does.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import EulerAncestralDiscreteScheduler, PNDMScheduler
from editor_calls import edit_at_working_size

import maskedit
from maskedit import EditSettings
from maskedit.editing.editors import latent_layout, nan_message
from maskedit.editing.jobs import EditorJob, run_job
from maskedit.editing.latent import LatentBlend
from maskedit.families import EDITORS
from maskedit.models import Models, pick_dtype, use_authors_scheduler


def _pndm(pipe):
    """The scheduler the MagicBrush checkpoints ship (SD 1.5's PNDM, PRK steps skipped)."""
    pipe.scheduler = PNDMScheduler.from_config(pipe.scheduler.config, skip_prk_steps=True)
    return pipe


@pytest.fixture
def pndm_pipe():
    return _pndm(maskedit.load_models("tiny", need_sam=False).pipe)


def _square(n=128) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (n, n, 3), dtype=np.uint8)


def test_ip2p_and_magicbrush_run_with_euler_ancestral_as_their_authors_do(pndm_pipe):
    for name in ("ip2p", "magicbrush"):
        pipe = _pndm(pndm_pipe)
        use_authors_scheduler(pipe, EDITORS[name])
        assert isinstance(pipe.scheduler, EulerAncestralDiscreteScheduler), name
    # editors whose authors keep the shipped scheduler keep it
    pipe = _pndm(pndm_pipe)
    use_authors_scheduler(pipe, EDITORS["ip2p-xl"])
    assert isinstance(pipe.scheduler, PNDMScheduler)


def test_a_shipped_pndm_checkpoint_loads_with_the_tables_scheduler_and_says_so(tmp_path, pndm_pipe):
    pndm_pipe.save_pretrained(tmp_path / "mb")
    models = maskedit.load_models(
        "real", editor="magicbrush", ip2p=str(tmp_path / "mb"), need_sam=False, device="cpu"
    )
    assert isinstance(models.pipe.scheduler, EulerAncestralDiscreteScheduler)
    described = models.describe()["ip2p"]
    assert described["scheduler"] == "EulerAncestralDiscreteScheduler"
    assert described["scheduler_from"] == "editor table"


def test_a_users_own_pipeline_keeps_its_scheduler(pndm_pipe):
    models = Models.from_components(pndm_pipe)
    assert isinstance(models.pipe.scheduler, PNDMScheduler)
    assert models.describe()["ip2p"]["scheduler_from"] == "user"


def test_a_users_own_pipeline_takes_its_editors_working_size():
    """Settings left unset take the editor's (docs/methods.md): the working size too, not 512 for
    every family; one given is kept."""
    from maskedit.tiny import build_tiny_editor

    for editor in ("ip2p", "ip2p-xl", "kontext"):
        models = Models.from_components(build_tiny_editor(editor))
        assert models.working_size == EDITORS[editor].working_size, editor
    assert Models.from_components(build_tiny_editor("kontext"), working_size=96).working_size == 96


def test_latent_blend_follows_the_schedulers_own_timesteps(pndm_pipe):
    """PNDM runs 4 steps as 5 timesteps: the blend must still end on z₀ after the last one, and
    progress must count 5 of 5 (a window measured in the 4 steps asked for stops one short)."""
    lm = np.zeros((16, 16), np.float32)
    lm[4:10, 5:12] = 1.0
    blend = LatentBlend(lm, seed=3)
    seen: dict = {}
    ticks: list[tuple[int, int]] = []

    def spy(p, i, t, latents, z0):
        out = blend(p, i, t, latents, z0)
        seen.update(latents=latents if out is None else out, z0=z0, step=i)
        return out

    job = EditorJob(
        _square(),
        "make it gold",
        EditSettings(steps=4, text_cfg=7.5, image_cfg=1.5),
        blend=spy,
        progress=lambda i, n: ticks.append((i, n)),
    )
    run_job(pndm_pipe, job)
    n = len(pndm_pipe.scheduler.timesteps)
    assert n == 5 and ticks[-1] == (5, 5) and len(ticks) == 5
    assert blend.blended_steps == list(range(5))
    outside = (latent_layout(pndm_pipe, lm, seen["latents"]) == 0).expand_as(seen["latents"])
    assert torch.equal(seen["latents"][outside], seen["z0"][outside])


def test_cosxl_edit_source_latents_are_not_scaled_twice():
    """A CosXL edit checkpoint (`is_cosxl_edit=True`) already multiplies its image latents by
    the VAE scaling factor: z₀ is then those latents as they are."""
    from diffusers.pipelines.stable_diffusion_xl import (
        pipeline_stable_diffusion_xl_instruct_pix2pix as xl_module,
    )
    from PIL import Image

    pipe = maskedit.load_models("tiny", editor="ip2p-xl", need_sam=False).pipe
    pipe.vae.config.scaling_factor = 0.5  # far from 1, so one scaling too many shows
    pipe.is_cosxl_edit = True
    image = _square(128)
    seen = {}

    def spy(p, i, t, latents, z0):
        seen["z0"] = z0
        return None

    edit_at_working_size(
        pipe, image, "make it gold", EditSettings(steps=2, text_cfg=3.0, image_cfg=1.5), blend=spy
    )
    pixels = pipe.image_processor.preprocess(Image.fromarray(image)).to(pipe.vae.dtype)
    with torch.no_grad():
        mode = xl_module.retrieve_latents(pipe.vae.encode(pixels), sample_mode="argmax")
    torch.testing.assert_close(seen["z0"][0], (mode * 0.5)[0], rtol=1e-5, atol=1e-5)


def test_published_dtypes_on_gpus_and_fp32_on_cpus():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert pick_dtype(cuda, None, EDITORS["kontext"]) == torch.bfloat16
    assert pick_dtype(cuda, None, EDITORS["ip2p"]) == torch.float16
    assert pick_dtype(cpu, None, EDITORS["kontext"]) == torch.float32
    assert pick_dtype(cuda, "fp32", EDITORS["kontext"]) == torch.float32


# What each editor's default checkpoint ships (its hub file listing) and how its model card or
# pipeline docstring example loads it: class, published dtype, fp16 variant files.
PUBLISHED = {
    "ip2p": ("StableDiffusionInstructPix2PixPipeline", torch.float16, True),
    "magicbrush": ("StableDiffusionInstructPix2PixPipeline", torch.float16, False),  # fp32 .bin
    "ip2p-xl": ("StableDiffusionXLInstructPix2PixPipeline", torch.float16, False),  # fp32 only
    "kontext": ("FluxKontextPipeline", torch.bfloat16, False),
    "qwen-edit": ("QwenImageEditPipeline", torch.bfloat16, False),
    "qwen-edit-plus": ("QwenImageEditPlusPipeline", torch.bfloat16, False),
    "flux2-klein": ("Flux2KleinPipeline", torch.bfloat16, False),
    "flux2-klein-base": ("Flux2KleinPipeline", torch.bfloat16, False),
}


@pytest.mark.parametrize("editor", sorted(PUBLISHED))
def test_each_editor_loads_with_its_checkpoints_class_dtype_and_variant(editor, monkeypatch):
    """`from_pretrained` is called as the checkpoint's own example calls it: the published dtype,
    `variant="fp16"` first only where fp16 files exist (a missing variant costs a failed hub
    lookup before the fp32 files), SD 1.x without its safety checker."""
    import diffusers

    from maskedit.errors import MissingWeightsError
    from maskedit.models import load_editor

    class_name, dtype, variant = PUBLISHED[editor]
    spec = EDITORS[editor]
    assert spec.pipeline_class == class_name
    assert pick_dtype(torch.device("cuda"), None, spec) == dtype
    calls = []

    def record(model_id, **kwargs):
        calls.append(kwargs)
        raise OSError("no files here")

    monkeypatch.setattr(getattr(diffusers, class_name), "from_pretrained", record)
    with pytest.raises(MissingWeightsError):
        load_editor(editor, "owner/checkpoint", torch.device("cpu"), dtype)
    assert [call.get("variant") for call in calls] == (["fp16", None] if variant else [None])
    assert all(call["torch_dtype"] == dtype for call in calls)
    sd1 = class_name == "StableDiffusionInstructPix2PixPipeline"
    assert all(("safety_checker" in call) == sd1 for call in calls)


def test_nan_message_suggests_what_fits():
    class Half:
        dtype = torch.float16

    class Bf16:
        dtype = torch.bfloat16

    assert "--dtype bf16" in nan_message(Half()) and "fp32" not in nan_message(Half())
    assert "fp32" not in nan_message(Bf16()) and "bfloat16" in nan_message(Bf16())


@pytest.mark.parametrize(
    ("points", "box", "multimask", "k"),
    [
        ([(50, 40, 1)], None, None, 3),  # one click is ambiguous: three candidates, best by score
        ([(50, 40, 1), (20, 20, 0)], None, None, 1),  # several points: one mask
        (None, (10, 10, 80, 60), None, 1),  # a box: one mask
        ([(50, 40, 1)], None, False, 1),  # forced either way
        (None, (10, 10, 80, 60), True, 3),
    ],
)
def test_sam_follows_its_authors_prompt_rule_and_records_it(
    tiny_models, photo, points, box, multimask, k
):
    from maskedit.config import Prompts

    prompts = Prompts(points=points or [], box=box, multimask=multimask)
    res = maskedit.edit(
        photo,
        "make it gold",
        models=tiny_models,
        prompts=prompts,
        settings=EditSettings(steps=1),
        baseline=False,
        methods="crop",
    )
    assert res.sam.masks.shape[0] == k
    assert res.to_record()["mask"]["sam"]["multimask_output"] == (k == 3)


def test_sam_masks_flag_on_the_command_line(tmp_path):
    import json

    from typer.testing import CliRunner

    from maskedit.cli import app

    base = [
        "edit",
        "skimage:chelsea",
        "-i",
        "make it gold",
        "--models",
        "tiny",
        "--steps",
        "1",
        "--point",
        "200,150",
        "--point",
        "100,100",
        "--method",
        "crop",
    ]
    res = CliRunner().invoke(app, [*base, "--sam-masks", "3", "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "a" / "record.json").read_text())
    assert rec["mask"]["sam"]["multimask_output"] is True and len(rec["mask"]["sam"]["scores"]) == 3
    res = CliRunner().invoke(app, [*base, "--sam-masks", "2", "--out", str(tmp_path / "b")])
    assert res.exit_code == 2 and "--sam-masks '2': expected auto, 1 or 3" in res.output
    assert not (tmp_path / "b").exists()
