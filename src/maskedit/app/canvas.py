"""What the page shows beside the photo: the canvas (mask tint, clicks, box) and its status line.

Big photos are shown (and overlaid) at DISPLAY_LONG_SIDE so each click sends a small PNG; clicks
map back to the photo's own pixels, where SAM and the record work. Pure: arrays in, arrays out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from maskedit.app.clicks import Clicks
from maskedit.grid import mask_overlay

DISPLAY_LONG_SIDE = 1024  # the clickable canvas is at most this long; clicks map back to pixels
BOX_CORNER = (255, 220, 0)  # the first corner of a box being drawn (the box colour of the grid)


def display_hw(h: int, w: int, long_side: int = DISPLAY_LONG_SIDE) -> tuple[int, int]:
    """The canvas size for an H×W image: unchanged when it fits, else long side `long_side`."""
    if max(h, w) <= long_side:
        return h, w
    scale = long_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def to_image_xy(
    xy: tuple[float, float], disp_hw: tuple[int, int], image_hw: tuple[int, int]
) -> tuple[float, float]:
    """A canvas pixel (x, y) → the image pixel under its centre, clipped to the image."""
    (dh, dw), (h, w) = disp_hw, image_hw
    x = (xy[0] + 0.5) * w / dw - 0.5
    y = (xy[1] + 0.5) * h / dh - 0.5
    return float(np.clip(round(x, 2), 0, w - 1)), float(np.clip(round(y, 2), 0, h - 1))


def _to_display(v: float, n_disp: int, n_img: int) -> float:
    return (v + 0.5) * n_disp / n_img - 0.5


def overlay(display: np.ndarray, alpha: np.ndarray | None, clicks: Clicks) -> np.ndarray:
    """The canvas: the display image with the mask tinted, its outline, the clicks and the box.

    `display`: h×w×3 uint8 (the photo at display size); `alpha`: the photo's H×W float mask in
    [0, 1] (None: no mask yet); clicks in the photo's pixels. Returns h×w×3 uint8.
    """
    dh, dw = display.shape[:2]
    if alpha is None:
        alpha_disp = np.zeros((dh, dw), np.float32)
        h, w = dh, dw
    else:
        h, w = alpha.shape
        alpha_disp = alpha.astype(np.float32)
        if (h, w) != (dh, dw):
            alpha_disp = np.asarray(
                Image.fromarray(alpha_disp, mode="F").resize((dw, dh), Image.Resampling.BILINEAR)
            )
    points = [(_to_display(x, dw, w), _to_display(y, dh, h), lab) for x, y, lab in clicks.points]
    box = None
    if clicks.box is not None:
        x0, y0, x1, y1 = clicks.box
        box = (x0 * dw / w, y0 * dh / h, x1 * dw / w, y1 * dh / h)
    out = mask_overlay(display, alpha_disp, points, box)
    if clicks.corner is not None:
        pil = Image.fromarray(out)
        cx, cy = _to_display(clicks.corner[0], dw, w), _to_display(clicks.corner[1], dh, h)
        r = max(4, round(max(dh, dw) / 80))
        draw = ImageDraw.Draw(pil)
        draw.line([cx - 2 * r, cy, cx + 2 * r, cy], fill=BOX_CORNER, width=max(2, r // 2))
        draw.line([cx, cy - 2 * r, cx, cy + 2 * r], fill=BOX_CORNER, width=max(2, r // 2))
        out = np.asarray(pil)
    return out


def resize_for_display(image: np.ndarray) -> np.ndarray:
    """The photo at canvas size (itself when it fits)."""
    h, w = image.shape[:2]
    dh, dw = display_hw(h, w)
    if (dh, dw) == (h, w):
        return image
    return np.asarray(Image.fromarray(image).resize((dw, dh), Image.Resampling.LANCZOS))


def status_line(
    image: np.ndarray | None,
    clicks: Clicks,
    alpha: np.ndarray | None,
    target: dict[str, Any] | None = None,
) -> str:
    """The line under the canvas: photo size, the clicks (or the phrase), the mask's area."""
    from maskedit.metrics.change import area_fraction  # `maskedit.metrics` imports torch

    if image is None:
        return "Upload a photo or pick a sample."
    h, w = image.shape[:2]
    text = f"{w}×{h} px · {clicks.describe()}"
    if target is not None:
        text = f"{w}×{h} px · mask from phrase '{target['target']}'"
    if alpha is not None:
        text += f" · mask covers {100 * area_fraction(alpha):.1f} % of the image"
    elif not clicks.has_region:
        text += " · click on the object to edit"
    return text
