"""Tiny random FLUX.2 [klein] pipelines (distilled and Base), built in code.

The real `Flux2KleinPipeline` with a one+one-layer `Flux2Transformer2DModel`, a 27-layer Qwen3 of
width 16 (so the pipeline's default prompt layers 9, 18 and 27 exist), the tiny Qwen tokenizer
with Qwen3's chat template, and an `AutoencoderKLFlux2` of scale factor 8 whose batch-norm
statistics are non-trivial (a source latent that forgets them differs). Their outputs are noise.
"""

from __future__ import annotations

import torch

from maskedit.tiny.qwen import LATENT_CHANNELS, tiny_qwen_tokenizer
from maskedit.tiny.seeding import seeded

# FLUX.2 [klein]'s scheduler config: shifted flow-matching sigmas (the pipeline computes mu).
KLEIN_SCHEDULER = dict(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15)


def klein_pipeline(transformer, vae, text_encoder, tokenizer, distilled: bool):
    """Components → a `Flux2KleinPipeline`, no progress bars (shared with real-size builders)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, Flux2KleinPipeline

    pipe = Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**KLEIN_SCHEDULER),
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        transformer=transformer.eval(),
        is_distilled=distilled,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_tiny_flux2_klein(seed: int = 0, distilled: bool = True):
    """A `Flux2KleinPipeline` with tiny random components.

    `distilled=True` is FLUX.2 [klein] 4B/9B (`is_distilled`: no CFG, guidance ignored); False is
    the [klein] Base models (CFG against the empty prompt when `guidance_scale > 1`).
    """
    from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = tiny_qwen_tokenizer()
    hidden = 16
    with seeded(seed):
        transformer = Flux2Transformer2DModel(
            patch_size=1,
            in_channels=LATENT_CHANNELS * 4,  # VAE latents patchified 2×2 before packing
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=3 * hidden,  # three text-encoder layers, stacked
            timestep_guidance_channels=256,
            axes_dims_rope=[4, 4, 4, 4],
            guidance_embeds=False,
        )
        text_encoder = Qwen3ForCausalLM(
            Qwen3Config(
                vocab_size=len(tokenizer),
                hidden_size=hidden,
                intermediate_size=16,
                num_hidden_layers=27,  # hidden states 9, 18 and 27 are the prompt embedding
                num_attention_heads=2,
                num_key_value_heads=2,
                head_dim=8,
                max_position_embeddings=1024,
                bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
                eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
                pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
            )
        )
        vae = AutoencoderKLFlux2(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,  # scale factor 8, like the real VAE
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(8, 8, 8, 8),
            layers_per_block=1,
            latent_channels=LATENT_CHANNELS,
            norm_num_groups=4,
            sample_size=128,
            use_quant_conv=False,
            use_post_quant_conv=False,
        )
        # Non-trivial batch-norm statistics of the patchified latents (the real VAE's are learnt).
        channels = vae.bn.running_mean.numel()
        with torch.no_grad():
            vae.bn.running_mean.copy_(torch.linspace(-0.3, 0.3, channels))
            vae.bn.running_var.copy_(torch.linspace(0.5, 2.0, channels))
    return klein_pipeline(transformer, vae, text_encoder, tokenizer, distilled)


def build_tiny_flux2_klein_base(seed: int = 0):
    """FLUX.2 [klein] Base: the same tiny pipeline, not distilled (it runs CFG)."""
    return build_tiny_flux2_klein(seed, distilled=False)
