"""Where to edit, through the library: SAM's mask for the clicks (any of its candidates), a
phrase's mask (CLIPSeg, Grounding DINO → SAM, or where the edit acts), a mask file, touched up
with a brush or inverted; and the shaped alpha the overlay shows.

A `Region` is the mask as segmented plus how it came about (what record.json's `"app"` section
keeps). `maskedit.edit` shapes it by the run's `EditSettings` (`dilate`, `feather`); `shaped`
calls `shape_mask` the same way, so the overlay is the alpha the edit will use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from maskedit.app.clicks import Clicks, sam_inputs
from maskedit.config import EditSettings, Prompts
from maskedit.errors import InputError
from maskedit.masks.shape import shape_mask

if TYPE_CHECKING:
    from maskedit.masks.sam import SamPrediction, SamPredictor
    from maskedit.models import Models

# Phrase back-ends the page offers: key → (name on the page, what it needs loaded).
PHRASE_BACKENDS = {
    "clipseg": "CLIPSeg",
    "grounded-sam": "Grounding DINO → SAM",
    "edit": "Where the edit acts",
}


@dataclass(frozen=True)
class Region:
    """The edit's region: an H×W bool `mask` at the photo's size and where it came from.

    `source`: "sam" (the clicks), "phrase", "edit" (the edit's own relevance) or "file".
    `info`: the source's facts for the record. `prediction`: SAM's candidates, `chosen` the one
    in use. `edits`: what was done to it since, in order ("brush", "invert").
    """

    mask: np.ndarray
    source: str
    info: dict[str, Any] = field(default_factory=dict)
    prediction: SamPrediction | None = None
    chosen: int | None = None
    edits: tuple[str, ...] = ()

    def describe(self) -> str | None:
        """The status line's words for a mask not (only) from the clicks; None for SAM's own."""
        words = {
            "sam": None,
            "phrase": f"mask from phrase '{self.info.get('target', '')}'",
            "edit": "mask from where the edit acts",
            "file": f"mask from file '{self.info.get('mask_file', '')}'",
        }.get(self.source)
        if self.source == "sam" and self.prediction is not None and self.chosen is not None:
            if self.chosen != self.prediction.best:
                words = f"SAM candidate {self.chosen + 1}"
        if self.edits:
            words = (words or "SAM mask") + ", " + ", ".join(_EDIT_WORDS[e] for e in self.edits)
        return words

    def to_record(self) -> dict[str, Any]:
        """record.json's `"app"` entries for this region (JSON-serialisable)."""
        out: dict[str, Any] = {"mask_source": self.source, **self.info}
        if self.prediction is not None:
            out["sam_candidates"] = {
                **self.prediction.to_record(),
                "chosen": int(self.chosen if self.chosen is not None else self.prediction.best),
                "best": int(self.prediction.best),
            }
        if self.edits:
            out["mask_edits"] = list(self.edits)
        return out


_EDIT_WORDS = {"brush": "touched up with the brush", "invert": "inverted"}


def predict_mask(sam: SamPredictor, image: np.ndarray, clicks: Clicks) -> SamPrediction | None:
    """SAM's answer for the clicks on an H×W×3 uint8 image; None while there is no region yet.

    `set_image` embeds each image once; later clicks on the same pixels reuse the embedding.
    """
    if not clicks.has_region:
        return None
    sam.set_image(image)
    points, box = sam_inputs(clicks)
    return sam.predict(points=points, box=box)


def from_clicks(sam: SamPredictor, image: np.ndarray, clicks: Clicks) -> Region | None:
    """The clicks' region: SAM's best candidate, the others kept to pick from."""
    prediction = predict_mask(sam, image, clicks)
    if prediction is None:
        return None
    return Region(prediction.mask, "sam", prediction=prediction, chosen=prediction.best)


def candidate_labels(region: Region | None) -> list[str]:
    """One label per SAM candidate, "1 · score 0.93 (best)", in SAM's order; [] without any."""
    if region is None or region.prediction is None:
        return []
    p = region.prediction
    return [
        f"{i + 1} · score {float(s):.2f}" + (" (best)" if i == p.best else "")
        for i, s in enumerate(p.scores)
    ]


def choose_candidate(region: Region | None, index: int) -> Region:
    """The region with SAM's candidate `index` (0-based) as its mask; brush edits are dropped."""
    if region is None or region.prediction is None:
        raise InputError("SAM candidate: click on the photo first; only SAM's masks have them")
    n = len(region.prediction.masks)
    if not 0 <= index < n:
        raise InputError(f"SAM candidate {index + 1}: choose 1 to {n}")
    return replace(region, mask=region.prediction.masks[index], chosen=index, edits=())


def inverted(region: Region | None) -> Region:
    """The region's complement: edit everything but what was selected."""
    if region is None:
        raise InputError("invert: there is no mask yet; click on the photo first")
    return replace(region, mask=~region.mask, edits=(*region.edits, "invert"))


def brushed(region: Region | None, layer: np.ndarray | None, image_hw: tuple[int, int]) -> Region:
    """The region as painted in the brush editor: its layer's painted pixels (alpha > 0), h×w×4
    at canvas size, mapped to the photo's H×W (each photo pixel takes the canvas pixel at its
    centre). Without an earlier region the painted one is new (source "brush")."""
    if layer is None or layer.ndim != 3 or layer.shape[2] != 4:
        raise InputError("brush: nothing painted yet; paint over the object, then press Use")
    h, w = image_hw
    lh, lw = layer.shape[:2]
    rows = np.minimum(((np.arange(h) + 0.5) * lh / h).astype(int), lh - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * lw / w).astype(int), lw - 1)
    mask = layer[rows][:, cols, 3] > 0
    if region is None:
        return Region(mask, "brush", edits=("brush",))
    return replace(region, mask=mask, edits=(*region.edits, "brush"))


