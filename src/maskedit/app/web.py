"""`maskedit app`: click on a photo, see SAM's mask, type an instruction, edit only there.

The page is thin. Every decision is a pure function in the first half of this file, which unit
tests call without a browser: clicks → SAM prompts (`add_click`, `undo`), display ↔ image pixels
(`display_hw`, `to_image_xy`), mask → overlay (`overlay`), result → metrics (`METRICS`). The second
half, `build_app`, only wires Gradio widgets to these and to the library, and turns a
`MaskeditError` into a message in the page (the app keeps serving).

Files: every edit is written with `write_case` into a per-session folder of one workspace
(a temp folder by default); the page serves files from there and from Gradio's own cache only.
"""

# No `from __future__ import annotations`: Gradio reads the callbacks' annotations
# (gr.SelectData, gr.Request) as real classes to know what to inject.

import contextlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw

from maskedit.config import METHODS as LIBRARY_METHODS
from maskedit.errors import InputError, MaskeditError
from maskedit.families import EDITORS
from maskedit.grid import mask_overlay
from maskedit.images import MAX_PIXELS, SAMPLE_PREFIX, read_image
from maskedit.record import OUTPUT_FILES

if TYPE_CHECKING:
    import gradio as gr

    from maskedit.config import EditSettings
    from maskedit.masks.sam import SamPrediction, SamPredictor
    from maskedit.models import Models
    from maskedit.record import EditResult

SAMPLES = ("skimage:astronaut", "skimage:chelsea", "skimage:motorcycle_left")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # also given to Gradio, which refuses larger uploads itself
DISPLAY_LONG_SIDE = 1024  # the clickable canvas is at most this long; clicks map back to pixels
CLICK_MODES = ("include", "exclude", "box")
BOX_CORNER = (255, 220, 0)  # the first corner of a box being drawn (the box colour of the grid)


# ---------------------------------------------------------------------------------------------
# Clicks → SAM prompts. One `Clicks` value per state; the page keeps a tuple of them (history),
# so undo is "drop the last one" whatever the click did (a point, a first corner, a box).


@dataclass(frozen=True)
class Clicks:
    """SAM prompts in image pixels: points (x, y, label 1/0), a box XYXY, a box's first corner."""

    points: tuple[tuple[float, float, int], ...] = ()
    box: tuple[float, float, float, float] | None = None
    corner: tuple[float, float] | None = None

    @property
    def has_region(self) -> bool:
        """SAM needs at least one include point or a box (exclude points alone say nowhere)."""
        return self.box is not None or any(label == 1 for *_, label in self.points)

    def describe(self) -> str:
        inc = sum(label == 1 for *_, label in self.points)
        exc = len(self.points) - inc
        parts = [f"{inc} include", f"{exc} exclude"]
        if self.box is not None:
            parts.append("box " + ",".join(f"{v:g}" for v in self.box))
        if self.corner is not None:
            parts.append(f"box corner at {self.corner[0]:g},{self.corner[1]:g}: click the other")
        return ", ".join(parts)


def add_click(clicks: Clicks, x: float, y: float, mode: str) -> Clicks:
    """The prompts after one click at image pixel (x, y) in `mode` (include, exclude or box).

    Box mode takes two clicks: the first sets a corner, the second the opposite corner and
    replaces any earlier box.
    """
    if mode not in CLICK_MODES:
        raise InputError(f"click mode '{mode}': expected one of {', '.join(CLICK_MODES)}")
    if mode in ("include", "exclude"):
        label = 1 if mode == "include" else 0
        return replace(clicks, points=(*clicks.points, (float(x), float(y), label)))
    if clicks.corner is None:
        return replace(clicks, corner=(float(x), float(y)))
    (x0, y0), (x1, y1) = clicks.corner, (float(x), float(y))
    if x0 == x1 or y0 == y1:
        raise InputError(
            f"box: corners ({x0:g}, {y0:g}) and ({x1:g}, {y1:g}) must differ in both x and y"
        )
    box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    return replace(clicks, box=box, corner=None)


