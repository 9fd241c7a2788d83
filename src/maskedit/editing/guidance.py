"""Masked classifier-free guidance: the instruction only pushes inside the mask.

IP2P combines three noise predictions (text+image, image only, unconditional):

    ε = ε_u + s_T (ε_full − ε_img) + s_I (ε_img − ε_u)

Masking the text term, ε = ε_u + s_I (ε_img − ε_u) + m ⊙ s_T (ε_full − ε_img), is the same as
replacing ε_full by m ⊙ ε_full + (1 − m) ⊙ ε_img before the pipeline combines them. A forward hook
on the UNet does exactly that, so the pipeline itself is untouched; image guidance is unchanged.

Qwen-Image-Edit's true CFG makes two transformer calls per step, both with the source image: the
instruction (v₊) and the negative prompt " " (v₋, the image-only prediction). It combines them and
rescales the result per token to the positive prediction's norm:

    v = c · ‖v₊‖ / ‖c‖,   c = v₋ + s (v₊ − v₋)

The rescale mixes every channel of a token, so masking v₊ before the combination would not mask
the guidance term. `masked_cfg_guidance` masks the term the pipeline hands the scheduler,
v − v₋, as v ← v₋ + m ⊙ (v − v₋) = m ⊙ v + (1 − m) ⊙ v₋: inside the mask the pipeline's own
update, outside it the image-only prediction (what IP2P's masked guidance keeps there too). Forward
hooks record both calls' outputs and a wrapper around `scheduler.step` replaces the prediction.
FLUX.2 [klein] Base's CFG (c with no rescale) is masked the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch


@contextlib.contextmanager
def masked_text_guidance(unet, mask: np.ndarray) -> Iterator[dict]:
    """While active, every 3-way-batched UNet call has its text term masked by `mask`.

    `mask` is (h, w) for every sample, or (B, h, w): one per sample of a batched call.
    Yields a dict whose "calls" counts the UNet forwards that were masked.
    """
    m_cpu = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))
    m_cpu = m_cpu[:, None] if m_cpu.ndim == 3 else m_cpu[None, None]
    stats = {"calls": 0}

    def hook(module, args, output):
        noise = output[0] if isinstance(output, tuple) else output.sample
        if noise.shape[0] % 3:  # not IP2P's [text, image, uncond] batch: leave it alone
            return output
        full, image, uncond = noise.chunk(3)
        m = m_cpu.to(device=noise.device, dtype=noise.dtype)
        masked = torch.cat([m * full + (1 - m) * image, image, uncond])  # exact at m ∈ {0, 1}
        stats["calls"] += 1
        if isinstance(output, tuple):
            return (masked, *output[1:])
        output.sample = masked
        return output

    handle = unet.register_forward_hook(hook)
    try:
        yield stats
    finally:
        handle.remove()


@contextlib.contextmanager
def masked_cfg_guidance(transformer, scheduler, masks: torch.Tensor) -> Iterator[dict]:
    """While active, every step with a positive and a negative `transformer` call hands
    `scheduler.step` m ⊙ v + (1 − m) ⊙ v₋ instead of the guided v (see the module docstring).

    `masks` is (1 or B, tokens, 1): one weight per packed noise token (per sample). A step with
    one call (no CFG) is left alone. Yields a dict whose "calls" counts the steps masked.
    """
    stats = {"calls": 0}
    outputs: list[torch.Tensor] = []

    def record(module, args, output):
        outputs.append(output[0] if isinstance(output, tuple) else output.sample)

    own = scheduler.__dict__.get("step")  # a step already set on this object (kept, restored)
    step = scheduler.step

    def masked_step(model_output, *args, **kwargs):
        if len(outputs) == 2:  # positive first, then negative (the pipelines' order)
            negative = outputs[1][:, : model_output.shape[1]].to(model_output.dtype)
            m = masks.to(device=model_output.device, dtype=model_output.dtype)
            model_output = m * model_output + (1 - m) * negative  # exact at m ∈ {0, 1}
            stats["calls"] += 1
        outputs.clear()
        return step(model_output, *args, **kwargs)

    handle = transformer.register_forward_hook(record)
    scheduler.step = masked_step
    try:
        yield stats
    finally:
        handle.remove()
        if own is None:
            del scheduler.step
        else:
            scheduler.step = own
