"""How a diffusers editor pipeline is called: its arguments, its step hook, its source latents.

What differs between editors is read from the editor table (`maskedit.families`), never from
names. The plain call is exactly what a diffusers user would write, so with no hooks maskedit's
output is that pipeline's output (for Qwen-Image-Edit, with the source held at the working size
as `maskedit.editing.source_area` explains). Latent blending plugs in after every step: through
`callback_on_step_end` where the pipeline has it (IP2P, Kontext, Qwen, FLUX.2), through the legacy
per-step `callback` with an in-place update where it has not (SDXL-IP2P). The one function that
calls a pipeline is `maskedit.editing.jobs.run_jobs`.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
import torch
from PIL import Image

from maskedit.config import EditSettings
from maskedit.editing.crop import fit_long_side
from maskedit.editing.source_area import source_area, unresizable
from maskedit.errors import InputError, RunFailure
from maskedit.families import EditorSpec, Family, family_of


def resolve_settings(settings: EditSettings, spec: EditorSpec) -> EditSettings:
    """Fill the settings the user left unset (None) from the editor's defaults."""
    values = settings.model_dump()
    for key, default in (
        ("steps", spec.steps),
        ("text_cfg", spec.text_cfg),
        ("image_cfg", spec.image_cfg),
    ):
        if values[key] is None:
            values[key] = default
    if spec.image_cfg is None and settings.image_cfg is not None:
        raise InputError(f"editor '{spec.name}' has no image guidance; drop --image-cfg")
    return EditSettings(**values)


def check_steps(pipe, steps: int, name: str) -> None:
    """Refuse a step count the editor's scheduler cannot run. A flow-matching scheduler with a
    `shift_terminal` (Qwen-Image's 0.02) stretches its noise levels so that the last one lands
    there, dividing by the last one's distance from 1, which is 0 with a single step: every pixel
    would be NaN. `name` is the editor, as the user chose it."""
    terminal = pipe.scheduler.config.get("shift_terminal")
    if terminal and steps < 2:
        raise InputError(
            f"steps {steps}: the '{name}' editor's scheduler ends its noise levels at "
            f"shift_terminal {terminal:g}, which takes at least 2 steps"
        )


def denoiser(pipe) -> torch.nn.Module:
    """The network that predicts the noise (UNet or transformer): where forward hooks go."""
    return getattr(pipe, family_of(pipe).denoiser)


def size_multiple(pipe) -> int:
    """Sides the editor needs: UNets halve the latent per level; FLUX packs 2×2 latents; Qwen
    resizes its images to sides in multiples of 32 (the table's `size_multiple`)."""
    family = family_of(pipe)
    if family.size_multiple is not None:
        return family.size_multiple
    if family.packed_latents:
        return int(pipe.vae_scale_factor * 2)
    return int(pipe.vae_scale_factor * 2 ** (len(pipe.unet.config.block_out_channels) - 1))


def working_hw(pipe, image_hw: tuple[int, int], long_side: int) -> tuple[int, int]:
    """The aspect-preserving size the editor works at (long side `long_side`, sides rounded).

    FLUX.2 [klein] shrinks images over 1 MP itself, which would put the source off the noise's
    grid, and refuses images more elongated than 8:1 and sides under 64 px: such working sizes
    are refused in one line, naming a --working-size the pipeline takes, or saying there is none."""
    multiple = size_multiple(pipe)
    hw = fit_long_side(image_hw[0], image_hw[1], long_side, multiple)
    family = family_of(pipe)
    if family.max_source_area is not None and hw[0] * hw[1] > family.max_source_area:
        raise InputError(
            f"working size {hw[1]}×{hw[0]}: the {family.name} pipeline shrinks images over "
            f"{family.max_source_area} pixels (1024×1024); use a --working-size up to 1024"
        )
    if too_elongated(family, hw):
        problem = f"refuses images more elongated than {family.max_image_aspect:g}:1"
    elif min(hw) < family.min_image_side:
        problem = f"needs sides of at least {family.min_image_side} px"
    else:
        return hw
    taken = [n for n in _long_sides(family, multiple) if _takes(family, image_hw, n, multiple)]
    if taken:
        nearest = min(taken, key=lambda n: (abs(n - long_side), n))
        hint = f"use --working-size {nearest}"
    else:
        hint = (
            f"no working size fixes {image_hw[1]}×{image_hw[0]}: crop the photo (for the crop "
            "method: a larger --crop-margin)"
        )
    raise InputError(f"working size {hw[1]}×{hw[0]}: the {family.name} pipeline {problem}; {hint}")


