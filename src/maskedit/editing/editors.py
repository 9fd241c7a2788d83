"""The instruction editors maskedit steers, their defaults in one table, and how each is called.

Three families of diffusers pipelines share the spatial control:

- `ip2p`: `StableDiffusionInstructPix2PixPipeline` (InstructPix2Pix, MagicBrush);
- `ip2p-xl`: `StableDiffusionXLInstructPix2PixPipeline` (SDXL-IP2P);
- `kontext`: `FluxKontextPipeline` (FLUX.1 Kontext, flow matching, packed 2×2 latent tokens).

The plain call of each family is exactly what a diffusers user would write, so with no mask hooks
maskedit's output is that pipeline's output. Latent blending plugs in after every step: through
`callback_on_step_end` where the pipeline has it (IP2P, Kontext), through the legacy per-step
`callback` with an in-place update where it has not (SDXL-IP2P).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from maskedit.config import EditSettings
from maskedit.editing.crop import fit_long_side
from maskedit.errors import InputError, RunFailure


@dataclass(frozen=True)
class EditorSpec:
    """One editor: its hub id, diffusers class, family and the defaults it is run with."""

    name: str
    default_id: str
    pipeline_class: str
    family: str
    steps: int
    text_cfg: float
    image_cfg: float | None  # None: the editor has no image-guidance scale
    working_size: int  # long side, pixels
    text_guidance: bool  # has a separate text-guidance term (masked guidance needs one)
    note: str = ""


# Defaults: IP2P's from its paper and edit_cli (20 Euler-ancestral steps were the seed study's);
# SDXL-IP2P's model card (768 px); FLUX.1 Kontext's diffusers docs (28 steps, guidance 2.5, 1024²).
EDITORS: dict[str, EditorSpec] = {
    "ip2p": EditorSpec(
        "ip2p",
        "timbrooks/instruct-pix2pix",
        "StableDiffusionInstructPix2PixPipeline",
        "ip2p",
        20,
        7.5,
        1.5,
        512,
        True,
    ),
    "magicbrush": EditorSpec(
        "magicbrush",
        "vinesmsuic/magicbrush-jul7",
        "StableDiffusionInstructPix2PixPipeline",
        "ip2p",
        20,
        7.5,
        1.5,
        512,
        True,
        "IP2P fine-tuned on MagicBrush",
    ),
    "ip2p-xl": EditorSpec(
        "ip2p-xl",
        "diffusers/sdxl-instructpix2pix-768",
        "StableDiffusionXLInstructPix2PixPipeline",
        "ip2p-xl",
        30,
        3.0,
        1.5,
        768,
        True,
    ),
    "kontext": EditorSpec(
        "kontext",
        "black-forest-labs/FLUX.1-Kontext-dev",
        "FluxKontextPipeline",
        "kontext",
        28,
        2.5,
        None,
        1024,
        False,
        "guidance-distilled: one guidance scale, no text/image split",
    ),
}
FAMILY_OF_CLASS = {spec.pipeline_class: spec.family for spec in EDITORS.values()}


def family_of(pipe) -> str:
    """The family of a pipeline object (any subclass of a known diffusers class)."""
    for cls in type(pipe).__mro__:
        if cls.__name__ in FAMILY_OF_CLASS:
            return FAMILY_OF_CLASS[cls.__name__]
    raise InputError(
        f"editor pipeline {type(pipe).__name__}: not one of {', '.join(sorted(FAMILY_OF_CLASS))}"
    )


def spec_for(editor: str) -> EditorSpec:
    if editor not in EDITORS:
        raise InputError(f"--editor '{editor}': choose one of {', '.join(EDITORS)}")
    return EDITORS[editor]


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


def size_multiple(pipe) -> int:
    """Sides the editor needs: UNets halve the latent per level; Kontext packs 2×2 latents."""
    if family_of(pipe) == "kontext":
        return int(pipe.vae_scale_factor * 2)
    return int(pipe.vae_scale_factor * 2 ** (len(pipe.unet.config.block_out_channels) - 1))


def working_hw(pipe, image_hw: tuple[int, int], long_side: int) -> tuple[int, int]:
    """The aspect-preserving size the editor works at (long side `long_side`, sides rounded)."""
    return fit_long_side(image_hw[0], image_hw[1], long_side, size_multiple(pipe))


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator: the same seed gives the same noise on CPU, CUDA and MPS."""
    return torch.Generator(device="cpu").manual_seed(int(seed))


def to_uint8(images: np.ndarray) -> np.ndarray:
    """diffusers' float [0, 1] output → uint8 exactly as its `numpy_to_pil` does it."""
    return (images * 255).round().astype(np.uint8)


def plain_kwargs(pipe, image: np.ndarray, instruction: str, s: EditSettings) -> dict[str, Any]:
    """The arguments a diffusers user passes to this editor for this image (at working size)."""
    h, w = image.shape[:2]
    common = dict(
        image=Image.fromarray(image),
        num_inference_steps=s.steps,
        guidance_scale=s.text_cfg,
        generator=make_generator(s.seed),
        output_type="np",
    )
    family = family_of(pipe)
    if family == "ip2p":
        return dict(prompt=instruction, image_guidance_scale=s.image_cfg, **common)
    if family == "ip2p-xl":  # without height/width it resizes to its default square
        return dict(
            prompt=instruction, image_guidance_scale=s.image_cfg, height=h, width=w, **common
        )
    # Kontext rescales every request to max_area (1024² by default) and snaps the aspect to its
    # preferred resolutions; maskedit keeps the photo's own aspect at the chosen working size.
    return dict(prompt=instruction, height=h, width=w, max_area=h * w, _auto_resize=False, **common)


