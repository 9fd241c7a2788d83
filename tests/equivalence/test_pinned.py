"""The two in-loop mask hooks pinned numerically, at every step, for every editor family.

Latent blend: after step i the latents outside the mask must be *exactly* the scheduler's own
noising of z₀ to the level the loop has just reached (timestep i + 1) with the blend's fixed ε,
and z₀ itself after the last step. Masked guidance: the noise prediction the scheduler receives
must be ε_u + s_I (ε_img − ε_u) + m ⊙ s_T (ε_full − ε_img), per sample, with each sample's mask.
Each check is shown to fail on a deliberately wrong variant, so a pass means something.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from editor_calls import edit_at_working_size

import maskedit.editing.latent as latent_module
from maskedit.config import EditSettings
from maskedit.editing.editors import latent_layout, resolve_settings
from maskedit.editing.guidance import masked_text_guidance
from maskedit.editing.jobs import EditorJob, run_job, run_jobs
from maskedit.editing.latent import LatentBlend
from maskedit.families import EDITORS
from maskedit.tiny import build_tiny_editor

pytestmark = pytest.mark.usefixtures("one_torch_thread")
H, W = 64, 96  # every tiny editor's VAE scales by 8: latents 8×12
ATOL = 1e-5


def _photo() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([x * 2, y * 3, (x + y)], axis=-1).astype(np.uint8)
    img[16:40, 30:70] = (250, 40, 40)
    return img


def _latent_mask() -> np.ndarray:
    m = np.zeros((H // 8, W // 8), np.float32)
    m[2:6, 3:9] = 1.0
    return m


@pytest.fixture(scope="module")
def pipes() -> dict:
    return {}


def _pipe(pipes: dict, editor: str):
    if editor not in pipes:
        pipes[editor] = build_tiny_editor(editor)
    return pipes[editor]


# --- latent blend ----------------------------------------------------------------------------


def expected_reference(scheduler, z0: torch.Tensor, noise: torch.Tensor, i: int) -> torch.Tensor:
    """z₀ noised to the level after step i, written from the scheduler's own tables (not through
    maskedit's `renoise`): flow matching σ ε + (1 − σ) z₀, Euler z₀ + σ ε with σ = sigmas[i + 1]
    (sigmas end in 0, so after the last step both are z₀); DDPM-style √ᾱ z₀ + √(1 − ᾱ) ε at
    timesteps[i + 1], z₀ after the last step."""
    timesteps = scheduler.timesteps
    name = type(scheduler).__name__
    if "FlowMatch" in name:
        sigma = scheduler.sigmas[i + 1].to(z0.dtype)
        return sigma * noise + (1.0 - sigma) * z0
    if "Euler" in name:
        return z0 + noise * scheduler.sigmas[i + 1].to(z0.dtype)
    if i + 1 >= len(timesteps):
        return z0
    alpha = scheduler.alphas_cumprod[int(timesteps[i + 1])].to(z0.dtype)
    return alpha.sqrt() * z0 + (1 - alpha).sqrt() * noise


def blend_mismatches(scheduler, records: list, noise: torch.Tensor, outside: torch.Tensor) -> list:
    """What is wrong with a recorded run: a step of the loop without a blend, or a step whose
    latents outside the mask are not `expected_reference` (max |Δ| > 1e-5). Empty: pinned."""
    problems = []
    steps = [i for i, _, _ in records]
    if steps != list(range(len(scheduler.timesteps))):
        problems.append(f"blended steps {steps}, but the loop ran {len(scheduler.timesteps)}")
    for i, latents, z0 in records:
        expected = expected_reference(scheduler, z0, noise, i)
        delta = float((latents - expected)[outside].abs().max())
        if not delta <= ATOL:
            problems.append(f"step {i}: max |Δ| outside the mask {delta:.3g}")
    return problems


def record_blended_run(pipe, editor: str, steps: int = 4):
    """Run the editor with a LatentBlend; record (step, latents after the blend, z₀) from the
    step callback. Returns the records, the blend's fixed ε and the outside-the-mask selector."""
    mask = _latent_mask()
    blend = LatentBlend(mask, seed=3)
    records: list = []

    def spy(p, i, t, latents, z0):
        out = blend(p, i, t, latents, z0)
        if out is not None:
            records.append((i, out.detach().clone(), z0.detach().clone()))
        return out

    settings = resolve_settings(EditSettings(steps=steps, seed=5), EDITORS[editor])
    edit_at_working_size(pipe, _photo(), "make it gold", settings, blend=spy)
    assert blend.noise is not None and records
    m = latent_layout(pipe, mask, records[0][1])
    outside = (m == 0).expand_as(records[0][1])
    assert outside.any() and not outside.all()
    return records, blend.noise, outside