def _long_sides(family: Family, multiple: int) -> range:
    """The long sides a pipeline with size limits could take, up to its largest area's side."""
    top = int(family.max_source_area**0.5) if family.max_source_area else 4096
    return range(multiple, top + 1, multiple)


def _takes(family: Family, image_hw: tuple[int, int], long_side: int, multiple: int) -> bool:
    """Whether the family's pipeline takes `image_hw` at working long side `long_side`."""
    hw = fit_long_side(image_hw[0], image_hw[1], long_side, multiple)
    small = min(hw) < family.min_image_side or too_elongated(family, hw)
    return not small and not (family.max_source_area and hw[0] * hw[1] > family.max_source_area)


def too_elongated(family: Family, hw: tuple[int, int]) -> bool:
    """Whether an image of (h, w) is more elongated than the family's pipeline takes (its own
    test: the longer side over the shorter, in floating point)."""
    h, w = hw
    return family.max_image_aspect is not None and max(w / h, h / w) > family.max_image_aspect


def check_references(
    pipe, references: tuple[np.ndarray, ...], hw: tuple[int, int], name: str
) -> None:
    """Refuse in one line a reference image the pipeline cannot resize for a call at working size
    `hw` (Qwen-Image-Edit-Plus resizes each to ~`hw`'s area and ~384² in 32-px steps: a very
    elongated one would get a side of 0 px). `name` is the editor, as the user chose it."""
    if not family_of(pipe).source_area_patch:
        return
    for i, reference in enumerate(references, 1):
        h, w = reference.shape[:2]
        why = unresizable(pipe, (h, w), hw[0] * hw[1])
        if why is not None:
            raise InputError(
                f"reference {i}: {w}×{h} is too elongated for the '{name}' editor at the working "
                f"size {hw[1]}×{hw[0]}: {why}; use a less elongated reference"
            )


def prompt_tokens(pipe, instruction: str) -> int | None:
    """Tokens the CLIP text encoder needs for the instruction (start and end included); None for
    editors whose prompt is not read by a CLIP tokenizer alone (FLUX reads it with T5 too)."""
    if family_of(pipe).packed_latents:
        return None
    return len(pipe.tokenizer(instruction, truncation=False).input_ids)


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator: the same seed gives the same noise on CPU, CUDA and MPS."""
    return torch.Generator(device="cpu").manual_seed(int(seed))


def to_uint8(images: np.ndarray) -> np.ndarray:
    """diffusers' float [0, 1] output → uint8 exactly as its `numpy_to_pil` does it."""
    return (images * 255).round().astype(np.uint8)


def plain_kwargs(
    pipe,
    image: np.ndarray,
    instruction: str,
    s: EditSettings,
    references: tuple[np.ndarray, ...] = (),
) -> dict[str, Any]:
    """The arguments a diffusers user passes to this editor for this image (at working size);
    reference images follow the source in `image` (the source is the one edited)."""
    family = family_of(pipe)
    h, w = image.shape[:2]
    source = Image.fromarray(image)
    kwargs: dict[str, Any] = dict(
        prompt=instruction,
        image=[source, *(Image.fromarray(r) for r in references)] if references else source,
        num_inference_steps=s.steps,
        generator=make_generator(s.seed),
        output_type="np",
    )
    kwargs[family.guidance_arg] = s.text_cfg
    if family.negative_prompt is not None:
        kwargs["negative_prompt"] = family.negative_prompt
    if family.image_guidance:
        kwargs["image_guidance_scale"] = s.image_cfg
    if family.pass_size:
        kwargs.update(height=h, width=w)
    if family.pass_max_area:
        # Kontext rescales every request to max_area (1024² by default) and snaps the aspect to
        # its preferred resolutions; maskedit keeps the photo's own aspect at the working size.
        kwargs.update(max_area=h * w, _auto_resize=False)
    return kwargs


