"""Masked classifier-free guidance: the instruction only pushes inside the mask.

IP2P combines three noise predictions (text+image, image only, unconditional):

    ε = ε_u + s_T (ε_full − ε_img) + s_I (ε_img − ε_u)

Masking the text term, ε = ε_u + s_I (ε_img − ε_u) + m ⊙ s_T (ε_full − ε_img), is the same as
replacing ε_full by m ⊙ ε_full + (1 − m) ⊙ ε_img before the pipeline combines them. A forward hook
on the UNet does exactly that, so the pipeline itself is untouched; image guidance is unchanged.
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
