"""Blended Latent Diffusion (Avrahami et al., 2023) inside InstructPix2Pix's own loop.

After each scheduler step, outside the latent-size mask the latents are replaced by the source
latents noised to the level the loop has just reached:

    z ← m ⊙ z + (1 − m) ⊙ add_noise(z₀, ε, t_next)

z₀ is the VAE latent of the source times the VAE scaling factor. IP2P already encodes the source
for its image conditioning (`image_latents`, the *unscaled* `latent_dist.mode()`), so z₀ is that
tensor times `scaling_factor`: no second VAE encode. The scheduler's own noising is used
(`maskedit.editing.editors.renoise`), so Euler-ancestral's sigma scaling (z₀ + σ ε) is right by
construction. At the last step the reference is z₀ itself. diffusers'
FluxKontextInpaintPipeline blends the same way every step; here it runs through
`callback_on_step_end`, with no fork of the pipeline.
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers.utils.torch_utils import randn_tensor

from maskedit.editing.editors import between_orders, latent_layout, renoise


class LatentBlend:
    """Called after every denoising step; keeps the latents outside the mask on the source's track.

    `mask` is (h, w) in [0, 1] at latent size; blending happens after steps i with
    start ≤ i / n < end, where n is the number of timesteps the pipeline's scheduler actually runs
    (not the steps asked for: PNDM turns 20 steps into 21 timesteps, and the last one must still
    end on z₀); `seed` draws the fixed re-noising ε (its own generator, so the pipeline's noise
    stream is untouched). The editor layer passes z₀ as the pipeline encoded it and puts the mask
    in the latents' layout (packed tokens for FLUX).
    """

    def __init__(self, mask: np.ndarray, start: float = 0.0, end: float = 1.0, seed: int = 0):
        self.mask = np.ascontiguousarray(mask, dtype=np.float32)
        self.start, self.end = start, end
        self.generator = torch.Generator(device="cpu").manual_seed(int(seed))
        self.noise: torch.Tensor | None = None
        self.blended_steps: list[int] = []
        self._m: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the steps of an aborted call (its re-noising ε is kept: the same draw)."""
        self.blended_steps.clear()

    def active(self, step: int, total: int) -> bool:
        """Whether the blend applies after step `step` of `total` timesteps."""
        return self.start <= step / total < self.end

    def __call__(
        self, pipe, step: int, timestep, latents: torch.Tensor, z0: torch.Tensor
    ) -> torch.Tensor | None:
        if not self.active(step, len(pipe.scheduler.timesteps)) or between_orders(pipe, step):
            return None
        if self.noise is None:
            self.noise = randn_tensor(
                tuple(z0.shape),
                generator=self.generator,
                device=latents.device,
                dtype=latents.dtype,
            )
            self._m = latent_layout(pipe, self.mask, latents).to(latents.device, latents.dtype)
        reference = renoise(pipe, z0.to(latents.dtype), self.noise, step)
        self.blended_steps.append(step)
        m = self._m
        # m·z + (1−m)·ref is exact where m is 0 or 1 (an all-ones mask changes nothing).
        return m * latents + (1 - m) * reference