def add_step_callback(
    pipe, kwargs: dict[str, Any], after_step: Callable[[int, Any, torch.Tensor], Any]
) -> None:
    """Call `after_step(step, timestep, latents)` after every denoising step (`step`: the index of
    the loop over `scheduler.timesteps`); a tensor it returns replaces the latents. Through
    `callback_on_step_end` where the pipeline has it; SDXL-IP2P has only the legacy per-step
    `callback`, so there the latents are updated in place, after each finished step."""
    if family_of(pipe).step_callback == "legacy":

        def legacy(step, timestep, latents):
            # The legacy callback fires once per finished step of `order` loop iterations (Heun,
            # KDPM2: 2) and counts finished steps; `after_step` takes the loop's own index.
            order = getattr(pipe.scheduler, "order", 1)
            step = min((step + 1) * order - 1, len(pipe.scheduler.timesteps) - 1)
            new = after_step(step, timestep, latents)
            if new is not None:
                latents.copy_(new)

        kwargs.update(callback=legacy, callback_steps=1)
        return

    def on_step_end(p, step, timestep, callback_kwargs):
        new = after_step(step, timestep, callback_kwargs["latents"])
        return {} if new is None else {"latents": new}

    kwargs.update(callback_on_step_end=on_step_end, callback_on_step_end_tensor_inputs=["latents"])


@contextmanager
def step_generator(scheduler, generator) -> Iterator[None]:
    """While active, `scheduler.step` draws its noise from the call's own `generator`.

    The SD pipelines hand `step` their generator; the FLUX and Qwen pipelines do not, so a
    stochastic scheduler put on them (FlowMatchLCM, FlowMatchEuler with `stochastic_sampling`)
    would draw from torch's global RNG: another result for the same seed, and an all-ones mask
    that no longer gives the baseline. A step that takes no generator, or is given one, is left
    alone; the user's `step` is put back afterwards. The wrapper keeps `step`'s signature, which
    the SD pipelines read to decide what to pass (their `eta` of 0.0 where TCD's own is 0.3).
    """
    if "generator" not in inspect.signature(type(scheduler).step).parameters:
        yield
        return
    own = scheduler.__dict__.get("step")  # a step already set on this object (kept, restored)
    step = scheduler.step

    @functools.wraps(step)
    def seeded_step(*args, **kwargs):
        if kwargs.get("generator") is None:
            kwargs["generator"] = generator
        return step(*args, **kwargs)

    scheduler.step = seeded_step
    try:
        yield
    finally:
        if own is None:
            del scheduler.step
        else:
            scheduler.step = own


@contextmanager
def brownian_seed(scheduler, generator) -> Iterator[None]:
    """While active, a scheduler that draws its step noise from a Brownian tree (DPM-Solver++
    SDE) seeds the tree with the call's seed (one per sample in a batch). Its `step` takes no
    generator, and a tree left unseeded (`noise_sampler_seed` None, its default) draws its seed
    from torch's global RNG: another result for the same seed, and an all-ones mask that no
    longer gives the baseline. A seed the user set is kept."""
    if getattr(scheduler, "noise_sampler_seed", 0) is not None:
        yield
        return
    if isinstance(generator, list):
        scheduler.noise_sampler_seed = [g.initial_seed() for g in generator]
    else:
        scheduler.noise_sampler_seed = generator.initial_seed()
    try:
        yield
    finally:
        scheduler.noise_sampler_seed = None


