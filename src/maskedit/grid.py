"""The comparison grid: original | mask overlay | baseline | blended, with captions; and a
multi-turn edit's grid and strip (the photo, then every turn's output)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PANEL_H = 320  # each panel is scaled to this height, aspect kept
# ... unless that makes it wider than this many heights: a 1×3000 photo at 320 px high would be
# 960,000 px wide (gigabytes per grid), so a very wide panel is scaled to this width instead.
MAX_PANEL_ASPECT = 4
CAPTION_H = 28
PAD = 8
INCLUDE = (40, 220, 60)
EXCLUDE = (235, 40, 40)
MASK_TINT = (255, 0, 160)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def mask_overlay(image: np.ndarray, alpha: np.ndarray, points=(), box=None, boxes=()) -> np.ndarray:
    """The image with the mask tinted, its outline drawn, and the clicks/box on top; `boxes`
    (detector boxes, image pixels) are drawn in cyan with their scores' order kept."""
    from scipy.ndimage import binary_erosion

    a = np.clip(alpha, 0, 1)[..., None]
    tinted = image.astype(np.float32) * (1 - 0.5 * a) + np.array(MASK_TINT, np.float32) * 0.5 * a
    out = tinted.round().astype(np.uint8)
    hard = alpha > 0.5
    edge = hard & ~binary_erosion(hard, iterations=max(1, round(max(image.shape[:2]) / 300)))
    out[edge] = (255, 255, 255)
    pil = Image.fromarray(out)
    draw = ImageDraw.Draw(pil)
    r = max(4, round(max(image.shape[:2]) / 80))
    if box is not None:
        draw.rectangle([float(v) for v in box], outline=(255, 220, 0), width=max(2, r // 2))
    for detected in boxes:
        draw.rectangle([float(v) for v in detected], outline=(0, 220, 255), width=max(2, r // 2))
    for x, y, label in points:
        color = INCLUDE if int(label) == 1 else EXCLUDE
        draw.ellipse([x - r, y - r, x + r, y + r], fill=color, outline=(255, 255, 255), width=2)
    return np.asarray(pil)


def panel_width(h: int, w: int, panel_h: int) -> int:
    """The width an h×w image takes in a grid of `panel_h`-high panels (aspect kept, capped)."""
    return min(max(1, round(w * panel_h / h)), MAX_PANEL_ASPECT * panel_h)


def make_grid(
    panels: list[tuple[str, np.ndarray]],
    title: str = "",
    banner: str = "",
    panel_h: int = PANEL_H,
) -> np.ndarray:
    """Panels side by side at a common height (very wide ones narrower and lower, at most
    `MAX_PANEL_ASPECT` heights wide), each with a caption; optional title and banner."""
    font, small = _font(16), _font(14)
    scaled = []
    for caption, img in panels:
        h, w = img.shape[:2]
        nw, nh = panel_width(h, w, panel_h), panel_h
        if nw < round(w * panel_h / h):  # very wide: fit the width, keep the aspect
            nh = max(1, round(h * nw / w))
        scaled.append((caption, Image.fromarray(img).resize((nw, nh), Image.Resampling.LANCZOS)))
    width = sum(im.width for _, im in scaled) + PAD * (len(scaled) + 1)
    top = PAD + (CAPTION_H if title else 0) + (CAPTION_H if banner else 0)
    height = top + CAPTION_H + panel_h + PAD
    canvas = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(canvas)
    y = PAD
    if banner:
        draw.rectangle([0, y - PAD, width, y + CAPTION_H - 4], fill=(200, 30, 30))
        draw.text((PAD, y + 2), banner, fill=(255, 255, 255), font=font)
        y += CAPTION_H
    if title:
        draw.text((PAD, y + 4), title, fill=(20, 20, 20), font=font)
        y += CAPTION_H
    x = PAD
    for caption, im in scaled:
        draw.text((x, y + 6), caption, fill=(40, 40, 40), font=small)
        canvas.paste(im, (x, y + CAPTION_H))
        x += im.width + PAD
    return np.asarray(canvas)


STRIP_H = 160  # px: a turns strip's panel height


def tiny_banner(record: dict) -> str:
    """The "random models" banner a record asks for (tiny models), else none."""
    return (record.get("note") or "") if record.get("tiny_models") else ""


def turns_grid(
    photo: np.ndarray, union: np.ndarray, outputs: dict[str, np.ndarray], turns: int, head: dict
) -> np.ndarray:
    """A multi-turn edit at its head: the photo, the union of its `turns` masks, and the head
    turn's outputs (`head`: that turn's record)."""
    counted = f"{turns} turn{'s' * (turns != 1)}"
    panels = [
        ("photo", photo),
        (f"masks of {counted}", mask_overlay(photo, union.astype(np.float32))),
    ]
    panels += [
        (f"{name} (turn {turns})" if name == "baseline" else f"blended ({name})", image)
        for name, image in outputs.items()
    ]
    title = f"{counted}; turn {turns}: \u201c{head['instruction']}\u201d"
    return make_grid(panels, title=title, banner=tiny_banner(head))


def turns_strip(photo: np.ndarray, turns: list[tuple[str, np.ndarray, dict]]) -> np.ndarray:
    """The photo and each turn's output, captioned "k. instruction" (cut to what fits under a
    panel); `turns`: (instruction, output, record) on the way to head."""
    h, w = photo.shape[:2]
    chars = max(8, int(panel_width(h, w, STRIP_H) / 7.5))
    panels = [("photo", photo)]
    banner = ""
    for k, (instruction, image, record) in enumerate(turns, start=1):
        text = f"{k}. {instruction}"
        if len(text) > chars:
            text = text[: chars - 1] + "…"
        panels.append((text, image))
        banner = banner or tiny_banner(record)
    return make_grid(panels, banner=banner, panel_h=STRIP_H)