def brush_layer(region: Region | None, display_hw: tuple[int, int], color) -> np.ndarray:
    """The brush editor's starting layer: the region at canvas size in `color` (RGBA), h×w×4."""
    dh, dw = display_hw
    layer = np.zeros((dh, dw, 4), np.uint8)
    if region is not None:
        h, w = region.mask.shape
        rows = np.minimum(((np.arange(dh) + 0.5) * h / dh).astype(int), h - 1)
        cols = np.minimum(((np.arange(dw) + 0.5) * w / dw).astype(int), w - 1)
        layer[region.mask[rows][:, cols]] = color
    return layer


def from_mask_file(path: str | os.PathLike, image_hw: tuple[int, int]) -> Region:
    """A mask file (white = edit) the photo's size; errors name the file, not the server path."""
    from maskedit.images import read_mask

    path = Path(path)
    try:
        alpha = read_mask(path, image_hw)
    except InputError as err:
        raise InputError(str(err).replace(f"'{path}'", f"'{path.name}'")) from None
    return Region(alpha > 0.5, "file", {"mask_file": path.name})


def backend_status(models: Models) -> dict[str, str | None]:
    """For each phrase back-end: None when the page can use it, else why not (one line)."""
    from maskedit.families import family_of

    status: dict[str, str | None] = {}
    status["clipseg"] = None if "clipseg" in models.text else "CLIPSeg is not loaded"
    if "grounded-sam" not in models.text:
        status["grounded-sam"] = "Grounding DINO is not loaded"
    else:
        status["grounded-sam"] = None if models.sam is not None else "no SAM model is loaded"
    text_guidance = family_of(models.pipe).text_guidance
    status["edit"] = (
        None if text_guidance else f"the {models.editor} editor makes no text-guidance term to read"
    )
    return status


def _phrase(phrase: str | None, instruction: str | None) -> tuple[str, str]:
    """The phrase to look for and where it came from ("phrase" or "instruction")."""
    from maskedit.masks.phrases import target_from_instruction

    phrase = (phrase or "").strip()
    if phrase and phrase.lower() != "auto":
        return phrase, "phrase"
    if not (instruction or "").strip():
        raise InputError("target: type a phrase such as 'the cat' (or an instruction first)")
    try:
        return target_from_instruction(instruction), "instruction"
    except InputError:
        raise InputError(
            f"no object to look for in the instruction '{instruction.strip()}': type one in "
            "'Describe the object' (e.g. 'the cat'), or click on it"
        ) from None


def phrase_mask(
    models: Models,
    image: np.ndarray | None,
    phrase: str | None,
    instruction: str | None,
    threshold: float | None = None,
    backend: str = "clipseg",
) -> tuple[np.ndarray, dict[str, Any]]:
    """A phrase's H×W bool mask on an H×W×3 uint8 image, and what the record keeps.

    The library's `masks.automatic.from_phrase`, as `edit(target=...)` calls it, by CLIPSeg or
    Grounding DINO → SAM: an empty phrase (or "auto") is taken from the instruction. Raises
    InputError (no photo, the back-end not loaded, no phrase to be found) or `MaskNotFound`
    (nothing above the threshold).
    """
    from maskedit.masks.automatic import from_phrase

    if image is None:
        raise InputError("load a photo first")
    if backend not in ("clipseg", "grounded-sam"):
        raise InputError(f"phrase model '{backend}': choose clipseg or grounded-sam")
    reason = backend_status(models)[backend]
    if reason is not None:
        name = PHRASE_BACKENDS[backend]
        raise InputError(
            f"target: phrase masks by {name} are unavailable ({reason}); click instead"
        )
    target, source = _phrase(phrase, instruction)
    prompts = Prompts(target=target, target_backend=backend, target_threshold=threshold)
    found = from_phrase(models, image, instruction or "", prompts)
    record = found.to_record()
    return found.mask, {"target": record.pop("phrase"), "target_from": source, **record}


def relevance_mask(
    models: Models, image: np.ndarray | None, instruction: str | None, settings: EditSettings
) -> tuple[np.ndarray, dict[str, Any]]:
    """Where the edit acts: the library's relevance mask from a short pre-pass of the editor
    (a few denoiser calls, no full edit), as `edit(mask_from="edit")` makes it for the methods
    that need the mask first. `settings`: seed and guidance of the run to come."""
    from maskedit.editing.editors import resolve_settings, working_hw
    from maskedit.families import editor_spec
    from maskedit.images import resize_rgb
    from maskedit.masks import automatic

    if image is None:
        raise InputError("load a photo first")
    reason = backend_status(models)["edit"]
    if reason is not None:
        raise InputError(f"where the edit acts: unavailable ({reason}); click instead")
    if not (instruction or "").strip():
        raise InputError("instruction: is empty; where the edit acts depends on what it says")
    settings = resolve_settings(settings, editor_spec(models.editor))
    work = resize_rgb(image, working_hw(models.pipe, image.shape[:2], models.working_size))
    relevance, calls = automatic.relevance_prepass(models, work, instruction.strip(), settings)
    mask, info = automatic.from_relevance(
        models, image, relevance, Prompts(mask_from="edit"), source="pre-pass", unet_calls=calls
    )
    return mask > 0.5, {"relevance": info}


def shaped(mask: np.ndarray | None, dilate_px: float, feather_px: float) -> np.ndarray | None:
    """The H×W float32 alpha `edit` makes of an H×W bool `mask` with EditSettings(dilate=
    `dilate_px`, feather=`feather_px`); None while there is no mask."""
    if mask is None:
        return None
    return shape_mask(mask, dilate_px=int(dilate_px), feather_px=float(feather_px))
