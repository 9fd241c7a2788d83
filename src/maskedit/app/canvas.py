"""What the page shows beside the photo: the canvas (mask tint, clicks, box) and its status line.

Big photos are shown (and overlaid) at DISPLAY_LONG_SIDE so each click sends a small PNG; small
ones are scaled up here by a whole factor (each photo pixel a square block, so the clicks and the
mask stay crisp; the page itself only ever scales a picture down). A strip (1×300 pixels, say) is
stretched across to at most DISPLAY_MAX_ASPECT to one, else the page, fitting it to its panel,
would show it a pixel or two thick. Clicks map back to the photo's own pixels, axis by axis, where
SAM and the record work. Pure: arrays in, arrays out.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from maskedit.app.clicks import Clicks
from maskedit.grid import mask_overlay

DISPLAY_LONG_SIDE = 1024  # the clickable canvas is at most this long; clicks map back to pixels
DISPLAY_MIN_LONG_SIDE = 640  # smaller photos are scaled up by a whole factor to at least this
# A canvas at most this many times longer than wide: a phone's ~300 px wide panel still shows a
# strip over 64 px thick, enough to click.
DISPLAY_MAX_ASPECT = 4
BOX_CORNER = (255, 220, 0)  # the first corner of a box being drawn (the box colour of the grid)


def display_hw(
    h: int,
    w: int,
    long_side: int = DISPLAY_LONG_SIDE,
    min_long_side: int = DISPLAY_MIN_LONG_SIDE,
    max_aspect: int = DISPLAY_MAX_ASPECT,
) -> tuple[int, int]:
    """The canvas size for an H×W image: long side `long_side` when larger; the smallest whole
    multiple at least `min_long_side` long when shorter than that (the page fits it to its
    panel, scaling down only); else unchanged. Then a canvas over `max_aspect` to one has its
    short side stretched to 1/`max_aspect` of the long one (the page scales it down as a whole,
    so a thinner canvas would be too thin to click)."""
    if max(h, w) > long_side:
        scale = long_side / max(h, w)
        dh, dw = max(1, round(h * scale)), max(1, round(w * scale))
    else:
        factor = max(1, -(-min_long_side // max(h, w)))  # ceil
        dh, dw = h * factor, w * factor
    thinnest = -(-max(dh, dw) // max_aspect)
    if dh < thinnest:
        dh = _stretched(h, thinnest)
    elif dw < thinnest:
        dw = _stretched(w, thinnest)
    return dh, dw


def _stretched(n: int, size: int) -> int:
    """A side of `n` photo pixels shown at least `size` long: a whole multiple of `n` (each pixel
    a block) once that is at least twice `n`, else exactly `size` (a slight resampling)."""
    return -(-size // n) * n if size >= 2 * n else size


def to_image_xy(
    xy: tuple[float, float], disp_hw: tuple[int, int], image_hw: tuple[int, int]
) -> tuple[float, float]:
    """A canvas pixel (x, y) → the image pixel under its centre, clipped to the image.

    Each axis on its own (a strip is stretched along one only). Along an axis scaled up by a
    whole factor each photo pixel is a block of canvas pixels: the click lands on the whole
    pixel whose block it hit.
    """
    (dh, dw), (h, w) = disp_hw, image_hw
    x, y = _to_image(xy[0], dw, w), _to_image(xy[1], dh, h)
    return float(np.clip(x, 0, w - 1)), float(np.clip(y, 0, h - 1))


def _to_image(v: float, n_disp: int, n_img: int) -> float:
    if n_disp > n_img and n_disp % n_img == 0:  # blocks
        return (v + 0.5) * n_img // n_disp
    return round((v + 0.5) * n_img / n_disp - 0.5, 2)


def _to_display(v: float, n_disp: int, n_img: int) -> float:
    return (v + 0.5) * n_disp / n_img - 0.5


def overlay(
    display: np.ndarray,
    alpha: np.ndarray | None,
    clicks: Clicks,
    image_hw: tuple[int, int] | None = None,
) -> np.ndarray:
    """The canvas: the display image with the mask tinted, its outline, the clicks and the box.

    `display`: h×w×3 uint8 (the photo at display size); `alpha`: the photo's H×W float mask in
    [0, 1] (None: no mask yet); clicks in the photo's pixels, of size `image_hw` (default: the
    mask's, else the display's). Returns h×w×3 uint8.
    """
    dh, dw = display.shape[:2]
    h, w = image_hw or (alpha.shape if alpha is not None else (dh, dw))
    if alpha is None:
        alpha_disp = np.zeros((dh, dw), np.float32)
    else:
        alpha_disp = alpha.astype(np.float32)
        if alpha.shape != (dh, dw):
            alpha_disp = _resize_alpha(alpha_disp, (dh, dw))
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


def _resize_alpha(alpha: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """An H×W float alpha at canvas size: blocks when scaling up, bilinear otherwise."""
    return _to_canvas(alpha.astype(np.float32), hw, Image.Resampling.BILINEAR)


def _to_canvas(a: np.ndarray, hw: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """An H×W (×3 uint8, or float32) array at canvas size `hw`: along an axis scaled up by a
    whole factor each pixel is repeated (a block); what is left is resampled with `resample`.

    The resampling comes first: a long strip shrunk along its length and blown up across it
    would otherwise be repeated at full length (2×200000 pixels: 150 MB for a 256×1024 canvas).
    Either order gives the same pixels, since resampling along one axis treats each line alone.
    """
    (dh, dw), (h, w) = hw, a.shape[:2]
    rh, rw = (h if dh % h == 0 else dh), (w if dw % w == 0 else dw)
    if (rh, rw) != (h, w):
        pil = Image.fromarray(a, mode="F") if a.dtype == np.float32 else Image.fromarray(a)
        a = np.asarray(pil.resize((rw, rh), resample))
    if dh != rh:
        a = np.repeat(a, dh // rh, axis=0)
    if dw != rw:
        a = np.repeat(a, dw // rw, axis=1)
    return a


def resize_for_display(image: np.ndarray) -> np.ndarray:
    """The photo at canvas size (itself when it fits; whole blocks when scaled up)."""
    h, w = image.shape[:2]
    dh, dw = display_hw(h, w)
    if (dh, dw) == (h, w):
        return image
    return _to_canvas(image, (dh, dw), Image.Resampling.LANCZOS)


def mask_view(display: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """The mask alone at canvas size, as mask.png shows it: white where the edit is allowed
    (grey where feathered), black elsewhere. h×w×3 uint8."""
    dh, dw = display.shape[:2]
    if alpha is None:
        return np.zeros((dh, dw, 3), np.uint8)
    a = alpha.astype(np.float32)
    if a.shape != (dh, dw):
        a = _resize_alpha(a, (dh, dw))
    grey = np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def status_line(
    image: np.ndarray | None,
    clicks: Clicks,
    alpha: np.ndarray | None,
    region: str | None = None,
) -> str:
    """The line under the canvas (plain text): photo size, the clicks (or what else made the
    mask, `region`), the mask's area."""
    from maskedit.metrics.change import area_fraction  # `maskedit.metrics` imports torch

    if image is None:
        return "Upload a photo or pick a sample."
    h, w = image.shape[:2]
    text = f"{w}×{h} px · {clicks.describe()}"
    if region:
        text = f"{w}×{h} px · {region}"
    if alpha is not None:
        text += f" · mask covers {100 * area_fraction(alpha):.1f} % of the image"
    elif not clicks.has_region:
        text += " · click on the object to edit"
    return text
