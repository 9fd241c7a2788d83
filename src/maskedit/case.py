"""One edit in numbered steps: inputs → mask → baseline edit → each method → composite.

The only place that knows the order of the steps.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from maskedit.composite import alpha_composite
from maskedit.config import EditSettings, Prompts
from maskedit.editing.editors import family_of, resolve_settings, spec_for, working_hw
from maskedit.editing.jobs import EditorJob, run_job
from maskedit.editing.methods import check_method, method_steps
from maskedit.editing.pipeline import prompt_tokens
from maskedit.errors import InputError, MaskeditWarning
from maskedit.harmonize import match_color, poisson_blend
from maskedit.images import read_image, read_mask, resize_rgb
from maskedit.masks import automatic as auto_masks
from maskedit.masks.sam import SamPrediction
from maskedit.masks.shape import shape_mask
from maskedit.models import Models
from maskedit.speedups import vae_tiles


@dataclass
class EditResult:
    """Everything one edit produced, at the input's native resolution."""

    original: np.ndarray  # H×W×3 uint8, upright
    alpha: np.ndarray  # H×W float32 in [0, 1], 1 = edit allowed
    baseline: (
        np.ndarray | None
    )  # H×W×3 uint8: the unmasked IP2P edit at native size (None if skipped)
    outputs: dict[
        str, np.ndarray
    ]  # method → H×W×3 uint8 result; equals `original` where alpha == 0
    instruction: str
    settings: EditSettings
    mask_source: str  # "sam", "file", "array", "target:<backend>" or "edit"
    prompts: Prompts | None
    sam: SamPrediction | None
    working_hw: tuple[int, int]
    models: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    image_source: str = "array"
    warnings: list[str] = field(default_factory=list)
    method_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    raw_area: float = 0.0  # mask area fraction before shaping
    mask_info: dict[str, Any] = field(default_factory=dict)  # phrase/relevance facts, reference IoU
    reference: np.ndarray | None = None  # a given mask the automatic one is scored against
    batch: dict[str, int] = field(default_factory=dict)  # baseline: cases in its shared call

    @property
    def method(self) -> str:
        """The first (primary) method; its result is `blended`."""
        return next(iter(self.outputs))

    @property
    def blended(self) -> np.ndarray:
        return self.outputs[self.method]

    def to_record(self, case_id: str | None = None) -> dict[str, Any]:
        from maskedit.record import build_record

        return build_record(self, case_id)


def _stage(progress, stage: str):
    """Bind a stage name to the user's progress callback (None stays None)."""
    if progress is None:
        return None
    return lambda step, total: progress(stage, step, total)


def _ask(job: EditorJob) -> Generator[EditorJob, np.ndarray, np.ndarray]:
    return (yield job)


def _waiting(steps: Generator[EditorJob, np.ndarray, Any]) -> Generator[EditorJob, np.ndarray, Any]:
    """`yield from steps`, returning (its value, seconds spent on other cases' work).

    In a batch run an edit is suspended while other cases are read, masked and composited; those
    seconds are not this edit's. An editor call it shared counts in full (the record says `batch`).
    """
    waited = 0.0
    try:
        job = next(steps)
        while True:
            t = time.perf_counter()
            image = yield job
            waited += max(0.0, time.perf_counter() - t - job.stats.get("seconds", 0.0))
            job = steps.send(image)
    except StopIteration as done:
        return done.value, waited


def _as_image(image: np.ndarray | str | Path) -> tuple[np.ndarray, str]:
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(
                f"image array: expected H×W×3 uint8 RGB, got {image.shape} {image.dtype}"
            )
        return image, "array"
    return read_image(image), str(image)


def _as_prompts(points, box, mask, **automatic) -> Prompts | None:
    if isinstance(mask, np.ndarray):
        if points is not None or box is not None:
            raise InputError("give either a mask or SAM prompts (points/box), not both")
        return None
    pts = [tuple(p) if len(p) == 3 else (p[0], p[1], 1) for p in (points or [])]
    try:
        return Prompts(
            points=pts,
            box=tuple(box) if box is not None else None,
            mask=Path(mask) if mask is not None else None,
            **{k: v for k, v in automatic.items() if v is not None},
        )
    except ValidationError as err:
        first = err.errors()[0]["msg"]
        raise InputError(f"prompts: {first.removeprefix('Value error, ')}") from None


