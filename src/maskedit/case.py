"""One edit in numbered steps: inputs → mask → baseline edit → each method → composite.

The only place that knows the order of the steps. An edit is described once, by `EditRequest`
(`maskedit.request`, which also reads each of its fields); `edit` runs it one editor call at a
time, `maskedit.batch.edit_many` runs several at once.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maskedit.composite import alpha_composite
from maskedit.config import EditSettings, Prompts
from maskedit.editing.editors import (
    check_references,
    check_steps,
    prompt_tokens,
    working_hw,
)
from maskedit.editing.jobs import EditorJob, run_job
from maskedit.editing.methods import check_method, method_steps
from maskedit.errors import InputError, MaskeditWarning
from maskedit.families import editor_spec
from maskedit.harmonize import match_color, poisson_blend
from maskedit.images import (
    alpha_from_array,
    image_and_source,
    read_mask,
    resize_rgb,
    stored_alpha,
)
from maskedit.masks import automatic as auto_masks
from maskedit.masks.sam import SamPrediction
from maskedit.masks.shape import shape_mask
from maskedit.metrics.change import reference_iou
from maskedit.models import Models, models_given
from maskedit.record import EditResult
from maskedit.request import (
    EditRequest,
    as_prompts,
    instruction_of,
    masks_in_memory,
    reference_alpha,
    references_of,
    request_from,
    settings_of,
)
from maskedit.speedups import vae_tiles

Progress = Callable[[str, int, int], None]


@dataclass
class Mask:
    """The edit's region at native size, and where it came from."""

    alpha: np.ndarray  # H×W float32 in [0, 1], shaped
    source: str
    raw_area: float
    prediction: SamPrediction | None = None
    reference: np.ndarray | None = None
    info: dict[str, Any] | None = None
    raw_max: float = 1.0  # the largest alpha before shaping


def edit(
    image: np.ndarray | str | Path,
    instruction: str,
    *,
    models: Models,
    progress: Progress | None = None,
    **request: Any,
) -> EditResult:
    """Edit `image` by `instruction`, only where the mask (or SAM's answer to the prompts) allows.

    The keyword arguments are `EditRequest`'s fields (points, box, mask, settings, methods,
    baseline, target, mask_from, prompts, references,
    reference); `result.outputs` holds one result per
    method.
    `progress(stage, step, total)` is called after every denoising step.
    """
    given = {"image": image, "instruction": instruction, **request}
    steps = edit_steps(request_from(given, "edit: ", "keyword"), models, progress)
    try:
        job = next(steps)  # inputs are checked here, before any model is touched
        while True:
            job = steps.send(run_job(models.pipe, job))
    except StopIteration as done:
        return done.value


