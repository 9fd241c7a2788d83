"""Segment Anything through transformers: embed an image once, answer many point/box prompts.

One predictor drives three model families (the choices are in families.py): SAM
(`SamModel`, SlimSAM too), SAM-HQ (`SamHQModel`) and SAM 2 (`Sam2Model`). They differ in three
places, each handled once here:

- the input frame: SAM and SAM-HQ resize the long side to 1024 and pad bottom/right
  (`to_model_coords`); SAM 2 stretches the image to 1024×1024 (`to_sam2_coords`).
- the image embedding: one tensor (SAM); that plus the ViT's first global-attention features
  (SAM-HQ's `intermediate_embeddings`); three feature maps, finest first (SAM 2).
- low-res masks back to image size: crop the padding, then resize (SAM, SAM-HQ); resize (SAM 2).

Coordinates: prompts are always in the user's image pixels (x, y), after EXIF orientation, on the
image SAM is given (the native photo, never the editor's resized copy). `to_model_coords` (SAM,
SAM-HQ) and `to_sam2_coords` (SAM 2) are the only places where they are mapped into a model's
input frame. The original study clicked in 512-space on a native-size SAM input, so its car click
hit the road.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from maskedit.errors import CheckpointError

# The thinnest side an image may have in SAM's input frame before it is padded (`_pad_thin`).
MIN_MODEL_SIDE = 16
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Images reach transformers' processors as H×W×3 arrays. Left to guess, they take a photo 1 or 3
# pixels tall for channels-first (its height read as the channels), so the layout is always named.
CHANNELS_LAST = "channels_last"


def resized_hw(h: int, w: int, longest_edge: int) -> tuple[int, int]:
    """SAM's resize of an H×W image to long side `longest_edge` (same rounding as transformers)."""
    scale = longest_edge / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def to_model_coords(xy: np.ndarray, image_hw: tuple[int, int], longest_edge: int) -> np.ndarray:
    """Map (…, 2) pixel coordinates (x, y) on an H×W image into SAM's resized input frame.

    SAM and SAM-HQ (and SlimSAM) keep the aspect ratio: the long side becomes `longest_edge`.
    """
    h, w = image_hw
    new_h, new_w = resized_hw(h, w, longest_edge)
    out = np.asarray(xy, dtype=np.float64).copy()
    out[..., 0] *= new_w / w
    out[..., 1] *= new_h / h
    return out


def to_sam2_coords(xy: np.ndarray, image_hw: tuple[int, int], size: int) -> np.ndarray:
    """Map (…, 2) pixel coordinates (x, y) on an H×W image into SAM 2's size×size input frame.

    SAM 2 stretches the image to a square (no padding), so x scales by size/W and y by size/H.
    """
    h, w = image_hw
    out = np.asarray(xy, dtype=np.float64).copy()
    out[..., 0] *= size / w
    out[..., 1] *= size / h
    return out


def model_family(model) -> str:
    """'sam', 'sam-hq' or 'sam2': the path a transformers SamModel/SamHQModel/Sam2Model takes.

    By class, not config.model_type: a Sam2Model loaded from the facebook/sam2.1-* repos keeps
    their video config's model_type, 'sam2_video'.
    """
    from transformers import Sam2Model, SamHQModel, SamModel

    for cls, family in ((SamModel, "sam"), (SamHQModel, "sam-hq"), (Sam2Model, "sam2")):
        if isinstance(model, cls):
            return family
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    raise CheckpointError(
        f"segmenter model: a {type(model).__name__} (model_type '{model_type}'); expected a "
        "transformers SamModel, SamHQModel or Sam2Model"
    )


