"""The spatial-control methods: each turns (image, mask, instruction) into an edit at native size.

Every method's result then goes through the same native-resolution pixel composite (case.py), so
outside the mask the output is the input, bit for bit, whatever the method or editor did.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

from maskedit.config import EditSettings
from maskedit.editing.crop import crop, crop_box, paste
from maskedit.editing.editors import check_references, working_hw
from maskedit.editing.jobs import EditorJob
from maskedit.editing.latent import LatentBlend
from maskedit.errors import InputError
from maskedit.families import EditorSpec
from maskedit.images import resize_rgb
from maskedit.masks.shape import to_latent_mask


def latent_mask(pipe, alpha: np.ndarray, work_hw: tuple[int, int], grow_cells: int) -> np.ndarray:
    """The native alpha at latent size (area-max, so thin masks survive ÷8), grown by cells."""
    f = pipe.vae_scale_factor
    return to_latent_mask(alpha, (work_hw[0] // f, work_hw[1] // f), dilate_cells=grow_cells)


def check_method(method: str, settings: EditSettings, spec: EditorSpec) -> None:
    """Refuse a method an editor cannot do, or settings under which it would silently do nothing."""
    if method != "guidance":
        return
    if not spec.masked_guidance:
        raise InputError(
            f"method 'guidance' needs a separate text-guidance term, and the '{spec.name}' editor "
            f"({spec.note}) has none: use pixel, latent or crop"
        )
    if not spec.text_guidance:  # classifier-free guidance against a negative prompt
        if not settings.text_cfg > 1.0:
            raise InputError(
                f"method 'guidance' masks the '{spec.name}' editor's classifier-free guidance "
                f"term, which only exists with text_cfg > 1 (got {settings.text_cfg:g})"
            )
        return
    if not (settings.text_cfg > 1.0 and settings.image_cfg >= 1.0):
        raise InputError(
            f"method 'guidance' masks IP2P's text-guidance term, which only exists with "
            f"text_cfg > 1 and image_cfg ≥ 1 (got text_cfg {settings.text_cfg:g}, "
            f"image_cfg {settings.image_cfg:g})"
        )


def method_steps(
    method: str,
    pipe,
    spec: EditorSpec,
    original: np.ndarray,
    alpha: np.ndarray,
    instruction: str,
    settings: EditSettings,
    long_side: int,
    baseline: np.ndarray | None,
    progress=None,
    references: tuple[np.ndarray, ...] = (),
) -> Generator[EditorJob, np.ndarray, tuple[np.ndarray, dict[str, Any]]]:
    """The edit for one method at native size (before the final composite), plus facts to record.

    A generator: it yields the `EditorJob` it needs run and is sent the edited image back (see
    `maskedit.editing.jobs`), so a batch run can put several cases' jobs in one call. Reference
    images go to every editor call as they are (the mask and the crop are the source's).
    """
    h, w = original.shape[:2]
    if method == "pixel":  # the seed method: the unmasked edit, composited afterwards
        if baseline is None:
            raise ValueError("method_steps: the pixel method needs the baseline edit")
        return baseline, {}
    if method in ("latent", "guidance"):
        check_method(method, settings, spec)
        work_hw = working_hw(pipe, (h, w), long_side)
        m = latent_mask(pipe, alpha, work_hw, settings.latent_dilate)
        source = resize_rgb(original, work_hw)
        info: dict[str, Any] = {"latent_mask_fraction": round(float(m.mean()), 6)}
        job = EditorJob(source, instruction, settings, progress=progress, references=references)
        if method == "latent":
            job.blend = LatentBlend(m, settings.blend_start, settings.blend_end, seed=settings.seed)
            edited = yield job
            info["blended_steps"] = len(job.blend.blended_steps)
        else:
            job.guidance_mask = m
            edited = yield job
            key = "masked_unet_calls" if spec.text_guidance else "masked_steps"
            info[key] = job.stats["guidance"]["calls"]
        if job.stats.get("batch", 1) > 1:  # shared one call with other cases' jobs
            info["batch"] = job.stats["batch"]
        return resize_rgb(edited, (h, w)), info
    if method == "crop":
        box = crop_box(alpha > 0, margin=settings.crop_margin)
        if box is None:  # empty mask: nothing to edit
            return original.copy(), {"crop_box": None}
        patch = crop(original, box)
        patch_hw = working_hw(pipe, patch.shape[:2], long_side)
        check_references(pipe, references, patch_hw, spec.name)  # resized to the patch's area
        job = EditorJob(
            resize_rgb(patch, patch_hw),
            instruction,
            settings,
            progress=progress,
            references=references,
        )
        edited = yield job
        full = paste(original, resize_rgb(edited, patch.shape[:2]), box)
        info = {"crop_box": list(box), "crop_working_size": list(patch_hw)}
        if job.stats.get("batch", 1) > 1:
            info["batch"] = job.stats["batch"]
        return full, info
    raise InputError(f"method '{method}': unknown")
