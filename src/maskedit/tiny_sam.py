"""Tiny SAM-HQ and SAM 2 models with random weights, built in code, for tests and smoke runs.

Shaped like transformers' own model tests (tests/models/sam_hq, tests/models/sam2) but smaller.
They exercise every tensor path of the real families (SAM-HQ's intermediate ViT features, SAM 2's
multi-scale Hiera features and its square, stretched input) in well under a second on a CPU.
Their masks are noise. SlimSAM is a pruned `SamModel`: `maskedit.tiny.build_tiny_sam` covers it.
"""

from __future__ import annotations

import torch

TINY_SAM2_SIZE = 64  # SAM 2's square input side for the tiny model (1024 for the real ones)


def build_tiny_sam_hq(seed: int = 0):
    """A transformers `SamHQModel` + `SamHQProcessor` pair at a 64-pixel input size."""
    from transformers import SamHQConfig, SamHQModel, SamHQProcessor
    from transformers.models.sam_hq.configuration_sam_hq import (
        SamHQMaskDecoderConfig,
        SamHQPromptEncoderConfig,
        SamHQVisionConfig,
    )

    from maskedit.tiny import TINY_SAM_SIZE, tiny_sam_image_processor, tiny_sam_shapes

    size, patch = TINY_SAM_SIZE, 8
    vision_kw, prompt_kw, decoder_kw = tiny_sam_shapes(size, patch)
    # SAM's default 1e-10 makes random ViT features ~0; visible ones exercise the HQ fusion
    # (SAM-HQ fuses the first global block's features into its mask)
    vision = SamHQVisionConfig(**vision_kw, initializer_range=0.02)
    prompt = SamHQPromptEncoderConfig(**prompt_kw)
    decoder = SamHQMaskDecoderConfig(**decoder_kw, vit_dim=vision_kw["hidden_size"])
    config = SamHQConfig(
        vision_config=vision.to_dict(),
        prompt_encoder_config=prompt.to_dict(),
        mask_decoder_config=decoder.to_dict(),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SamHQModel(config).eval()
    return model, SamHQProcessor(image_processor=tiny_sam_image_processor(size, patch))


def build_tiny_sam2(seed: int = 0):
    """A transformers `Sam2Model` (4-stage Hiera) + `Sam2LiteProcessor` at a 64×64 input."""
    from transformers import (
        Sam2Config,
        Sam2HieraDetConfig,
        Sam2MaskDecoderConfig,
        Sam2Model,
        Sam2PromptEncoderConfig,
        Sam2VisionConfig,
    )

    from maskedit.masks.sam import Sam2LiteProcessor

    size, stride = TINY_SAM2_SIZE, 4
    dims = [8, 16, 32, 64]
    backbone = Sam2HieraDetConfig(
        hidden_size=dims[0],
        image_size=[size, size],
        patch_stride=[stride, stride],
        blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=dims,
        num_attention_heads_per_stage=[1, 1, 2, 2],
        window_size_per_stage=[4, 4, 4, 2],
        window_positional_embedding_background_size=[2, 2],
        global_attention_blocks=[3],
    )
    # The neck keeps the three finest of the four stages: strides 4, 8 and 16.
    grids = [[size // s, size // s] for s in (stride, 2 * stride, 4 * stride)]
    vision = Sam2VisionConfig(
        backbone_config=backbone,
        backbone_channel_list=dims[::-1],
        backbone_feature_sizes=grids,
        fpn_hidden_size=32,
    )
    prompt = Sam2PromptEncoderConfig(
        hidden_size=32, image_size=size, patch_size=4 * stride, mask_input_channels=8
    )
    decoder = Sam2MaskDecoderConfig(
        hidden_size=32,
        mlp_dim=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        iou_head_hidden_dim=32,
    )
    config = Sam2Config(
        vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Sam2Model(config).eval()
    # transformers' Sam2Processor needs torchvision; Sam2LiteProcessor does its steps without.
    return model, Sam2LiteProcessor(size=size)


def build_tiny_segmenter(name: str, seed: int = 0):
    """(model, processor) of the tiny random model for a `SEGMENTERS` family name."""
    from maskedit.tiny import build_tiny_sam

    builders = {
        "sam": build_tiny_sam,
        "slimsam": build_tiny_sam,  # SlimSAM is a pruned SamModel: same classes, same paths
        "sam-hq": build_tiny_sam_hq,
        "sam2": build_tiny_sam2,
    }
    if name not in builders:
        from maskedit.families import get_segmenter

        get_segmenter(name)  # the one user-facing error for an unknown name
    return builders[name](seed)
