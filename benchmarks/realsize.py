"""Real-size architectures with random weights: the compute of the real models, no download.

Each builder makes the diffusers/transformers classes of a released checkpoint with that
checkpoint's config (layer counts, widths, heads, latent channels) and random weights. Their
outputs are noise: these models time maskedit against the plain diffusers call, nothing else.

Building is fast where it runs: every part is created directly on the target device (on a GPU the
random init is a few kernels per tensor) and cast to the target dtype as soon as it is built, so
at most one part is held in float32 at a time. The text encoders read the tiny character
tokenizers of `maskedit.tiny.tokenizers`: a small vocabulary changes only the embedding table,
not the compute. `toy=True` gives the same classes and code paths at toy widths, to check the
benchmark plumbing on a CPU.
"""

from __future__ import annotations

import torch

# SD-1.5's UNet as in timbrooks/instruct-pix2pix (8 input channels: noisy + source latents).
IP2P_UNET = dict(
    sample_size=64,
    in_channels=8,
    out_channels=4,
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    cross_attention_dim=768,
    attention_head_dim=8,
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
)
IP2P_UNET_TOY = {
    **IP2P_UNET, "block_out_channels": (32, 32, 64, 64), "layers_per_block": 1,
    "cross_attention_dim": 32,
}  # fmt: skip
# The VAEs of SD-1.5 (4 latent channels) and FLUX.1 (16, no quant convs, shifted latents).
SD_VAE = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, sample_size=512)
FLUX_VAE = dict(
    block_out_channels=(128, 256, 512, 512), layers_per_block=2, sample_size=1024,
    latent_channels=16, use_quant_conv=False, use_post_quant_conv=False,
    shift_factor=0.1159, scaling_factor=0.3611,
)  # fmt: skip
VAE_TOY = dict(block_out_channels=(32,) * 4, layers_per_block=1)
# CLIP ViT-L/14's text tower (SD-1.5's text encoder, FLUX.1's pooled-prompt encoder).
CLIP_L_TEXT = dict(
    hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
    projection_dim=768, hidden_act="quick_gelu",
)  # fmt: skip
CLIP_TEXT_TOY = dict(
    hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
    projection_dim=32,
)  # fmt: skip
# T5 v1.1 XXL's encoder (FLUX.1's text_encoder_2), 4.8 B parameters.
T5_XXL = dict(
    d_model=4096, d_ff=10240, d_kv=64, num_heads=64, num_layers=24,
    feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
)  # fmt: skip
T5_TOY = dict(
    d_model=32, d_ff=37, d_kv=8, num_heads=4, num_layers=1, feed_forward_proj="gated-gelu"
)
# black-forest-labs/FLUX.1-Kontext-dev's transformer: 19 double-stream + 38 single-stream blocks,
# 24 heads × 128 = 3072 wide, 11.9 B parameters; guidance-distilled (a guidance embedding).
FLUX_TRANSFORMER = dict(
    patch_size=1, in_channels=64,  # 16 latent channels × the 2×2 packing
    num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
    joint_attention_dim=4096, pooled_projection_dim=768,  # T5-XXL's and CLIP-L's widths
    guidance_embeds=True, axes_dims_rope=(16, 56, 56),
)  # fmt: skip
FLUX_TRANSFORMER_TOY = {
    **FLUX_TRANSFORMER,
    "num_layers": 1,
    "num_single_layers": 1,
    "attention_head_dim": 16,
    "num_attention_heads": 2,
    "joint_attention_dim": T5_TOY["d_model"],
    "pooled_projection_dim": CLIP_TEXT_TOY["hidden_size"],
    "axes_dims_rope": (4, 4, 8),
}
# Image-encoder shapes of the released SAM checkpoints (sam-vit-base / sam-vit-huge configs).
SAM_VITS = {
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 global_attn_indexes=[2, 5, 8, 11], mlp_dim=3072),
    "huge": dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=16,
                 global_attn_indexes=[7, 15, 23, 31], mlp_dim=5120),
    "toy": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                global_attn_indexes=[1], mlp_dim=64),
}  # fmt: skip
# Qwen/Qwen-Image-Edit-2511: `QwenImageTransformer2DModel`'s defaults are the released config
# (60 layers, 24 heads × 128 = 3072 wide, joint width 3584 = Qwen2.5-VL-7B's, 16 latent channels
# packed 2×2: in 64, out 16); 2511 adds `zero_cond_t`. 20.4 B parameters. Its VAE is
# `AutoencoderKLQwenImage`'s defaults (base 96, z 16, the released latents_mean/std).
QWEN_TRANSFORMER = dict(zero_cond_t=True)
# Qwen2.5-VL-7B-Instruct, the text encoder of every Qwen-Image-Edit: 28 layers, 3584 wide, 28 query
# / 4 key-value heads, M-RoPE sections (16, 24, 24); a 32-block, 1280-wide vision tower with window
# attention (full attention at blocks 7, 15, 23, 31) merging 2×2 patches of 14 px into 3584.
QWEN_VL_TEXT = dict(
    hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
    num_key_value_heads=4, max_position_embeddings=128000, rms_norm_eps=1e-6,
    rope_scaling={"mrope_section": [16, 24, 24], "rope_type": "default", "type": "default"},
)  # fmt: skip
QWEN_VL_VISION = dict(
    depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
    patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
    fullatt_block_indexes=[7, 15, 23, 31], hidden_act="silu",
)  # fmt: skip
QWEN_VL_MAX_PIXELS = 12845056  # the released processor's max_pixels
# black-forest-labs/FLUX.2-klein-4B: 5 double-stream + 20 single-stream blocks, 24 heads × 128 =
# 3072 wide, joint width 7680 = 3 × Qwen3-4B's 2560 (layers 9, 18, 27 stacked), 128 input channels
# (32 latent channels patchified 2×2), no guidance embedding (step-distilled). 3.9 B parameters.
KLEIN_TRANSFORMER = dict(
    patch_size=1, in_channels=128, num_layers=5, num_single_layers=20, attention_head_dim=128,
    num_attention_heads=24, joint_attention_dim=7680, timestep_guidance_channels=256,
    mlp_ratio=3.0, axes_dims_rope=(32, 32, 32, 32), rope_theta=2000, guidance_embeds=False,
)  # fmt: skip
# Qwen3-4B, FLUX.2 [klein] 4B's text encoder: 36 layers, 2560 wide, 32 query / 8 key-value heads
# of 128. The VAE is `AutoencoderKLFlux2`'s defaults (32 latent channels, batch-norm statistics).
QWEN3_4B = dict(
    hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
    num_key_value_heads=8, head_dim=128, max_position_embeddings=40960, rope_theta=1000000.0,
    rms_norm_eps=1e-6, tie_word_embeddings=True,
)  # fmt: skip
REALSIZE_NOTE = "REAL-SIZE RANDOM MODELS: timing only, not an edit"


