"""Tiny random Qwen-Image-Edit and Qwen-Image-Edit-Plus pipelines, built in code.

The real diffusers classes (`QwenImageEditPipeline`, `QwenImageEditPlusPipeline`) with toy-width
components and every tokenizer/processor made without a download. What the pipelines depend on
is kept as in the released checkpoints:

- the Qwen tokenizer's pre-tokenization and a BPE learnt from the pipelines' own prompt
  templates, so the edit template's system prefix is exactly the 64 tokens the pipelines drop
  (`prompt_template_encode_start_idx`), and the chat/vision special tokens are single tokens;
- a two-layer Qwen2.5-VL (vision tower included) that reads the source image with the prompt;
- `AutoencoderKLQwenImage` with scale factor 8 and non-trivial `latents_mean`/`latents_std`, so
  a source latent that forgets the normalisation differs; 2×2 packed latent tokens;
- Qwen-Image-Edit-2511's `zero_cond_t` (reference tokens modulated at t = 0) on the Plus model.

Their outputs are noise: anything made with them is a plumbing check, never an edit.
"""

from __future__ import annotations

from maskedit.tiny.seeding import seeded
from maskedit.tiny.tokenizers import QWEN_SPECIAL_TOKENS, qwen_tokenizer

LATENT_CHANNELS = 4
TINY_VL_MAX_PIXELS = 112 * 112  # the tiny VL processor sees at most 8×8 patches of 14 px
# Qwen-Image's scheduler config (resolution-dependent exponential shift, shift terminal 0.02).
QWEN_SCHEDULER = dict(
    base_image_seq_len=256, max_image_seq_len=8192, base_shift=0.5, max_shift=0.9,
    shift_terminal=0.02, time_shift_type="exponential", use_dynamic_shifting=True,
)  # fmt: skip


def template_corpus() -> list[str]:
    """The fixed text of the edit pipelines' prompt templates: what the tiny BPE learns."""
    from diffusers import QwenImageEditPipeline, QwenImageEditPlusPipeline

    empty = dict.fromkeys(
        ("scheduler", "vae", "text_encoder", "tokenizer", "processor", "transformer")
    )
    templates = [
        cls(**empty).prompt_template_encode
        for cls in (QwenImageEditPipeline, QwenImageEditPlusPipeline)
    ]
    return [*templates, "Picture 1: Picture 2: Picture 3: "]


def tiny_qwen_tokenizer():
    """The tiny Qwen tokenizer of the edit pipelines (see `maskedit.tiny.tokenizers`)."""
    return qwen_tokenizer(template_corpus())


def vl_processor(tokenizer, max_pixels: int = TINY_VL_MAX_PIXELS):
    """Qwen2-VL's processor: 14-pixel patches, 2×2 merge, images capped at `max_pixels`.

    transformers builds a `Qwen2VLProcessor` only with a video processor, which needs
    torchvision; the edit pipelines never pass videos, so this is the same class with the video
    slot left out of its signature.
    """
    import transformers
    from transformers import Qwen2VLProcessor

    class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(
                image_processor, tokenizer, None, chat_template=chat_template, **kwargs
            )

    # The PIL back-end where transformers has one (no torchvision), else the classic one.
    cls = (
        getattr(transformers, "Qwen2VLImageProcessorPil", None)
        or transformers.Qwen2VLImageProcessor
    )
    image_processor = cls(
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
        min_pixels=56 * 56,
        max_pixels=max_pixels,
    )
    return ImageOnlyQwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer)


def vl_config(tokenizer, text: dict, vision: dict):
    """A `Qwen2_5_VLConfig` over `tokenizer`'s vocabulary with its special-token ids."""
    from transformers import Qwen2_5_VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "rope_theta": 1000000.0,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            **text,
        },
        vision_config=vision,
        hidden_size=text["hidden_size"],
        vocab_size=len(tokenizer),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )


# The tiny VL model's text and vision towers share one width.
VL_WIDTH = dict(hidden_size=16, intermediate_size=16)
TINY_VL_TEXT = dict(
    VL_WIDTH,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=2,
    rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
)
TINY_VL_VISION = dict(
    VL_WIDTH,
    depth=2,
    num_heads=2,
    out_hidden_size=VL_WIDTH["hidden_size"],  # the vision tokens enter the text tower
    patch_size=14,
    spatial_merge_size=2,
    temporal_patch_size=2,
    fullatt_block_indexes=[1],
)


def qwen_pipeline(pipeline_class, transformer, vae, text_encoder, tokenizer, processor):
    """Components → a Qwen edit pipeline with Qwen-Image's scheduler, no progress bars (shared
    with the real-size builders)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    pipe = pipeline_class(
        scheduler=FlowMatchEulerDiscreteScheduler(**QWEN_SCHEDULER),
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        processor=processor,
        transformer=transformer.eval(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _build_tiny_qwen(pipeline_class, seed: int, zero_cond_t: bool):
    from diffusers import AutoencoderKLQwenImage, QwenImageTransformer2DModel
    from transformers import Qwen2_5_VLForConditionalGeneration

    tokenizer = tiny_qwen_tokenizer()
    with seeded(seed):
        transformer = QwenImageTransformer2DModel(
            patch_size=2,
            in_channels=LATENT_CHANNELS * 4,  # 2×2 packed latent tokens
            out_channels=LATENT_CHANNELS,
            num_layers=2,
            attention_head_dim=16,
            num_attention_heads=3,
            joint_attention_dim=TINY_VL_TEXT["hidden_size"],
            guidance_embeds=False,
            axes_dims_rope=(8, 4, 4),
            zero_cond_t=zero_cond_t,
        )
        vae = AutoencoderKLQwenImage(
            base_dim=8,
            z_dim=LATENT_CHANNELS,
            dim_mult=[1, 2, 2, 2],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],  # three downsamplings: scale factor 8
            latents_mean=[0.1, -0.2, 0.3, -0.4],
            latents_std=[1.5, 0.8, 2.0, 1.2],
        )
        text_encoder = Qwen2_5_VLForConditionalGeneration(
            vl_config(tokenizer, TINY_VL_TEXT, TINY_VL_VISION)
        )
    return qwen_pipeline(
        pipeline_class, transformer, vae, text_encoder, tokenizer, vl_processor(tokenizer)
    )


def build_tiny_qwen_edit(seed: int = 0):
    """A `QwenImageEditPipeline` (as Qwen/Qwen-Image-Edit) with tiny random components."""
    from diffusers import QwenImageEditPipeline

    return _build_tiny_qwen(QwenImageEditPipeline, seed, zero_cond_t=False)


def build_tiny_qwen_edit_plus(seed: int = 0, zero_cond_t: bool = True):
    """A `QwenImageEditPlusPipeline` with tiny random components.

    `zero_cond_t=True` is Qwen/Qwen-Image-Edit-2511's transformer (reference tokens at t = 0);
    False is Qwen/Qwen-Image-Edit-2509's.
    """
    from diffusers import QwenImageEditPlusPipeline

    return _build_tiny_qwen(QwenImageEditPlusPipeline, seed, zero_cond_t=zero_cond_t)