def run_editor(
    pipe,
    image: np.ndarray,
    instruction: str,
    settings: EditSettings,
    *,
    blend=None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Edit an H×W×3 uint8 image already at the working size; returns H×W×3 uint8.

    `blend` (a `LatentBlend`) is applied after every step; `progress(step, total)` is told of
    each step. With neither, this is the plain diffusers call, bit for bit.
    """
    family = family_of(pipe)
    kwargs = plain_kwargs(pipe, image, instruction, settings)
    capture = _ImageLatents(pipe, family) if blend is not None else None
    total = settings.steps

    def after_step(step: int, timestep, latents: torch.Tensor) -> torch.Tensor | None:
        new = None
        if blend is not None:
            new = blend(pipe, step, timestep, latents, capture.z0(latents))
        if progress is not None:
            progress(step + 1, total)
        return new

    if blend is not None or progress is not None:
        add_step_callback(pipe, kwargs, after_step)
    with capture if capture is not None else _null():
        return call_pipeline(pipe, kwargs, image.shape[:2])


def add_step_callback(
    pipe, kwargs: dict[str, Any], after_step: Callable[[int, Any, torch.Tensor], Any]
) -> None:
    """Call `after_step(step, timestep, latents)` after every denoising step; a tensor it returns
    replaces the latents. Through `callback_on_step_end` where the pipeline has it; SDXL-IP2P
    has only the legacy per-step `callback`, so there the latents are updated in place."""
    if family_of(pipe) == "ip2p-xl":

        def legacy(step, timestep, latents):
            new = after_step(step, timestep, latents)
            if new is not None:
                latents.copy_(new)

        kwargs.update(callback=legacy, callback_steps=1)
        return

    def on_step_end(p, step, timestep, callback_kwargs):
        new = after_step(step, timestep, callback_kwargs["latents"])
        return {} if new is None else {"latents": new}

    kwargs.update(callback_on_step_end=on_step_end, callback_on_step_end_tensor_inputs=["latents"])


def call_pipeline(pipe, kwargs: dict[str, Any], hw: tuple[int, int]) -> np.ndarray:
    """`pipe(**kwargs)` with output_type "np" → uint8, out-of-memory and NaN as run failures."""
    try:
        out = pipe(**kwargs)
    except torch.cuda.OutOfMemoryError:
        raise RunFailure(
            f"out of GPU memory editing at {hw[1]}×{hw[0]}: try --cpu-offload, a smaller "
            "--working-size, or --dtype fp16"
        ) from None
    result = out.images[0]
    if not np.isfinite(result).all():
        raise RunFailure(
            "the editor produced NaN/inf pixels (an fp16 overflow?): retry with --dtype fp32"
        )
    return to_uint8(result)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _ImageLatents:
    """The source latents z₀ as the pipeline itself encoded them, read off the denoiser's input.

    IP2P/SDXL-IP2P concatenate the *unscaled* `latent_dist.mode()` of the source as channels 4–8
    of the UNet input, so z₀ = that × `scaling_factor`. Kontext appends the packed, shifted and
    scaled source tokens after the noisy tokens, so z₀ is those tokens as they are. Reading them
    here costs nothing and cannot differ from what the pipeline used (no second VAE encode).
    """

    def __init__(self, pipe, family: str):
        self.pipe, self.family = pipe, family
        self.source: torch.Tensor | None = None
        self.handle = None

    def __enter__(self):
        module = self.pipe.transformer if self.family == "kontext" else self.pipe.unet
        self.handle = module.register_forward_pre_hook(self._grab, with_kwargs=True)
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
        if self.family == "kontext":
            return self.source[:b, latents.shape[1] :]
        c = latents.shape[1]
        return self.source[:b, c:] * self.pipe.vae.config.scaling_factor


def renoise(pipe, z0: torch.Tensor, noise: torch.Tensor, step: int) -> torch.Tensor:
    """z₀ at the noise level the loop reaches after `step`, with the scheduler's own formula.

    Flow matching (Kontext): `scale_noise` (σ ε + (1 − σ) z₀); DDPM-family: `add_noise`.
    After the last step: z₀ itself.
    """
    timesteps = pipe.scheduler.timesteps
    if step + 1 >= len(timesteps):
        return z0
    t_next = timesteps[step + 1 : step + 2]
    if hasattr(pipe.scheduler, "scale_noise"):
        return pipe.scheduler.scale_noise(z0, t_next, noise)
    return pipe.scheduler.add_noise(z0, noise, t_next)


def latent_layout(pipe, mask: np.ndarray, latents: torch.Tensor) -> torch.Tensor:
    """A (h, w) latent-size mask in the latents' own layout (Kontext: packed 2×2 tokens)."""
    m = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))
    if family_of(pipe) != "kontext":
        return m[None, None]
    h, w = m.shape
    channels = latents.shape[-1] // 4
    full = m[None, None].expand(1, channels, h, w)
    return pipe._pack_latents(full, 1, channels, h, w)  # the pipeline's own packing
