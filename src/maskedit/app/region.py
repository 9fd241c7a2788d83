"""Where to edit, through the library: SAM's mask for the clicks, or the phrase's mask (CLIPSeg),
and the shaped alpha the overlay shows.

The page keeps the mask as segmented; `maskedit.edit` shapes it by the run's `EditSettings`
(`dilate`, `feather`), and `shaped` calls `shape_mask` the same way, so the overlay is the alpha
the edit will use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from maskedit.app.clicks import Clicks, sam_inputs
from maskedit.config import Prompts
from maskedit.errors import InputError
from maskedit.masks.shape import shape_mask

if TYPE_CHECKING:
    from maskedit.masks.sam import SamPrediction, SamPredictor
    from maskedit.models import Models


def predict_mask(sam: SamPredictor, image: np.ndarray, clicks: Clicks) -> SamPrediction | None:
    """SAM's answer for the clicks on an H×W×3 uint8 image; None while there is no region yet.

    `set_image` embeds each image once; later clicks on the same pixels reuse the embedding.
    """
    if not clicks.has_region:
        return None
    sam.set_image(image)
    points, box = sam_inputs(clicks)
    return sam.predict(points=points, box=box)


def phrase_mask(
    models: Models,
    image: np.ndarray | None,
    phrase: str | None,
    instruction: str | None,
    threshold: float | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """CLIPSeg's H×W bool mask for `phrase` on an H×W×3 uint8 image, and what the record keeps.

    The library's `masks.automatic.from_phrase`, as `edit(target=...)` calls it: an empty phrase
    (or "auto") is taken from the instruction (`target_from_instruction`). Raises InputError (no
    photo, no CLIPSeg loaded, no phrase to be found) or `MaskNotFound` (nothing above the
    threshold, default CLIPSEG_THRESHOLD).
    """
    from maskedit.masks.automatic import from_phrase

    if image is None:
        raise InputError("load a photo first")
    if "clipseg" not in models.text:
        raise InputError("target: phrase masks need CLIPSeg, which is not loaded; click instead")
    phrase = (phrase or "").strip()
    if not phrase and not (instruction or "").strip():
        raise InputError("target: type a phrase such as 'the cat' (or an instruction first)")
    prompts = Prompts(target=phrase or "auto", target_backend="clipseg", target_threshold=threshold)
    found = from_phrase(models, image, instruction or "", prompts)
    record = found.to_record()
    source = "instruction" if prompts.target == "auto" else "phrase"
    return found.mask, {"target": record.pop("phrase"), "target_from": source, **record}


def shaped(mask: np.ndarray | None, dilate_px: float, feather_px: float) -> np.ndarray | None:
    """The H×W float32 alpha `edit` makes of an H×W bool `mask` with EditSettings(dilate=
    `dilate_px`, feather=`feather_px`); None while there is no mask."""
    if mask is None:
        return None
    return shape_mask(mask, dilate_px=int(dilate_px), feather_px=float(feather_px))