@dataclass(frozen=True)
class Sam2LiteProcessor:
    """SAM 2's image and mask processing as transformers' `Sam2ImageProcessor`, minus torchvision.

    transformers implements SAM 2's image processor with torchvision only (a CUDA-sized install
    on CPU machines). This does the same steps with torch: stretch the H×W×3 uint8 image to
    size×size (bilinear, antialiased), round to uint8 as torchvision's uint8 resize does, rescale
    to [0, 1] and normalise with the ImageNet mean/std. Masks go back by a bilinear resize of the
    logits to H×W, thresholded at 0. It reads and writes the checkpoint's preprocessor_config.json.
    """

    size: int = 1024
    image_mean: tuple[float, ...] = IMAGENET_MEAN
    image_std: tuple[float, ...] = IMAGENET_STD
    rescale_factor: float = 1 / 255

    @classmethod
    def from_dict(cls, config: dict) -> Sam2LiteProcessor:
        """From a preprocessor_config.json dict (size {"height", "width"}; older: longest_edge)."""
        size = config.get("size", {"height": 1024})
        if isinstance(size, dict):
            size = size.get("height", size.get("longest_edge", 1024))
        return cls(
            size=int(size),
            image_mean=tuple(float(v) for v in config.get("image_mean", IMAGENET_MEAN)),
            image_std=tuple(float(v) for v in config.get("image_std", IMAGENET_STD)),
            rescale_factor=float(config.get("rescale_factor", 1 / 255)),
        )

    @classmethod
    def from_pretrained(cls, model_id: str) -> Sam2LiteProcessor:
        """Read preprocessor_config.json of a hub id (from the cache) or a local folder."""
        from transformers.image_processing_base import ImageProcessingMixin

        config, _ = ImageProcessingMixin.get_image_processor_dict(model_id)
        return cls.from_dict(config)

    @classmethod
    def from_processor(cls, processor) -> Sam2LiteProcessor:
        """This class unchanged, or the settings of a transformers `Sam2Processor`."""
        if isinstance(processor, cls):
            return processor
        image_processor = processor.image_processor
        return cls(
            size=int(getattr(processor, "target_size", None) or image_processor.size["height"]),
            image_mean=tuple(float(v) for v in image_processor.image_mean),
            image_std=tuple(float(v) for v in image_processor.image_std),
            rescale_factor=float(image_processor.rescale_factor),
        )

    def to_dict(self) -> dict:
        """transformers' preprocessor_config.json for SAM 2 (loadable by `Sam2Processor` too)."""
        return {
            "image_processor_type": "Sam2ImageProcessor",
            "processor_class": "Sam2Processor",
            "do_convert_rgb": True,
            "do_resize": True,
            "size": {"height": self.size, "width": self.size},
            "resample": 2,  # bilinear
            "do_rescale": True,
            "rescale_factor": self.rescale_factor,
            "do_normalize": True,
            "image_mean": list(self.image_mean),
            "image_std": list(self.image_std),
            "mask_size": {"height": self.size // 4, "width": self.size // 4},
        }

    def save_pretrained(self, folder: str | Path) -> None:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        (path / "preprocessor_config.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def pixel_values(self, image: np.ndarray) -> torch.Tensor:
        """H×W×3 uint8 RGB → (1, 3, size, size) float32, normalised."""
        pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        pixels = torch.nn.functional.interpolate(
            pixels,
            size=(self.size, self.size),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        pixels = pixels.round().clamp(0, 255)  # torchvision resizes a uint8 image to uint8
        mean = torch.tensor(self.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.image_std).view(1, 3, 1, 1)
        return (pixels * self.rescale_factor - mean) / std

    def post_process_masks(self, logits: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
        """(K, h, w) low-res mask logits of the square input → (K, H, W) bool at image size."""
        up = torch.nn.functional.interpolate(
            logits[None].float(), size=tuple(image_hw), mode="bilinear", align_corners=False
        )
        return up[0] > 0.0


@dataclass
class SamPrediction:
    """SAM's candidates for one prompt: K masks (H×W bool, image size), their scores, the best."""

    masks: np.ndarray
    scores: np.ndarray
    best: int
    multimask: bool = True  # whether SAM was asked for three candidates or one

    @property
    def mask(self) -> np.ndarray:
        return self.masks[self.best]

    def to_record(self) -> dict:
        return {
            "scores": [round(float(s), 6) for s in self.scores],
            "chosen": int(self.best),
            "multimask_output": self.multimask,
        }


def wants_multimask(points: np.ndarray | None, box: np.ndarray | None) -> bool:
    """SAM's authors' rule: three candidates (best by predicted IoU) for one click, which is
    ambiguous (a shirt, the person, the whole group); one mask for several points or a box."""
    return box is None and points is not None and len(points) == 1


class SamPredictor:
    """Compute once, query many (as segment-anything's `SamPredictor`), over a transformers SAM.

    `model` is a `SamModel` (SAM, SlimSAM), `SamHQModel` or `Sam2Model`; `processor` is its
    `SamProcessor` / `SamHQProcessor`, or for SAM 2 a `Sam2LiteProcessor` (or a transformers
    `Sam2Processor`, whose settings are read).
    """

    def __init__(self, model, processor):
        self.model = model
        self.processor = processor
        self.family = model_family(model)
        self.embed_calls = 0  # how many image embeddings were computed (tests count them)
        self._key: str | None = None
        self._embedding: torch.Tensor | list[torch.Tensor] | None = None
        self._extra: dict = {}  # other forward inputs computed with the embedding (SAM-HQ)
        self._hw: tuple[int, int] | None = None  # what SAM saw (`_pad_thin`)
        self._native_hw: tuple[int, int] | None = None  # the image as given
        if self.family == "sam2":
            self._sam2 = Sam2LiteProcessor.from_processor(processor)
            self.input_size = self._sam2.size
        else:
            self.input_size = int(processor.image_processor.size["longest_edge"])
        # The prompt encoder divides coordinates by its own input size: the two must agree.
        expected = model.config.prompt_encoder_config.image_size
        expected = expected[0] if isinstance(expected, list | tuple) else expected
        if self.input_size != int(expected):
            raise CheckpointError(
                f"segmenter: the processor resizes to {self.input_size} px but the "
                f"{type(model).__name__} expects {expected} px inputs"
            )

    @property
    def longest_edge(self) -> int:
        """The model's input long side (SAM 2: the side of its square input)."""
        return self.input_size

    def to_model_frame(self, xy: np.ndarray) -> np.ndarray:
        """(…, 2) pixels (x, y) on the current image → this model family's input frame."""
        if self._hw is None:
            raise RuntimeError("SamPredictor.to_model_frame called before set_image")
        if self.family == "sam2":
            return to_sam2_coords(xy, self._hw, self.input_size)
        return to_model_coords(xy, self._hw, self.input_size)

    def set_image(self, image: np.ndarray) -> None:
        """Embed an H×W×3 uint8 image; a second call with the same pixels reuses the embedding."""
        key = hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest() + str(image.shape)
        if key == self._key:
            return
        native_hw = image.shape[:2]
        image = self._pad_thin(image)
        if self.family == "sam2":
            pixels = self._sam2.pixel_values(image)
        else:
            pixels = self.processor.image_processor(
                images=image, return_tensors="pt", input_data_format=CHANNELS_LAST
            )
            pixels = pixels["pixel_values"]
        param = next(self.model.parameters())
        with torch.inference_mode():
            embedded = self.model.get_image_embeddings(pixels.to(param.device, param.dtype))
        if self.family == "sam-hq":
            # SAM-HQ's decoder also fuses the ViT's early features into its high-quality mask.
            self._embedding, self._extra = embedded[0], {"intermediate_embeddings": embedded[1]}
        else:
            # SAM: one tensor. SAM 2: three maps, finest first; the decoder attends to the
            # coarsest and its upsampler adds the two finer ones.
            self._embedding, self._extra = embedded, {}
        self.embed_calls += 1
        self._key, self._hw, self._native_hw = key, image.shape[:2], native_hw

    def _pad_thin(self, image: np.ndarray) -> np.ndarray:
        """A very thin image (3000×1) would shrink to a side of 0 px in SAM's resize: its short
        side is padded (bottom or right, repeating the edge) to MIN_MODEL_SIDE model pixels.
        Prompts keep their coordinates; masks are cropped back (`predict`). SAM 2 stretches to
        a square and needs none."""
        if self.family == "sam2":
            return image
        h, w = image.shape[:2]
        need = -(-MIN_MODEL_SIDE * max(h, w) // self.input_size)  # ceil
        pad_h, pad_w = max(0, need - h), max(0, need - w)
        if not (pad_h or pad_w):
            return image
        return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")

    def predict(
        self,
        points: np.ndarray | None = None,
        box: np.ndarray | None = None,
        multimask: bool | None = None,
    ) -> SamPrediction:
        """Masks for points (N×3: x, y, label 1/0) and/or a box (x0, y0, x1, y1), image pixels.

        With `multimask` the model proposes three candidates for an ambiguous prompt; the one
        with the highest predicted IoU is chosen and all scores are kept for the record. None
        follows SAM's authors: three for a single click, one for several points or a box.
        """
        if multimask is None:
            multimask = wants_multimask(points, box)
        if self._embedding is None or self._hw is None:
            raise RuntimeError("SamPredictor.predict called before set_image")
        h, w = self._hw
        device = next(self.model.parameters()).device
        kwargs = {}
        if points is not None and len(points):
            pts = np.asarray(points, dtype=np.float64)
            xy = self.to_model_frame(pts[:, :2])
            kwargs["input_points"] = torch.tensor(xy, dtype=torch.float32, device=device)[
                None, None
            ]
            kwargs["input_labels"] = torch.tensor(pts[:, 2], dtype=torch.long, device=device)[
                None, None
            ]
        if box is not None:
            b = self.to_model_frame(np.asarray(box, dtype=np.float64).reshape(2, 2))
            kwargs["input_boxes"] = torch.tensor(
                b.reshape(1, 1, 4), dtype=torch.float32, device=device
            )
        if not kwargs:
            raise ValueError("SamPredictor.predict needs points or a box")
        with torch.inference_mode():
            out = self.model(
                image_embeddings=self._embedding,
                multimask_output=multimask,
                **self._extra,
                **kwargs,
            )
        logits = out.pred_masks.float().cpu()  # (1, 1, K, h', w') low-res logits
        if self.family == "sam2":
            masks = self._sam2.post_process_masks(logits[0, 0], (h, w))
        else:
            masks = self.processor.image_processor.post_process_masks(
                logits,
                torch.tensor([[h, w]]),
                torch.tensor([list(resized_hw(h, w, self.input_size))]),
            )[0][0]  # (K, H, W) bool at image size
        scores = out.iou_scores[0, 0].float().cpu().numpy()
        native_h, native_w = self._native_hw
        return SamPrediction(
            masks=masks.numpy().astype(bool)[:, :native_h, :native_w],  # padding cropped off
            scores=scores,
            best=int(scores.argmax()),
            multimask=bool(multimask),
        )