def edit_steps(
    request: EditRequest, models: Models, progress: Progress | None = None
) -> Generator[EditorJob, np.ndarray, EditResult]:
    """The edit as a generator: yields each `EditorJob`, is sent its image, returns the result."""
    # 1. Inputs: settings with the editor's defaults, the upright native image, the prompts
    #    checked against its size, the methods against the editor. Nothing touches a model yet.
    t0 = time.perf_counter()
    if progress is not None and not callable(progress):
        raise InputError(
            f"progress: got {type(progress).__name__}, expected a callable(stage, step, total)"
        )
    instruction = instruction_of(request.instruction)
    original, source = image_and_source(request.image)
    request = masks_in_memory(request, original.shape[:2])
    h, w = original.shape[:2]
    prompts = as_prompts(request)
    if prompts is not None:
        prompts.check_inside(w, h)
        if request.reference is not None and prompts.automatic and prompts.mask is not None:
            raise InputError(
                "reference_mask: the mask given beside a target or mask_from is already the "
                "reference; give one of them"
            )
    spec = editor_spec(models_given(models).editor)
    references, reference_sources = references_of(request.references, spec)
    settings = settings_of(request, spec)
    for method in settings.methods:
        check_method(method, settings, spec)
    check_steps(models.pipe, settings.steps, spec.name)
    long_side = settings.working_size or models.working_size
    work_hw = working_hw(models.pipe, (h, w), long_side)
    check_references(models.pipe, references, work_hw, spec.name)
    notes = _notes(models, instruction, work_hw)
    timings = {"read": time.perf_counter() - t0}

    # 2. The mask, resolved here alone: read / SAM / phrase / relevance → refined by clicks →
    #    shaped. The one exception: a relevance mask for the pixel method is read off the
    #    baseline edit's own guidance forwards (no extra UNet call), so that edit runs here.
    t0 = time.perf_counter()
    unmasked, batched, recorded = None, {}, None
    own_forwards = prompts is not None and prompts.mask_from == "edit"
    own_forwards = own_forwards and set(settings.methods) <= {"pixel"}
    if own_forwards:
        recorded = _baseline_job(
            models, original, work_hw, instruction, settings, progress, True, references
        )
        edited, waited = yield from _waiting(_ask(recorded))
        unmasked, batched = resize_rgb(edited, (h, w)), _batched(recorded)
        timings["edit"] = time.perf_counter() - t0 - waited
        t0 = time.perf_counter()
    mask = _resolve_mask(
        models, request, prompts, original, instruction, settings, work_hw, recorded
    )
    if mask.raw_area == 0.0:
        notes.append("the mask is empty: nothing may change, so the output is the input")
    elif float(mask.alpha.max()) < 1.0 / 255.0:  # shaping (erode, feather) erased it
        notes.append(
            f"the mask is empty after shaping (its largest alpha is {mask.alpha.max():.4f}, "
            "below 1/255): the output is the input to within one grey level"
        )
    if 0.0 < mask.raw_area and mask.raw_max < 0.5:  # a 0/1 mask with one stray 2, read as 0-255
        notes.append(
            f"the mask's largest value is {mask.raw_max * 255:.0f} of 255: every pixel mostly "
            "keeps the input (a 0/1 mask holding any other value is read as 0-255; save it as "
            "0/255)"
        )
    for note in notes:
        warnings.warn(note, MaskeditWarning, stacklevel=2)
    timings["mask"] = time.perf_counter() - t0

    # 3. The unmasked baseline: the whole image at the aspect-preserving working size, back to
    #    native size. It is what the plain editor gives, and the pixel method's edit.
    if unmasked is None and (request.baseline or "pixel" in settings.methods):
        t0 = time.perf_counter()
        job = _baseline_job(
            models, original, work_hw, instruction, settings, progress, False, references
        )
        edited, waited = yield from _waiting(_ask(job))
        unmasked, batched = resize_rgb(edited, (h, w)), _batched(job)
        timings["edit"] = time.perf_counter() - t0 - waited

    # 4. Each method's edit, optionally harmonised at the seam, then the native-resolution
    #    composite: outside the mask the output is the input, bit for bit.
    outputs: dict[str, np.ndarray] = {}
    info: dict[str, dict[str, Any]] = {}
    for method in settings.methods:
        t0 = time.perf_counter()
        steps = method_steps(
            method,
            models.pipe,
            spec,
            original,
            mask.alpha,
            instruction,
            settings,
            long_side,
            unmasked,
            progress=_stage(progress, method),
            references=references,
        )
        (method_out, info[method]), waited = yield from _waiting(steps)
        if settings.harmonize == "poisson":
            method_out = poisson_blend(method_out, original, mask.alpha > 0)
        elif settings.harmonize == "color":
            method_out = match_color(method_out, original, mask.alpha > 0)
        outputs[method] = alpha_composite(method_out, original, mask.alpha)
        timings[f"method_{method}"] = time.perf_counter() - t0 - waited

    return EditResult(
        original=original,
        alpha=mask.alpha,
        baseline=unmasked,
        outputs=outputs,
        instruction=instruction,
        settings=settings,
        mask_source=mask.source,
        prompts=prompts,
        sam=mask.prediction,
        working_hw=work_hw,
        models=models.describe(),
        timings=timings,
        image_source=source,
        warnings=notes,
        method_info=info,
        raw_area=mask.raw_area,
        mask_info=mask.info or {},
        reference=mask.reference,
        batch=batched,
        references=reference_sources,
    )


