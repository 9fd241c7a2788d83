"""Editor calls as jobs: the one way maskedit calls an editor, alone or several cases at once.

An edit (`maskedit.case`) yields an `EditorJob` wherever it needs the editor and gets the
edited image back. `run_jobs` runs one job as exactly the plain diffusers call, or several
matching jobs (same family, working size, steps and guidance scales) as one call: prompts, images
and generators as lists, so every sample draws the noise its own seed draws alone. Latent blends
act per sample, and masked guidance uses one mask per sample (all ones — no change — for the
samples that do not use it). Batched results differ from one-at-a-time runs only by the
floating-point order of batched kernels (a grey level at most, measured). Editors whose pipeline
cannot batch different sources (Qwen-Image-Edit-Plus refuses, FLUX.2 [klein] shares its images
across the batch) and jobs with reference images always run alone.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from maskedit.config import EditSettings
from maskedit.editing.editors import (
    SourceLatents,
    add_step_callback,
    call_pipeline,
    denoiser,
    finished,
    make_generator,
    plain_kwargs,
    token_mask,
)
from maskedit.editing.guidance import masked_cfg_guidance, masked_text_guidance
from maskedit.errors import InputError, MaskeditError, RunFailure
from maskedit.families import family_of


@dataclass
class EditorJob:
    """One editor call: an image at the working size, its instruction and settings, and hooks."""

    image: np.ndarray  # H×W×3 uint8, at the working size
    instruction: str
    settings: EditSettings
    blend: Any = None  # a LatentBlend, applied to this sample after every step
    guidance_mask: np.ndarray | None = None  # (h, w) latent mask: masked text guidance
    # more images after the source, for editors that take them (H×W×3 uint8, native size)
    references: tuple[np.ndarray, ...] = ()
    progress: Callable[[int, int], None] | None = None
    # Hooks that must see this call alone (e.g. the relevance recorder): the job runs solo, and
    # what the context manager yields is kept in `stats["context"]`.
    context: Callable[[], contextlib.AbstractContextManager] | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def batch_key(self, pipe) -> tuple | None:
        """Jobs with equal keys can share a call; None: this job runs alone."""
        family = family_of(pipe)
        if self.context is not None or not family.batchable or self.references:
            return None
        s = self.settings
        return (family.name, self.image.shape, s.steps, s.text_cfg, s.image_cfg)


def run_jobs(pipe, jobs: list[EditorJob]) -> list[np.ndarray | RunFailure]:
    """Run one job, or matching jobs as one call; a NaN sample is a RunFailure in its slot.

    Out of GPU memory in a batch, the jobs are retried one at a time (marked
    `stats["oom_fallback"]`, so the caller can shrink its batches) before anything fails. A
    batch whose call fails otherwise (one job's progress callback raises) is retried one at a
    time too, so a failure stays in the slots of the jobs that fail alone.
    """
    keys = {job.batch_key(pipe) for job in jobs}
    if len(jobs) > 1 and (None in keys or len(keys) != 1):
        raise ValueError("run_jobs: these jobs cannot share one call")
    out_of_memory = False
    try:
        return _call_or_fail(pipe, jobs)
    except torch.cuda.OutOfMemoryError:
        out_of_memory = True  # recover below: inside `except` the traceback holds the tensors
    except RunFailure:
        if len(jobs) == 1:
            raise
    if out_of_memory:
        gc.collect()
        torch.cuda.empty_cache()
    outs: list[np.ndarray | RunFailure] = []
    for job in jobs:
        if job.blend is not None:
            job.blend.reset()  # the aborted call's steps do not count
        try:
            outs.extend(_call_or_fail(pipe, [job]))
        except RunFailure as err:
            outs.append(err)
        if out_of_memory:
            job.stats["oom_fallback"] = True
    return outs


def run_job(pipe, job: EditorJob) -> np.ndarray:
    """One job by itself (the plain diffusers call plus its hooks); a NaN output raises."""
    (out,) = run_jobs(pipe, [job])
    if isinstance(out, RunFailure):
        raise out
    return out


@contextlib.contextmanager
def _vae_slicing(pipe, on: bool):
    """VAE encode/decode one sample at a time inside a batched call: each sample then goes through
    exactly the one-at-a-time VAE computation, and the VAE's memory peak stays that of one."""
    vae = getattr(pipe, "vae", None)
    if not on or vae is None or not hasattr(vae, "use_slicing"):
        yield
        return
    before = vae.use_slicing
    vae.use_slicing = True
    try:
        yield
    finally:
        vae.use_slicing = before


def _masked_guidance(pipe, masks: list[np.ndarray]) -> contextlib.AbstractContextManager:
    """The family's masked guidance with one (h, w) latent mask per sample: IP2P's text term in
    the UNet's 3-way batch, or the (positive − negative) term at the scheduler step (true CFG)."""
    if family_of(pipe).text_guidance:
        mask = masks[0] if len(masks) == 1 else np.stack(masks)
        return masked_text_guidance(denoiser(pipe), mask)
    tokens = torch.cat([token_mask(pipe, m) for m in masks])  # (B, tokens, 1)
    return masked_cfg_guidance(denoiser(pipe), pipe.scheduler, tokens)


def _call_or_fail(pipe, jobs: list[EditorJob]) -> list[np.ndarray | RunFailure]:
    """`_call`, where any other error of the call (a scheduler that cannot run these steps, a
    progress callback that raises) is a `RunFailure` naming the call, so a batch keeps the other
    cases' results. Out of memory, maskedit's own errors and interrupts pass through as they are."""
    try:
        return _call(pipe, jobs)
    except (MaskeditError, torch.cuda.OutOfMemoryError, MemoryError):
        raise
    except Exception as err:
        settings = jobs[0].settings
        what = " ".join(f"{type(err).__name__}: {err}".split())
        raise RunFailure(
            f"the {family_of(pipe).name} editor ({type(pipe).__name__} with "
            f"{type(pipe.scheduler).__name__}, {settings.steps} steps) failed: {what}"
        ) from err


def step_callback_dropped(pipe, kwargs: dict[str, Any]) -> InputError:
    """The error of a call that never ran the step callback it was given (a user's `__call__`
    that puts its own in its place): the latent blend acts there, so without it the method's
    result would be the unblended edit, with nothing said."""
    name = "callback" if "callback" in kwargs else "callback_on_step_end"
    return InputError(
        f"editor pipeline {type(pipe).__name__}: its call never ran the step callback it was "
        f"given ({name}), so the latent method's blend could not act; a __call__ that sets its "
        "own must call the one it is given"
    )


def _call(pipe, jobs: list[EditorJob]) -> list[np.ndarray | RunFailure]:
    """The pipeline call for these jobs: the plain arguments (as lists for a batch) and hooks."""
    first = jobs[0]
    kwargs = plain_kwargs(pipe, first.image, first.instruction, first.settings, first.references)
    if len(jobs) > 1:
        kwargs.update(
            prompt=[job.instruction for job in jobs],
            image=[Image.fromarray(job.image) for job in jobs],
            generator=[make_generator(job.settings.seed) for job in jobs],
        )
        if "negative_prompt" in kwargs:  # one per sample, like the prompts
            kwargs["negative_prompt"] = [kwargs["negative_prompt"]] * len(jobs)
    blends = [job.blend for job in jobs]
    capture = SourceLatents(pipe) if any(blends) else None
    ran: list[int] = []  # the steps the pipeline's call ran the step callback after

    def after_step(step: int, timestep, latents: torch.Tensor) -> torch.Tensor | None:
        total = len(pipe.scheduler.timesteps)  # the scheduler's own count (PNDM: steps + 1)
        ran.append(step)
        new = None
        if capture is not None:
            z0 = capture.z0(latents)
            rows = []
            for i, blend in enumerate(blends):
                row = latents[i : i + 1]
                out = None if blend is None else blend(pipe, step, timestep, row, z0[i : i + 1])
                rows.append(row if out is None else out)
            new = rows[0] if len(rows) == 1 else torch.cat(rows)
        for job in jobs:
            if job.progress is not None:
                job.progress(step + 1, total)
        return new

    if capture is not None or any(job.progress for job in jobs):
        add_step_callback(pipe, kwargs, after_step)
    with contextlib.ExitStack() as stack:
        if len(jobs) == 1 and first.context is not None:
            first.stats["context"] = stack.enter_context(first.context())
        stack.enter_context(_vae_slicing(pipe, len(jobs) > 1))
        if capture is not None:
            stack.enter_context(capture)
        guided = [job.guidance_mask for job in jobs if job.guidance_mask is not None]
        if guided:  # all ones (no change) for the samples that do not use it
            ones = np.ones_like(guided[0])
            masks = [ones if job.guidance_mask is None else job.guidance_mask for job in jobs]
            stats = stack.enter_context(_masked_guidance(pipe, masks))
        t0 = time.perf_counter()
        images = call_pipeline(pipe, kwargs, first.image.shape[:2])
        seconds = time.perf_counter() - t0
    if capture is not None and not ran:
        raise step_callback_dropped(pipe, kwargs)
    for job in jobs:
        job.stats["batch"] = len(jobs)
        job.stats["seconds"] = seconds  # the (shared) call's wall time
        if job.guidance_mask is not None:
            job.stats["guidance"] = stats
    return [finished(image, pipe) for image in images]