class Builder:
    """Creates parts on `device` from `seed`, each cast to `dtype` and put in eval mode.

    `direct=True` creates the parameters in `dtype` itself (torch's default dtype while a part is
    built): a 20 B-parameter transformer never exists in float32 (82 GB, more than an H100 has).
    """

    def __init__(
        self, device: torch.device | str, dtype: torch.dtype, seed: int = 0, direct: bool = False
    ):
        self.device, self.dtype, self.direct = torch.device(device), dtype, direct
        torch.manual_seed(seed)  # seeds the CPU and every CUDA generator

    def __call__(self, make, *args, **kwargs):
        default = torch.get_default_dtype()
        if self.direct:
            torch.set_default_dtype(self.dtype)
        try:
            with torch.device(self.device):
                part = make(*args, **kwargs)
        finally:
            torch.set_default_dtype(default)
        if self.dtype != torch.float32:  # buffers (and non-direct parts) are float32
            part = part.to(dtype=self.dtype)
        return part.eval()


def clip_text_encoder(build: Builder, vocab_size: int, shapes: dict):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        max_position_embeddings=77,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        **shapes,
    )
    return build(CLIPTextModel, config)


def vae(build: Builder, shapes: dict):
    from diffusers import AutoencoderKL

    return build(
        AutoencoderKL,
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        **shapes,
    )


