"""`maskedit app`: click on a photo, see SAM's mask, type an instruction, edit only there.

This module is the page's layout and event wiring only. What the events do lives in `events`
(one method per event, no Gradio), over modules unit tests call without a browser: `clicks`,
`canvas`, `inputs`, `region`, `run`, `results`, `compare`, `history` (turns and region layers).

Every event that can fail is a chain: a first step that returns stored state only, then a drawing
step that cannot fail. A `MaskeditError` becomes a toast (as text, never HTML) and marks no
widget: the page keeps its photo, mask, status line and results. Steps that only check stop
the chain (`_guard`); steps that show their progress or queue place on a widget leave their
outputs as they were instead (`_soft`), so that widget never turns into an error badge. Each new
action closes the toasts of the old ones.

Files: every edit is written into a per-session folder of one workspace (a temp folder by
default); the page serves files from there and from Gradio's own cache only.
"""

# No `from __future__ import annotations`: Gradio reads the callbacks' annotations
# (gr.SelectData, gr.Request) as real classes to know what to inject.

import functools
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from maskedit.app import compare
from maskedit.app.canvas import status_line
from maskedit.app.clicks import Clicks
from maskedit.app.events import BRUSH_CSS, PageEvents
from maskedit.app.history import layer_choices, layers_html
from maskedit.app.inputs import EXAMPLES, MAX_UPLOAD_BYTES, SAMPLES
from maskedit.app.pending import PendingRuns
from maskedit.app.region import PHRASE_BACKENDS, backend_status
from maskedit.app.results import metrics_html
from maskedit.app.texts import CLEAR_TOASTS, paragraphs, plain, toast
from maskedit.config import DEFAULT_SEED, METHODS
from maskedit.errors import MaskeditError
from maskedit.families import EDITORS
from maskedit.images import MAX_PIXELS, SAMPLE_PREFIX

if TYPE_CHECKING:
    import gradio as gr

    from maskedit.models import Models

ERROR_SECONDS = 8  # a toast closes by itself after this, or at the next action

_CSS = """
#canvas img { cursor: crosshair; }
#tiny-banner { background: #c81e1e; color: white; padding: 6px 12px; border-radius: 6px; }
#tiny-banner * { color: white !important; margin: 0; }
#header h2 { margin: 0; } #header p { margin: 2px 0 0; }
#status p, #run-status p, #notes p { margin: 2px 0; }
#run-status { min-height: 44px; }
#notes p { background: #fff8e1; border-left: 4px solid #f0b400; padding: 4px 8px; }
.metrics-scroll { overflow-x: auto; }  /* many metrics: the table scrolls, the method stays */
table.metrics { border: 0; border-collapse: separate; border-spacing: 0; font-size: 13px; }
table.metrics td, table.metrics th { border: 0 solid #ccc; border-width: 0 1px 1px 0;
  padding: 2px 6px; }
table.metrics tr > :first-child { position: sticky; left: 0; border-left-width: 1px;
  background: var(--background-fill-primary); }
table.metrics thead th { border-top-width: 1px; }
/* Gradio sizes a drop zone's hint for a tall box: here one centred line, no icon */
#upload [data-testid=upload-text], #mask-upload [data-testid=upload-text] {
  display: block; height: auto; min-height: 0; padding: 0;
}
#upload [data-testid=upload-icon], #mask-upload [data-testid=upload-icon] { display: none; }
#upload .or, #mask-upload .or { display: inline; }
#layers-list p, #history-words p { margin: 2px 0; } #layers-list ol { margin: 2px 0 2px 20px; }
#history { border: 1px solid #ddd; border-radius: 8px; padding: 8px; }
#keep-row { align-items: end; } #keep { max-height: 48px; }
/* a caption, whole, under its picture (Gradio's sits over the picture, cut short) */
#gallery .grid-wrap, #turns .grid-wrap {  /* none hidden; the pictures start under the label */
  max-height: none; min-height: 0; padding-top: 34px;
}
#gallery .thumbnail-item, #turns .thumbnail-item {
  aspect-ratio: auto; display: flex; flex-direction: column;
}
#gallery .thumbnail-item img, #turns .thumbnail-item img {  /* the picture's own shape */
  height: auto; max-height: 360px; min-height: 0;
}
#gallery .caption-label, #turns .caption-label { position: static; max-width: none;
  white-space: normal; border: 0; border-top: 1px solid var(--border-color-primary);
  border-radius: 0; opacity: 1;
}
@media (max-width: 700px) {  /* a phone: the photo's own height, not a tall letterbox */
  #canvas, #canvas .image-container, #canvas button, #canvas .image-frame {
    height: auto !important;
  }
}
"""


