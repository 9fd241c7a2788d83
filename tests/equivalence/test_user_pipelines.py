"""A pipeline the user built and configured themselves, handed to `Models.from_components`.

Another scheduler swapped in the usual diffusers way, bf16 weights, their own attention
processors and progress bar: the identities hold as for maskedit's own pipelines (the unmasked
path is the user's own call, an all-ones mask gives the baseline, an all-zeros mask the input),
and the user's pipeline is left as it was, so their next plain call gives what it gave before.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import diffusers
import numpy as np
import pytest
import torch
from PIL import Image

import maskedit
from maskedit import EditSettings
from maskedit.editing.editors import latent_layout, resolve_settings
from maskedit.editing.jobs import EditorJob, run_job, run_jobs
from maskedit.editing.latent import LatentBlend
from maskedit.errors import CheckpointError
from maskedit.families import EDITORS
from maskedit.tiny import build_tiny_editor

pytestmark = pytest.mark.usefixtures("one_torch_thread")
H, W = 64, 96  # latents 8×12
PROMPT = "make it gold"


def _photo() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _user_pipe(editor: str, scheduler: str | type, **config):
    """The tiny pipeline with another scheduler, as a diffusers user swaps one in."""
    pipe = build_tiny_editor(editor)
    cls = getattr(diffusers, scheduler) if isinstance(scheduler, str) else scheduler
    pipe.scheduler = cls.from_config(pipe.scheduler.config, **config)
    return pipe


class _BrownianInterval:
    """torchsde's Brownian interval as DPM-Solver++ SDE reads it: W(b) − W(a), Gaussian with
    variance |b − a|, the same for the same entropy and interval (a stand-in where torchsde is
    not installed)."""

    def __init__(self, t0, t1, size, dtype, device, entropy, **kwargs):
        self.size, self.dtype, self.device, self.entropy = size, dtype, device, entropy

    def __call__(self, a, b):
        key = hash((self.entropy, round(float(a), 6), round(float(b), 6))) % 2**63
        w = torch.randn(self.size, generator=torch.Generator().manual_seed(key))
        return (w * abs(float(b) - float(a)) ** 0.5).to(self.device, self.dtype)


def _sde_scheduler(monkeypatch) -> type:
    """diffusers' DPMSolverSDEScheduler, on the stand-in Brownian interval without torchsde
    (its module is imported afresh for the test and forgotten after it)."""
    name = "diffusers.schedulers.scheduling_dpmsolver_sde"
    if importlib.util.find_spec("torchsde") is None:
        stand_in = types.ModuleType("torchsde")
        stand_in.BrownianInterval = _BrownianInterval
        monkeypatch.setitem(sys.modules, "torchsde", stand_in)
        monkeypatch.setitem(sys.modules, name, None)
        del sys.modules[name]
        monkeypatch.setattr(diffusers.schedulers, "scheduling_dpmsolver_sde", None, raising=False)
    return importlib.import_module(name).DPMSolverSDEScheduler


def _user_call(pipe, image: np.ndarray, steps: int, seed: int) -> np.ndarray:
    """What an IP2P user writes (written out here, not maskedit's code), as uint8."""
    out = pipe(PROMPT, image=Image.fromarray(image), num_inference_steps=steps,
               guidance_scale=7.5, image_guidance_scale=1.5,
               generator=torch.Generator().manual_seed(seed), output_type="pil")
    return np.asarray(out.images[0])


def _state(pipe) -> dict:
    """What maskedit must leave as it found it on the user's pipeline."""
    unet = pipe.unet
    return {
        "processors": {k: type(v).__name__ for k, v in unet.attn_processors.items()},
        "hooks": [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in unet.modules()],
        "progress": dict(getattr(pipe, "_progress_bar_config", {})),
        "scheduler": (type(pipe.scheduler).__name__, dict(pipe.scheduler.config)),
        "own step": "step" in vars(pipe.scheduler),
        "dtype": pipe.dtype,
        "device": pipe.device,
        "vae slicing": pipe.vae.use_slicing,
        "rng": torch.get_rng_state(),
    }


def _same_state(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) if k == "rng" else a[k] == b[k] for k in a)


