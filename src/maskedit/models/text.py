"""`from_pretrained` of the phrase → mask models: CLIPSeg and Grounding DINO."""

from __future__ import annotations

import torch

from maskedit.errors import InputError
from maskedit.models.hub import missing_weights, pick_device

DEFAULT_CLIPSEG_ID = "CIDAS/clipseg-rd64-refined"


DEFAULT_GDINO_ID = "IDEA-Research/grounding-dino-tiny"  # or IDEA-Research/grounding-dino-base


def load_clipseg(model_id: str = DEFAULT_CLIPSEG_ID, device: torch.device | None = None):
    """(CLIPSegForImageSegmentation, CLIPSegProcessor), fp32; "tiny" builds a random one in code."""
    if model_id == "tiny":
        from maskedit.tiny import build_tiny_clipseg

        model, processor = build_tiny_clipseg()
    else:
        from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

        try:
            model = CLIPSegForImageSegmentation.from_pretrained(model_id)
            processor = CLIPSegProcessor.from_pretrained(model_id)
        except (OSError, ValueError) as err:
            raise missing_weights(model_id, "CLIPSeg", "--target-model", err) from None
    return model.to(device or pick_device()).eval(), processor


def load_grounding_dino(model_id: str = DEFAULT_GDINO_ID, device: torch.device | None = None):
    """(GroundingDinoForObjectDetection, GroundingDinoProcessor), fp32; "tiny": random, in code."""
    if model_id == "tiny":
        from maskedit.tiny import build_tiny_grounding_dino

        model, processor = build_tiny_grounding_dino()
    else:
        from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor

        try:
            model = GroundingDinoForObjectDetection.from_pretrained(model_id)
            processor = GroundingDinoProcessor.from_pretrained(model_id)
        except (OSError, ValueError) as err:
            raise missing_weights(model_id, "Grounding DINO", "--target-model", err) from None
    return model.to(device or pick_device()).eval(), processor


def load_text_models(backends, model_id: str | None, device: torch.device) -> dict:
    """The phrase → mask models for the given back-ends (each loaded once)."""
    loaders = {"clipseg": load_clipseg, "grounded-sam": load_grounding_dino}
    out = {}
    for backend in dict.fromkeys(backends):
        if backend not in loaders:
            raise InputError(f"--target-backend '{backend}': expected clipseg or grounded-sam")
        out[backend] = (
            loaders[backend](model_id, device) if model_id else loaders[backend](device=device)
        )
    return out