@pytest.mark.parametrize(
    "editor", ["ip2p", "ip2p-xl", "kontext", "qwen-edit", "qwen-edit-plus", "flux2-klein"]
)
def test_latent_blend_is_pinned_at_every_step(pipes, editor):
    """ip2p: Euler-ancestral; ip2p-xl: Euler; kontext: flow matching (packed tokens); qwen-edit
    (-plus): flow matching with Qwen's exponential shift (packed tokens, normalised latents);
    flux2-klein: flow matching (patchified, batch-normalised, packed tokens).

    Why a wrong blend cannot pass: after step i the loop's latents sit at σ_{i+1}. A blend to the
    current timestep puts the outside at z₀ + σ_i ε (Euler) or σ_i ε + (1 − σ_i) z₀ (flow), off by
    (σ_i − σ_{i+1}) ε, i.e. about 0.1–5 per value on these schedules against a 1e-5 tolerance; a
    wrong σ formula (z₀ + σ ε on a flow-matching schedule) is off by σ z₀; a fresh ε each step
    is off by σ_{i+1} (ε' − ε). `test_the_check_catches_a_wrong_blend` runs the first and the last
    of these and sees `blend_mismatches` report them.
    """
    pipe = _pipe(pipes, editor)
    records, noise, outside = record_blended_run(pipe, editor)
    assert blend_mismatches(pipe.scheduler, records, noise, outside) == []
    # after the last step the reference is z₀ itself
    _, last, z0 = records[-1]
    assert torch.equal(last[outside], z0.to(last.dtype)[outside])


def _renoise_to_current_timestep(pipe, z0, noise, step):
    """Wrong on purpose: the level the step started from, not the one it reached. Schedulers
    with a begin index (Kontext's) read their step index, not the timestep: move that too."""
    scheduler = pipe.scheduler
    t_now = scheduler.timesteps[step : step + 1]
    saved = scheduler._step_index
    scheduler._step_index = step
    try:
        if hasattr(scheduler, "scale_noise"):
            return scheduler.scale_noise(z0, t_now, noise)
        return scheduler.add_noise(z0, noise, t_now)
    finally:
        scheduler._step_index = saved


_RIGHT_RENOISE = latent_module.renoise


def _renoise_with_fresh_noise(pipe, z0, noise, step):
    """Wrong on purpose: a new ε each step instead of the blend's fixed one."""
    return _RIGHT_RENOISE(pipe, z0, torch.randn_like(noise), step)


@pytest.mark.parametrize("editor", ["ip2p", "ip2p-xl", "kontext"])
@pytest.mark.parametrize("wrong", [_renoise_to_current_timestep, _renoise_with_fresh_noise])
def test_the_check_catches_a_wrong_blend(pipes, editor, wrong, monkeypatch):
    """A blend to the current timestep (σ_i instead of σ_{i+1}) or with a fresh ε is reported."""
    pipe = _pipe(pipes, editor)
    monkeypatch.setattr(latent_module, "renoise", wrong)
    records, noise, outside = record_blended_run(pipe, editor)
    problems = blend_mismatches(pipe.scheduler, records, noise, outside)
    # every step is off (a fresh ε cannot show after the last step, where the reference is z₀)
    assert len(problems) >= len(records) - 1, problems


def test_latent_blend_is_pinned_with_a_pndm_scheduler(pipes):
    """IP2P with SD's PNDM scheduler (skip_prk_steps, as SD checkpoints ship it)."""
    from diffusers import PNDMScheduler

    pipe = build_tiny_editor("ip2p")
    pipe.scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        steps_offset=1,
        set_alpha_to_one=False,
    )
    records, noise, outside = record_blended_run(pipe, "ip2p", steps=4)
    assert len(pipe.scheduler.timesteps) == 5
    assert blend_mismatches(pipe.scheduler, records, noise, outside) == []