def edit(
    image: np.ndarray | str | Path,
    instruction: str,
    *,
    models: Models,
    points: list[tuple[float, float] | tuple[float, float, int]] | None = None,
    box: tuple[float, float, float, float] | None = None,
    mask: np.ndarray | str | Path | None = None,
    settings: EditSettings | None = None,
    methods: str | list[str] | tuple[str, ...] | None = None,
    baseline: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    target: str | None = None,
    mask_from: str | None = None,
    prompts: Prompts | None = None,
) -> EditResult:
    """Edit `image` by `instruction`, only where the mask (or SAM's answer to the prompts) allows.

    `image`: a path (or ``skimage:NAME``) or an H×W×3 uint8 array. `points`: (x, y[, label]) in
    image pixels, label 1 include / 0 exclude; `box`: (x0, y0, x1, y1); `mask`: a file or an H×W
    array (bool or alpha in [0, 1]). `methods` ("pixel", "latent", "guidance", "crop", or several)
    overrides `settings.methods`; `result.outputs` holds one result per method. `baseline=False`
    skips the unmasked edit when no method needs it (the pixel method does). `progress(stage, step,
    total)` is called after every denoising step. `target` ("the red car", or "auto" to take it
    from the instruction) or `mask_from="edit"` make the mask without clicks; `prompts` (a
    `Prompts`, as manifests give) replaces all the region arguments.
    """
    arguments = dict(locals())  # every parameter above, forwarded as given
    return drive(edit_steps(**arguments), models)


def drive(steps: Generator[EditorJob, np.ndarray, EditResult], models: Models) -> EditResult:
    """Run one edit's editor jobs one at a time (each the plain diffusers call)."""
    try:
        job = next(steps)  # inputs are checked here, before any model is touched
        while True:
            job = steps.send(run_job(models.pipe, job))
    except StopIteration as done:
        return done.value