@pytest.mark.parametrize(
    "scheduler",
    ["DDIMScheduler", "DPMSolverMultistepScheduler", "UniPCMultistepScheduler", "LCMScheduler",
     "KDPM2DiscreteScheduler", "TCDScheduler"],
)
def test_a_users_scheduler_keeps_every_identity_and_the_pipeline_as_it_was(scheduler):
    """Multistep (DPM-Solver++, UniPC), LCM's re-noising, KDPM2's two evaluations per step and
    TCD's `eta` (the pipeline passes its own 0.0 where `step` takes one; TCD's default is 0.3):
    the baseline is the user's own call bit for bit, all-ones masks give it, all-zeros masks the
    input; afterwards the pipeline's state and the user's next call are what they were."""
    from diffusers.models.attention_processor import AttnProcessor

    pipe = _user_pipe("ip2p", scheduler)
    pipe.unet.set_attn_processor(AttnProcessor())
    pipe.set_progress_bar_config(disable=True, desc="mine")
    photo, methods = _photo(), ["latent", "guidance"]
    before, state = _user_call(pipe, photo, 2, 4), _state(pipe)
    models = maskedit.Models.from_components(pipe, working_size=W)
    s = EditSettings(steps=2, seed=4)
    ones = maskedit.edit(photo, PROMPT, models=models, mask=np.ones((H, W)), settings=s,
                         methods=methods)
    assert np.array_equal(ones.baseline, before)
    for m in methods:
        assert np.array_equal(ones.outputs[m], ones.baseline), m
    zeros = maskedit.edit(photo, PROMPT, models=models, mask=np.zeros((H, W)), settings=s,
                          methods=methods, baseline=False)
    for m in methods:
        assert np.array_equal(zeros.outputs[m], photo), m
    assert models.describe()["ip2p"]["scheduler"] == scheduler
    assert _same_state(_state(pipe), state)
    assert np.array_equal(_user_call(pipe, photo, 2, 4), before)


def test_the_relevance_mask_leaves_a_users_pipeline_as_it_was():
    """`mask_from="edit"` records the UNet's own forwards (hooks on the user's UNet)."""
    pipe = build_tiny_editor("ip2p")
    photo = _photo()
    before, state = _user_call(pipe, photo, 2, 4), _state(pipe)
    models = maskedit.Models.from_components(pipe, working_size=W)
    for methods in (["pixel"], ["latent"]):  # the baseline's own forwards; a pre-pass
        maskedit.edit(photo, PROMPT, models=models, mask_from="edit",
                      settings=EditSettings(steps=2, seed=4), methods=methods)
    assert _same_state(_state(pipe), state)
    assert np.array_equal(_user_call(pipe, photo, 2, 4), before)


def test_a_bf16_pipeline_keeps_the_identities():
    """`pipe.to(torch.bfloat16)` on the CPU: the record says bf16, the identities are exact."""
    pipe = build_tiny_editor("ip2p").to(torch.bfloat16)
    photo = _photo()
    models = maskedit.Models.from_components(pipe, working_size=W)
    s = EditSettings(steps=2, seed=4)
    res = maskedit.edit(photo, PROMPT, models=models, mask=np.ones((H, W)), settings=s,
                        methods=["latent"])
    assert res.models["ip2p"]["dtype"] == "bfloat16"
    assert np.array_equal(res.baseline, _user_call(pipe, photo, 2, 4))
    assert np.array_equal(res.outputs["latent"], res.baseline)
    assert pipe.dtype == torch.bfloat16


# --- where the blend may act ------------------------------------------------------------------


