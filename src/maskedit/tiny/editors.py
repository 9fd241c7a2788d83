"""Tiny random editor pipelines (InstructPix2Pix, SDXL-IP2P, FLUX.1 Kontext), built in code.

Same shapes and code paths as the real checkpoints: IP2P's 8-channel UNet (noisy + source
latents), SDXL's text-time conditioning and two CLIP encoders, a one-layer Flux transformer with
CLIP + T5 encoders and the 16-multiple packing, VAEs with scale factor 8. Each builds and runs in
well under a second on a CPU. Their outputs are noise.
"""

from __future__ import annotations

import torch

from maskedit.tiny.clip import clip_text_config
from maskedit.tiny.seeding import seeded
from maskedit.tiny.tokenizers import clip_tokenizer, t5_tokenizer

TINY_WORKING_SIZE = 128  # long side, pixels; latents are 16x16 for a square image

# The two-level UNet of the tiny IP2P and SDXL-IP2P.
UNET = dict(
    block_out_channels=(32, 64),
    layers_per_block=1,
    sample_size=16,
    in_channels=8,  # noisy latents (4) + image-conditioning latents (4), as in IP2P
    out_channels=4,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
)

# FLUX.1's scheduler config, as the Kontext checkpoint ships it: flow-matching sigmas shifted by
# the image's token count (the pipeline computes mu), so the tiny Kontext takes the same path.
FLUX_SCHEDULER = dict(
    base_image_seq_len=256, base_shift=0.5, max_image_seq_len=4096, max_shift=1.15, shift=3.0,
    use_dynamic_shifting=True,
)  # fmt: skip

# The one-layer T5 encoder of the tiny Kontext.
T5 = dict(d_model=32, d_kv=8, d_ff=37, num_layers=1, num_heads=4, relative_attention_num_buckets=8)


def tiny_vae(channels: int = 16, groups: int = 8, **extra):
    """An `AutoencoderKL` with four levels of `channels`: scale factor 8, like the real VAEs."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=(channels,) * 4, norm_num_groups=groups, layers_per_block=1,
        **extra,
    )  # fmt: skip


def assemble(pipeline_class, **components):
    """Components → a diffusers pipeline, its networks in eval mode, no progress bars."""
    parts = {k: v.eval() if isinstance(v, torch.nn.Module) else v for k, v in components.items()}
    pipe = pipeline_class(**parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def ip2p_pipeline(vae, text_encoder, tokenizer, unet, scheduler):
    """Components → an IP2P pipeline with no safety checker (shared with real-size builders)."""
    from diffusers import StableDiffusionInstructPix2PixPipeline

    return assemble(
        StableDiffusionInstructPix2PixPipeline,
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip


def build_tiny_ip2p(seed: int = 0):
    """A `StableDiffusionInstructPix2PixPipeline` with tiny random components (Euler-ancestral)."""
    from diffusers import EulerAncestralDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    tokenizer = clip_tokenizer()
    with seeded(seed):
        unet = UNet2DConditionModel(
            **UNET, cross_attention_dim=32, norm_num_groups=32, attention_head_dim=8
        )
        vae = tiny_vae()
        text_encoder = CLIPTextModel(clip_text_config(len(tokenizer)))
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
    )
    return ip2p_pipeline(vae, text_encoder, tokenizer, unet, scheduler)


def build_tiny_ip2p_xl(seed: int = 0):
    """A `StableDiffusionXLInstructPix2PixPipeline` with tiny random components."""
    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionXLInstructPix2PixPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = clip_tokenizer()
    with seeded(seed):
        unet = UNet2DConditionModel(
            **UNET, attention_head_dim=(2, 4), use_linear_projection=True,
            transformer_layers_per_block=(1, 2),
            # SDXL's size/crop micro-conditioning: six sizes of 8 channels and the pooled text
            addition_embed_type="text_time", addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=6 * 8 + 32,
            cross_attention_dim=64,  # both text encoders' hidden states, concatenated
        )  # fmt: skip
        vae = tiny_vae()
        text_config = clip_text_config(len(tokenizer))
        text_encoder = CLIPTextModel(text_config)
        text_encoder_2 = CLIPTextModelWithProjection(text_config)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        steps_offset=1, timestep_spacing="leading",
    )  # fmt: skip
    return assemble(
        StableDiffusionXLInstructPix2PixPipeline,
        vae=vae, unet=unet, scheduler=scheduler,
        text_encoder=text_encoder, tokenizer=tokenizer,
        text_encoder_2=text_encoder_2, tokenizer_2=clip_tokenizer(),
    )  # fmt: skip


def build_tiny_kontext(seed: int = 0):
    """A `FluxKontextPipeline` with a one-layer transformer and tiny CLIP/T5 encoders."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        FluxKontextPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextModel, T5Config, T5EncoderModel

    t5 = t5_tokenizer()
    clip = clip_tokenizer()
    t5_config = T5Config(vocab_size=len(t5), **T5)
    with seeded(seed):
        transformer = FluxTransformer2DModel(
            patch_size=1,
            in_channels=16,  # 4 latent channels × the 2×2 packing
            num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
            joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
        )  # fmt: skip
        text_encoder = CLIPTextModel(clip_text_config(len(clip)))
        text_encoder_2 = T5EncoderModel(t5_config)
        vae = tiny_vae(
            8, 4, use_quant_conv=False, use_post_quant_conv=False,
            shift_factor=0.0609, scaling_factor=1.5035,
        )  # fmt: skip
    return assemble(
        FluxKontextPipeline,
        scheduler=FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER),
        transformer=transformer, vae=vae,
        text_encoder=text_encoder, tokenizer=clip, text_encoder_2=text_encoder_2, tokenizer_2=t5,
    )  # fmt: skip


def build_tiny_editor(editor: str, seed: int = 0):
    """The tiny pipeline of an editor family (ip2p and magicbrush share IP2P's; Qwen and
    FLUX.2 [klein] in `maskedit.tiny.qwen` / `maskedit.tiny.flux2`)."""
    from maskedit.families import editor_spec
    from maskedit.tiny.flux2 import build_tiny_flux2_klein, build_tiny_flux2_klein_base
    from maskedit.tiny.qwen import build_tiny_qwen_edit, build_tiny_qwen_edit_plus

    builders = {
        "ip2p": build_tiny_ip2p,
        "ip2p-xl": build_tiny_ip2p_xl,
        "kontext": build_tiny_kontext,
        "qwen-edit": build_tiny_qwen_edit,
        "qwen-edit-plus": build_tiny_qwen_edit_plus,
        "flux2-klein": build_tiny_flux2_klein,
        "flux2-klein-base": build_tiny_flux2_klein_base,
    }
    return builders[editor_spec(editor).family.name](seed)
