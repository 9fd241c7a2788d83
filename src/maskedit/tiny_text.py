"""Tiny text-to-mask models with random weights, built in code, for tests and ``--models tiny``.

A CLIPSeg and a Grounding DINO with the real architectures at toy widths, and their processors
(tokenizer + image processor) made without any download. Their heatmaps and boxes are noise: they
check that phrases, images and coordinates flow through `maskedit.masks.text`, never what is found.
Both build and run in well under a second on a CPU (after the first import of transformers).
"""

from __future__ import annotations

import torch

from maskedit.tiny import tiny_clip_tokenizer

TINY_CLIPSEG_SIZE = 32  # CLIPSeg input and heatmap side, pixels (352 for the real model)
TINY_GDINO_SIZE = 64  # Grounding DINO's input short side, pixels (800 for the real model)

# bert-base-uncased ids that Grounding DINO's modeling code hard-codes as phrase delimiters
# (`SPECIAL_TOKENS` = [CLS], [SEP], ".", "?"): the tiny vocabulary puts them at the same ids.
_BERT_IDS = {
    "[PAD]": 0,
    "[UNK]": 100,
    "[CLS]": 101,
    "[SEP]": 102,
    "[MASK]": 103,
    ".": 1012,
    "?": 1029,
}


def _pil_image_processor(pil_name: str, fallback_name: str, **kwargs):
    """The PIL-backend image processor (transformers >= 5) or the classic one (4.x)."""
    import transformers

    cls = getattr(transformers, pil_name, None) or getattr(transformers, fallback_name)
    return cls(**kwargs)


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

    tokenizer = tiny_clip_tokenizer()
    text = CLIPSegTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    vision = CLIPSegVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=TINY_CLIPSEG_SIZE,
        patch_size=8,
    )
    config = CLIPSegConfig(
        text_config=text.to_dict(),
        vision_config=vision.to_dict(),
        projection_dim=32,
        reduce_dim=16,
        extract_layers=(0, 1),  # hidden states after each of the two vision layers
        decoder_intermediate_size=32,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPSegForImageSegmentation(config).eval()
    # Like CIDAS/clipseg-rd64-refined's ViT processor: squash to a square, no crop.
    image_processor = _pil_image_processor(
        "ViTImageProcessorPil",
        "ViTImageProcessor",
        size={"height": TINY_CLIPSEG_SIZE, "width": TINY_CLIPSEG_SIZE},
    )
    return model, CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer)


def tiny_bert_tokenizer():
    """A WordPiece BERT tokenizer over a–z, 0–9 and punctuation (words split into characters).

    Its 1030 ids keep bert-base-uncased's special-token ids (see `_BERT_IDS`); other slots are
    "[unusedN]" placeholders.
    """
    from transformers import BertTokenizer

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    pieces = letters + ["##" + t for t in letters] + list(",!'-:;\"()/&")
    by_id = {i: t for t, i in _BERT_IDS.items()}
    free = (i for i in range(1, 1030) if i not in by_id)
    by_id.update(zip(free, pieces, strict=False))
    vocab = {by_id.get(i, f"[unused{i}]"): i for i in range(1030)}
    return BertTokenizer(vocab=vocab)


def build_tiny_grounding_dino(seed: int = 0):
    """A `GroundingDinoForObjectDetection` + `GroundingDinoProcessor` at toy size.

    Swin backbone (embed 8, one block per stage, as transformers' own tests), d_model 32, one
    encoder and two decoder layers (the decoder's box heads are tied, which needs two), 10 queries,
    a 1-layer BERT of width 8; images are resized to short side 64 (long side at most 96).
    """
    from transformers import (
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoProcessor,
        SwinConfig,
    )

    tokenizer = tiny_bert_tokenizer()
    swin = SwinConfig(
        window_size=7,
        embed_dim=8,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 1, 1],
        image_size=TINY_GDINO_SIZE,
        out_indices=[2, 3, 4],
    )
    config = GroundingDinoConfig(
        backbone_config=swin,
        text_config={
            "model_type": "bert",
            "vocab_size": len(tokenizer),
            "hidden_size": 8,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 8,
            "max_position_embeddings": 64,
        },
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_queries=10,
        num_feature_levels=4,
        encoder_n_points=2,
        decoder_n_points=2,
        max_text_len=64,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GroundingDinoForObjectDetection(config).eval()
    image_processor = _pil_image_processor(
        "GroundingDinoImageProcessorPil",
        "GroundingDinoImageProcessor",
        size={"shortest_edge": TINY_GDINO_SIZE, "longest_edge": 96},
    )
    return model, GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)
