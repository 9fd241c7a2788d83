"""Masks from a phrase instead of a click: CLIPSeg, or Grounding DINO boxes → SAM.

Two backends, both through transformers:

- ``clipseg``: `CLIPSegForImageSegmentation` (`CIDAS/clipseg-rd64-refined`) scores every pixel
  for the phrase. Its heatmap (sigmoid of the logits, made at the processor's square size from a
  squashed copy of the image) is resized back to the image's own H×W, which undoes the squash, and
  thresholded at `CLIPSEG_THRESHOLD` (0.4) unless the caller passes another value.
- ``grounded-sam``: `GroundingDinoForObjectDetection` (`IDEA-Research/grounding-dino-tiny`) finds
  boxes for the phrase; each box above `BOX_THRESHOLD` (0.35, with `TEXT_THRESHOLD` 0.25 for the
  phrase tokens, Grounded-SAM's defaults) becomes a SAM box prompt on the same image, and the mask
  is the union of SAM's masks (or only the best-scoring box's with ``top=1``).

Coordinates: the detector's normalised boxes are scaled by transformers' own post-processing to
``target_sizes=[(H, W)]`` of the image the user gave (not the processor's resized copy), so they
are in the user's pixels, like a `--box`; `SamPredictor` then maps them once to SAM's input frame.
When nothing scores above the threshold, `MaskNotFound` says so, with the best score seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from maskedit.errors import InputError
from maskedit.masks.sam import CHANNELS_LAST, SamPredictor

CLIPSEG_THRESHOLD = 0.4  # on CLIPSeg's sigmoid heatmap, [0, 1]
BOX_THRESHOLD = 0.35  # Grounding DINO box confidence (max over the phrase tokens), [0, 1]
TEXT_THRESHOLD = 0.25  # Grounding DINO per-token score for a box's text label, [0, 1]


class MaskNotFound(InputError):
    """Nothing in the image scored above the threshold for the target phrase."""

    def __init__(self, phrase: str, threshold: float, best_score: float):
        self.phrase, self.threshold, self.best_score = phrase, float(threshold), float(best_score)
        best = f"{self.best_score:.2f}"
        if float(best) >= self.threshold:  # never print a best score that looks like a pass
            best = f"{self.best_score:.6f}"
        super().__init__(
            f"target '{phrase}': nothing found above threshold {self.threshold:g} "
            f"(best score {best})"
        )

    def __reduce__(self):  # keep the exception picklable despite the custom __init__
        return type(self), (self.phrase, self.threshold, self.best_score)


@dataclass
class PhraseMask:
    """A mask found from a phrase.

    mask: H×W bool at the image's own size. heatmap: H×W float32 in [0, 1] (CLIPSeg) or None.
    boxes: [x0, y0, x1, y1] in image pixels (the detector's boxes, or the mask's bounding box for
    CLIPSeg), with `scores` in the same order. best_score: the highest score seen, kept or not.
    """

    mask: np.ndarray
    heatmap: np.ndarray | None
    boxes: list[list[float]]
    scores: list[float]
    best_score: float
    backend: str
    threshold: float
    phrase: str = ""

    def to_record(self) -> dict:
        return {
            "phrase": self.phrase,
            "backend": self.backend,
            "threshold": float(self.threshold),
            "best_score": round(float(self.best_score), 6),
            "boxes": [[round(float(v), 2) for v in box] for box in self.boxes],
            "scores": [round(float(s), 6) for s in self.scores],
            "area_px": int(self.mask.sum()),
        }


def mask_box(mask: np.ndarray) -> list[float] | None:
    """Bounding box [x0, y0, x1, y1] of an H×W bool mask in pixel edges (x1, y1 exclusive)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]


def _check_image(image: np.ndarray) -> np.ndarray:
    if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3):
        shape = getattr(image, "shape", None)
        raise InputError(f"image: got shape {shape}, expected H×W×3 uint8 RGB")
    return np.ascontiguousarray(image, dtype=np.uint8)


def _check_phrase(phrase: str) -> str:
    if not isinstance(phrase, str) or not phrase.strip():
        raise InputError(f"target: got {phrase!r}, expected a non-empty phrase such as 'the cat'")
    return phrase.strip()


