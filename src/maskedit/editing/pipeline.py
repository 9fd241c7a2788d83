"""The InstructPix2Pix call. With no mask hooks it is diffusers' own pipeline call, exactly.

Steering (latent blending, masked guidance) plugs in through `callback_on_step_end` and UNet
forward hooks, never through a fork of the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

from maskedit.config import EditSettings
from maskedit.editing.crop import fit_long_side
from maskedit.errors import RunFailure


def size_multiple(pipe) -> int:
    """Sides must be multiples of the VAE factor × 2^(UNet down-samplings) (64 for SD 1.5).

    The UNet halves the latent at each down block but the last; a side that is not a multiple
    would be cropped or padded inside the model and shift the edit against the image.
    """
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


def prompt_tokens(pipe, instruction: str) -> int:
    """How many tokens the text encoder would need for the instruction (with start/end)."""
    return len(pipe.tokenizer(instruction, truncation=False).input_ids)


def run_ip2p(
    pipe,
    image: np.ndarray,
    instruction: str,
    settings: EditSettings,
    callback_on_step_end: Callable[..., dict[str, Any]] | None = None,
    callback_tensor_inputs: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Edit an H×W×3 uint8 image that is already at the working size; returns H×W×3 uint8.

    This is the plain diffusers call (same arguments a user would pass), so the unmasked path
    reproduces `StableDiffusionInstructPix2PixPipeline` bit for bit. `progress(step, total)` is
    called after each step; it reads nothing and changes nothing.
    """
    kwargs: dict[str, Any] = {}
    if progress is not None:
        inner = callback_on_step_end

        def callback_on_step_end(pipe, step, timestep, callback_kwargs):
            out = inner(pipe, step, timestep, callback_kwargs) if inner is not None else {}
            progress(step + 1, settings.steps)
            return out

    if callback_on_step_end is not None:
        kwargs["callback_on_step_end"] = callback_on_step_end
        kwargs["callback_on_step_end_tensor_inputs"] = callback_tensor_inputs or ["latents"]
    try:
        out = pipe(
            instruction,
            image=Image.fromarray(image),
            num_inference_steps=settings.steps,
            guidance_scale=settings.text_cfg,
            image_guidance_scale=settings.image_cfg,
            generator=make_generator(settings.seed),
            output_type="np",
            **kwargs,
        )
    except torch.cuda.OutOfMemoryError:
        h, w = image.shape[:2]
        raise RunFailure(
            f"out of GPU memory editing at {w}×{h}: try --cpu-offload, a smaller --working-size, "
            "or --dtype fp16"
        ) from None
    result = out.images[0]
    if not np.isfinite(result).all():
        raise RunFailure(
            "the editor produced NaN/inf pixels (an fp16 overflow?): retry with --dtype fp32"
        )
    return to_uint8(result)
