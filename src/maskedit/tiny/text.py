"""Tiny text-to-mask models with random weights, built in code, for tests and ``--models tiny``.

A CLIPSeg and a Grounding DINO with the real architectures at toy widths, and their processors
(tokenizer + image processor) made without any download. Their heatmaps and boxes are noise: they
check that phrases, images and coordinates flow through `maskedit.masks.text`, never what is found.
Both build and run in well under a second on a CPU (after the first import of transformers).
"""

from __future__ import annotations

from maskedit.tiny.clip import CLIP_TEXT, TOWER, pil_image_processor
from maskedit.tiny.seeding import seeded
from maskedit.tiny.tokenizers import bert_tokenizer, clip_tokenizer

TINY_CLIPSEG_SIZE = 32  # CLIPSeg input and heatmap side, pixels (352 for the real model)
# Grounding DINO's input short side, pixels (800 for the real model). Its coarsest feature map is
# 1/64 of the input: at 64 a square photo's is 1×1, too small for the GroupNorm of d_model 32 in
# 32 groups (one value per group); at 72 it is 2×2.
TINY_GDINO_SIZE = 72


def build_tiny_clipseg(seed: int = 0):
    """A `CLIPSegForImageSegmentation` + `CLIPSegProcessor`: 32-pixel input, width 32, 2 layers.

    The tokenizer is the tiny character-level CLIP tokenizer shared by the other tiny models.
    """
    from transformers import (
        CLIPSegConfig,
        CLIPSegForImageSegmentation,
        CLIPSegProcessor,
        CLIPSegTextConfig,
        CLIPSegVisionConfig,
    )

    tokenizer = clip_tokenizer()
    size = TINY_CLIPSEG_SIZE
    text = CLIPSegTextConfig(vocab_size=len(tokenizer), **TOWER, **CLIP_TEXT)
    vision = CLIPSegVisionConfig(**TOWER, image_size=size, patch_size=8)
    config = CLIPSegConfig(
        text_config=text.to_dict(),
        vision_config=vision.to_dict(),
        projection_dim=32,
        reduce_dim=16,
        extract_layers=(0, 1),  # hidden states after each of the two vision layers
        decoder_intermediate_size=32,
    )
    with seeded(seed):
        model = CLIPSegForImageSegmentation(config).eval()
    # Like CIDAS/clipseg-rd64-refined's ViT processor: squash to a square, no crop.
    image_processor = pil_image_processor("ViTImageProcessor", size={"height": size, "width": size})
    return model, CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer)


def build_tiny_grounding_dino(seed: int = 0):
    """A `GroundingDinoForObjectDetection` + `GroundingDinoProcessor` at toy size.

    Swin backbone (embed 8, one block per stage, as transformers' own tests), d_model 32, one
    encoder and two decoder layers (the decoder's box heads are tied, which needs two), 10 queries,
    a 1-layer BERT of width 8; images are resized to short side 72 (long side at most 96).
    """
    from transformers import (
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoProcessor,
        SwinConfig,
    )

    tokenizer = bert_tokenizer()
    swin = SwinConfig(
        window_size=7, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
        image_size=TINY_GDINO_SIZE, out_indices=[2, 3, 4],
    )  # fmt: skip
    bert = dict(
        model_type="bert", vocab_size=len(tokenizer), max_position_embeddings=64,
        hidden_size=8, intermediate_size=8, num_hidden_layers=1, num_attention_heads=2,
    )  # fmt: skip
    config = GroundingDinoConfig(
        backbone_config=swin, text_config=bert, d_model=32, num_feature_levels=4,
        num_queries=10, max_text_len=64,
        encoder_layers=1, encoder_attention_heads=4, encoder_ffn_dim=32, encoder_n_points=2,
        decoder_layers=2, decoder_attention_heads=4, decoder_ffn_dim=32, decoder_n_points=2,
    )  # fmt: skip
    with seeded(seed):
        model = GroundingDinoForObjectDetection(config).eval()
    image_processor = pil_image_processor(
        "GroundingDinoImageProcessor", size={"shortest_edge": TINY_GDINO_SIZE, "longest_edge": 96}
    )
    return model, GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)