@pytest.mark.parametrize(
    "scheduler",
    ["EulerDiscreteScheduler", "HeunDiscreteScheduler", "KDPM2DiscreteScheduler",
     "KDPM2AncestralDiscreteScheduler", "DPMSolverSDEScheduler"],
)
def test_latent_blend_puts_the_outside_at_the_level_the_loop_reached(scheduler, monkeypatch):
    """After every loop iteration the latents outside the mask are z₀ + σ ε with σ the level the
    scheduler scales the next model input for (read off `scale_model_input`), and z₀ after the
    last. KDPM2's half-steps end at interpolated σs, DPM-Solver++ SDE's at a midpoint σ, that
    `add_noise` has no entry for: a blend there put the outside at the next full step's σ (off
    by ~8 per value) while the loop stood half-way."""
    if scheduler == "DPMSolverSDEScheduler":
        scheduler = _sde_scheduler(monkeypatch)
    pipe = _user_pipe("ip2p", scheduler)
    sigmas: list[float] = []
    scale = pipe.scheduler.scale_model_input

    def spy_scale(sample, timestep, *args, **kwargs):
        out = scale(sample, timestep, *args, **kwargs)
        ratio = float(sample.flatten()[0] / out.flatten()[0])  # √(σ² + 1)
        sigmas.append((ratio * ratio - 1) ** 0.5)
        return out

    pipe.scheduler.scale_model_input = spy_scale
    mask = np.zeros((H // 8, W // 8), np.float32)
    mask[2:6, 3:9] = 1.0
    blend, records = LatentBlend(mask, seed=3), []

    def spy_blend(p, i, t, latents, z0):
        out = blend(p, i, t, latents, z0)
        if out is not None:
            records.append((i, out.clone(), z0.clone()))
        return out

    settings = resolve_settings(EditSettings(steps=4, seed=5), EDITORS["ip2p"])
    run_job(pipe, EditorJob(_photo(), PROMPT, settings, blend=spy_blend))
    outside = (latent_layout(pipe, mask, records[0][1]) == 0).expand_as(records[0][1])
    last = len(pipe.scheduler.timesteps) - 1
    assert records[-1][0] == last
    for i, latents, z0 in records[:-1]:
        expected = z0 + blend.noise * sigmas[i + 1]
        assert float((latents - expected)[outside].abs().max()) <= 1e-4, (i, records)
    _, final, z0 = records[-1]
    assert torch.equal(final[outside], z0[outside])


def _outside_off_its_level(pipe, steps: int) -> list[float]:
    """After each loop iteration but the last, how far the latents outside the mask are from the
    source noised to the σ the scheduler's next step starts from (`sigmas[step_index]`, through
    its own `_sigma_to_alpha_sigma_t`); after the last, the outside must be z₀ itself."""
    mask = np.zeros((H // 8, W // 8), np.float32)
    mask[2:6, 3:9] = 1.0
    blend, records = LatentBlend(mask, seed=3), []

    def spy_blend(p, i, t, latents, z0):
        out = blend(p, i, t, latents, z0)
        sigma = p.scheduler.sigmas[p.scheduler.step_index]
        records.append((i, out.clone(), z0.clone(), sigma))
        return out

    settings = resolve_settings(EditSettings(steps=steps, seed=5), EDITORS["ip2p"])
    run_job(pipe, EditorJob(_photo(), PROMPT, settings, blend=spy_blend))
    outside = (latent_layout(pipe, mask, records[0][1]) == 0).expand_as(records[0][1])
    assert torch.equal(records[-1][1][outside], records[-1][2][outside])
    gaps = []
    for _, latents, z0, sigma in records[:-1]:
        alpha_t, sigma_t = pipe.scheduler._sigma_to_alpha_sigma_t(sigma)
        gaps.append(float((latents - (alpha_t * z0 + sigma_t * blend.noise))[outside].abs().max()))
    return gaps


@pytest.mark.parametrize("scheduler,config,steps", [
    ("DPMSolverMultistepScheduler", {"use_exponential_sigmas": True}, 19),
    ("UniPCMultistepScheduler", {"use_exponential_sigmas": True}, 19),
])
def test_latent_blend_finds_the_level_when_timesteps_repeat(scheduler, config, steps):
    """Exponential or Karras σs rounded to whole timesteps can repeat one (19 exponential steps
    end 2, 0, 0) while their σs differ. `add_noise` looked the level up by timestep and took the
    repeat's second σ, so after the step before it the outside sat one level lower (0.029
    where the loop stood at 0.041). After every iteration the outside is now the source noised
    to the σ the scheduler's next step starts from (`sigmas[step_index]`)."""
    pipe = _user_pipe("ip2p", scheduler, **config)
    gaps = _outside_off_its_level(pipe, steps)
    timesteps = pipe.scheduler.timesteps.tolist()
    assert len(set(timesteps)) < len(timesteps)  # the case in point
    assert max(gaps) <= 1e-4, gaps


@pytest.mark.parametrize("config", [{"use_karras_sigmas": True}, {"use_exponential_sigmas": True}])
def test_sa_solver_blend_follows_its_own_sigmas(config):
    """SA-Solver's `add_noise` reads `alphas_cumprod` at the whole timestep, not its own σ
    table: with Karras or exponential σs (rounded to timesteps) the outside sat up to 13 % of σ
    off the level the loop stood at. It is now noised at the σ its next step starts from."""
    pipe = _user_pipe("ip2p", "SASolverScheduler", **config)
    assert max(_outside_off_its_level(pipe, 6)) <= 1e-4


# --- schedulers whose steps draw noise ---------------------------------------------------------


@pytest.mark.parametrize("scheduler,config", [
    ("FlowMatchEulerDiscreteScheduler", {"stochastic_sampling": True}),
    ("FlowMatchLCMScheduler", {}),
])
def test_a_stochastic_flow_scheduler_draws_from_the_seed(scheduler, config):
    """FLUX.1 Kontext (like Qwen and FLUX.2) hands `scheduler.step` no generator: a scheduler
    that re-noises at every step drew from torch's global RNG, so the same seed gave other
    pixels and an all-ones mask no longer gave the baseline. Its noise now comes from the
    call's own generator (each sample's in a batch) and torch's global RNG is left alone."""
    pipe = _user_pipe("kontext", scheduler, **config)
    photo = _photo()
    models = maskedit.Models.from_components(pipe, working_size=W)
    s = EditSettings(steps=3, seed=4)
    rng = torch.get_rng_state()
    first = maskedit.edit(photo, PROMPT, models=models, mask=np.ones((H, W)), settings=s,
                          methods=["latent"])
    torch.manual_seed(123)  # whatever the global RNG holds
    again = maskedit.edit(photo, PROMPT, models=models, mask=np.ones((H, W)), settings=s,
                          methods=["latent"])
    assert np.array_equal(first.baseline, again.baseline)
    assert np.array_equal(first.outputs["latent"], first.baseline)
    torch.set_rng_state(rng)
    # a batch: each sample draws its own seed's step noise, as it does alone
    jobs = [EditorJob(photo, PROMPT, resolve_settings(EditSettings(steps=3, seed=k),
                                                      EDITORS["kontext"])) for k in (4, 9)]
    batched = run_jobs(pipe, jobs)
    for job, out in zip(jobs, batched, strict=True):
        alone = run_job(pipe, EditorJob(job.image, job.instruction, job.settings))
        assert np.abs(out.astype(int) - alone.astype(int)).max() <= 2
    assert "step" not in vars(pipe.scheduler)


def test_a_brownian_scheduler_draws_from_the_seed(monkeypatch):
    """DPM-Solver++ SDE draws its step noise from a Brownian tree seeded, unless the user set
    `noise_sampler_seed`, from torch's global RNG (its `step` takes no generator): the same seed
    gave other pixels and an all-ones mask no longer gave the baseline. The tree is now seeded
    with the call's seed (each sample's in a batch), and the global RNG is left alone."""
    pipe = _user_pipe("ip2p", _sde_scheduler(monkeypatch))
    photo, methods = _photo(), ["latent", "guidance"]
    models = maskedit.Models.from_components(pipe, working_size=W)
    s = EditSettings(steps=3, seed=4)
    rng = torch.get_rng_state()
    first = maskedit.edit(photo, PROMPT, models=models, mask=np.ones((H, W)), settings=s,
                          methods=methods)
    for m in methods:
        assert np.array_equal(first.outputs[m], first.baseline), m
    assert torch.equal(torch.get_rng_state(), rng)
    torch.manual_seed(123)  # whatever the global RNG holds
    again = maskedit.edit(photo, PROMPT, models=models, mask=np.ones((H, W)), settings=s,
                          methods=["pixel"])
    assert np.array_equal(again.baseline, first.baseline)
    jobs = [EditorJob(photo, PROMPT, resolve_settings(EditSettings(steps=3, seed=k),
                                                      EDITORS["ip2p"])) for k in (4, 9)]
    for job, out in zip(jobs, run_jobs(pipe, jobs), strict=True):
        alone = run_job(pipe, EditorJob(job.image, job.instruction, job.settings))
        assert np.abs(out.astype(int) - alone.astype(int)).max() <= 2
    assert pipe.scheduler.noise_sampler_seed is None
    pipe.scheduler.noise_sampler_seed = 7  # a seed the user set is theirs
    mine = maskedit.edit(photo, PROMPT, models=models, mask=np.ones((H, W)), settings=s,
                         methods=["pixel"])
    assert not np.array_equal(mine.baseline, first.baseline)
    assert pipe.scheduler.noise_sampler_seed == 7


# --- pipelines maskedit cannot drive ---------------------------------------------------------


def test_an_ip2p_pipeline_with_a_text_to_image_unet_is_refused_when_wrapped():
    """An IP2P pipeline class around SD's 4-channel UNet: one line when wrapped, not diffusers'
    config dump at the first edit."""
    from diffusers import UNet2DConditionModel

    from maskedit.tiny.editors import UNET

    parts = dict(build_tiny_editor("ip2p").components)
    parts["unet"] = UNet2DConditionModel(**{**UNET, "in_channels": 4}, cross_attention_dim=32,
                                         norm_num_groups=32, attention_head_dim=8)
    pipe = diffusers.StableDiffusionInstructPix2PixPipeline(**parts)
    with pytest.raises(CheckpointError, match="takes 4 input channels") as err:
        maskedit.Models.from_components(pipe)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("cls", ["StableDiffusionPipeline", "StableDiffusionInpaintPipeline"])
def test_a_pipeline_that_is_not_an_editor_is_named(cls):
    """A text-to-image or inpainting pipeline built from the same parts: one line naming it."""
    parts = dict(build_tiny_editor("ip2p").components)
    pipe = getattr(diffusers, cls)(**parts)
    with pytest.raises(maskedit.MaskeditError, match=f"editor pipeline {cls}: not one of"):
        maskedit.Models.from_components(pipe)


@pytest.mark.parametrize("part", ["unet", "vae", "text_encoder", "tokenizer"])
def test_a_pipeline_missing_a_component_is_named_when_wrapped(part):
    """diffusers builds a pipeline with None in any slot; it would fail mid-edit as an
    AttributeError naming nothing. Wrapping it names the missing part in one line."""
    parts = dict(build_tiny_editor("ip2p").components)
    parts[part] = None
    pipe = diffusers.StableDiffusionInstructPix2PixPipeline(**parts)
    words = f"editor pipeline StableDiffusionInstructPix2PixPipeline: its {part} is None; build"
    with pytest.raises(maskedit.InputError, match=words):
        maskedit.Models.from_components(pipe)


def test_a_sam_model_needs_its_processor():
    from maskedit.tiny import build_tiny_sam

    sam_model, sam_processor = build_tiny_sam()
    pipe = build_tiny_editor("ip2p")
    with pytest.raises(maskedit.InputError, match="sam_model given without sam_processor"):
        maskedit.Models.from_components(pipe, sam_model)
    with pytest.raises(maskedit.InputError, match="sam_processor given without sam_model"):
        maskedit.Models.from_components(pipe, sam_processor=sam_processor)


@pytest.mark.parametrize("segmenter", ["sam", "sam-hq", "sam2"])
def test_the_record_names_the_segmenter_the_user_gave(segmenter):
    """A user's SAM-HQ or SAM 2 model is recorded as what it is (the record said "sam")."""
    from maskedit.tiny import build_tiny_segmenter

    models = maskedit.Models.from_components(build_tiny_editor("ip2p"),
                                             *build_tiny_segmenter(segmenter), working_size=W)
    assert models.segmenter == segmenter
    assert models.describe()["segmenter"] == segmenter


@pytest.mark.parametrize("given", ["pipeline", None])
def test_a_pipeline_given_as_models_is_told_to_wrap_it(given):
    pipe = build_tiny_editor("ip2p") if given == "pipeline" else None
    name = type(pipe).__name__
    words = f"models: got {name}, expected maskedit.Models .*Models.from_components\\(pipe"
    with pytest.raises(maskedit.InputError, match=words):
        maskedit.edit(_photo(), PROMPT, models=pipe, mask=np.ones((H, W)))


def test_a_subclass_of_an_editor_pipeline_runs_as_its_family():
    class MyPix2Pix(diffusers.StableDiffusionInstructPix2PixPipeline):
        pass

    pipe = MyPix2Pix(**build_tiny_editor("ip2p").components)
    pipe.set_progress_bar_config(disable=True)
    models = maskedit.Models.from_components(pipe, working_size=W)
    assert models.editor == "ip2p"
    res = maskedit.edit(_photo(), PROMPT, models=models, mask=np.ones((H, W)),
                        settings=EditSettings(steps=2, seed=4), methods=["latent"])
    assert np.array_equal(res.outputs["latent"], res.baseline)
    assert res.models["ip2p"]["class"] == "MyPix2Pix"


def test_the_record_names_the_device_the_pipeline_is_on_now(monkeypatch):
    """A user may move their pipeline after wrapping it: the record says where it ran."""
    pipe = build_tiny_editor("ip2p")
    models = maskedit.Models.from_components(pipe, working_size=W)
    assert models.describe()["device"] == "cpu"
    cls = type(pipe)
    monkeypatch.setattr(cls, "device", property(lambda self: torch.device("meta")))
    assert models.describe()["device"] == "meta"


def test_an_offloaded_pipeline_is_recorded_where_it_computes():
    """diffusers' model offload keeps the weights on the CPU between calls and runs each part
    on the device its hooks name: that device is the record's (and what a resumed run compares),
    not the CPU the weights wait on. The hooks are pointed at the meta device here, as no GPU
    is at hand; `pipe.device` still says cpu."""
    pipe = build_tiny_editor("ip2p")
    pipe.enable_model_cpu_offload(device="cpu")
    for part in pipe.components.values():
        for module in part.modules() if isinstance(part, torch.nn.Module) else ():
            if getattr(getattr(module, "_hf_hook", None), "execution_device", None) is not None:
                module._hf_hook.execution_device = torch.device("meta")
    models = maskedit.Models.from_components(pipe, working_size=W)
    assert pipe.device.type == "cpu"
    assert models.device.type == "meta" and models.describe()["device"] == "meta"


@pytest.mark.parametrize("size", [0, -64, 7, 5000, 10**6, 96.5, "96", True])
def test_a_working_size_maskedit_cannot_edit_at_is_refused_when_wrapped(size):
    """`working_size=` takes what `EditSettings.working_size` and `--working-size` take (a whole
    number from 8 to 4096). 0 fell back to the editor's size unsaid, a million px ran the editor
    out of memory, and -64 was refused at the first edit as `long_side`, a name the caller never
    gave."""
    with pytest.raises(maskedit.InputError, match=r"^working_size: got .*, expected a whole "
                                                  r"number from 8 to 4096"):
        maskedit.Models.from_components(build_tiny_editor("ip2p"), working_size=size)
    assert maskedit.Models.from_components(build_tiny_editor("ip2p"),
                                           working_size=4096).working_size == 4096


def test_a_call_that_drops_the_step_callback_is_named_not_left_unblended():
    """A user's subclass whose `__call__` puts its own `callback_on_step_end` in place of the one
    it is given (a step logger) never runs maskedit's: the latent method returned the unblended
    edit as its result, with nothing said. One line naming the pipeline and the argument
    instead; the pipeline is left as it was."""

    class Logged(diffusers.StableDiffusionInstructPix2PixPipeline):
        def __call__(self, *args, **kwargs):
            self.norms = []

            def log(pipe, step, timestep, tensors):
                self.norms.append(float(tensors["latents"].norm()))
                return {}

            kwargs.update(callback_on_step_end=log, callback_on_step_end_tensor_inputs=["latents"])
            return super().__call__(*args, **kwargs)

    pipe = Logged(**build_tiny_editor("ip2p").components)
    pipe.set_progress_bar_config(disable=True)
    state = _state(pipe)
    models = maskedit.Models.from_components(pipe, working_size=W)
    mask = np.zeros((H, W))
    mask[8:40, 16:64] = 1.0
    words = (r"^editor pipeline Logged: its call never ran the step callback it was given "
             r"\(callback_on_step_end\), so the latent method's blend could not act")
    with pytest.raises(maskedit.InputError, match=words) as err:
        maskedit.edit(_photo(), PROMPT, models=models, mask=mask,
                      settings=EditSettings(steps=2, seed=4), methods=["latent"])
    assert "\n" not in str(err.value)
    assert len(pipe.norms) == 2  # the user's own callback ran at every step
    assert _same_state(_state(pipe), state)
    res = maskedit.edit(_photo(), PROMPT, models=models, mask=mask,
                        settings=EditSettings(steps=2, seed=4), methods=["guidance"])
    assert not np.array_equal(res.outputs["guidance"], res.baseline)  # hooks on the UNet work


@pytest.mark.parametrize("editor,scheduler", [("ip2p", "LCMScheduler"),
                                              ("qwen-edit", "FlowMatchLCMScheduler")])
def test_an_edit_interrupted_mid_call_leaves_the_pipeline_as_it_was(editor, scheduler):
    """Ctrl-C (here: the progress callback) in the middle of the editor's call, with every hook
    maskedit attaches in place: the source-latents and guidance hooks, the `scheduler.step`
    wrappers (the seeded step of a stochastic scheduler, Qwen's masked true CFG) and Qwen's
    source area. Afterwards nothing of them is left on the user's pipeline, torch's RNG is
    where it was, and the same edit again gives what it gave before."""
    from maskedit.editing.editors import denoiser

    pipe = _user_pipe(editor, scheduler)
    module = sys.modules[type(pipe).__module__]

    def state() -> dict:
        return {
            "hooks": [len(m._forward_hooks) + len(m._forward_pre_hooks)
                      for m in denoiser(pipe).modules()],
            "own step": "step" in vars(pipe.scheduler),
            "dimensions": getattr(module, "calculate_dimensions", None),
            "progress": dict(getattr(pipe, "_progress_bar_config", {})),
            "rng": torch.get_rng_state().tolist(),
        }

    models = maskedit.Models.from_components(pipe, working_size=W)
    mask = np.zeros((H, W))
    mask[8:40, 16:64] = 1.0
    request = dict(mask=mask, settings=EditSettings(steps=2, seed=4),
                   methods=["latent", "guidance"])
    before = maskedit.edit(_photo(), PROMPT, models=models, **request)
    mine = state()
    for method in request["methods"]:  # stopped after the first step of the method's call
        calls = []

        def interrupt(stage, step, total, method=method, calls=calls):
            calls.append((stage, step))
            if stage == method:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            maskedit.edit(_photo(), PROMPT, models=models, progress=interrupt, **request)
        assert calls[-1] == (method, 1) and state() == mine, method
    again = maskedit.edit(_photo(), PROMPT, models=models, **request)
    for method in request["methods"]:
        assert np.array_equal(again.outputs[method], before.outputs[method]), method


@pytest.mark.parametrize("part", ["pipeline", "unet", "vae"])
def test_a_pipeline_without_weights_is_named_when_wrapped(part):
    """`pipe.to("meta")` (or one part of it, or a part built under `init_empty_weights`) holds
    no weights: it was wrapped and failed only at the first edit, after the mask was made, as
    `Cannot copy out of meta tensor; no data!`. One line when wrapped instead. Parts accelerate
    offloads module by module wait on the meta device with a hook that brings their weights:
    those are wrapped as before."""
    pipe = build_tiny_editor("ip2p")
    (pipe if part == "pipeline" else getattr(pipe, part)).to("meta")
    names = "text_encoder, unet, vae have" if part == "pipeline" else f"{part} has"
    words = (rf"^editor pipeline StableDiffusionInstructPix2PixPipeline: its {names} no "
             r"weights \(they are on the meta device\); load them")
    with pytest.raises(maskedit.InputError, match=words):
        maskedit.Models.from_components(pipe)
    offloaded = build_tiny_editor("ip2p")
    offloaded.enable_sequential_cpu_offload(device="cpu")
    assert offloaded.unet.conv_in.weight.is_meta
    assert maskedit.Models.from_components(offloaded).editor == "ip2p"