def _theme():
    import gradio as gr

    # System fonts only: the page must not fetch anything from the internet.
    return gr.themes.Default(
        font=("ui-sans-serif", "system-ui", "sans-serif"),
        font_mono=("ui-monospace", "monospace"),
    )


def _guard(fn):
    """A MaskeditError from `fn` (a step whose outputs are stored state only) becomes an error
    toast (escaped text) and stops the chain."""
    import gradio as gr

    @functools.wraps(fn)  # Gradio reads the wrapped signature (gr.Request, gr.Progress)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MaskeditError as err:
            raise gr.Error(toast(str(err)), duration=ERROR_SECONDS, print_exception=False) from None

    return wrapped


def _soft(fn, failed=None):
    """A MaskeditError from `fn` (a step that shows its progress on a widget) becomes a toast;
    the outputs stay as they were (or are `failed(err)`), so no widget shows an error badge."""
    import gradio as gr

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MaskeditError as err:
            gr.Warning(toast(str(err)), duration=ERROR_SECONDS, title="Error")
            return gr.skip() if failed is None else failed(err)

    return wrapped


def build_app(models: "Models", workspace: str | os.PathLike | None = None) -> "gr.Blocks":
    """The editing page over loaded `models`; edits are written under `workspace` (default: a
    new temp folder). Launch it with `launch`, which serves only that folder and Gradio's cache.
    """
    import gradio as gr

    spec = EDITORS[models.editor]  # the sliders start at the loaded editor's own defaults
    root = Path(workspace or tempfile.mkdtemp(prefix="maskedit-app-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    ev = PageEvents(models, root)
    phrase_status = backend_status(models)
    phrase_ok = [(PHRASE_BACKENDS[k], k) for k, why in phrase_status.items() if why is None]
    phrase_off = [
        f"{PHRASE_BACKENDS[k]}: unavailable ({why})." for k, why in phrase_status.items() if why
    ]

    # --- drawing steps (cannot fail) ----------------------------------------------------------
    def draw(image, display, history, region, dilate, feather, only):
        v = ev.view(image, display, history, region, dilate, feather, only)
        picker = gr.Radio(choices=v.candidates, value=v.chosen, visible=bool(v.candidates))
        return v.canvas, plain(v.status), picker

    def show_photo(image, runs):
        """A new photo: no results on show; A/B over this photo's earlier runs, if any."""
        key = None if image is None else compare.photo_key(image)
        mine = compare.for_photo(runs, key)
        a, b = compare.default_pair(mine)
        pick = compare.choices(mine) if mine else []
        return (
            [],
            "",
            "",
            None,
            gr.Dropdown(choices=pick, value=a),
            gr.Dropdown(choices=pick, value=b),
            None,
            plain("Press Run to edit." if image is not None else ""),
            gr.Column(visible=bool(mine)),
        )

    def show_run(pending, key, runs):
        if (run := pending.shown(key)) is None:  # the edit stopped: the results on show stay
            return gr.skip()
        runs = compare.add_run(runs or [], run)
        rows = {o.label: o.metrics for o in run.outputs}
        a, b = compare.default_pair(runs)
        pick = compare.choices(runs)
        seeds = len({o.seed for o in run.outputs})
        made = sum(len(o.methods) for o in run.outputs)  # identical results share a picture
        shown = f" in {len(run.outputs)} picture(s)" if made != len(run.outputs) else ""
        done = (
            f"Run {run.number}: {made} result(s){shown}, {seeds} seed(s) · "
            f"\u201c{run.instruction}\u201d"
        )
        return (
            runs,
            run,
            compare.gallery(run),
            paragraphs(run.notes),
            metrics_html(rows),
            [str(f) for f in run.files],
            gr.Dropdown(choices=pick, value=a),
            gr.Dropdown(choices=pick, value=b),
            _pair(runs, a, b),
            plain(done),
            gr.Column(visible=True),
            show_keep(run),
        )

    def show_keep(run):
        pick = compare.output_choices(run)
        return gr.Dropdown(choices=pick, value=pick[0][1] if pick else None)

    def show_history(turns):
        v = ev.history_view(turns)
        return v.thumbnails, plain(v.words)

    def show_layers(layers):
        pick = layer_choices(layers)
        n = len(layers)
        return (
            layers_html(layers),
            gr.Dropdown(choices=pick, value=pick[-1][1] if pick else None),
            gr.Column(visible=bool(layers)),
            gr.Button(value=f"Run edit ({n} region layer{'s' * (n > 1)})" if n else "Run edit"),
        )

    def _pair(runs, a, b):
        pa, pb = compare.picture(runs, a), compare.picture(runs, b)
        return None if pa is None or pb is None else (pa, pb)

    # --- steps that can fail: stored state only ------------------------------------------------
    def click(image, display, history, mode, evt: gr.SelectData):
        return ev.click(image, display, history, mode, evt.index)

    def run(pending, key, runs, request: gr.Request, progress=gr.Progress()):  # noqa: B008
        session = request.session_hash if request else None
        job, runs = pending.take(key), pending.history(runs)
        pending.keep(key, ev.run(job, runs, session, lambda f, text: progress(f, desc=text)))
        return key, plain("Writing the results…")

    def keep(run, choice, turns, request: gr.Request):
        return ev.keep(run, choice, turns, request.session_hash if request else None)

    def goto(turns, evt: gr.SelectData):
        return ev.turn_goto(turns, evt.index)

    def add_layer(image, region, instruction, layers, request: gr.Request):
        session = request.session_hash if request else None
        return ev.add_layer(image, region, instruction, layers, session)

    def download_history(turns, request: gr.Request):
        path = ev.download_history(turns, request.session_hash if request else None)
        return gr.File(value=str(path), visible=True)

    def run_failed(err):
        return None, plain(f"The edit stopped: {err}")

    with gr.Blocks(
        title="maskedit",
        analytics_enabled=False,
        delete_cache=(3600, 6 * 3600),
    ) as demo:
        gr.HTML(
            "<h2>maskedit — edit only where you click</h2><p>Load a photo, click the object "
            "(SAM draws the mask) or describe it, type an instruction, run. Outside the mask "
            "the result is the input, bit for bit.</p>",
            elem_id="header",
        )
        if models.kind == "tiny":
            gr.HTML(plain(models.note), elem_id="tiny-banner")

        image_st = gr.State(None)  # the photo, H×W×3 uint8
        display_st = gr.State(None)  # the photo at canvas size
        history_st = gr.State(())  # tuple[Clicks, ...]
        region_st = gr.State(None)  # Region: the mask as segmented, and how it came about
        job_st = gr.State(PendingRuns())  # checked runs (RunJob: photo, mask snapshotted) by key
        job_key = gr.Textbox(visible=False)  # a press's key: sent as its run joins the queue
        run_st = gr.State(None)  # the last Run shown (what Keep editing keeps from)
        runs_st = gr.State([])  # the runs of this photo, for A/B
        turns_st = gr.State(None)  # the photo's turns: a TurnsEdit's folder (str), once kept
        layers_st = gr.State(())  # tuple[Layer, ...]: the region layers of the next run

        with gr.Row(elem_id="main"):
            # The photo first: on a narrow screen it comes before the controls.
            with gr.Column(scale=3, min_width=340):
                with gr.Tabs(elem_id="photo-tabs") as photo_tabs:
                    with gr.Tab("Click", id="click", elem_id="tab-click"):
                        canvas = gr.Image(
                            label="Click on the photo",
                            show_label=False,  # Gradio floats it over the photo's corner
                            type="numpy",
                            format="png",
                            interactive=False,
                            buttons=[],
                            height=500,
                            elem_id="canvas",
                        )
                    with gr.Tab("Brush", id="brush", elem_id="tab-brush") as brush_tab:
                        editor = gr.ImageEditor(
                            label="Paint the mask (brush adds, eraser removes)",
                            type="numpy",
                            image_mode="RGBA",
                            format="png",
                            sources=(),
                            transforms=(),
                            layers=gr.LayerOptions(allow_additional_layers=False),
                            brush=gr.Brush(colors=[BRUSH_CSS], color_mode="fixed"),
                            eraser=gr.Eraser(),
                            height=460,
                            elem_id="editor",
                        )
                        brush_btn = gr.Button("Use painted mask", size="sm", elem_id="brush-apply")
                status = gr.HTML(plain(status_line(None, Clicks(), None)), elem_id="status")
                with gr.Row(equal_height=True):
                    mode = gr.Radio(
                        [("Include", "include"), ("Exclude", "exclude"), ("Box", "box")],
                        value="include",
                        label="Click adds",
                        info="Box: click two opposite corners.",
                        scale=3,
                        elem_id="mode",
                    )
                    with gr.Column(scale=2, min_width=200):
                        with gr.Row():
                            undo_btn = gr.Button("Undo click", size="sm", elem_id="undo")
                            clear_btn = gr.Button("Clear", size="sm", elem_id="clear")
                            invert_btn = gr.Button("Invert", size="sm", elem_id="invert")
                        only = gr.Checkbox(label="Show the mask only", elem_id="mask-only")
                candidates = gr.Radio(
                    [], label="SAM's candidates (score)", visible=False, elem_id="candidates"
                )
            with gr.Column(scale=2, min_width=320):
                with gr.Tabs():
                    with gr.Tab("Photo", id="photo"):
                        upload = gr.File(
                            label=f"Upload a photo (≤ {MAX_UPLOAD_BYTES // 2**20} MB, "
                            f"≤ {MAX_PIXELS / 1e6:g} MP)",
                            type="filepath",
                            file_count="single",
                            height=120,
                            elem_id="upload",
                        )
                        with gr.Row(equal_height=True):
                            sample = gr.Dropdown(
                                choices=[(s.removeprefix(SAMPLE_PREFIX), s) for s in SAMPLES],
                                value=None,
                                label="…or a sample photo",
                                scale=3,
                                elem_id="sample",
                            )
                            load_btn = gr.Button("Load", scale=1, elem_id="load-sample")
                        example_btns = [
                            gr.Button(
                                ex.label, size="sm", elem_id=f"example-{i}", elem_classes="example"
                            )
                            for i, ex in enumerate(EXAMPLES)
                        ]
                    with gr.Tab("Describe", id="describe"):
                        phrase = gr.Textbox(
                            label="…or describe the object",
                            placeholder="e.g. the cat (empty: taken from the instruction)",
                            interactive=bool(phrase_ok),
                            elem_id="phrase",
                        )
                        backend = gr.Radio(
                            phrase_ok,
                            value=phrase_ok[0][1] if phrase_ok else None,
                            label="Found by",
                            elem_id="backend",
                        )
                        phrase_btn = gr.Button(
                            "Mask from phrase",
                            size="sm",
                            interactive=bool(phrase_ok),
                            elem_id="phrase-mask",
                        )
                        gr.HTML(paragraphs(phrase_off), elem_id="phrase-off")
                    with gr.Tab("Mask file", id="mask-file"):
                        mask_upload = gr.File(
                            label="A mask the photo's size (white = edit)",
                            type="filepath",
                            file_count="single",
                            height=90,
                            elem_id="mask-upload",
                        )
                instruction = gr.Textbox(
                    label="Instruction",
                    placeholder="e.g. make the jacket red",
                    lines=1,
                    max_lines=3,
                    elem_id="instruction",
                )
                with gr.Row(equal_height=True):
                    methods = gr.CheckboxGroup(
                        list(METHODS),
                        value=[METHODS[0]],
                        label="Methods (tick several to compare)",
                        scale=3,
                        elem_id="methods",
                    )
                    seeds = gr.Textbox(
                        str(DEFAULT_SEED),
                        label="Seeds",
                        info="one or more: 1, 2, 3",
                        max_lines=1,
                        scale=1,
                        min_width=110,
                        elem_id="seeds",
                    )
                run_btn = gr.Button("Run edit", variant="primary", elem_id="run")
                run_status = gr.HTML("", elem_id="run-status")
                layer_add = gr.Button(
                    "Add mask + instruction as a region layer", size="sm", elem_id="layer-add"
                )
                layers_box = gr.Column(visible=False, elem_id="layers")
                with layers_box:
                    layers_list = gr.HTML("", elem_id="layers-list")
                    with gr.Row(equal_height=True):
                        layer_pick = gr.Dropdown(
                            [], label="Region layer", scale=3, elem_id="layer-pick"
                        )
                        layer_remove = gr.Button(
                            "Remove layer", size="sm", scale=1, elem_id="layer-remove"
                        )
                with gr.Accordion("Mask and diffusion settings", open=False, elem_id="settings"):
                    dilate = gr.Slider(0, 64, value=0, step=1, label="Dilate (px)")
                    feather = gr.Slider(0, 32, value=0, step=0.5, label="Feather (px)")
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

        results_box = gr.Column(visible=False, elem_id="results")  # shown once there are results
        with results_box:
            notes = gr.HTML("", elem_id="notes")
            gallery = gr.Gallery(
                label="Results (baseline, then each method and seed)",
                format="png",
                columns=4,
                height="auto",
                object_fit="contain",
                elem_id="gallery",
            )
            with gr.Row(elem_id="keep-row"):
                keep_pick = gr.Dropdown(
                    [], label="Result to edit further", scale=3, elem_id="keep-pick"
                )
                keep_btn = gr.Button(
                    "Keep editing this result", variant="secondary", scale=1, elem_id="keep"
                )
            with gr.Row():
                with gr.Column(scale=2, elem_id="history"):
                    history_words = gr.HTML(
                        plain(ev.history_view(None).words), elem_id="history-words"
                    )
                    turns_gallery = gr.Gallery(
                        label="Turns (click one to go back to it)",
                        format="png",
                        columns=6,
                        height="auto",
                        allow_preview=False,
                        object_fit="contain",
                        elem_id="turns",
                    )
                    with gr.Row():
                        turn_undo = gr.Button("Undo turn", size="sm", elem_id="turn-undo")
                        turn_redo = gr.Button("Redo turn", size="sm", elem_id="turn-redo")
                        history_dl = gr.Button("Download history", size="sm", elem_id="history-dl")
                    history_file = gr.File(
                        label="History (zip)",
                        interactive=False,
                        visible=False,
                        elem_id="history-file",
                    )
                    with gr.Row():
                        pick_a = gr.Dropdown([], label="A (left)", elem_id="pick-a")
                        pick_b = gr.Dropdown([], label="B (right)", elem_id="pick-b")
                    slider = gr.ImageSlider(
                        label="A / B", show_label=False, format="png", elem_id="slider"
                    )
                with gr.Column(scale=1):
                    metrics = gr.HTML("", elem_id="metrics")
                    downloads = gr.File(
                        label="Downloads",
                        file_count="multiple",
                        interactive=False,
                        elem_id="downloads",
                    )

        # --- wiring ----------------------------------------------------------------------------
        photo = [image_st, display_st, history_st, region_st]
        view_in = [*photo, dilate, feather, only]
        view_out = [canvas, status, candidates]
        results_out = [
            gallery,
            notes,
            metrics,
            downloads,
            pick_a,
            pick_b,
            slider,
            run_status,
            results_box,
        ]
        fast = {"concurrency_limit": None}  # drawing: never queued behind a model
        layers_out = [layers_list, layer_pick, layers_box, run_btn]
        turn_photo = [*photo, turns_st, layers_st]  # a photo from the history: layers go

        def act(trigger, fn, inputs, outputs, *, new_photo=False, brush=True, **kwargs):
            """One action: old toasts close, `fn` updates stored state, the page redraws. With
            `brush`, the brush editor too: it shows the photo and mask now, so a painted mask is
            never one painted over another photo or an older mask (clicks, made on the Click
            tab, need not: opening the Brush tab redraws it)."""
            trigger(None, js=CLEAR_TOASTS)
            kwargs.setdefault("show_progress", "hidden")
            ok = trigger(fn, inputs, outputs, **kwargs).success(
                draw, view_in, view_out, show_progress="hidden", **fast
            )
            if brush:
                ok.success(ev.brush_start, [display_st, region_st], editor, **fast)
            if new_photo:
                ok.success(show_photo, [image_st, runs_st], results_out, **fast)
                fresh = ok.success(lambda: (None, ()), None, [turns_st, layers_st], **fast)
                fresh.success(show_history, turns_st, [turns_gallery, history_words], **fast)
                fresh.success(show_layers, layers_st, layers_out, **fast)
            return ok

        def turn_act(trigger, fn, inputs, **kwargs):
            """An action that changes the photo from the history: redraw it, the history and
            the (emptied) layers."""
            ok = act(trigger, fn, inputs, turn_photo, **kwargs)
            ok.success(show_history, turns_st, [turns_gallery, history_words], **fast)
            ok.success(show_layers, layers_st, layers_out, **fast)
            return ok

        # Loading a photo: read and check (stored state only), then show it.
        act(upload.upload, _guard(ev.upload), upload, photo, new_photo=True)
        # The drop zone empties after every upload, good or bad, ready for the next file.
        upload.upload(lambda: None, None, upload, show_progress="hidden")
        act(load_btn.click, _guard(ev.sample), sample, photo, new_photo=True)
        for btn in example_btns:
            act(
                btn.click,
                _soft(ev.example),
                btn,
                [*photo, instruction],
                new_photo=True,
                show_progress="full",
                show_progress_on=status,
            )

        # The mask. Clicks queue (none is dropped) and show their place in the queue.
        act(
            canvas.select,
            _soft(click),
            [image_st, display_st, history_st, mode],
            [history_st, region_st],
            brush=False,
            trigger_mode="multiple",
            show_progress="full",
            show_progress_on=status,
        )
        act(undo_btn.click, _soft(ev.undo), [image_st, history_st], [history_st, region_st])
        act(clear_btn.click, ev.clear, None, [history_st, region_st], **fast)
        act(invert_btn.click, _guard(ev.invert), region_st, region_st, **fast)
        act(mode.input, ev.mode_changed, history_st, history_st, brush=False, **fast)
        act(candidates.input, _guard(ev.candidate), [region_st, candidates], region_st)
        phrase_in = [image_st, phrase, instruction, backend, seeds, text_cfg, image_cfg]
        for trigger in (phrase_btn.click, phrase.submit):
            act(
                trigger,
                _soft(ev.phrase),
                phrase_in,
                [history_st, region_st],
                show_progress="full",
                show_progress_on=status,
            )
        act(mask_upload.upload, _guard(ev.mask_file), [image_st, mask_upload], photo[2:])
        mask_upload.upload(lambda: None, None, mask_upload, show_progress="hidden")
        brush_tab.select(ev.brush_start, [display_st, region_st], editor, **fast)
        act(
            brush_btn.click,
            _guard(ev.brush_apply),
            [image_st, display_st, region_st, editor],
            region_st,
        ).success(lambda: gr.Tabs(selected="click"), None, photo_tabs, **fast)
        for widget in (dilate, feather):
            widget.release(draw, view_in, view_out, show_progress="hidden", **fast)
        only.input(draw, view_in, view_out, show_progress="hidden", **fast)

        # Running: check and snapshot (stored state), edit (its progress and queue place under
        # the Run button), then show the results.
        run_btn.click(None, js=CLEAR_TOASTS)
        run_in = [image_st, history_st, region_st, instruction, methods, dilate, feather, seeds]
        checked = run_btn.click(
            _guard(lambda pending, *fields: pending.add(ev.check_any_run(*fields))),
            [job_st, layers_st, *run_in, steps, text_cfg, image_cfg],
            job_key,
            **fast,
        )
        by_key = [job_st, job_key, runs_st]  # each press's run and results: its own job, by key
        edited = checked.success(
            _soft(run, run_failed),
            by_key,
            [job_key, run_status],
            show_progress_on=run_status,
            trigger_mode="multiple",  # a press while other runs wait queues too
        )
        # The result picker is set in the same step as the status line "Run N: …" (no race).
        shown = [runs_st, run_st, *results_out, keep_pick]
        edited.success(show_run, by_key, shown, trigger_mode="multiple", **fast)

        # Turns: keep a result (the run's own result becomes the next turn), undo, redo, go to
        # a thumbnail's turn; the history as one zip.
        turn_act(
            keep_btn.click,
            _soft(keep),
            [run_st, keep_pick, turns_st],
            show_progress="full",
            show_progress_on=history_words,
        )
        turn_act(turn_undo.click, _guard(ev.turn_undo), turns_st)
        turn_act(turn_redo.click, _guard(ev.turn_redo), turns_st)
        turn_act(turns_gallery.select, _guard(goto), turns_st)
        history_dl.click(None, js=CLEAR_TOASTS)
        history_dl.click(_guard(download_history), turns_st, history_file)

        # Region layers: the mask and instruction now, added last (the later layer wins).
        for trigger, fn, inputs in (
            (layer_add.click, add_layer, [image_st, region_st, instruction, layers_st]),
            (layer_remove.click, ev.remove_layer, [layers_st, layer_pick]),
        ):
            trigger(None, js=CLEAR_TOASTS)
            trigger(_guard(fn), inputs, layers_st, **fast).success(
                show_layers, layers_st, layers_out, **fast
            )
        for dropdown in (pick_a, pick_b):
            dropdown.input(_pair, [runs_st, pick_a, pick_b], slider, **fast)

    demo.maskedit_workspace = root  # launch serves this folder and nothing else of ours
    demo.maskedit_events = ev  # the handlers and their locks (tests hold a lock to see others)
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
    refuses uploads over MAX_UPLOAD_BYTES before they reach a callback. A page's own script
    (`demo.maskedit_js`, e.g. the study's keyboard shortcuts) runs on load.
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
        css=_CSS + getattr(demo, "maskedit_css", ""),
        js=getattr(demo, "maskedit_js", None),
    )
    return url
