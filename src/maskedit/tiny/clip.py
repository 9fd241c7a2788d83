"""Tiny CLIP towers with random weights: the text config every tiny text encoder shares, a
``CLIPModel`` for metric tests and ``--models tiny``, and the PIL image processors.

Its scores are noise: they check that images and captions flow through the CLIP metrics, never how
good an edit is. Every tiny component reads the same character vocabulary
(`maskedit.tiny.tokenizers.clip_tokenizer`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maskedit.tiny.seeding import seeded
from maskedit.tiny.tokenizers import clip_tokenizer

if TYPE_CHECKING:
    from transformers import CLIPModel, CLIPProcessor

TINY_CLIP_IMAGE_SIZE = 32  # pixels; 4x4 patches of 8 pixels
# The width of every tiny ViT-like tower (text and vision of CLIP and CLIPSeg, DINO).
TOWER = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4)
# Token ids of `clip_tokenizer`: start 0, end 1, padding with the end token as CLIP does.
CLIP_TEXT = dict(max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1)


def clip_text_config(vocab_size: int):
    """The tiny `CLIPTextConfig` of every tiny CLIP text encoder (IP2P, SDXL's two, Kontext's)."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=vocab_size, **TOWER, **CLIP_TEXT, projection_dim=32)


def pil_image_processor(name: str, **kwargs):
    """transformers' image processor `name`, always its PIL backend.

    transformers 5 picks a torchvision backend when torchvision is installed and falls back to PIL
    (with a warning) when it is not; asking for the `…Pil` class directly makes the tiny models'
    outputs the same on every machine and keeps the warning out of test logs. transformers 4.x has
    no `…Pil` classes: there the classic class is the PIL/numpy one.
    """
    import transformers

    cls = getattr(transformers, f"{name}Pil", None) or getattr(transformers, name)
    return cls(**kwargs)


def build_tiny_clip(seed: int = 0) -> tuple[CLIPModel, CLIPProcessor]:
    """A ``CLIPModel`` + ``CLIPProcessor`` pair: 32-pixel images, patch 8, width 32, 2 layers.

    Weights are drawn under `maskedit.tiny.seeding.seeded`: the same seed gives the same model,
    and the caller's global RNG state is left untouched.
    """
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPVisionConfig

    tokenizer = clip_tokenizer()
    size = TINY_CLIP_IMAGE_SIZE
    text = clip_text_config(len(tokenizer))
    vision = CLIPVisionConfig(**TOWER, image_size=size, patch_size=8, projection_dim=32)
    config = CLIPConfig(
        text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=32
    )
    with seeded(seed):
        model = CLIPModel(config).eval()
    crop = {"height": size, "width": size}
    image_processor = pil_image_processor(
        "CLIPImageProcessor", size={"shortest_edge": size}, crop_size=crop
    )
    return model, CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