def _resolve_mask(
    models: Models,
    request: EditRequest,
    prompts: Prompts | None,
    original: np.ndarray,
    instruction: str,
    settings: EditSettings,
    work_hw: tuple[int, int],
    baseline_job: EditorJob | None,
) -> Mask:
    """Step 2: the native-size mask from whichever source the request names, then shaped."""
    h, w = original.shape[:2]
    prediction: SamPrediction | None = None
    reference: np.ndarray | None = None
    info: dict[str, Any] = {}
    if isinstance(request.mask, np.ndarray):
        if request.mask.shape != (h, w):
            raise InputError(
                f"mask array: shape {request.mask.shape} does not match the image's {(h, w)}"
            )
        alpha, source = alpha_from_array(request.mask), "array"
    elif prompts.mask is not None and not prompts.automatic:
        alpha, source = read_mask(prompts.mask, (h, w)), "file"
    elif prompts.target is not None:
        phrase_mask = auto_masks.from_phrase(models, original, instruction, prompts)
        alpha, source = phrase_mask.mask.astype(np.float32), f"target:{prompts.target_backend}"
        info["target"] = phrase_mask.to_record()
    elif prompts.mask_from == "edit":
        source = "edit"
        if baseline_job is not None:  # the baseline's own forwards, recorded in step 2
            relevance, calls, where = baseline_job.stats["context"].map(), 0, "own forwards"
        else:
            image = resize_rgb(original, work_hw)
            relevance, calls = auto_masks.relevance_prepass(models, image, instruction, settings)
            where = "pre-pass"
        alpha, info["relevance"] = auto_masks.from_relevance(
            models, original, relevance, prompts, source=where, unet_calls=calls
        )
    else:
        if models.sam is None:
            raise InputError("points/box given but no SAM model is loaded")
        models.sam.set_image(original)
        pts = np.array(prompts.points, dtype=np.float64) if prompts.points else None
        prediction = models.sam.predict(points=pts, box=prompts.box, multimask=prompts.multimask)
        alpha, source = prediction.mask.astype(np.float32), "sam"
    # Clicks refine an automatic mask; a given mask file is then the reference it is scored by,
    # unless the request names its reference itself (a dataset's annotation).
    if prompts is not None and prompts.automatic:
        if prompts.points:
            alpha, prediction = auto_masks.refine_with_points(models, original, alpha, prompts)
        if prompts.mask is not None:
            reference = read_mask(prompts.mask, (h, w))
    if request.reference is not None:
        reference = reference_alpha(request.reference, (h, w))
    raw_area, raw_max = float(np.mean(alpha > 0)), float(alpha.max(initial=0.0))
    if settings.shapes_mask:  # dilate before feathering, so the seam falls outside the object
        alpha = shape_mask(
            alpha > 0.5,
            dilate_px=settings.dilate,
            erode_px=settings.erode,
            feather_px=settings.feather,
            fill_holes=settings.fill_holes,
            largest_only=settings.largest_only,
        )
    if reference is not None:  # the mask as edited with, as mask.png stores it (a feathered
        # edge's 0.5 is 128 there, inside), against the reference: the number eval reads
        info["reference_iou"] = round(reference_iou(stored_alpha(alpha), reference), 6)
    return Mask(alpha, source, raw_area, prediction, reference, info, raw_max)


def _baseline_job(
    models, original, work_hw, instruction, settings, progress, record: bool, references=()
):
    """The unmasked edit's job; `record` also records its relevance map (runs alone)."""
    return EditorJob(
        resize_rgb(original, work_hw),
        instruction,
        settings,
        progress=_stage(progress, "baseline"),
        context=(lambda: auto_masks.recording(models, True)) if record else None,
        references=references,
    )


def _batched(job: EditorJob) -> dict[str, int]:
    """How many cases shared the baseline's denoiser call, when more than one did."""
    return {"baseline": job.stats["batch"]} if job.stats.get("batch", 1) > 1 else {}


def _notes(models: Models, instruction: str, work_hw: tuple[int, int]) -> list[str]:
    """What the user should know about this edit before it runs (warned once the mask is made)."""
    notes = []
    limit = models.pipe.tokenizer.model_max_length
    if (n := prompt_tokens(models.pipe, instruction)) is not None and n > limit:
        notes.append(
            f"the instruction is {n} tokens; the text encoder reads the first {limit}, "
            "the rest is ignored"
        )
    if vae_tiles(models.pipe, work_hw):
        notes.append(
            f"the VAE ran tiled at the working size {work_hw[1]}×{work_hw[0]} "
            "(--vae-tiling; tiles blend at their seams)"
        )
    return notes


def _stage(progress: Progress | None, stage: str):
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
