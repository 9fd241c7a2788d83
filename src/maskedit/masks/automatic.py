"""Masks without clicks, for the orchestrator: from a phrase, or from the edit's own relevance.

This module only chooses and combines; the models live in `masks/text.py` (CLIPSeg, Grounding DINO
→ SAM) and `masks/relevance.py` (Watch Your Steps), the phrase rules in `masks/phrases.py`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from maskedit.config import EditSettings, Prompts
from maskedit.errors import InputError
from maskedit.families import family_of
from maskedit.masks.phrases import target_from_instruction
from maskedit.masks.text import (
    BOX_THRESHOLD,
    CLIPSEG_THRESHOLD,
    TEXT_THRESHOLD,
    PhraseMask,
    clipseg_mask,
    grounded_sam_mask,
)


def phrase_for(prompts: Prompts, instruction: str) -> str:
    """The target phrase: as given, or taken from the instruction for `target: auto`."""
    if prompts.target is None:
        raise ValueError("phrase_for: no target")
    return target_from_instruction(instruction) if prompts.target == "auto" else prompts.target


def from_phrase(models, image: np.ndarray, instruction: str, prompts: Prompts) -> PhraseMask:
    """The phrase's mask by the chosen back-end (its model must be loaded in `models.text`)."""
    phrase = phrase_for(prompts, instruction)
    backend = prompts.target_backend
    if backend not in models.text:
        raise InputError(
            f"target '{phrase}': the {backend} model is not loaded "
            f"(load_models(..., text_backends=('{backend}',)) loads it)"
        )
    model, processor = models.text[backend]
    if backend == "clipseg":
        threshold = prompts.target_threshold or CLIPSEG_THRESHOLD
        return clipseg_mask(model, processor, image, phrase, threshold=threshold)
    if models.sam is None:
        raise InputError(f"target '{phrase}': grounded-sam needs a SAM model")
    return grounded_sam_mask(
        model,
        processor,
        models.sam,
        image,
        phrase,
        box_threshold=prompts.target_threshold or BOX_THRESHOLD,
        text_threshold=TEXT_THRESHOLD,
        top=prompts.target_top,
    )


def _check_unet_editor(models) -> None:
    if not family_of(models.pipe).text_guidance:
        raise InputError(
            "mask_from: edit reads IP2P's text-vs-image noise predictions, which the "
            f"'{models.editor}' editor does not make; use a target phrase or clicks"
        )


@contextlib.contextmanager
def recording(models, active: bool) -> Iterator[Any]:
    """While active, record the relevance map from the edit's own guidance forwards."""
    if not active:
        yield None
        return
    from maskedit.masks.relevance import record_relevance

    _check_unet_editor(models)
    with record_relevance(models.pipe.unet) as recorder:
        yield recorder


def relevance_prepass(
    models, image_working: np.ndarray, instruction: str, settings: EditSettings
) -> tuple[np.ndarray, int]:
    """A short pre-pass (≤ 4 UNet forwards) for methods that need the mask before editing."""
    from maskedit.masks.relevance import relevance_prepass as prepass

    _check_unet_editor(models)
    if not family_of(models.pipe).relevance_prepass:
        raise InputError(
            f"mask_from: edit with the latent, guidance or crop method needs a pre-pass the "
            f"'{models.editor}' editor does not have; use the pixel method alone (the mask is "
            "then read off the edit itself), a target phrase or clicks"
        )
    return prepass(
        models.pipe,
        image_working,
        instruction,
        seed=settings.seed,
        text_cfg=settings.text_cfg,
        image_cfg=settings.image_cfg,
    )


def from_relevance(
    models,
    image: np.ndarray,
    relevance: np.ndarray,
    prompts: Prompts,
    *,
    source: str,
    unet_calls: int,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Relevance map → native-size mask (Otsu), refined by SAM when asked; plus its record."""
    from maskedit.masks.relevance import refine_with_sam, relevance_to_image, relevance_to_mask

    hw = image.shape[:2]
    coarse, threshold = relevance_to_mask(relevance, hw)
    mask = coarse
    if prompts.refine == "sam":
        if models.sam is None:
            raise InputError("refine: sam needs a SAM model")
        mask = refine_with_sam(models.sam, image, coarse, relevance_to_image(relevance, hw))
    record = {
        "source": source,
        "extra_unet_forwards": unet_calls,
        "threshold": float(threshold),
        "method": "otsu",
        "refine": prompts.refine,
        "area_coarse": round(float(coarse.mean()), 6),
    }
    return mask.astype(np.float32), record


def refine_with_points(models, image: np.ndarray, alpha: np.ndarray, prompts: Prompts):
    """Clicks refine an automatic mask: SAM's answer to them intersected with it."""
    if models.sam is None:
        raise InputError("points given but no SAM model is loaded")
    models.sam.set_image(image)
    points = np.array(prompts.points, dtype=np.float64)
    prediction = models.sam.predict(points=points, multimask=prompts.multimask)
    return ((alpha > 0.5) & prediction.mask).astype(np.float32), prediction