def current(history: tuple[Clicks, ...]) -> Clicks:
    """The prompts now: the last state of the history (no clicks yet: empty prompts)."""
    return history[-1] if history else Clicks()


def undo(history: tuple[Clicks, ...]) -> tuple[Clicks, ...]:
    """The history without its last click."""
    return history[:-1]


def sam_inputs(clicks: Clicks) -> tuple[np.ndarray | None, tuple[float, ...] | None]:
    """`SamPredictor.predict` arguments: points N×3 float (x, y, label) or None, box or None."""
    pts = np.array(clicks.points, dtype=np.float64) if clicks.points else None
    return pts, clicks.box


def predict_mask(sam: "SamPredictor", image: np.ndarray, clicks: Clicks) -> "SamPrediction | None":
    """SAM's answer for the clicks on an H×W×3 uint8 image; None while there is no region yet.

    `set_image` embeds each image once; later clicks on the same pixels reuse the embedding.
    """
    if not clicks.has_region:
        return None
    sam.set_image(image)
    points, box = sam_inputs(clicks)
    return sam.predict(points=points, box=box)


def phrase_mask(
    models: "Models",
    image: np.ndarray | None,
    phrase: str | None,
    instruction: str | None,
    threshold: float | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """CLIPSeg's H×W bool mask for `phrase` on an H×W×3 uint8 image, and what the record keeps.

    An empty phrase is taken from the instruction (`target_from_instruction`). Raises InputError
    (no photo, no CLIPSeg loaded, no phrase to be found) or `MaskNotFound` (nothing above the
    threshold, default CLIPSEG_THRESHOLD).
    """
    from maskedit.masks.phrases import target_from_instruction
    from maskedit.masks.text import CLIPSEG_THRESHOLD, clipseg_mask

    if image is None:
        raise InputError("load a photo first")
    if "clipseg" not in models.text:
        raise InputError("target: phrase masks need CLIPSeg, which is not loaded; click instead")
    phrase = (phrase or "").strip()
    source = "phrase"
    if not phrase:
        if not (instruction or "").strip():
            raise InputError("target: type a phrase such as 'the cat' (or an instruction first)")
        phrase, source = target_from_instruction(instruction), "instruction"
    model, processor = models.text["clipseg"]
    found = clipseg_mask(
        model, processor, image, phrase, CLIPSEG_THRESHOLD if threshold is None else threshold
    )
    record = found.to_record()
    record.pop("phrase", None)
    return found.mask, {"target": phrase, "target_from": source, **record}


# ---------------------------------------------------------------------------------------------
# Display ↔ image pixels. Big photos are shown (and overlaid) at DISPLAY_LONG_SIDE so each click
# sends a small PNG; clicks map back to the photo's own pixels, where SAM and the record work.


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


# ---------------------------------------------------------------------------------------------
# Inputs: an upload (size-capped, read by read_image) or one of the bundled samples.


def load_upload(path: str | os.PathLike, max_bytes: int = MAX_UPLOAD_BYTES) -> np.ndarray:
    """Read an uploaded file as H×W×3 uint8; InputError (naming the file, not the server path)."""
    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    if size > max_bytes:
        raise InputError(
            f"upload '{path.name}': {size / 2**20:.1f} MB exceeds the limit of "
            f"{max_bytes / 2**20:.0f} MB"
        )
    try:
        return read_image(path)
    except InputError as err:  # read_image names the full path: the server's temp folder
        raise InputError(str(err).replace(f"'{path}'", f"'{path.name}'")) from None


def load_sample(name: str) -> np.ndarray:
    """One of the bundled sample photos (only those listed in SAMPLES)."""
    if name not in SAMPLES:
        raise InputError(f"sample '{name}': choose one of {', '.join(SAMPLES)}")
    return read_image(name)


# ---------------------------------------------------------------------------------------------
# Methods and metrics: name → function tables, so a method or metric is one entry more.


def _method(name: str) -> "Callable[..., EditResult]":
    """The library's edit with one spatial-control method (baseline included, for comparison)."""

    def run(
        image: np.ndarray,
        instruction: str,
        models: "Models",
        alpha: np.ndarray,
        settings: "EditSettings",
    ) -> "EditResult":
        from maskedit.case import edit

        return edit(
            image, instruction, models=models, mask=alpha, settings=settings, methods=(name,)
        )

    run.__doc__ = f"maskedit.edit with method '{name}' (see docs/methods.md)."
    return run


METHODS: "dict[str, Callable[..., EditResult]]" = {name: _method(name) for name in LIBRARY_METHODS}
# UNet-driven runs per edit, for the progress bar: the baseline, plus the method's own run.
RUNS_PER_EDIT = {"pixel": 1, "latent": 2, "guidance": 2, "crop": 2}


def mask_area_fraction(result: "EditResult") -> float:
    """Fraction of the image where the edit is allowed (alpha > 0)."""
    return float(np.mean(result.alpha > 0))


def max_change_outside_mask(result: "EditResult") -> float:
    """max |blended − original| over pixels with alpha == 0, in 8-bit levels; must be 0."""
    outside = result.alpha == 0
    if not outside.any():
        return 0.0
    diff = np.abs(result.blended.astype(np.int16) - result.original.astype(np.int16))
    return float(diff[outside].max())


METRICS: "dict[str, Callable[[EditResult], float]]" = {
    "mask area fraction": mask_area_fraction,
    "max |blended − original| outside mask": max_change_outside_mask,
}


def compute_metrics(
    result: "EditResult", metrics: "dict[str, Callable[[EditResult], float]]" = METRICS
) -> dict[str, float]:
    """Every metric of one edit, by name."""
    return {name: fn(result) for name, fn in metrics.items()}


def metrics_markdown(values: dict[str, float]) -> str:
    """A two-column Markdown table, plus the verdict on the outside-the-mask invariant."""
    lines = ["| metric | value |", "| --- | --- |"]
    lines += [f"| {name.replace('|', '&#124;')} | {value:.4g} |" for name, value in values.items()]
    outside = values.get("max |blended − original| outside mask")
    if outside == 0:
        lines.append("\n✓ outside the mask the result equals the input, bit for bit")
    elif outside is not None:
        lines.append(f"\n✗ the result differs from the input outside the mask (by {outside:g})")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The per-session workspace.


def session_dir(root: Path, session_hash: str | None) -> Path:
    """root/session-<id>; the id keeps only letters and digits (no path tricks)."""
    safe = re.sub(r"[^A-Za-z0-9]", "", session_hash or "")[:32] or "anonymous"
    return Path(root) / f"session-{safe}"


def next_case_dir(folder: Path) -> Path:
    """folder/edit-001, edit-002, …: the first number not taken."""
    taken = {p.name for p in folder.glob("edit-*")} if folder.is_dir() else set()
    n = 1
    while f"edit-{n:03d}" in taken:
        n += 1
    return folder / f"edit-{n:03d}"


def write_edit(result: "EditResult", case_dir: Path, app_info: dict[str, Any]) -> list[Path]:
    """Write the case (write_case), add the page's prompts to record.json; the files, in order.

    The library sees the shaped mask as an array; `app_info` keeps the clicks, the box and the
    shaping that made it, so the record still says how the mask came about.
    """
    from maskedit.outputs import write_case

    write_case(result, case_dir, case_id=case_dir.name)
    record_path = case_dir / OUTPUT_FILES["record"]
    record = json.loads(record_path.read_text(encoding="utf-8"))
    record["app"] = app_info
    tmp = record_path.with_name(f".{record_path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, record_path)
    order = ("original", "mask", "baseline", "blended", "grid", "record")
    return [case_dir / OUTPUT_FILES[key] for key in order]


@contextlib.contextmanager
def on_denoising_step(pipe, callback: Callable[[], None]) -> Iterator[None]:
    """Call `callback` once per denoising step while the block runs.

    `maskedit.edit` does not take a `callback_on_step_end` yet; IP2P calls its UNet once per step
    (the three guidance branches are batched), so a forward hook on the UNet counts steps.
    """
    unet = getattr(pipe, "unet", None)
    if unet is None or not hasattr(unet, "register_forward_hook"):
        yield
        return
    handle = unet.register_forward_hook(lambda *_: callback())
    try:
        yield
    finally:
        handle.remove()


# ---------------------------------------------------------------------------------------------
# The page.

_CSS = """
#canvas img { cursor: crosshair; }
#tiny-banner { background: #c81e1e; color: white; padding: 6px 12px; border-radius: 6px; }
#tiny-banner * { color: white !important; margin: 0; }
"""


def _theme():
    import gradio as gr

    # System fonts only: the page must not fetch anything from the internet.
    return gr.themes.Default(
        font=("ui-sans-serif", "system-ui", "sans-serif"),
        font_mono=("ui-monospace", "monospace"),
    )


def build_app(models: "Models", workspace: str | os.PathLike | None = None) -> "gr.Blocks":
    """The editing page over loaded `models`; edits are written under `workspace` (default: a
    new temp folder). Launch it with `launch`, which serves only that folder and Gradio's cache.
    """
    import gradio as gr
    from pydantic import ValidationError

    from maskedit.config import DEFAULT_SEED, EditSettings

    spec = EDITORS[models.editor]  # the sliders start at the loaded editor's own defaults
    from maskedit.masks.shape import shape_mask

    root = Path(workspace or tempfile.mkdtemp(prefix="maskedit-app-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()  # one SamPredictor (one cached embedding) and one pipeline, shared

    def shaped(mask: np.ndarray | None, dilate_px: float, feather_px: float) -> np.ndarray | None:
        if mask is None:
            return None
        return shape_mask(mask, dilate_px=int(dilate_px), feather_px=float(feather_px))

    def status_line(
        image: np.ndarray | None,
        clicks: Clicks,
        alpha: np.ndarray | None,
        target: dict[str, Any] | None = None,
    ) -> str:
        if image is None:
            return "Upload a photo or pick a sample."
        h, w = image.shape[:2]
        text = f"{w}×{h} px · {clicks.describe()}"
        if target is not None:
            text = f"{w}×{h} px · mask from phrase '{target['target']}'"
        if alpha is not None:
            text += f" · mask covers {100 * float(np.mean(alpha > 0)):.1f} % of the image"
        elif not clicks.has_region:
            text += " · click on the object to edit"
        return text

    # Loading is two steps: read and check (output: a State only, so an error marks no widget),
    # then, on success, show the new photo and clear the clicks and the results.
    def on_upload(path):
        if path is None:
            raise gr.Error("upload: no file received", print_exception=False)
        try:
            return load_upload(path)
        except MaskeditError as err:
            raise gr.Error(str(err), print_exception=False) from None

    def on_sample(name):
        if not name:
            raise gr.Error("pick a sample photo first", print_exception=False)
        try:
            return load_sample(name)
        except MaskeditError as err:
            raise gr.Error(str(err), print_exception=False) from None

    def show_new_image(image: np.ndarray):
        display = resize_for_display(image)
        results = (None, None, None, None, "", None)
        status = status_line(image, Clicks(), None)
        return (display, (), None, None, display, status, *results)

    def refresh(image, display, history, dilate_px, feather_px):
        """The SAM mask and canvas for the current clicks (after a click, undo or clear)."""
        clicks = current(history)
        with lock:
            prediction = predict_mask(models.sam, image, clicks)
        mask = None if prediction is None else prediction.mask
        alpha = shaped(mask, dilate_px, feather_px)
        canvas = overlay(display, alpha, clicks)
        return history, mask, None, canvas, status_line(image, clicks, alpha)

    def on_click(image, display, history, mode, dilate_px, feather_px, evt: gr.SelectData):
        if image is None:
            raise gr.Error("load a photo first", print_exception=False)
        x, y = to_image_xy(tuple(evt.index), display.shape[:2], image.shape[:2])
        try:
            history = (*history, add_click(current(history), x, y, mode))
        except MaskeditError as err:  # e.g. a box with no area: say so, keep the clicks
            gr.Warning(str(err))
        return refresh(image, display, history, dilate_px, feather_px)

    def on_undo(image, display, history, dilate_px, feather_px):
        if image is None:
            return history, None, None, None, status_line(None, Clicks(), None)
        return refresh(image, display, undo(history), dilate_px, feather_px)

    def on_clear(image, display, dilate_px, feather_px):
        if image is None:
            return (), None, None, None, status_line(None, Clicks(), None)
        return refresh(image, display, (), dilate_px, feather_px)

    def on_shape(image, display, history, mask, target, dilate_px, feather_px):
        if image is None:
            return None, status_line(None, Clicks(), None)
        clicks = current(history)
        alpha = shaped(mask, dilate_px, feather_px)
        return overlay(display, alpha, clicks), status_line(image, clicks, alpha, target)

    def on_phrase(image, display, phrase, instruction, dilate_px, feather_px):
        """The mask from a phrase (CLIPSeg) replaces the clicks' mask; a new click replaces it."""
        if image is None:
            raise gr.Error("load a photo first", print_exception=False)
        try:
            with lock:
                mask, target = phrase_mask(models, image, phrase, instruction)
        except MaskeditError as err:
            raise gr.Error(str(err), print_exception=False) from None
        alpha = shaped(mask, dilate_px, feather_px)
        canvas = overlay(display, alpha, Clicks())
        return (), mask, target, canvas, status_line(image, Clicks(), alpha, target)

    # Running is two steps too: check everything and shape the mask (output: a State), then,
    # on success, edit, write the case and show the results.
    def check_run(
        image,
        history,
        mask,
        target,
        instruction,
        method,
        dilate_px,
        feather_px,
        seed,
        steps,
        text_cfg,
        image_cfg,
    ):
        def fail(message: str):
            return gr.Error(message, print_exception=False)

        if image is None:
            raise fail("load a photo first")
        clicks = current(history)
        if mask is None or (target is None and not clicks.has_region):
            raise fail(
                "no region yet: click on the object (include point), draw a box, "
                "or describe it and press 'Mask from phrase'"
            )
        if not (instruction or "").strip():
            raise fail("instruction: is empty; say what to change, e.g. 'make the shirt red'")
        if method not in METHODS:
            raise fail(f"method '{method}': choose one of {', '.join(METHODS)}")
        try:
            settings = EditSettings(
                seed=int(seed),
                steps=int(steps),
                text_cfg=text_cfg,
                # guidance-distilled editors (kontext) have no image-guidance scale
                image_cfg=image_cfg if EDITORS[models.editor].image_cfg is not None else None,
            )
        except (ValidationError, TypeError, ValueError) as err:
            raise fail(f"settings: {str(err).splitlines()[0]}") from None
        alpha = shaped(mask, dilate_px, feather_px)
        if not alpha.any():
            raise fail("the mask is empty: click on the object")
        app_info = {
            "points": [list(p) for p in clicks.points],
            "box": list(clicks.box) if clicks.box else None,
            "dilate_px": int(dilate_px),
            "feather_px": float(feather_px),
            "method": method,
        }
        if target is not None:
            app_info = {**target, **app_info}
        return {"alpha": alpha, "settings": settings, "method": method, "app": app_info}

    def on_run(
        image,
        job,
        instruction,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008 - Gradio's way of asking for a progress bar
    ):
        settings, method = job["settings"], job["method"]

        # 1. The edit (mask already checked and shaped), a progress step per denoising step.
        done = [0]

        def step() -> None:
            done[0] += 1
            n = settings.steps * RUNS_PER_EDIT.get(method, 1)
            progress(0.05 + 0.85 * done[0] / n, desc=f"diffusion step {done[0]}/{n}")

        try:
            with lock, on_denoising_step(models.pipe, step):
                result = METHODS[method](image, instruction, models, job["alpha"], settings)
        except MaskeditError as err:
            raise gr.Error(str(err), print_exception=False) from None

        # 2. The case into this session's folder, and the metrics.
        progress(0.95, desc="writing outputs")
        case_dir = next_case_dir(session_dir(root, request.session_hash if request else None))
        files = write_edit(result, case_dir, job["app"])
        values = compute_metrics(result)
        return (
            result.original,
            result.baseline,
            result.blended,
            (result.original, result.blended),
            metrics_markdown(values),
            [str(f) for f in files],
        )

    with gr.Blocks(
        title="maskedit",
        analytics_enabled=False,
        delete_cache=(3600, 6 * 3600),
    ) as demo:
        gr.Markdown(
            "## maskedit — edit only where you click\n"
            "Load a photo, click the object (SAM draws the mask) or describe it, "
            "type an instruction, run. "
            "Outside the mask the result is the input, bit for bit."
        )
        if models.kind == "tiny":
            gr.Markdown(models.note, elem_id="tiny-banner")

        image_st = gr.State(None)  # the photo, H×W×3 uint8
        display_st = gr.State(None)  # the photo at canvas size
        history_st = gr.State(())  # tuple[Clicks, ...]
        mask_st = gr.State(None)  # H×W bool mask: SAM's for the clicks, or CLIPSeg's for a phrase
        target_st = gr.State(None)  # the phrase mask's record entry (None: the mask is SAM's)
        job_st = gr.State(None)  # a checked run: shaped alpha, settings, method, prompts

        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                upload = gr.File(
                    label=f"Upload a photo (≤ {MAX_UPLOAD_BYTES // 2**20} MB, "
                    f"≤ {MAX_PIXELS / 1e6:g} MP)",
                    type="filepath",
                    file_count="single",
                    height=150,
                    elem_id="upload",
                )
                with gr.Row():
                    sample = gr.Dropdown(
                        choices=[(s.removeprefix(SAMPLE_PREFIX), s) for s in SAMPLES],
                        value=None,
                        label="…or a sample photo",
                        scale=3,
                        elem_id="sample",
                    )
                    load_btn = gr.Button("Load", scale=1, elem_id="load-sample")
                mode = gr.Radio(
                    [("Include point", "include"), ("Exclude point", "exclude"), ("Box", "box")],
                    value="include",
                    label="Click adds",
                    info="Box: click two opposite corners.",
                    elem_id="mode",
                )
                with gr.Row():
                    undo_btn = gr.Button("Undo click", size="sm", elem_id="undo")
                    clear_btn = gr.Button("Clear clicks", size="sm", elem_id="clear")
                has_clipseg = "clipseg" in models.text
                phrase = gr.Textbox(
                    label="…or describe the object",
                    placeholder="e.g. the cat (empty: taken from the instruction)",
                    info=None if has_clipseg else "Unavailable: CLIPSeg is not loaded.",
                    interactive=has_clipseg,
                    elem_id="phrase",
                )
                phrase_btn = gr.Button(
                    "Mask from phrase", size="sm", interactive=has_clipseg, elem_id="phrase-mask"
                )
                instruction = gr.Textbox(
                    label="Instruction",
                    placeholder="e.g. make the jacket red",
                    lines=2,
                    elem_id="instruction",
                )
                method = gr.Dropdown(
                    choices=list(METHODS), value=next(iter(METHODS)), label="Method"
                )
                with gr.Accordion("Mask", open=True):
                    dilate = gr.Slider(0, 64, value=0, step=1, label="Dilate (px)")
                    feather = gr.Slider(0, 32, value=0, step=0.5, label="Feather (px)")
                with gr.Accordion("Diffusion", open=True):
                    seed = gr.Number(value=DEFAULT_SEED, precision=0, minimum=0, label="Seed")
                    steps = gr.Slider(
                        1, 100, value=spec.steps, step=1, label="Steps", elem_id="steps"
                    )
                    text_cfg = gr.Slider(
                        0, 20, value=spec.text_cfg, step=0.5, label="Text guidance"
                    )
                    image_cfg = gr.Slider(
                        0,
                        5,
                        value=spec.image_cfg if spec.image_cfg is not None else 0,
                        step=0.1,
                        label="Image guidance",
                        interactive=spec.image_cfg is not None,  # distilled editors have none
                    )
                run_btn = gr.Button("Run edit", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                canvas = gr.Image(
                    label="Click on the photo",
                    type="numpy",
                    format="png",
                    interactive=False,
                    buttons=[],
                    height=520,
                    elem_id="canvas",
                )
                status = gr.Markdown(status_line(None, Clicks(), None), elem_id="status")

        with gr.Row(equal_height=True):
            out_original = gr.Image(label="Original", format="png", elem_id="out-original")
            out_baseline = gr.Image(
                label="Baseline (IP2P, unmasked)", format="png", elem_id="out-baseline"
            )
            out_blended = gr.Image(label="Masked result", format="png", elem_id="out-blended")
        with gr.Row():
            with gr.Column(scale=2):
                slider = gr.ImageSlider(
                    label="Before / after (masked)", format="png", elem_id="slider"
                )
            with gr.Column(scale=1):
                metrics = gr.Markdown("", elem_id="metrics")
                downloads = gr.File(
                    label="Downloads", file_count="multiple", interactive=False, elem_id="downloads"
                )

        new_image_outputs = [display_st, history_st, mask_st, target_st, canvas, status]
        result_outputs = [out_original, out_baseline, out_blended, slider, metrics, downloads]
        click_outputs = [history_st, mask_st, target_st, canvas, status]
        # The drop zone empties after every upload, good or bad, ready for the next file.
        # (A second listener, not `.then`, which Gradio skips after an error.)
        upload.upload(on_upload, upload, image_st).success(
            show_new_image, image_st, new_image_outputs + result_outputs
        )
        upload.upload(lambda: None, None, upload, show_progress="hidden")
        load_btn.click(on_sample, sample, image_st).success(
            show_new_image, image_st, new_image_outputs + result_outputs
        )
        canvas.select(
            on_click, [image_st, display_st, history_st, mode, dilate, feather], click_outputs
        )
        undo_btn.click(on_undo, [image_st, display_st, history_st, dilate, feather], click_outputs)
        clear_btn.click(on_clear, [image_st, display_st, dilate, feather], click_outputs)
        phrase_inputs = [image_st, display_st, phrase, instruction, dilate, feather]
        phrase_btn.click(on_phrase, phrase_inputs, click_outputs)
        phrase.submit(on_phrase, phrase_inputs, click_outputs)
        for widget in (dilate, feather):
            widget.release(
                on_shape,
                [image_st, display_st, history_st, mask_st, target_st, dilate, feather],
                [canvas, status],
            )
        run_btn.click(
            check_run,
            [
                image_st,
                history_st,
                mask_st,
                target_st,
                instruction,
                method,
                dilate,
                feather,
                seed,
                steps,
                text_cfg,
                image_cfg,
            ],
            job_st,
        ).success(on_run, [image_st, job_st, instruction], result_outputs)

    demo.maskedit_workspace = root  # launch serves this folder and nothing else of ours
    return demo


def launch(
    demo: "gr.Blocks",
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    block: bool = True,
    quiet: bool = False,
    allowed_paths: list[str | os.PathLike] | None = None,
) -> str:
    """Serve a page built here on host:port; returns its URL (after Ctrl-C when `block`).

    Gradio serves only its own cache and `allowed_paths` (default: the page's workspace), and
    refuses uploads over MAX_UPLOAD_BYTES before they reach a callback.
    """
    if allowed_paths is None:
        workspace = getattr(demo, "maskedit_workspace", None)
        allowed_paths = [workspace] if workspace is not None else []
    _, url, _ = demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        allowed_paths=[str(p) for p in allowed_paths],
        max_file_size=MAX_UPLOAD_BYTES,
        show_error=True,
        quiet=quiet,
        footer_links=[],
        share=False,
        theme=_theme(),
        css=_CSS,
    )
    return url