def _check_threshold(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise InputError(f"{name}: got {value!r}, expected a number in [0, 1)")
    return float(value)


def _to_model(inputs, model) -> dict:
    param = next(model.parameters())
    out = {}
    for key, value in inputs.items():
        if torch.is_tensor(value):
            value = value.to(param.device)
            if value.is_floating_point():
                value = value.to(param.dtype)
        out[key] = value
    return out


def clipseg_mask(
    model, processor, image: np.ndarray, phrase: str, threshold: float = CLIPSEG_THRESHOLD
) -> PhraseMask:
    """CLIPSeg: pixels whose sigmoid score for `phrase` is above `threshold` (H×W, image size).

    `image` is H×W×3 uint8. The heatmap is resized bilinearly from the model's square output to
    H×W before thresholding. Raises `MaskNotFound` when no pixel passes.
    """
    image, phrase = _check_image(image), _check_phrase(phrase)
    threshold = _check_threshold(threshold, "target_threshold")
    h, w = image.shape[:2]
    inputs = processor(
        text=[phrase],
        images=[image],
        padding=True,
        truncation=True,
        return_tensors="pt",
        input_data_format=CHANNELS_LAST,
    )
    with torch.inference_mode():
        logits = model(**_to_model(inputs, model)).logits
    logits = logits.float().reshape(-1, *logits.shape[-2:])[:1, None]  # (1, 1, S, S)
    heat = torch.nn.functional.interpolate(
        logits.sigmoid().cpu(), size=(h, w), mode="bilinear", align_corners=False
    )[0, 0]
    heatmap = heat.clamp(0, 1).numpy().astype(np.float32)
    best = float(heatmap.max())
    mask = heatmap > threshold
    if not mask.any():
        raise MaskNotFound(phrase, threshold, best)
    return PhraseMask(
        mask=mask,
        heatmap=heatmap,
        boxes=[mask_box(mask)],
        scores=[best],
        best_score=best,
        backend="clipseg",
        threshold=threshold,
        phrase=phrase,
    )


def detector_prompt(phrase: str) -> str:
    """Grounding DINO's text format: lower case, ending in a period ("the red car.")."""
    return phrase.strip().lower().rstrip(".").strip() + "."


def _pad_thin(image: np.ndarray, processor) -> np.ndarray:
    """A strip so thin that the detector's resize (long side to its `longest_edge`) would leave
    its short side 0 px (1×3000 at 1333) makes transformers' processor raise: its short side is
    padded (bottom or right, repeating the edge) to one model pixel. Boxes are clipped back to
    the photo (`_detect`)."""
    size = processor.image_processor.size
    longest = size.get("longest_edge") if hasattr(size, "get") else None
    if not longest:
        return image
    h, w = image.shape[:2]
    need = -(-max(h, w) // int(longest))  # ceil: the short side resizes to >= 1 px
    pad_h, pad_w = max(0, need - h), max(0, need - w)
    if not (pad_h or pad_w):
        return image
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def _detect(model, processor, image, phrase, box_threshold, text_threshold):
    """Boxes above threshold (image pixels, by score, highest first) and the best score seen."""
    h, w = image.shape[:2]
    image = _pad_thin(image, processor)
    inputs = processor(
        images=image,
        text=detector_prompt(phrase),
        return_tensors="pt",
        input_data_format=CHANNELS_LAST,
    )
    with torch.inference_mode():
        outputs = model(**_to_model(inputs, model))
    outputs.logits = outputs.logits.float().cpu()
    outputs.pred_boxes = outputs.pred_boxes.float().cpu()
    best = float(outputs.logits.sigmoid().max()) if outputs.logits.numel() else 0.0
    # Scaled to the user's (H, W) here (plus any padding), not to the processor's resized copy.
    result = processor.post_process_grounded_object_detection(
        outputs,
        inputs["input_ids"].cpu(),
        threshold=box_threshold,
        text_threshold=text_threshold,
        target_sizes=[image.shape[:2]],
    )[0]
    found = []
    for box, score, label in zip(
        result["boxes"].tolist(), result["scores"].tolist(), result["text_labels"], strict=True
    ):
        x0, y0, x1, y1 = box
        if x0 >= w or y0 >= h:  # wholly in `_pad_thin`'s padding, not on the photo
            continue
        box = [  # the model's boxes may reach past the border: clip them
            min(max(x0, 0.0), w),
            min(max(y0, 0.0), h),
            min(max(x1, 0.0), w),
            min(max(y1, 0.0), h),
        ]
        found.append((box, float(score), str(label)))
    found.sort(key=lambda item: -item[1])
    return found, best


def grounded_boxes(
    model,
    processor,
    image: np.ndarray,
    phrase: str,
    box_threshold: float = BOX_THRESHOLD,
    text_threshold: float = TEXT_THRESHOLD,
) -> list[tuple[list[float], float, str]]:
    """Grounding DINO: (box [x0, y0, x1, y1] in image pixels, score, label), best first.

    Boxes are kept when their score (max over the text tokens) is above `box_threshold`; the label
    is made of the tokens scoring above `text_threshold`. An empty list when nothing passes.
    """
    image, phrase = _check_image(image), _check_phrase(phrase)
    box_threshold = _check_threshold(box_threshold, "box_threshold")
    text_threshold = _check_threshold(text_threshold, "text_threshold")
    return _detect(model, processor, image, phrase, box_threshold, text_threshold)[0]


def grounded_sam_mask(
    detector,
    det_processor,
    sam: SamPredictor,
    image: np.ndarray,
    phrase: str,
    box_threshold: float = BOX_THRESHOLD,
    text_threshold: float = TEXT_THRESHOLD,
    top: int | None = None,
) -> PhraseMask:
    """Grounded-SAM: detector boxes → SAM box prompts → union of SAM's masks (H×W bool).

    `top` keeps only the `top` best-scoring boxes (1: the single best object); None keeps every
    box above threshold. SAM embeds the image once for all boxes. Raises `MaskNotFound` when no
    box passes `box_threshold`.
    """
    image, phrase = _check_image(image), _check_phrase(phrase)
    box_threshold = _check_threshold(box_threshold, "box_threshold")
    text_threshold = _check_threshold(text_threshold, "text_threshold")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise InputError(f"target_top: got {top!r}, expected an integer >= 1 (or none for all)")
    found, best = _detect(detector, det_processor, image, phrase, box_threshold, text_threshold)
    if not found:
        raise MaskNotFound(phrase, box_threshold, best)
    if top is not None:
        found = found[:top]
    sam.set_image(image)
    mask = np.zeros(image.shape[:2], dtype=bool)
    for box, _, _ in found:
        # A box is not ambiguous the way a click is: one mask per box (as Grounded-SAM does).
        mask |= sam.predict(box=np.asarray(box, dtype=np.float64), multimask=False).mask
    return PhraseMask(
        mask=mask,
        heatmap=None,
        boxes=[box for box, _, _ in found],
        scores=[score for _, score, _ in found],
        best_score=best,
        backend="grounded-sam",
        threshold=box_threshold,
        phrase=phrase,
    )