def edit_steps(
    image: np.ndarray | str | Path,
    instruction: str,
    *,
    models: Models,
    points: list[tuple[float, float] | tuple[float, float, int]] | None = None,
    box: tuple[float, float, float, float] | None = None,
    mask: np.ndarray | str | Path | None = None,
    settings: EditSettings | None = None,
    methods: str | list[str] | tuple[str, ...] | None = None,
    baseline: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    target: str | None = None,
    mask_from: str | None = None,
    prompts: Prompts | None = None,
) -> Generator[EditorJob, np.ndarray, EditResult]:
    """`edit` as a generator: yields each `EditorJob`, is sent its image, returns the result.

    `edit` drives it one job at a time; `maskedit.batch.edit_many` drives several at once.
    """
    editor = getattr(models, "editor", "ip2p")  # inputs are checked before models are used
    settings = resolve_settings(settings or EditSettings(), spec_for(editor))
    if methods is not None:
        try:
            settings = EditSettings(**{**settings.model_dump(), "methods": methods})
        except ValidationError as err:
            raise InputError(
                f"methods: {err.errors()[0]['msg'].removeprefix('Value error, ')}"
            ) from None
    timings: dict[str, float] = {}
    if not isinstance(instruction, str) or not instruction.strip():
        raise InputError("instruction: is empty; say what to change, e.g. 'make the shirt red'")
    instruction = instruction.strip()

    # 1. Inputs: the upright native image and the prompts, checked against its size.
    t0 = time.perf_counter()
    original, source = _as_image(image)
    h, w = original.shape[:2]
    if prompts is None:
        prompts = _as_prompts(points, box, mask, target=target, mask_from=mask_from)
    if prompts is not None:
        prompts.check_inside(w, h)
    timings["read"] = time.perf_counter() - t0

    # 2. Mask at native size: from an array, a file, SAM on the native image, a phrase, or the
    #    edit's own relevance (a pre-pass, or — for the pixel method — read off the baseline's
    #    own forwards in step 3).
    t0 = time.perf_counter()
    prediction: SamPrediction | None = None
    mask_info: dict[str, Any] = {}
    reference: np.ndarray | None = None
    alpha: np.ndarray | None = None
    own_forwards = False
    if isinstance(mask, np.ndarray):
        if mask.shape != (h, w):
            raise InputError(f"mask array: shape {mask.shape} does not match the image's {(h, w)}")
        alpha = mask.astype(np.float32)
        if mask.dtype != np.bool_:  # a bool mask is already 0/1: skip a full-frame pass
            np.clip(alpha, 0.0, 1.0, out=alpha)
        mask_source = "array"
    elif prompts.mask is not None and not prompts.automatic:
        alpha = read_mask(prompts.mask, (h, w))
        mask_source = "file"
    elif prompts.target is not None:
        phrase_mask = auto_masks.from_phrase(models, original, instruction, prompts)
        alpha = phrase_mask.mask.astype(np.float32)
        mask_source = f"target:{prompts.target_backend}"
        mask_info["target"] = phrase_mask.to_record()
    elif prompts.mask_from == "edit":
        mask_source = "edit"
        own_forwards = set(settings.methods) <= {"pixel"}
    else:
        if models.sam is None:
            raise InputError("points/box given but no SAM model is loaded")
        models.sam.set_image(original)
        pts = np.array(prompts.points, dtype=np.float64) if prompts.points else None
        prediction = models.sam.predict(points=pts, box=prompts.box)
        alpha = prediction.mask.astype(np.float32)
        mask_source = "sam"
    long_side = settings.working_size or models.working_size
    work_hw = working_hw(models.pipe, (h, w), long_side)
    if mask_source == "edit" and not own_forwards:
        relevance, calls = auto_masks.relevance_prepass(
            models, resize_rgb(original, work_hw), instruction, settings
        )
        alpha, mask_info["relevance"] = auto_masks.from_relevance(
            models, original, relevance, prompts, source="pre-pass", unet_calls=calls
        )
    timings["mask"] = time.perf_counter() - t0

    # 3. The unmasked baseline: the whole image at the aspect-preserving working size, back to
    #    native size. It is what plain IP2P gives, and the pixel method's edit.
    t0 = time.perf_counter()
    for method in settings.methods:
        check_method(method, settings, models.pipe)
    notes: list[str] = []
    limit = models.pipe.tokenizer.model_max_length
    if (
        family_of(models.pipe) != "kontext"
        and (n := prompt_tokens(models.pipe, instruction)) > limit
    ):
        notes.append(
            f"the instruction is {n} tokens; the text encoder reads the first {limit}, "
            "the rest is ignored"
        )
    if vae_tiles(models.pipe, work_hw):
        notes.append(
            f"the VAE ran tiled at the working size {work_hw[1]}×{work_hw[0]} "
            "(--vae-tiling; tiles blend at their seams)"
        )
    unmasked: np.ndarray | None = None
    batched: dict[str, int] = {}
    if baseline or "pixel" in settings.methods:
        job = EditorJob(
            resize_rgb(original, work_hw),
            instruction,
            settings,
            progress=_stage(progress, "baseline"),
            context=(lambda: auto_masks.recording(models, True)) if own_forwards else None,
        )
        edited, waited = yield from _waiting(_ask(job))
        recorder = job.stats.get("context")
        unmasked = resize_rgb(edited, (h, w))
        timings["edit"] = time.perf_counter() - t0 - waited
        if job.stats.get("batch", 1) > 1:  # shared one denoiser call with other cases
            batched["baseline"] = job.stats["batch"]
    if own_forwards:  # the relevance map of the edit's own guidance forwards: no extra UNet call
        alpha, mask_info["relevance"] = auto_masks.from_relevance(
            models,
            original,
            recorder.map(),
            prompts,
            source="own forwards",
            unet_calls=0,
        )

    # The mask is final: clicks refine an automatic mask, then shaping; a given mask file is
    # then the reference the automatic mask is scored against.
    if prompts is not None and prompts.automatic:
        if prompts.points:
            alpha, prediction = auto_masks.refine_with_points(models, original, alpha, prompts)
        if prompts.mask is not None:
            reference = read_mask(prompts.mask, (h, w))
            mask_info["reference_iou"] = round(auto_masks.mask_iou(alpha, reference), 6)
    raw_area = float(np.mean(alpha > 0))
    if raw_area == 0.0:
        notes.append("the mask is empty: nothing may change, so the output is the input")
    for note in notes:
        warnings.warn(note, MaskeditWarning, stacklevel=2)
    if settings.shapes_mask:  # dilate before feathering, so the seam falls outside the object
        alpha = shape_mask(
            alpha > 0.5,
            dilate_px=settings.dilate,
            erode_px=settings.erode,
            feather_px=settings.feather,
            fill_holes=settings.fill_holes,
            largest_only=settings.largest_only,
        )

    # 4. Each method's edit, optionally harmonised at the seam, then the native-resolution
    #    composite: outside the mask the output is the input, bit for bit.
    outputs: dict[str, np.ndarray] = {}
    info: dict[str, dict[str, Any]] = {}
    for method in settings.methods:
        t0 = time.perf_counter()
        (method_out, info[method]), waited = yield from _waiting(
            method_steps(
                method,
                models.pipe,
                original,
                alpha,
                instruction,
                settings,
                long_side,
                unmasked,
                progress=_stage(progress, method),
            )
        )
        if settings.harmonize == "poisson":
            method_out = poisson_blend(method_out, original, alpha > 0)
        elif settings.harmonize == "color":
            method_out = match_color(method_out, original, alpha > 0)
        outputs[method] = alpha_composite(method_out, original, alpha)
        timings[f"method_{method}"] = time.perf_counter() - t0 - waited

    return EditResult(
        original=original,
        alpha=alpha,
        baseline=unmasked,
        outputs=outputs,
        instruction=instruction,
        settings=settings,
        mask_source=mask_source,
        prompts=prompts,
        sam=prediction,
        working_hw=work_hw,
        models=models.describe(),
        timings=timings,
        image_source=source,
        warnings=notes,
        method_info=info,
        raw_area=raw_area,
        mask_info=mask_info,
        reference=reference,
        batch=batched,
    )
