"""A tiny CLIP model with random weights, built in code, for metric tests and ``--models tiny``.

Its scores are noise: they check that images and captions flow through the CLIP metrics, never how
good an edit is. It reuses the tokenizer and text-tower config of the other tiny models
(`maskedit.tiny`), so every tiny component shares one vocabulary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from maskedit.tiny import tiny_clip_text_config, tiny_clip_tokenizer

if TYPE_CHECKING:
    from transformers import CLIPModel, CLIPProcessor

TINY_CLIP_IMAGE_SIZE = 32  # pixels; 4x4 patches of 8 pixels


def _tiny_clip_image_processor(size: int):
    """CLIP's resize + centre crop + normalise at ``size`` pixels, always the PIL backend.

    transformers 5 picks a torchvision backend when torchvision is installed and falls back to PIL
    (with a warning) when it is not; asking for the PIL class directly makes the tiny model's scores
    the same on every machine and keeps the warning out of test logs.
    """
    try:
        from transformers import CLIPImageProcessorPil as processor_class  # transformers >= 5
    except ImportError:  # transformers 4.x: CLIPImageProcessor is the PIL/numpy one
        from transformers import CLIPImageProcessor as processor_class

    return processor_class(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


def build_tiny_clip(seed: int = 0) -> tuple[CLIPModel, CLIPProcessor]:
    """A ``CLIPModel`` + ``CLIPProcessor`` pair: 32-pixel images, patch 8, width 32, 2 layers.

    Weights are drawn under ``torch.random.fork_rng`` from ``seed``: the same seed gives the same
    model, and the caller's global RNG state is left untouched.
    """
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPVisionConfig

    tokenizer = tiny_clip_tokenizer()
    text_config = tiny_clip_text_config(len(tokenizer))
    vision_config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=TINY_CLIP_IMAGE_SIZE,
        patch_size=8,
        projection_dim=32,
    )
    config = CLIPConfig(
        text_config=text_config.to_dict(),
        vision_config=vision_config.to_dict(),
        projection_dim=32,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config).eval()
    processor = CLIPProcessor(
        image_processor=_tiny_clip_image_processor(TINY_CLIP_IMAGE_SIZE), tokenizer=tokenizer
    )
    return model, processor