def call_pipeline(pipe, kwargs: dict[str, Any], hw: tuple[int, int]) -> list[np.ndarray]:
    """`pipe(**kwargs)` with output_type "np" → float images; out of memory as a run failure
    (the batch runner catches `torch.cuda.OutOfMemoryError` itself before this message). Qwen's
    images are resized to the working area `hw`, not its fixed ~1 MP (`source_area`)."""
    held = source_area(pipe, hw[0] * hw[1]) if family_of(pipe).source_area_patch else nullcontext()
    try:
        generator = kwargs["generator"]
        with (
            held,
            step_generator(pipe.scheduler, generator),
            brownian_seed(pipe.scheduler, generator),
        ):
            return list(pipe(**kwargs).images)
    except torch.cuda.OutOfMemoryError:
        if isinstance(kwargs.get("prompt"), list) and len(kwargs["prompt"]) > 1:
            raise  # a batch: the caller retries its jobs one at a time
        half = "" if pipe.dtype in (torch.float16, torch.bfloat16) else ", or --dtype bf16"
        raise RunFailure(
            f"out of GPU memory editing at {hw[1]}×{hw[0]}: try --cpu-offload or a smaller "
            f"--working-size{half}"
        ) from None


def nan_message(pipe) -> str:
    """What to retry with after NaN/inf pixels: fp16 overflows where bf16 (fp16's range, as the
    FLUX and Qwen checkpoints are published) fits, and fp32 fits on the CPU."""
    if pipe.dtype == torch.float16:
        return "the editor produced NaN/inf pixels (an fp16 overflow): retry with --dtype bf16"
    dtype = str(pipe.dtype).removeprefix("torch.")
    return f"the editor produced NaN/inf pixels in {dtype}: check the checkpoint and its inputs"


def finished(image: np.ndarray, pipe) -> np.ndarray | RunFailure:
    """A float output as uint8, or the run failure of a NaN/inf sample."""
    return to_uint8(image) if np.isfinite(image).all() else RunFailure(nan_message(pipe))


class SourceLatents:
    """The source latents z₀ as the pipeline itself encoded them, read off the denoiser's input.

    IP2P/SDXL-IP2P concatenate the *unscaled* `latent_dist.mode()` of the source as channels 4–8
    of the UNet input, so z₀ = that × `scaling_factor`. Kontext, Qwen-Image-Edit and FLUX.2
    [klein] append the source's tokens after the N noisy tokens, normalised as the pipeline
    normalises latents (Kontext shift/scale, Qwen `latents_mean`/`latents_std`, FLUX.2 the VAE's
    batch-norm statistics) and packed like them, so z₀ is tokens N..2N as they are (reference
    images' tokens follow). Reading them here costs nothing and cannot differ from what the
    pipeline used (no second VAE encode).
    """

    def __init__(self, pipe):
        self.pipe, self.family = pipe, family_of(pipe)
        self.source: torch.Tensor | None = None
        self.handle = None

    def __enter__(self):
        self.handle = denoiser(self.pipe).register_forward_pre_hook(self._grab, with_kwargs=True)
        return self

    def __exit__(self, *exc):
        self.handle.remove()
        return False

    def _grab(self, module, args, kwargs):
        if self.source is None:
            x = kwargs.get("hidden_states", kwargs.get("sample", args[0] if args else None))
            self.source = x.detach()

    def z0(self, latents: torch.Tensor) -> torch.Tensor:
        b = latents.shape[0]
        if self.family.source_tokens_after_noise:
            n = latents.shape[1]
            return self.source[:b, n : 2 * n]
        c = latents.shape[1]
        if getattr(self.pipe, "is_cosxl_edit", False):  # CosXL edit scales them already
            return self.source[:b, c:]
        return self.source[:b, c:] * self.pipe.vae.config.scaling_factor


