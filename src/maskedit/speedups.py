"""Speed options applied once to loaded models: torch.compile, channels_last, SDPA, VAE tiling.

They change how fast and in how much memory, not what is computed — up to float rounding (compiled
kernels, channels_last), and except VAE tiling above 1024 px, whose tiles blend at their seams
(an edit that ran tiled says so in its record's warnings):

- SDPA attention: diffusers' default processors on torch 2 (`AttnProcessor2_0`) already call
  `torch.nn.functional.scaled_dot_product_attention`; a pipeline left on the classic processor
  (e.g. after `set_default_attn_processor()`) is switched back. The processor in use is recorded.
- `compile`: `torch.compile` of the denoiser (UNet / Flux transformer), the VAE decoder and the
  segmenter's image encoder, each wrapped (not compiled in place), so maskedit's forward hooks on
  the denoiser (latent z₀ capture, masked guidance, relevance) run outside the compiled graph and
  never force a recompile. The first edit at a new size pays the compilation.
- `channels_last`: the memory format cuDNN's fp16 convolution kernels prefer.
- VAE tiling: "auto" tiles the VAE only for images whose long side exceeds `AUTO_TILE` pixels, in
  tiles of that size, so every edit at the usual working sizes (512, 768, 1024) is untouched;
  "on" is diffusers' own `enable_tiling()` (tiles of the VAE's sample size); "off" never tiles.
"""

from __future__ import annotations

from typing import Any

import torch

# The options model lives in maskedit.config (no torch there, so the CLI checks it before any
# heavy import); `from maskedit.speedups import Speedups` keeps working.
from maskedit.config import Speedups

AUTO_TILE = 1024  # px: "auto" VAE tiling starts above this long side, in tiles of this size


def denoiser_name(pipe) -> str:
    return "transformer" if getattr(pipe, "transformer", None) is not None else "unet"


def _base(module):
    """The module under a torch.compile wrapper (or the module itself)."""
    return getattr(module, "_orig_mod", module)


def attention_processors(pipe) -> list[str]:
    """The distinct attention processor classes the denoiser runs (for the record)."""
    procs = getattr(_base(getattr(pipe, denoiser_name(pipe))), "attn_processors", {})
    return sorted({type(p).__name__ for p in procs.values()})


def ensure_sdpa(pipe) -> None:
    """Put a UNet still on diffusers' classic attention (`AttnProcessor`) back on SDPA."""
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    unet = getattr(pipe, "unet", None)
    if unet is None or not hasattr(torch.nn.functional, "scaled_dot_product_attention"):
        return
    unet = _base(unet)
    procs = unet.attn_processors
    if procs and all(type(p) is AttnProcessor for p in procs.values()):
        unet.set_attn_processor(AttnProcessor2_0())


def set_vae_tiling(pipe, mode: str) -> None:
    vae = getattr(pipe, "vae", None)
    if vae is None or not hasattr(vae, "enable_tiling"):
        return
    if mode == "off":
        vae.disable_tiling()
        return
    vae.enable_tiling()
    if mode == "auto" and hasattr(vae, "tile_sample_min_size"):
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        vae.tile_sample_min_size = AUTO_TILE
        vae.tile_latent_min_size = AUTO_TILE // factor
    elif mode == "auto" and hasattr(vae, "tile_sample_min_height"):
        # Qwen-Image's VAE (Wan-style) keeps height and width apart and would tile from 256 px:
        # the same 1024 threshold, its own overlap ratio (stride 3/4 of a tile)
        vae.tile_sample_min_height = vae.tile_sample_min_width = AUTO_TILE
        vae.tile_sample_stride_height = vae.tile_sample_stride_width = AUTO_TILE * 3 // 4


def vae_tiles(pipe, hw: tuple[int, int]) -> bool:
    """Whether the VAE will tile an image of this working size (as the VAE decides)."""
    vae = getattr(pipe, "vae", None)
    if not getattr(vae, "use_tiling", False):
        return False
    size = getattr(vae, "tile_sample_min_size", None)
    if size is not None:
        return max(hw) > size
    min_hw = (
        getattr(vae, "tile_sample_min_height", None),
        getattr(vae, "tile_sample_min_width", None),
    )
    return None not in min_hw and (hw[0] > min_hw[0] or hw[1] > min_hw[1])


def _compile(module, s: Speedups):
    kwargs: dict[str, Any] = {"backend": s.compile_backend}
    if s.compile_mode:
        kwargs["mode"] = s.compile_mode
    return torch.compile(module, **kwargs)


def apply_speedups(pipe, sam_model, s: Speedups) -> dict[str, Any]:
    """Apply `s` to the editor pipeline (and the segmenter's model); return what was applied."""
    name = denoiser_name(pipe)
    denoiser = getattr(pipe, name)
    ensure_sdpa(pipe)
    set_vae_tiling(pipe, s.vae_tiling)
    if s.channels_last:
        _base(denoiser).to(memory_format=torch.channels_last)
        if getattr(pipe, "vae", None) is not None:
            pipe.vae.to(memory_format=torch.channels_last)
    if s.compile:
        if not hasattr(denoiser, "_orig_mod"):
            setattr(pipe, name, _compile(denoiser, s))
        vae = getattr(pipe, "vae", None)
        if vae is not None and not hasattr(vae.decoder, "_orig_mod"):
            vae.decoder = _compile(vae.decoder, s)
        encoder = getattr(sam_model, "vision_encoder", None)
        if encoder is not None and not hasattr(encoder, "_orig_mod"):
            sam_model.vision_encoder = _compile(encoder, s)
    return describe_speedups(pipe, s)


def describe_speedups(pipe, s: Speedups) -> dict[str, Any]:
    """The options and their visible effect, for record.json."""
    return {
        **s.model_dump(exclude={"compile_backend"} if s.compile_backend == "inductor" else None),
        "attention": attention_processors(pipe),
    }
