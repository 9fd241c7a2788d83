"""Tiny models with random weights, built in code, for smoke runs and tests.

They exercise every tensor path of the real models (8-channel IP2P UNet, SDXL-IP2P, FLUX.1 Kontext,
Qwen-Image-Edit(-Plus) with a Qwen2.5-VL reading the image, FLUX.2 [klein] with Qwen3, VAEs with
scale factor 8, CLIP/T5 text encoders, SAM and its relatives with their processors, CLIPSeg,
Grounding DINO, CLIP, DINO and LPIPS for the metrics) in well under a second each on a CPU. Their
outputs are noise: anything made with them is a plumbing check, never an edit.

- `tokenizers`: CLIP, T5 and BERT tokenizers from hand-written vocabularies, and a Qwen BPE
  learnt in code from the Qwen pipelines' prompt templates (no download);
- `editors`: IP2P, SDXL-IP2P and Kontext pipelines; `qwen`: Qwen-Image-Edit and -Plus; `flux2`:
  FLUX.2 [klein] and its Base; `segmenters`: SAM, SAM-HQ, SAM 2;
- `text`: CLIPSeg and Grounding DINO; `clip`: CLIP, the shared text-tower config;
- `metrics`: the metric backbones (a DINO-shaped ViT, LPIPS's SqueezeNet);
- `seeding`: every builder draws its weights from a seed, leaving the caller's RNG alone.

Nothing here loads at import time: each builder imports diffusers/transformers when called.
"""

from __future__ import annotations

from maskedit.tiny.clip import TINY_CLIP_IMAGE_SIZE, build_tiny_clip
from maskedit.tiny.editors import (
    TINY_WORKING_SIZE,
    build_tiny_editor,
    build_tiny_ip2p,
    build_tiny_ip2p_xl,
    build_tiny_kontext,
)
from maskedit.tiny.flux2 import build_tiny_flux2_klein, build_tiny_flux2_klein_base
from maskedit.tiny.metrics import build_tiny_dino, build_tiny_lpips
from maskedit.tiny.qwen import build_tiny_qwen_edit, build_tiny_qwen_edit_plus
from maskedit.tiny.segmenters import (
    TINY_SAM2_SIZE,
    TINY_SAM_SIZE,
    build_tiny_sam,
    build_tiny_sam2,
    build_tiny_sam_hq,
    build_tiny_segmenter,
)
from maskedit.tiny.text import (
    TINY_CLIPSEG_SIZE,
    TINY_GDINO_SIZE,
    build_tiny_clipseg,
    build_tiny_grounding_dino,
)

TINY_NOTE = "TINY RANDOM MODELS: a plumbing check, not an edit"

__all__ = [
    "TINY_CLIPSEG_SIZE",
    "TINY_CLIP_IMAGE_SIZE",
    "TINY_GDINO_SIZE",
    "TINY_NOTE",
    "TINY_SAM2_SIZE",
    "TINY_SAM_SIZE",
    "TINY_WORKING_SIZE",
    "build_tiny_clip",
    "build_tiny_clipseg",
    "build_tiny_dino",
    "build_tiny_editor",
    "build_tiny_flux2_klein",
    "build_tiny_flux2_klein_base",
    "build_tiny_grounding_dino",
    "build_tiny_ip2p",
    "build_tiny_ip2p_xl",
    "build_tiny_kontext",
    "build_tiny_qwen_edit",
    "build_tiny_qwen_edit_plus",
    "build_tiny_lpips",
    "build_tiny_sam",
    "build_tiny_sam2",
    "build_tiny_sam_hq",
    "build_tiny_segmenter",
]
