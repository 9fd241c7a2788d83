"""Tiny random SDXL-IP2P and FLUX.1 Kontext pipelines, built in code, for tests and smoke runs.

Same shapes and code paths as the real checkpoints (8-channel SDXL UNet with text-time
conditioning and two CLIP encoders; a one-layer Flux transformer with CLIP + T5 encoders and the
16-multiple packing), in well under a second on a CPU. Their outputs are noise.
"""

from __future__ import annotations

import torch

from maskedit.tiny import tiny_clip_text_config, tiny_clip_tokenizer


def _tiny_vae(channels: int = 16, groups: int = 8, **extra):
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(channels,) * 4,  # four levels: scale factor 8, like the real VAEs
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4,
        norm_num_groups=groups,
        layers_per_block=1,
        **extra,
    )


def build_tiny_ip2p_xl(seed: int = 0):
    """A `StableDiffusionXLInstructPix2PixPipeline` with tiny random components."""
    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionXLInstructPix2PixPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = tiny_clip_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64),
            layers_per_block=1,
            sample_size=16,
            in_channels=8,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            addition_embed_type="text_time",  # SDXL's size/crop micro-conditioning
            addition_time_embed_dim=8,
            transformer_layers_per_block=(1, 2),
            projection_class_embeddings_input_dim=6 * 8 + 32,
            cross_attention_dim=64,  # both text encoders' hidden states, concatenated
        )
        vae = _tiny_vae()
        cfg = tiny_clip_text_config(len(tokenizer))
        text_encoder = CLIPTextModel(cfg)
        text_encoder_2 = CLIPTextModelWithProjection(cfg)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        steps_offset=1,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLInstructPix2PixPipeline(
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        text_encoder_2=text_encoder_2.eval(),
        tokenizer=tokenizer,
        tokenizer_2=tiny_clip_tokenizer(),
        unet=unet.eval(),
        scheduler=scheduler,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_t5_tokenizer():
    """A T5 tokenizer over printable ASCII, one token per character (tokenizers' WordLevel)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import T5TokenizerFast

    words = ["<pad>", "</s>", "<unk>"] + [chr(i) for i in range(33, 127)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    return T5TokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", extra_ids=0
    )


def build_tiny_kontext(seed: int = 0):
    """A `FluxKontextPipeline` with a one-layer transformer and tiny CLIP/T5 encoders."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        FluxKontextPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextModel, T5Config, T5EncoderModel

    t5_tokenizer = tiny_t5_tokenizer()
    clip_tokenizer = tiny_clip_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = FluxTransformer2DModel(
            patch_size=1,
            in_channels=16,  # 4 latent channels × the 2×2 packing
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=32,
            pooled_projection_dim=32,
            axes_dims_rope=[4, 4, 8],
        )
        text_encoder = CLIPTextModel(tiny_clip_text_config(len(clip_tokenizer)))
        text_encoder_2 = T5EncoderModel(
            T5Config(
                vocab_size=len(t5_tokenizer),
                d_model=32,
                d_kv=8,
                d_ff=37,
                num_layers=1,
                num_heads=4,
                relative_attention_num_buckets=8,
            )
        )
        vae = _tiny_vae(
            8,
            4,
            use_quant_conv=False,
            use_post_quant_conv=False,
            shift_factor=0.0609,
            scaling_factor=1.5035,
        )
    pipe = FluxKontextPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=text_encoder.eval(),
        text_encoder_2=text_encoder_2.eval(),
        tokenizer=clip_tokenizer,
        tokenizer_2=t5_tokenizer,
        transformer=transformer.eval(),
        vae=vae.eval(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_tiny_editor(editor: str, seed: int = 0):
    """The tiny pipeline of an editor family (ip2p and magicbrush share IP2P's)."""
    from maskedit.families import editor_spec
    from maskedit.tiny import build_tiny_ip2p

    family = editor_spec(editor).family.name
    return {"ip2p": build_tiny_ip2p, "ip2p-xl": build_tiny_ip2p_xl, "kontext": build_tiny_kontext}[
        family
    ](seed)