def build_realsize_ip2p(
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    toy: bool = False,
):
    """A `StableDiffusionInstructPix2PixPipeline` shaped like timbrooks/instruct-pix2pix, random.

    SD-1.5's UNet (8 input channels, 860 M parameters), SD's VAE, a CLIP ViT-L/14-shaped text
    encoder (768 wide, 12 layers) and Euler-ancestral with SD's betas. On a CPU the random init of
    ~1 B parameters takes tens of seconds; on a GPU a few.
    """
    from diffusers import EulerAncestralDiscreteScheduler, UNet2DConditionModel

    from maskedit.tiny.editors import ip2p_pipeline
    from maskedit.tiny.tokenizers import clip_tokenizer

    build = Builder(device, dtype, seed)
    tokenizer = clip_tokenizer()
    unet = build(UNet2DConditionModel, **(IP2P_UNET_TOY if toy else IP2P_UNET))
    autoencoder = vae(build, {**SD_VAE, **(VAE_TOY if toy else {})})
    text_encoder = clip_text_encoder(build, len(tokenizer), CLIP_TEXT_TOY if toy else CLIP_L_TEXT)
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    return ip2p_pipeline(autoencoder, text_encoder, tokenizer, unet, scheduler)


def build_realsize_sam(
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    vit: str = "base",
):
    """A transformers `SamModel` + `SamProcessor` with sam-vit-`vit`'s image encoder, random.

    Input long side 1024 (the default `SamImageProcessor`), 64×64 image embedding, the standard
    prompt encoder and mask decoder. "base" (ViT-B) keeps CPU benchmarks short; "huge" (ViT-H,
    632 M parameters) is maskedit's default SAM; "toy" is two narrow layers.
    """
    from transformers import SamConfig, SamImageProcessor, SamModel, SamProcessor
    from transformers.models.sam.configuration_sam import SamVisionConfig

    vision = SamVisionConfig(
        **SAM_VITS[vit], output_channels=256, image_size=1024, patch_size=16, window_size=14
    )
    model = Builder(device, dtype, seed)(SamModel, SamConfig(vision_config=vision.to_dict()))
    return model, SamProcessor(image_processor=SamImageProcessor())


def build_realsize_kontext(
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.bfloat16,
    seed: int = 0,
    toy: bool = False,
):
    """A `FluxKontextPipeline` shaped like black-forest-labs/FLUX.1-Kontext-dev, random.

    The 11.9 B-parameter Flux transformer (19 double + 38 single blocks, 3072 wide, guidance
    embedding), T5-XXL's encoder (4.8 B), CLIP-L's text tower, FLUX.1's 16-channel VAE and its
    shifted flow-matching scheduler: ~34 GB of bf16 weights. The transformer is built last, so the
    float32 peak while building is its 48 GB alone (on top of the ~10 GB of parts already cast).
    """
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        FluxKontextPipeline,
        FluxTransformer2DModel,
    )
    from transformers import T5Config, T5EncoderModel

    from maskedit.tiny.editors import FLUX_SCHEDULER, assemble
    from maskedit.tiny.tokenizers import clip_tokenizer, t5_tokenizer

    build = Builder(device, dtype, seed)
    t5, clip = t5_tokenizer(), clip_tokenizer()
    t5_config = T5Config(vocab_size=len(t5), **(T5_TOY if toy else T5_XXL))
    text_encoder_2 = build(T5EncoderModel, t5_config)
    text_encoder = clip_text_encoder(build, len(clip), CLIP_TEXT_TOY if toy else CLIP_L_TEXT)
    autoencoder = vae(build, {**FLUX_VAE, **(VAE_TOY if toy else {})})
    transformer = build(
        FluxTransformer2DModel, **(FLUX_TRANSFORMER_TOY if toy else FLUX_TRANSFORMER)
    )
    return assemble(
        FluxKontextPipeline,
        scheduler=FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER),
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=clip,
        tokenizer_2=t5,
        transformer=transformer,
        vae=autoencoder,
    )


