"""Tiny models with random weights, built in code, for smoke runs and tests.

They exercise every tensor path of the real models (8-channel IP2P UNet, VAE with scale factor 8,
CLIP text encoder, SAM with its processor) in well under a second on a CPU. Their outputs are noise:
anything made with them is a plumbing check, never an edit.
"""

from __future__ import annotations

import torch

TINY_NOTE = "TINY RANDOM MODELS: a plumbing check, not an edit"
TINY_WORKING_SIZE = 128  # long side, pixels; latents are 16x16 for a square image
TINY_SAM_SIZE = 64  # SAM's input long side for the tiny model (1024 for the real ones)


def tiny_clip_tokenizer():
    """A CLIP BPE tokenizer over printable ASCII with no merges: every character is a token."""
    from transformers import CLIPTokenizer

    chars = [chr(i) for i in range(33, 127)]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def tiny_clip_text_config(vocab_size: int):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=32,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )


def _ip2p_pipeline(vae, text_encoder, tokenizer, unet, scheduler):
    """Components → an IP2P pipeline in eval mode, no safety checker, no progress bars."""
    from diffusers import StableDiffusionInstructPix2PixPipeline

    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        unet=unet.eval(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_tiny_ip2p(seed: int = 0):
    """A `StableDiffusionInstructPix2PixPipeline` with tiny random components (Euler-ancestral)."""
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64),
            layers_per_block=1,
            sample_size=16,
            in_channels=8,  # noisy latents (4) + image-conditioning latents (4), as in IP2P
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            norm_num_groups=32,
            attention_head_dim=8,
        )
        vae = AutoencoderKL(
            block_out_channels=(16, 16, 16, 16),  # four levels: scale factor 8 like SD's VAE
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4,
            latent_channels=4,
            norm_num_groups=8,
            layers_per_block=1,
        )
        tokenizer = tiny_clip_tokenizer()
        text_encoder = CLIPTextModel(tiny_clip_text_config(len(tokenizer)))
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
    )
    return _ip2p_pipeline(vae, text_encoder, tokenizer, unet, scheduler)


def tiny_sam_shapes(size: int, patch: int) -> tuple[dict, dict, dict]:
    """Vision, prompt-encoder and mask-decoder config arguments of the tiny SAM (and SAM-HQ)."""
    vision = dict(
        hidden_size=32,
        output_channels=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=size,
        patch_size=patch,
        window_size=4,
        global_attn_indexes=[1],
        num_pos_feats=16,
        mlp_dim=64,
    )
    prompt = dict(hidden_size=32, image_size=size, patch_size=patch, mask_input_channels=4)
    decoder = dict(
        hidden_size=32,
        mlp_dim=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        iou_head_hidden_dim=32,
    )
    return vision, prompt, decoder


def tiny_sam_image_processor(size: int, patch: int):
    """SAM's image processor at the tiny input size (masks at the decoder's 4× embedding grid)."""
    from transformers import SamImageProcessor

    low_res = 4 * size // patch  # SAM's mask decoder upsamples the embedding grid 4x
    return SamImageProcessor(
        size={"longest_edge": size},
        pad_size={"height": size, "width": size},
        mask_size={"longest_edge": low_res},
        mask_pad_size={"height": low_res, "width": low_res},
    )


def build_tiny_sam(seed: int = 0):
    """A transformers `SamModel` + `SamProcessor` pair at a 64-pixel input size."""
    from transformers import SamConfig, SamModel, SamProcessor
    from transformers.models.sam.configuration_sam import (
        SamMaskDecoderConfig,
        SamPromptEncoderConfig,
        SamVisionConfig,
    )

    size, patch = TINY_SAM_SIZE, 8
    vision_kw, prompt_kw, decoder_kw = tiny_sam_shapes(size, patch)
    vision = SamVisionConfig(**vision_kw)
    prompt = SamPromptEncoderConfig(**prompt_kw)
    decoder = SamMaskDecoderConfig(**decoder_kw)
    config = SamConfig(
        vision_config=vision.to_dict(),
        prompt_encoder_config=prompt.to_dict(),
        mask_decoder_config=decoder.to_dict(),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SamModel(config).eval()
    return model, SamProcessor(image_processor=tiny_sam_image_processor(size, patch))


# Real-size architectures with random weights, for benchmarks (benchmarks/run.py): the compute of
# the real models without their weights. Their outputs are noise, like the tiny models'.


def build_realsize_ip2p(seed: int = 0, dtype: torch.dtype = torch.float32):
    """A `StableDiffusionInstructPix2PixPipeline` shaped like timbrooks/instruct-pix2pix, random.

    SD 1.5's UNet (8 input channels, 860M parameters), SD's VAE, a CLIP ViT-L/14-shaped text
    encoder (768 wide, 12 layers) over the tiny character tokenizer (its vocabulary is small, which
    changes only the embedding table, not the compute), and Euler-ancestral with SD's betas.
    Building it takes tens of seconds on a CPU (random init of ~1B parameters).
    """
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            sample_size=64,
            in_channels=8,  # noisy latents (4) + image-conditioning latents (4), as in IP2P
            out_channels=4,
            block_out_channels=(320, 640, 1280, 1280),
            layers_per_block=2,
            cross_attention_dim=768,
            attention_head_dim=8,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        )
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4,
            latent_channels=4,
            sample_size=512,
        )
        tokenizer = tiny_clip_tokenizer()
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=768,
                intermediate_size=3072,
                num_hidden_layers=12,
                num_attention_heads=12,
                max_position_embeddings=77,
                projection_dim=768,
                hidden_act="quick_gelu",
                bos_token_id=0,
                eos_token_id=1,
                pad_token_id=1,
            )
        )
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    return _ip2p_pipeline(vae, text_encoder, tokenizer, unet, scheduler).to(dtype=dtype)


# Image-encoder shapes of the released SAM checkpoints (sam-vit-base / sam-vit-huge configs).
SAM_VITS = {
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 global_attn_indexes=[2, 5, 8, 11], mlp_dim=3072),
    "huge": dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=16,
                 global_attn_indexes=[7, 15, 23, 31], mlp_dim=5120),
}  # fmt: skip


def build_realsize_sam_base(seed: int = 0, vit: str = "base"):
    """A transformers `SamModel` (ViT-B image encoder, as sam-vit-base) + `SamProcessor`, random.

    Input long side 1024 (the default `SamImageProcessor`), 64×64 image embedding, the standard
    prompt encoder and mask decoder. ViT-B rather than ViT-H keeps CPU benchmarks short; the
    embed-once / decode-per-click structure is the same. `vit="huge"` builds sam-vit-huge's
    encoder (632 M parameters), maskedit's default SAM, for GPU timings.
    """
    from transformers import SamConfig, SamImageProcessor, SamModel, SamProcessor
    from transformers.models.sam.configuration_sam import SamVisionConfig

    vision = SamVisionConfig(
        **SAM_VITS[vit],
        output_channels=256,
        image_size=1024,
        patch_size=16,
        window_size=14,
    )
    config = SamConfig(vision_config=vision.to_dict())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SamModel(config).eval()
    return model, SamProcessor(image_processor=SamImageProcessor())
