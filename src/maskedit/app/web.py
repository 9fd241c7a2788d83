"""`maskedit app`: click on a photo, see SAM's mask, type an instruction, edit only there.

This module is the page's layout and event wiring only. What the events do lives in modules unit
tests call without a browser: `clicks` (clicks → SAM prompts, undo), `canvas` (display ↔ image
pixels, overlay, status line), `inputs` (uploads, samples), `region` (SAM's or CLIPSeg's mask and
its shaping, through the library), `run` (checks → `maskedit.edit`'s arguments, progress text),
`results` (metrics, the case folder through `write_case`). A `MaskeditError` becomes a message in
the page, and the app keeps serving.

Files: every edit is written into a per-session folder of one workspace (a temp folder by
default); the page serves files from there and from Gradio's own cache only.
"""

# No `from __future__ import annotations`: Gradio reads the callbacks' annotations
# (gr.SelectData, gr.Request) as real classes to know what to inject.

import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from maskedit.app.canvas import overlay, resize_for_display, status_line, to_image_xy
from maskedit.app.clicks import Clicks, add_click, current, undo
from maskedit.app.inputs import MAX_UPLOAD_BYTES, SAMPLES, load_sample, load_upload
from maskedit.app.region import phrase_mask, predict_mask, shaped
from maskedit.app.results import (
    compute_metrics,
    metrics_markdown,
    next_case_dir,
    session_dir,
    write_edit,
)
from maskedit.app.run import prepare_run, progress_text
from maskedit.config import METHODS
from maskedit.errors import MaskeditError
from maskedit.families import EDITORS
from maskedit.images import MAX_PIXELS, SAMPLE_PREFIX

if TYPE_CHECKING:
    import gradio as gr

    from maskedit.models import Models

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

    import maskedit
    from maskedit.config import DEFAULT_SEED

    spec = EDITORS[models.editor]  # the sliders start at the loaded editor's own defaults
    root = Path(workspace or tempfile.mkdtemp(prefix="maskedit-app-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()  # one SamPredictor (one cached embedding) and one pipeline, shared

    def error(err: MaskeditError) -> "gr.Error":
        return gr.Error(str(err), print_exception=False)

    # Loading is two steps: read and check (output: a State only, so an error marks no widget),
    # then, on success, show the new photo and clear the clicks and the results.
    def on_upload(path):
        if path is None:
            raise gr.Error("upload: no file received", print_exception=False)
        try:
            return load_upload(path)
        except MaskeditError as err:
            raise error(err) from None

    def on_sample(name):
        if not name:
            raise gr.Error("pick a sample photo first", print_exception=False)
        try:
            return load_sample(name)
        except MaskeditError as err:
            raise error(err) from None

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
            raise error(err) from None
        alpha = shaped(mask, dilate_px, feather_px)
        canvas = overlay(display, alpha, Clicks())
        return (), mask, target, canvas, status_line(image, Clicks(), alpha, target)

    # Running is two steps too: check everything (output: a State), then, on success, edit,
    # write the case and show the results.
    def check_run(image, history, *fields):
        """`prepare_run` on the widgets' values, in its order (mask … image guidance)."""
        *fields, image_cfg = fields
        if spec.image_cfg is None:  # guidance-distilled editors (kontext) have no image scale
            image_cfg = None
        try:
            return prepare_run(image, current(history), *fields, image_cfg)
        except MaskeditError as err:
            raise error(err) from None

    def on_run(
        image,
        job,
        instruction,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008 - Gradio's way of asking for a progress bar
    ):
        # 1. The edit, as the CLI runs it; the library reports every denoising step.
        def step(stage: str, i: int, n: int) -> None:
            fraction, text = progress_text(stage, i, n)
            progress(fraction, desc=text)

        try:
            with lock:
                result = maskedit.edit(
                    image,
                    instruction,
                    models=models,
                    mask=job.mask,
                    settings=job.settings,
                    progress=step,
                )
        except MaskeditError as err:
            raise error(err) from None

        # 2. The case into this session's folder, and the metrics.
        progress(0.95, desc="writing outputs")
        case_dir = next_case_dir(session_dir(root, request.session_hash if request else None))
        files = write_edit(result, case_dir, job.app_info)
        return (
            result.original,
            result.baseline,
            result.blended,
            (result.original, result.blended),
            metrics_markdown(compute_metrics(result)),
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
        job_st = gr.State(None)  # a checked run (RunJob): mask, settings, the prompts to record

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
                method = gr.Dropdown(choices=list(METHODS), value=METHODS[0], label="Method")
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
