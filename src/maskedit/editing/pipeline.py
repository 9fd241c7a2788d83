"""The InstructPix2Pix call with diffusers' own callback. With no hooks it is the plain call.

Kept for callers that hand IP2P's `callback_on_step_end` their own function (relevance maps,
tests); maskedit's own edits go through `maskedit.editing.editors.run_editor`, which covers every
editor family.

Steering (latent blending, masked guidance) plugs in through `callback_on_step_end` and UNet
forward hooks, never through a fork of the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from maskedit.config import EditSettings
from maskedit.editing.editors import (  # noqa: F401 - re-exported: the IP2P helpers live there
    call_pipeline,
    make_generator,
    plain_kwargs,
    size_multiple,
    to_uint8,
    working_hw,
)


def prompt_tokens(pipe, instruction: str) -> int:
    """How many tokens the (CLIP) text encoder needs for the instruction, start and end included."""
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
    return call_pipeline(
        pipe, {**plain_kwargs(pipe, image, instruction, settings), **kwargs}, image.shape[:2]
    )
