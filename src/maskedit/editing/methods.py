"""The spatial-control methods: each turns (image, mask, instruction) into an edit at native size.

Every method's result then goes through the same native-resolution pixel composite (case.py), so
outside the mask the output is the input, bit for bit, whatever the method or editor did.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from maskedit.config import EditSettings
from maskedit.editing.crop import crop, crop_box, paste
from maskedit.editing.editors import family_of, run_editor, working_hw
from maskedit.editing.guidance import masked_text_guidance
from maskedit.editing.latent import LatentBlend
from maskedit.errors import InputError
from maskedit.images import resize_rgb
from maskedit.masks.shape import to_latent_mask


def latent_mask(pipe, alpha: np.ndarray, work_hw: tuple[int, int], grow_cells: int) -> np.ndarray:
    """The native alpha at latent size (area-max, so thin masks survive ÷8), grown by cells."""
    f = pipe.vae_scale_factor
    return to_latent_mask(alpha, (work_hw[0] // f, work_hw[1] // f), dilate_cells=grow_cells)


def check_method(method: str, settings: EditSettings, pipe=None) -> None:
    """Refuse a method an editor cannot do, or settings under which it would silently do nothing."""
    if method != "guidance":
        return
    family = family_of(pipe) if pipe is not None else "ip2p"
    if family == "kontext":
        raise InputError(
            "method 'guidance' needs a separate text-guidance term, and the 'kontext' editor "
            "(FLUX.1 Kontext, guidance-distilled) has none: use pixel, latent or crop"
        )
    if not (settings.text_cfg > 1.0 and settings.image_cfg >= 1.0):
        raise InputError(
            f"method 'guidance' masks IP2P's text-guidance term, which only exists with "
            f"text_cfg > 1 and image_cfg ≥ 1 (got text_cfg {settings.text_cfg:g}, "
            f"image_cfg {settings.image_cfg:g})"
        )


def method_edit(
    method: str,
    pipe,
    original: np.ndarray,
    alpha: np.ndarray,
    instruction: str,
    settings: EditSettings,
    long_side: int,
    baseline: np.ndarray | None,
    progress=None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The edit for one method at native size (before the final composite), plus facts to record."""
    h, w = original.shape[:2]
    if method == "pixel":  # the seed method: the unmasked edit, composited afterwards
        if baseline is None:
            raise ValueError("method_edit: the pixel method needs the baseline edit")
        return baseline, {}
    if method in ("latent", "guidance"):
        check_method(method, settings, pipe)
        work_hw = working_hw(pipe, (h, w), long_side)
        m = latent_mask(pipe, alpha, work_hw, settings.latent_dilate)
        source = resize_rgb(original, work_hw)
        info: dict[str, Any] = {"latent_mask_fraction": round(float(m.mean()), 6)}
        if method == "latent":
            blend = LatentBlend(
                m, settings.steps, settings.blend_start, settings.blend_end, seed=settings.seed
            )
            edited = run_editor(pipe, source, instruction, settings, blend=blend, progress=progress)
            info["blended_steps"] = len(blend.blended_steps)
        else:
            with masked_text_guidance(pipe.unet, m) as stats:
                edited = run_editor(pipe, source, instruction, settings, progress=progress)
            info["masked_unet_calls"] = stats["calls"]
        return resize_rgb(edited, (h, w)), info
    if method == "crop":
        box = crop_box(alpha > 0, margin=settings.crop_margin)
        if box is None:  # empty mask: nothing to edit
            return original.copy(), {"crop_box": None}
        patch = crop(original, box)
        patch_hw = working_hw(pipe, patch.shape[:2], long_side)
        edited = run_editor(
            pipe, resize_rgb(patch, patch_hw), instruction, settings, progress=progress
        )
        full = paste(original, resize_rgb(edited, patch.shape[:2]), box)
        return full, {"crop_box": list(box), "crop_working_size": list(patch_hw)}
    raise InputError(f"method '{method}': unknown")
