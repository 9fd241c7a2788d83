"""`from_pretrained` of the phrase → mask models: CLIPSeg and Grounding DINO."""

from __future__ import annotations

import torch

from maskedit.errors import InputError
from maskedit.models.hub import load_pair

DEFAULT_CLIPSEG_ID = "CIDAS/clipseg-rd64-refined"
DEFAULT_GDINO_ID = "IDEA-Research/grounding-dino-tiny"  # or IDEA-Research/grounding-dino-base


def load_clipseg(model_id: str = DEFAULT_CLIPSEG_ID, device: torch.device | None = None):
    """(CLIPSegForImageSegmentation, CLIPSegProcessor), fp32; "tiny" builds a random one in code."""
    from maskedit.tiny import build_tiny_clipseg

    classes = ("CLIPSegForImageSegmentation", "CLIPSegProcessor")
    return load_pair(model_id, device, classes, "CLIPSeg", "--target-model", build_tiny_clipseg)


def load_grounding_dino(model_id: str = DEFAULT_GDINO_ID, device: torch.device | None = None):
    """(GroundingDinoForObjectDetection, GroundingDinoProcessor), fp32; "tiny": random, in code."""
    from maskedit.tiny import build_tiny_grounding_dino

    classes = ("GroundingDinoForObjectDetection", "GroundingDinoProcessor")
    role = "Grounding DINO"
    return load_pair(model_id, device, classes, role, "--target-model", build_tiny_grounding_dino)


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
