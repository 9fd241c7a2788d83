"""Segment Anything through transformers: embed an image once, answer many point/box prompts.

Coordinates: prompts are always in the user's image pixels (x, y), after EXIF orientation, on the
image SAM is given (the native photo, never the editor's resized copy). `to_model_coords` is the
only place where they are mapped to SAM's input frame (long side 1024 for the real models). The
original study clicked in 512-space on a native-size SAM input, so its car click hit the road.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch


def resized_hw(h: int, w: int, longest_edge: int) -> tuple[int, int]:
    """SAM's resize of an H×W image to long side `longest_edge` (same rounding as transformers)."""
    scale = longest_edge / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def to_model_coords(xy: np.ndarray, image_hw: tuple[int, int], longest_edge: int) -> np.ndarray:
    """Map (…, 2) pixel coordinates (x, y) on an H×W image into SAM's resized input frame."""
    h, w = image_hw
    new_h, new_w = resized_hw(h, w, longest_edge)
    out = np.asarray(xy, dtype=np.float64).copy()
    out[..., 0] *= new_w / w
    out[..., 1] *= new_h / h
    return out


@dataclass
class SamPrediction:
    """SAM's candidates for one prompt: K masks (H×W bool, image size), their scores, the best."""

    masks: np.ndarray
    scores: np.ndarray
    best: int

    @property
    def mask(self) -> np.ndarray:
        return self.masks[self.best]

    def to_record(self) -> dict:
        return {"scores": [round(float(s), 6) for s in self.scores], "chosen": int(self.best)}


class SamPredictor:
    """Compute once, query many (as segment-anything's `SamPredictor`), over a transformers SAM."""

    def __init__(self, model, processor):
        self.model = model
        self.processor = processor
        self.embed_calls = 0  # how many image embeddings were computed (tests count them)
        self._key: str | None = None
        self._embedding: torch.Tensor | None = None
        self._hw: tuple[int, int] | None = None

    @property
    def longest_edge(self) -> int:
        return int(self.processor.image_processor.size["longest_edge"])

    def set_image(self, image: np.ndarray) -> None:
        """Embed an H×W×3 uint8 image; a second call with the same pixels reuses the embedding."""
        key = hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest() + str(image.shape)
        if key == self._key:
            return
        inputs = self.processor.image_processor(images=image, return_tensors="pt")
        param = next(self.model.parameters())
        with torch.inference_mode():
            self._embedding = self.model.get_image_embeddings(
                inputs["pixel_values"].to(param.device, param.dtype)
            )
        self.embed_calls += 1
        self._key, self._hw = key, image.shape[:2]

    def predict(
        self,
        points: np.ndarray | None = None,
        box: np.ndarray | None = None,
        multimask: bool = True,
    ) -> SamPrediction:
        """Masks for points (N×3: x, y, label 1/0) and/or a box (x0, y0, x1, y1), image pixels.

        With `multimask` SAM proposes three candidates for an ambiguous prompt; the one with the
        highest predicted IoU is chosen and all scores are kept for the record.
        """
        if self._embedding is None or self._hw is None:
            raise RuntimeError("SamPredictor.predict called before set_image")
        h, w = self._hw
        edge = self.longest_edge
        device = self._embedding.device
        kwargs = {}
        if points is not None and len(points):
            pts = np.asarray(points, dtype=np.float64)
            xy = to_model_coords(pts[:, :2], (h, w), edge)
            kwargs["input_points"] = torch.tensor(xy, dtype=torch.float32, device=device)[
                None, None
            ]
            kwargs["input_labels"] = torch.tensor(pts[:, 2], dtype=torch.long, device=device)[
                None, None
            ]
        if box is not None:
            b = to_model_coords(np.asarray(box, dtype=np.float64).reshape(2, 2), (h, w), edge)
            kwargs["input_boxes"] = torch.tensor(
                b.reshape(1, 1, 4), dtype=torch.float32, device=device
            )
        if not kwargs:
            raise ValueError("SamPredictor.predict needs points or a box")
        with torch.inference_mode():
            out = self.model(image_embeddings=self._embedding, multimask_output=multimask, **kwargs)
        masks = self.processor.image_processor.post_process_masks(
            out.pred_masks.float().cpu(),
            torch.tensor([[h, w]]),
            torch.tensor([list(resized_hw(h, w, edge))]),
        )[0][0]  # (K, H, W) bool at image size
        scores = out.iou_scores[0, 0].float().cpu().numpy()
        return SamPrediction(
            masks=masks.numpy().astype(bool), scores=scores, best=int(scores.argmax())
        )
