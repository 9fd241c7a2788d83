"""A run, checked before any model is touched: the page's widgets → `maskedit.edit`'s arguments.

`prepare_run` turns what the page holds into a `RunJob` (the mask as segmented, the
`EditSettings`, the prompts the record keeps) or one InputError naming what is missing or wrong.
The page then calls `maskedit.edit(image, instruction, models=..., mask=job.mask,
settings=job.settings, progress=...)`, the CLI's call, and shows `progress_text` per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from maskedit.app.clicks import Clicks
from maskedit.config import METHODS, EditSettings
from maskedit.errors import InputError


@dataclass(frozen=True)
class RunJob:
    """A checked run: the H×W bool mask (the library shapes it by `settings`), the settings with
    the one method, and the page's prompts for record.json's `"app"` section."""

    mask: np.ndarray
    settings: EditSettings
    app_info: dict[str, Any]


def prepare_run(
    image: np.ndarray | None,
    clicks: Clicks,
    mask: np.ndarray | None,
    target: dict[str, Any] | None,
    instruction: str | None,
    method: str,
    dilate_px: float,
    feather_px: float,
    seed: float,
    steps: float,
    text_cfg: float,
    image_cfg: float | None,
) -> RunJob:
    """Check everything the page gives and build the run; InputError names the first problem.

    `target`: the phrase mask's record entry (None: `mask` is SAM's answer to `clicks`).
    `image_cfg`: None for guidance-distilled editors, which have no image-guidance scale.
    """
    if image is None:
        raise InputError("load a photo first")
    if mask is None or (target is None and not clicks.has_region):
        raise InputError(
            "no region yet: click on the object (include point), draw a box, "
            "or describe it and press 'Mask from phrase'"
        )
    if not (instruction or "").strip():
        raise InputError("instruction: is empty; say what to change, e.g. 'make the shirt red'")
    if method not in METHODS:
        raise InputError(f"method '{method}': choose one of {', '.join(METHODS)}")
    try:
        settings = EditSettings(
            seed=int(seed),
            steps=int(steps),
            text_cfg=text_cfg,
            image_cfg=image_cfg,
            methods=(method,),
            dilate=int(dilate_px),
            feather=float(feather_px),
        )
    except (ValidationError, TypeError, ValueError) as err:
        raise InputError(f"settings: {str(err).splitlines()[0]}") from None
    if not mask.any():  # shaping neither empties a mask nor fills an empty one
        raise InputError("the mask is empty: click on the object")
    app_info = {
        **(target or {}),
        **clicks.to_record(),
        "dilate_px": settings.dilate,
        "feather_px": settings.feather,
        "method": method,
    }
    return RunJob(mask=mask, settings=settings, app_info=app_info)


def progress_text(stage: str, step: int, total: int) -> tuple[float, str]:
    """The progress bar's (fraction, text) for `edit`'s `progress(stage, step, total)`.

    Each editor run (the unmasked baseline, then the method's own run when it has one) fills the
    bar from 5 % to 90 %; the rest is reading and writing.
    """
    return 0.05 + 0.85 * step / total, f"{stage}: diffusion step {step}/{total}"
