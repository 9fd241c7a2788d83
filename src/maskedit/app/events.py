"""What the editing page's events do, without Gradio: photos in, clicks → SAM, phrases, brush,
the run and its results. `web.py` wires these methods to the widgets.

Every step that can fail (reading a file, a click, a phrase, checking a run, the edit) returns
only stored state; the page draws the canvas, the status line and the results in a second step
that cannot fail. So an error is one message and leaves the photo, its mask and the results as
they were. A `MaskeditError` raised here is that message (web.py shows it as a toast).

Several people can share one running app. SAM, the editor pipeline and the phrase models each
have their own lock: a click is answered while someone else's edit runs. A run takes the photo
and its mask as they were when Run was pressed (`RunJob`), so loading a new photo while the run
waits in the queue cannot mix the two.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from maskedit.app import compare
from maskedit.app.canvas import mask_view, overlay, resize_for_display, status_line, to_image_xy
from maskedit.app.clicks import Clicks, add_click, current, drop_corner, undo
from maskedit.app.history import (
    Layer,
    add_layer,
    at_index,
    check_head,
    history_words,
    history_zip,
    kept_result,
    kept_turn,
    mask_file,
    own_masks,
    remove_layer,
    thumbnails,
    turns_folder,
)
from maskedit.app.inputs import example, load_sample, load_upload
from maskedit.app.region import (
    PHRASE_BACKENDS,
    Region,
    brush_layer,
    brushed,
    candidate_labels,
    choose_candidate,
    from_clicks,
    from_mask_file,
    inverted,
    phrase_mask,
    relevance_mask,
    shaped,
)
from maskedit.app.results import (
    next_case_dir,
    output_metrics,
    session_dir,
    write_edit,
    zip_case,
)
from maskedit.app.run import RunJob, RunProgress, parse_seeds, prepare_layers_run, prepare_run
from maskedit.config import EditSettings
from maskedit.errors import InputError
from maskedit.grid import MASK_TINT

if TYPE_CHECKING:
    from maskedit.models import Models
    from maskedit.turns import TurnsEdit

BRUSH_RGBA = (*MASK_TINT, 150)  # the brush editor's mask layer: the overlay's tint
BRUSH_CSS = f"rgba({MASK_TINT[0]}, {MASK_TINT[1]}, {MASK_TINT[2]}, 0.6)"
Progress = Callable[[float, str], None]


@dataclass
class Locks:
    """One lock per shared model, taken in this order when several are needed."""

    pipe: threading.Lock = field(default_factory=threading.Lock)
    sam: threading.Lock = field(default_factory=threading.Lock)
    text: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class View:
    """What the page draws for the photo now: the canvas, the status line (plain text), SAM's
    candidates to pick from (labels) and the one in use."""

    canvas: np.ndarray | None
    status: str
    candidates: list[str]
    chosen: str | None


Photo = tuple[np.ndarray, np.ndarray, tuple[Clicks, ...], Region | None]
# A photo from the history: the photo's state, the turns folder (str) and the region layers (none).
TurnPhoto = tuple[np.ndarray, np.ndarray, tuple[Clicks, ...], None, str, tuple[Layer, ...]]


@dataclass(frozen=True)
class HistoryView:
    """What the history panel shows: the photo and each turn up to head, and one line of words."""

    thumbnails: list[tuple[np.ndarray, str]]
    words: str


class PageEvents:
    """The editing page's event handlers over loaded `models`; cases are written under `root`."""

    def __init__(self, models: Models, root: Path):
        self.models = models
        self.root = Path(root)
        self.locks = Locks()

    # --- photos: (image, display, clicks history, region), all stored state -------------------

    def _photo(self, image: np.ndarray) -> Photo:
        return image, resize_for_display(image), (), None

    def upload(self, path: str | None) -> Photo:
        if path is None:
            raise InputError("upload: no file received")
        return self._photo(load_upload(path))

    def sample(self, name: str | None) -> Photo:
        if not name:
            raise InputError("pick a sample photo first")
        return self._photo(load_sample(name))

    def example(self, label: str) -> tuple[np.ndarray, np.ndarray, tuple[Clicks, ...], Region, str]:
        """A sample, its click and SAM's mask, and the instruction to type: ready to run."""
        ex = example(label)
        image, display, _, _ = self._photo(load_sample(ex.sample))
        history = (add_click(Clicks(), *ex.click, "include"),)
        with self.locks.sam:
            region = from_clicks(self.models.sam, image, history[-1])
        return image, display, history, region, ex.instruction

    # --- the mask: each returns (clicks history, region) or the region -----------------------

    def _sam(self, image: np.ndarray, history: tuple[Clicks, ...]):
        with self.locks.sam:
            return history, from_clicks(self.models.sam, image, current(history))

    def click(self, image, display, history, mode: str, xy) -> tuple[tuple, Region | None]:
        if image is None or display is None:
            raise InputError("load a photo first")
        x, y = to_image_xy(tuple(xy), display.shape[:2], image.shape[:2])
        return self._sam(image, (*history, add_click(current(history), x, y, mode)))

    def undo(self, image, history) -> tuple[tuple, Region | None]:
        if image is None:
            return (), None
        if not history:  # the mask is a phrase's, a file's or painted: keep it
            raise InputError("undo: no click to undo; the mask stays as it is")
        return self._sam(image, undo(history))

    def clear(self) -> tuple[tuple, None]:
        return (), None

    def mode_changed(self, history) -> tuple:
        return drop_corner(tuple(history or ()))

    def candidate(self, region: Region | None, label: str | None) -> Region:
        labels = candidate_labels(region)
        if label not in labels:
            raise InputError("SAM candidate: click on the photo first; only SAM's masks have them")
        return choose_candidate(region, labels.index(label))

    def invert(self, region: Region | None) -> Region:
        return inverted(region)

    def phrase(
        self, image, phrase, instruction, backend: str, seeds, text_cfg, image_cfg
    ) -> tuple[tuple, Region]:
        """A phrase's mask (or where the edit acts) replaces the clicks' mask."""
        if image is None:
            raise InputError("load a photo first")
        key = next((k for k, name in PHRASE_BACKENDS.items() if backend in (k, name)), None)
        if key == "edit":
            settings = self._settings(seeds, text_cfg, image_cfg)
            with self.locks.pipe:
                mask, info = relevance_mask(self.models, image, instruction, settings)
            return (), Region(mask, "edit", info)
        if key is None:
            raise InputError(f"phrase model '{backend}': choose one of the page's")
        with self.locks.sam if key == "grounded-sam" else nullcontext(), self.locks.text:
            mask, info = phrase_mask(self.models, image, phrase, instruction, backend=key)
        return (), Region(mask, "phrase", info)

    def _settings(self, seeds, text_cfg, image_cfg) -> EditSettings:
        if _image_cfg(self.models) is None:
            image_cfg = None  # guidance-distilled editors (kontext) have no image scale
        return EditSettings(seed=parse_seeds(seeds)[0], text_cfg=text_cfg, image_cfg=image_cfg)

    def mask_file(self, image, path) -> tuple[tuple, Region]:
        if image is None:
            raise InputError("load a photo first")
        if path is None:
            raise InputError("mask file: no file received")
        return (), from_mask_file(path, image.shape[:2])

    def brush_start(self, display, region: Region | None) -> dict[str, Any] | None:
        """The brush editor's value: the photo at canvas size, the mask as its paint layer."""
        if display is None:
            return None
        layer = brush_layer(region, display.shape[:2], BRUSH_RGBA)
        return {"background": display, "layers": [layer], "composite": None}

    def brush_apply(self, image, display, region: Region | None, value: dict | None) -> Region:
        """The painted mask, refused when it was painted on another photo's canvas (the brush
        editor still showed the photo before) or when nothing of it is left."""
        if image is None or display is None:
            raise InputError("load a photo first")
        layer = ((value or {}).get("layers") or [None])[0]
        if layer is not None and np.shape(layer)[:2] != display.shape[:2]:
            raise InputError(
                "brush: painted on another photo; open the Brush tab again to paint on this one"
            )
        painted = brushed(region, layer, image.shape[:2])
        if not painted.mask.any():
            raise InputError(
                "brush: the painted mask is empty; paint over the object (Clear drops the mask)"
            )
        return painted

    def view(self, image, display, history, region: Region | None, dilate, feather, only) -> View:
        """The canvas (overlay, or the mask alone) and the status line for the state now."""
        if image is None or display is None:
            return View(None, status_line(None, Clicks(), None), [], None)
        clicks = current(history)
        alpha = shaped(None if region is None else region.mask, dilate, feather)
        hw = image.shape[:2]
        canvas = mask_view(display, alpha) if only else overlay(display, alpha, clicks, hw)
        words = None if region is None else region.describe()
        labels = candidate_labels(region)
        chosen = labels[region.chosen] if labels and region.chosen is not None else None
        return View(canvas, status_line(image, clicks, alpha, words), labels, chosen)

    # --- region layers: each returns the layers --------------------------------------------

    def add_layer(
        self, image, region: Region | None, instruction, layers, session: str | None
    ) -> tuple[Layer, ...]:
        """The current mask with the instruction typed, added as the last region layer."""
        if image is None:
            raise InputError("load a photo first")
        mask = None if region is None else region.mask
        words = None if region is None else region.describe()
        return add_layer(
            tuple(layers or ()), session_dir(self.root, session), mask, instruction, words or ""
        )

    def remove_layer(self, layers, choice) -> tuple[Layer, ...]:
        return remove_layer(tuple(layers or ()), choice)

    # --- the run ---------------------------------------------------------------------------

    def check_any_run(self, layers, image, history, region: Region | None, *fields) -> RunJob:
        """The region layers' run when there are layers, else `check_run` (same fields)."""
        if not layers:
            return self.check_run(image, history, region, *fields)
        _instruction, *fields, image_cfg = fields
        if _image_cfg(self.models) is None:
            image_cfg = None
        return prepare_layers_run(image, tuple(layers), *fields, image_cfg)

    def check_run(self, image, history, region: Region | None, *fields) -> RunJob:
        """`prepare_run` on the widgets' values, in its order (instruction … image guidance)."""
        *fields, image_cfg = fields
        if _image_cfg(self.models) is None:
            image_cfg = None  # guidance-distilled editors (kontext) have no image scale
        mask = None if region is None else region.mask
        record = None if region is None else region.to_record()
        return prepare_run(image, current(history), mask, record, *fields, image_cfg)

    def run(
        self,
        job: RunJob,
        runs: list[compare.Run] | None,
        session: str | None,
        progress: Progress | None = None,
    ) -> compare.Run:
        """Every seed's edit (all ticked methods, one shared baseline each), written to this
        session's folder, as one `Run` of the photo's history."""
        import maskedit

        key = compare.photo_key(job.image)
        number = compare.next_number(runs, key)
        folder = session_dir(self.root, session)
        outputs, baselines, folders, files = [], {}, [], []
        made: dict[int, tuple[Any, dict]] = {}
        bar = RunProgress(len(job.settings), job.methods)
        for i, settings in enumerate(job.settings):
            bar.start_seed(i)

            def step(stage: str, k: int, total: int) -> None:
                if progress is not None:
                    progress(*bar(stage, k, total))

            extra: dict[str, Any] = {}
            if job.layers:  # all layers in one edit: their editor calls share one batch
                if progress is not None:
                    progress(*bar("region layers", 0, 1))
                specs = [layer.spec(settings) for layer in job.layers]
                with self.locks.pipe:
                    edited = maskedit.edit_regions(job.image, specs, models=self.models)
                result = edited.result
                extra = edited.record() if len(specs) > 1 else {}
            else:
                with self.locks.pipe:
                    result = maskedit.edit(
                        job.image,
                        job.instruction,
                        models=self.models,
                        mask=job.mask,
                        settings=settings,
                        progress=step,
                    )
            if progress is not None:
                progress(*bar.writing())
            case_dir = next_case_dir(folder)
            app_info = {**job.app_info, "run": number, "photo": key}
            files += write_edit(result, case_dir, app_info, extra)
            metrics = {m: output_metrics(result, m) for m in result.outputs}
            outputs += compare.group_identical(result, settings.seed, metrics)
            baselines[settings.seed] = result.baseline
            made[settings.seed] = (result, extra)
            folders.append(case_dir)
        if len(folders) > 1:  # several seeds: their files share names, so one zip per case
            files = [zip_case(f) for f in folders]
        notes = compare.alike_notes(
            self.models.kind == "tiny", result.alpha, outputs, len(job.methods)
        )
        return compare.Run(
            number=number,
            photo=key,
            instruction=job.instruction,
            original=job.image,
            baselines={s: b for s, b in baselines.items() if b is not None},
            outputs=tuple(outputs),
            notes=tuple(notes),
            folders=tuple(folders),
            files=tuple(files),
            job=job,
            made=made,
        )

    # --- turns: "keep editing", undo, redo, go to a turn; each returns the photo shown -------

    def keep(
        self, run: compare.Run | None, choice, turns: str | None, session: str | None
    ) -> TurnPhoto:
        """One output of `run` (`choice`: its index in `run.outputs`) kept as the next turn of
        the photo's history: the turn that makes it (that seed and method), written with the
        very result the page showed, not edited again. The canvas then shows the turn's output,
        ready for the next mask and instruction."""
        from maskedit.turns import TurnsEdit

        if run is None or run.job is None:
            raise InputError("keep editing: run an edit first")
        try:
            out = run.outputs[int(choice)]
        except (TypeError, ValueError, IndexError):
            raise InputError("keep editing: pick one of the run's results") from None
        job = run.job
        settings = next(s for s in job.settings if s.seed == out.seed)
        if turns is None:  # the first turn: the history of the photo on the canvas
            folder = turns_folder(session_dir(self.root, session), compare.photo_key(job.image))
            edit = TurnsEdit.open_or_create(folder, job.image)
            edit.goto(None)
        else:
            edit = TurnsEdit.open(turns)
        check_head(edit, job.image)
        mask = None if job.layers else mask_file(edit.folder, job.mask)
        layers = own_masks(job.layers, edit.folder)
        turn = kept_turn(job.instruction, mask, layers, settings, out.methods[0])
        made = None
        if out.seed in run.made:
            result, extra = run.made[out.seed]
            made = (kept_result(result, out.methods[0]), extra)
        with self.locks.pipe:
            edit.add(turn, self.models, made=made)
        return self._turn_photo(edit)

    def _turn_photo(self, edit: TurnsEdit) -> TurnPhoto:
        image, display, history, _ = self._photo(edit.image_at(edit.head))
        return image, display, history, None, str(edit.folder), ()

    def _turns(self, turns: str | None) -> TurnsEdit:
        from maskedit.turns import TurnsEdit

        if turns is None:
            raise InputError("history: no turns yet; run an edit and keep its result first")
        return TurnsEdit.open(turns)

    def turn_undo(self, turns: str | None) -> TurnPhoto:
        edit = self._turns(turns)
        if not edit.path():
            raise InputError("undo: the history is at the photo already")
        edit.undo()
        return self._turn_photo(edit)

    def turn_redo(self, turns: str | None) -> TurnPhoto:
        edit = self._turns(turns)
        if not edit.redo_stack:
            raise InputError("redo: nothing undone to redo")
        edit.redo()
        return self._turn_photo(edit)

    def turn_goto(self, turns: str | None, index: int) -> TurnPhoto:
        """Go to the turn the `index`-th thumbnail shows (0: the photo); keeping a result there
        starts a branch."""
        edit = self._turns(turns)
        edit.goto(at_index(edit, int(index)))
        return self._turn_photo(edit)

    def history_view(self, turns: str | None) -> HistoryView:
        """The history panel for the turns now (drawing: nothing here can fail)."""
        from maskedit.turns import TurnsEdit

        edit = None if turns is None else TurnsEdit.open(turns)
        return HistoryView(thumbnails(edit), history_words(edit))

    def download_history(self, turns: str | None, session: str | None) -> Path:
        """The photo's history (history.json, every turn's folder, the strip) as one zip."""
        edit = self._turns(turns)
        out = session_dir(self.root, session) / "downloads" / f"history-{edit.folder.name}"
        return history_zip(edit, out)


def _image_cfg(models: Models) -> float | None:
    from maskedit.families import EDITORS

    return EDITORS[models.editor].image_cfg