def build_realsize_qwen_edit_plus(
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.bfloat16,
    seed: int = 0,
    toy: bool = False,
):
    """A `QwenImageEditPlusPipeline` shaped like Qwen/Qwen-Image-Edit-2511, random.

    The 20.4 B-parameter transformer, Qwen2.5-VL-7B (7.2 B here: the tiny vocabulary leaves out
    1.1 B of embedding tables, not compute), Qwen-Image's VAE and scheduler: ~56 GB of bf16
    weights, each created directly in `dtype` on `device`. The
    processor is Qwen2-VL's with the released pixel limits (the pipeline asks for ~384² images).
    `toy=True`: the tiny pipeline of the tests (`maskedit.tiny.qwen`).
    """
    from diffusers import (
        AutoencoderKLQwenImage,
        QwenImageEditPlusPipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import Qwen2_5_VLForConditionalGeneration

    from maskedit.tiny.qwen import (
        build_tiny_qwen_edit_plus,
        qwen_pipeline,
        tiny_qwen_tokenizer,
        vl_config,
        vl_processor,
    )

    if toy:
        return build_tiny_qwen_edit_plus(seed).to(device, dtype)
    build = Builder(device, dtype, seed, direct=True)
    tokenizer = tiny_qwen_tokenizer()
    text_encoder = build(
        Qwen2_5_VLForConditionalGeneration, vl_config(tokenizer, QWEN_VL_TEXT, QWEN_VL_VISION)
    )
    autoencoder = build(AutoencoderKLQwenImage)
    transformer = build(QwenImageTransformer2DModel, **QWEN_TRANSFORMER)
    return qwen_pipeline(
        QwenImageEditPlusPipeline,
        transformer,
        autoencoder,
        text_encoder,
        tokenizer,
        vl_processor(tokenizer, max_pixels=QWEN_VL_MAX_PIXELS),
    )


def build_realsize_flux2_klein(
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.bfloat16,
    seed: int = 0,
    toy: bool = False,
):
    """A `Flux2KleinPipeline` shaped like black-forest-labs/FLUX.2-klein-4B, random.

    The 3.9 B-parameter transformer, Qwen3-4B (36 layers, the pipeline reads 9, 18 and 27; 3.6 B
    with the tiny vocabulary), FLUX.2's 32-channel VAE and the shifted flow-matching scheduler:
    ~15 GB of bf16 weights, each created directly in `dtype` on `device`. `toy=True`: the tiny
    pipeline of the tests.
    """
    from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from maskedit.tiny.flux2 import build_tiny_flux2_klein, klein_pipeline
    from maskedit.tiny.qwen import tiny_qwen_tokenizer

    if toy:
        return build_tiny_flux2_klein(seed).to(device, dtype)
    build = Builder(device, dtype, seed, direct=True)
    tokenizer = tiny_qwen_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_end|>")}
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        **QWEN3_4B,
    )
    text_encoder = build(Qwen3ForCausalLM, config)
    autoencoder = build(AutoencoderKLFlux2)
    transformer = build(Flux2Transformer2DModel, **KLEIN_TRANSFORMER)
    return klein_pipeline(transformer, autoencoder, text_encoder, tokenizer, distilled=True)


def realsize_models(
    editor: str,
    device: torch.device | str,
    dtype: torch.dtype,
    *,
    working_size: int,
    sam_vit: str | None = None,
    toy: bool = False,
):
    """maskedit `Models` around a real-size random editor (and SAM when `sam_vit` is given)."""
    from maskedit.masks.sam import SamPredictor
    from maskedit.models import Models

    builders = {
        "ip2p": build_realsize_ip2p,
        "kontext": build_realsize_kontext,
        "qwen-edit-plus": build_realsize_qwen_edit_plus,
        "flux2-klein": build_realsize_flux2_klein,
    }
    shapes = {
        "ip2p": "SD-1.5 shapes",
        "kontext": "FLUX.1 Kontext shapes",
        "qwen-edit-plus": "Qwen-Image-Edit-2511 shapes",
        "flux2-klein": "FLUX.2 [klein] 4B shapes",
    }[editor]
    pipe = builders[editor](device, dtype, toy=toy)
    sam = None
    if sam_vit is not None:
        sam = SamPredictor(*build_realsize_sam(device, dtype, vit="toy" if toy else sam_vit))
    return Models(
        pipe=pipe,
        sam=sam,
        kind="realsize-random",
        editor=editor,
        ip2p_id=f"realsize-random-{editor} ({shapes}{', toy widths' if toy else ''})",
        sam_id=None if sam is None else f"realsize-random-sam (ViT-{sam_vit[0].upper()})",
        working_size=working_size,
        note=REALSIZE_NOTE,
    )