def renoise(pipe, z0: torch.Tensor, noise: torch.Tensor, step: int) -> torch.Tensor:
    """z₀ at the noise level the loop reaches after `step`, with the scheduler's own formula.

    Flow matching (Kontext): `scale_noise` (σ ε + (1 − σ) z₀); solvers with a σ table (DPM-Solver,
    UniPC, DEIS, SA-Solver): αₜ z₀ + σₜ ε at the σ the next step starts from, which is their
    `add_noise` but for SA-Solver's, which reads `alphas_cumprod` at the rounded timestep (off
    for Karras or exponential σs); other DDPM-family schedulers: `add_noise`. After the last
    step: z₀ itself.
    """
    timesteps = pipe.scheduler.timesteps
    if step + 1 >= len(timesteps):
        return z0
    t_next = timesteps[step + 1 : step + 2]
    scheduler = at_step(pipe.scheduler, step + 1)
    if hasattr(scheduler, "scale_noise"):  # whatever scheduler the user's pipeline has
        return scheduler.scale_noise(z0, t_next, noise)
    if hasattr(scheduler, "_sigma_to_alpha_sigma_t") and hasattr(scheduler, "sigmas"):
        sigma = scheduler.sigmas[step + 1].to(device=z0.device, dtype=z0.dtype)  # not the table
        alpha_t, sigma_t = scheduler._sigma_to_alpha_sigma_t(sigma)
        return alpha_t * z0 + sigma_t * noise
    return scheduler.add_noise(z0, noise, t_next)


def at_step(scheduler, index: int):
    """The scheduler as it names the level of loop iteration `index` (a shallow copy; the user's
    own is left alone). A scheduler that keeps σs by index (Euler, DPM-Solver, UniPC, ...) looks
    a timestep up in its table unless a begin index is set, and takes a repeated timestep's
    second σ: exponential or Karras σs rounded to whole timesteps repeat one (19 exponential
    steps end 2, 0, 0) with two σs, so the iteration before the repeat got the next one's level.
    With a begin index its `add_noise` and `scale_noise` read σ at its step index, set here to
    `index`. Schedulers that read `alphas_cumprod` by timestep (DDIM, PNDM) are used as they are."""
    if not hasattr(scheduler, "set_begin_index"):
        return scheduler
    indexed = copy.copy(scheduler)
    indexed._begin_index, indexed._step_index = 0, index
    return indexed


def between_orders(pipe, step: int) -> bool:
    """Whether after `step` the loop stands half-way through a two-evaluation step at a level
    `renoise` cannot name: KDPM2's half-step ends at an interpolated σ (`sigmas_interpol`) and
    DPM-Solver++ SDE's at the midpoint σ (`mid_point_sigma`), which `add_noise` has no entry for,
    so the blend waits for the finished step. (Heun's half-step ends on the next σ of its table,
    which `add_noise` names, and is blended; after the loop's last iteration the reference is z₀
    whatever the order.)"""
    scheduler = pipe.scheduler
    if step + 1 >= len(scheduler.timesteps):
        return False
    if getattr(scheduler, "mid_point_sigma", None) is not None:
        return True
    if not hasattr(scheduler, "sigmas_interpol"):
        return False
    return not getattr(scheduler, "state_in_first_order", True)


def latent_layout(pipe, mask: np.ndarray, latents: torch.Tensor) -> torch.Tensor:
    """A (h, w) latent-size mask in the latents' own layout (FLUX, Qwen: packed 2×2 tokens)."""
    m = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))
    family = family_of(pipe)
    if not family.packed_latents:
        return m[None, None]
    h, w = m.shape
    channels = latents.shape[-1] // 4
    full = m[None, None].expand(1, channels, h, w)
    if family.patchified_latents:  # FLUX.2: 2×2 patches into channels, then tokens
        return pipe._pack_latents(pipe._patchify_latents(full.contiguous()))
    return pipe._pack_latents(full, 1, channels, h, w)  # the pipeline's own packing


def token_mask(pipe, mask: np.ndarray) -> torch.Tensor:
    """A (h, w) latent-size mask as one weight per packed token, (1, tokens, 1)."""
    return latent_layout(pipe, mask, torch.empty(1, 1, 4))[..., :1]  # one latent channel