@pytest.mark.parametrize("editor", ["ip2p", "ip2p-xl"])
def test_latent_blend_is_pinned_with_a_second_order_scheduler(editor):
    """Heun runs two loop iterations per step (timesteps t0, t1, t1, t2, t2, …). SDXL-IP2P's legacy
    callback fires once per finished step and counts steps, not iterations: the blend must still
    take the loop's index, reach the level the loop reached (σ of the next timestep) and end on z₀
    after the last iteration, as IP2P's per-iteration callback does."""
    from diffusers import HeunDiscreteScheduler

    pipe = build_tiny_editor(editor)
    pipe.scheduler = HeunDiscreteScheduler.from_config(pipe.scheduler.config)
    records, noise, outside = record_blended_run(pipe, editor, steps=4)
    last = len(pipe.scheduler.timesteps) - 1
    steps = [i for i, _, _ in records]
    assert steps == (list(range(last + 1)) if editor == "ip2p" else [1, 3, 5, last])
    for i, latents, z0 in records:
        expected = z0 + noise * pipe.scheduler.sigmas[i + 1].to(z0.dtype)  # sigmas end in 0
        assert float((latents - expected)[outside].abs().max()) <= ATOL, i
    _, final, z0 = records[-1]
    assert torch.equal(final[outside], z0.to(final.dtype)[outside])


# --- masked guidance -------------------------------------------------------------------------


class EpsStub(torch.nn.Module):
    """A UNet whose prediction is known: each row of the 3B batch gets ε_full, ε_image or
    ε_uncond of its sample, by *its conditioning*, not its position (zero image latents:
    unconditional; the unconditional rows' text: image only; else text + image). So a pipeline
    that ordered its chunks differently would be caught too. Everything else (config, add
    embedding, dtype) is the real UNet's."""

    def __init__(self, unet, seed: int = 0):
        super().__init__()
        self.inner = unet
        self.generator = torch.Generator().manual_seed(seed)
        self.eps: dict[str, torch.Tensor] = {}
        self.calls = 0

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["inner"], name)

    def table(self, kind: str, batch: int, shape) -> torch.Tensor:
        if kind not in self.eps:
            self.eps[kind] = torch.randn((batch, *shape), generator=self.generator)
        return self.eps[kind]

    def forward(self, sample, timestep, encoder_hidden_states=None, return_dict=True, **kwargs):
        self.calls += 1
        n, c = sample.shape[0], sample.shape[1] // 2
        uncond = sample[:, c:].flatten(1).abs().amax(dim=1) == 0
        text = encoder_hidden_states.flatten(1)
        # the unconditional rows' text (one per sample: equal up to batched-kernel noise)
        neg_distance = torch.cdist(text, text[uncond], p=float("inf")).amin(dim=1)
        image_only = ~uncond & (neg_distance < 1e-4)
        kinds = [
            "uncond" if u else "image" if io else "full"
            for u, io in zip(uncond, image_only, strict=True)
        ]
        b = n // 3
        seen = {"full": 0, "image": 0, "uncond": 0}
        rows = []
        for kind in kinds:
            rows.append(self.table(kind, b, (c, *sample.shape[2:]))[seen[kind]])
            seen[kind] += 1
        assert seen == {"full": b, "image": b, "uncond": b}, seen
        out = torch.stack(rows).to(sample.dtype)
        return (out,) if not return_dict else type("Out", (), {"sample": out})()


def combine(full, image, uncond, s_t: float, s_i: float):
    """The pipelines' guidance line (diffusers' IP2P and SDXL-IP2P `__call__`)."""
    return uncond + s_t * (full - image) + s_i * (image - uncond)


def guidance_error(pred, stub: EpsStub, masks: np.ndarray, s_t: float, s_i: float) -> float:
    """max |pred − (ε_u + s_I (ε_img − ε_u) + m ⊙ s_T (ε_full − ε_img))| over every sample."""
    full, image, uncond = (stub.eps[k].double() for k in ("full", "image", "uncond"))
    m = torch.from_numpy(masks).double()[:, None]
    expected = uncond + s_i * (image - uncond) + m * s_t * (full - image)
    return float((pred.double() - expected).abs().max())


