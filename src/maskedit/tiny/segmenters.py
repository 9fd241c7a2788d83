"""Tiny random segmenters (SAM, SlimSAM, SAM-HQ, SAM 2), built in code, for tests and smoke runs.

Shaped like transformers' own model tests (tests/models/sam, sam_hq, sam2) but smaller. They
exercise every tensor path of the real families (SAM's embed-once / decode-per-prompt split,
SAM-HQ's intermediate ViT features, SAM 2's multi-scale Hiera features and its square, stretched
input) in well under a second on a CPU. Their masks are noise.
"""

from __future__ import annotations

from maskedit.tiny.seeding import seeded

TINY_SAM_SIZE = 64  # SAM's input long side for the tiny model (1024 for the real ones)
TINY_SAM2_SIZE = 64  # SAM 2's square input side for the tiny model (1024 for the real ones)
PATCH = 8  # SAM's ViT patch side for the tiny model (16 for the real ones)
# The transformer blocks of every tiny SAM: the ViT's and the mask decoder's.
BLOCKS = dict(hidden_size=32, mlp_dim=64, num_hidden_layers=2, num_attention_heads=2)
# The mask decoder of every tiny SAM family (SAM 2's included).
DECODER = dict(BLOCKS, iou_head_hidden_dim=32)


def tiny_sam_shapes(size: int, patch: int) -> tuple[dict, dict, dict]:
    """Vision, prompt-encoder and mask-decoder config arguments of the tiny SAM (and SAM-HQ)."""
    vision = dict(
        BLOCKS,
        output_channels=32,
        image_size=size,
        patch_size=patch,
        window_size=4,
        global_attn_indexes=[1],
        num_pos_feats=16,
    )
    prompt = dict(hidden_size=32, image_size=size, patch_size=patch, mask_input_channels=4)
    return vision, prompt, dict(DECODER)


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


def _sam_config(config_class, vision_class, prompt_class, decoder_class, hq: bool = False):
    """The tiny config of transformers' SAM or SAM-HQ (`hq`): the two share their layout.

    SAM-HQ's decoder also reads the ViT width, and its vision tower draws visible weights: SAM's
    default `initializer_range` of 1e-10 makes random ViT features ~0, which would leave SAM-HQ's
    fusion of the first global block's features into its mask idle.
    """
    vision_kw, prompt_kw, decoder_kw = tiny_sam_shapes(TINY_SAM_SIZE, PATCH)
    if hq:
        vision_kw["initializer_range"] = 0.02
        decoder_kw["vit_dim"] = vision_kw["hidden_size"]
    return config_class(
        vision_config=vision_class(**vision_kw).to_dict(),
        prompt_encoder_config=prompt_class(**prompt_kw).to_dict(),
        mask_decoder_config=decoder_class(**decoder_kw).to_dict(),
    )


def _sam_pair(seed: int, model_class, config, processor_class):
    """(seeded model in eval mode, processor at the tiny input size)."""
    with seeded(seed):
        model = model_class(config).eval()
    image_processor = tiny_sam_image_processor(TINY_SAM_SIZE, PATCH)
    return model, processor_class(image_processor=image_processor)


def build_tiny_sam(seed: int = 0):
    """A transformers `SamModel` + `SamProcessor` pair at a 64-pixel input size.

    SlimSAM is a pruned `SamModel`: this model covers it too.
    """
    from transformers import SamConfig, SamModel, SamProcessor
    from transformers.models.sam import configuration_sam as c

    config = _sam_config(
        SamConfig, c.SamVisionConfig, c.SamPromptEncoderConfig, c.SamMaskDecoderConfig
    )
    return _sam_pair(seed, SamModel, config, SamProcessor)


def build_tiny_sam_hq(seed: int = 0):
    """A transformers `SamHQModel` + `SamHQProcessor` pair at a 64-pixel input size."""
    from transformers import SamHQConfig, SamHQModel, SamHQProcessor
    from transformers.models.sam_hq import configuration_sam_hq as c

    config = _sam_config(
        SamHQConfig,
        c.SamHQVisionConfig,
        c.SamHQPromptEncoderConfig,
        c.SamHQMaskDecoderConfig,
        hq=True,
    )
    return _sam_pair(seed, SamHQModel, config, SamHQProcessor)


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
    config = Sam2Config(
        vision_config=vision,
        prompt_encoder_config=prompt,
        mask_decoder_config=Sam2MaskDecoderConfig(**DECODER),
    )
    with seeded(seed):
        model = Sam2Model(config).eval()
    # transformers' Sam2Processor needs torchvision; Sam2LiteProcessor does its steps without.
    return model, Sam2LiteProcessor(size=size)


def build_tiny_segmenter(name: str, seed: int = 0):
    """(model, processor) of the tiny random model for a `SEGMENTERS` family name."""
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