def _two_masks() -> np.ndarray:
    """Sample 0: the left half of the latent; sample 1: the top half."""
    masks = np.zeros((2, H // 8, W // 8), np.float32)
    masks[0, :, : W // 16] = 1
    masks[1, : H // 16] = 1
    return masks


def _stub_inputs(b: int, c: int = 4):
    """A 3B-row UNet input in the pipelines' order: [text+image, image, uncond]."""
    g = torch.Generator().manual_seed(1)
    latents = torch.randn((b, c, H // 8, W // 8), generator=g)
    image = torch.randn((b, c, H // 8, W // 8), generator=g)
    text, neg = torch.randn((b, 5, 8), generator=g), torch.zeros((1, 5, 8))
    sample = torch.cat([torch.cat([latents] * 3), torch.cat([image, image, 0 * image])], dim=1)
    hidden = torch.cat([text, neg.expand(b, -1, -1), neg.expand(b, -1, -1)])
    return sample, hidden


@contextlib.contextmanager
def _wrong_guidance(unet, mask: np.ndarray, which: str):
    """Deliberately wrong variants of `masked_text_guidance`'s hook."""
    m_all = torch.from_numpy(mask)[:, None]

    def hook(module, args, output):
        noise = output[0] if isinstance(output, tuple) else output.sample
        full, image, uncond = noise.chunk(3)
        m = m_all.flip(0) if which == "swapped masks" else m_all
        if which == "image term":  # m ⊙ s_I (ε_img − ε_u) + s_T (ε_full − ε_img): the wrong term
            masked_image = m * image + (1 - m) * uncond
            out = torch.cat([full - image + masked_image, masked_image, uncond])
        elif which == "wrong chunk":  # blends the unconditional chunk instead of the full one
            out = torch.cat([full, image, m * uncond + (1 - m) * image])
        else:
            out = torch.cat([m * full + (1 - m) * image, image, uncond])
        return (out, *output[1:]) if isinstance(output, tuple) else out

    handle = unet.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@pytest.mark.parametrize("return_dict", [False, True])
def test_masked_guidance_combines_per_sample(return_dict):
    stub = EpsStub(torch.nn.Linear(1, 1))
    sample, hidden = _stub_inputs(b=2)
    masks = _two_masks()
    s_t, s_i = 7.5, 1.5
    with masked_text_guidance(stub, masks) as stats:
        out = stub(sample, 10, encoder_hidden_states=hidden, return_dict=return_dict)
    pred = combine(*(out[0] if not return_dict else out.sample).chunk(3), s_t, s_i)
    assert stats["calls"] == 1
    assert guidance_error(pred, stub, masks, s_t, s_i) <= ATOL
    # inside the mask the full text term, outside none of it: both halves really differ
    plain = combine(stub.eps["full"], stub.eps["image"], stub.eps["uncond"], s_t, s_i)
    inside = torch.from_numpy(masks[:, None] == 1).expand_as(pred)
    assert torch.allclose(pred[inside], plain[inside], atol=ATOL)
    assert not torch.allclose(pred[~inside], plain[~inside], atol=1e-2)


@pytest.mark.parametrize("which", ["image term", "wrong chunk", "swapped masks"])
def test_the_guidance_check_catches_a_wrong_hook(which):
    stub = EpsStub(torch.nn.Linear(1, 1))
    sample, hidden = _stub_inputs(b=2)
    masks = _two_masks()
    with _wrong_guidance(stub, masks, which):
        out = stub(sample, 10, encoder_hidden_states=hidden, return_dict=False)[0]
    assert guidance_error(combine(*out.chunk(3), 7.5, 1.5), stub, masks, 7.5, 1.5) > 0.1


@pytest.mark.parametrize("editor", ["ip2p", "ip2p-xl"])
def test_masked_guidance_through_the_pipeline(pipes, editor, monkeypatch):
    """The stub inside the real pipeline, two jobs with different masks in one batched call:
    what reaches `scheduler.step` at every step is the masked combination, per sample; one job
    alone gets its own mask."""
    pipe = _pipe(pipes, editor)
    real_unet = pipe.unet
    stub = EpsStub(real_unet)
    pipe.unet = stub
    seen = []
    step = pipe.scheduler.step

    def spy(model_output, *args, **kwargs):
        seen.append(model_output.detach().clone())
        return step(model_output, *args, **kwargs)

    monkeypatch.setattr(pipe.scheduler, "step", spy)
    try:
        settings = resolve_settings(EditSettings(steps=2, seed=1), EDITORS[editor])
        masks = _two_masks()
        jobs = [
            EditorJob(_photo(), f"make it gold {k}", settings, guidance_mask=masks[k])
            for k in range(2)
        ]
        run_jobs(pipe, jobs)
        assert len(seen) == 2 and stub.calls == 2
        for pred in seen:
            assert guidance_error(pred, stub, masks, settings.text_cfg, settings.image_cfg) <= ATOL
        seen.clear()
        stub.eps.clear()
        run_job(pipe, EditorJob(_photo(), "make it gold", settings, guidance_mask=masks[1]))
        for pred in seen:
            assert (
                guidance_error(pred, stub, masks[1:], settings.text_cfg, settings.image_cfg) <= ATOL
            )
    finally:
        pipe.unet = real_unet
