"""Several edits at once: their matching editor calls share one denoiser batch (`--batch-size`).

Each edit runs as `maskedit.case.edit_steps`, a generator that yields the editor jobs it needs.
`edit_many` advances all of them, groups the waiting jobs whose calls can be merged (same
family, working size, steps and guidance scales; see `EditorJob.batch_key`) in the order the
cases were given, runs each group in chunks of `batch_size`, and sends every edit its image.
Masks, compositing and everything per case stay per case; only the denoiser calls are shared.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

from maskedit.case import edit_steps
from maskedit.editing.jobs import EditorJob, run_jobs
from maskedit.errors import MaskeditError
from maskedit.models import Models
from maskedit.record import EditResult
from maskedit.request import EditRequest


def edit_many(
    requests: list[dict[str, Any] | EditRequest], *, models: Models, batch_size: int = 4
) -> list[EditResult | MaskeditError]:
    """`maskedit.edit(**request)` for every request (an `EditRequest` or a dict of its fields),
    sharing denoiser calls up to `batch_size`.

    Returns one entry per request, in order: its `EditResult`, or the `MaskeditError` that
    stopped it (the others go on). With `batch_size=1` this is a loop over `edit`. A batch that
    runs out of GPU memory is redone one case at a time, and later batches are half as large.
    """
    if batch_size < 1:
        raise ValueError(f"edit_many: batch_size must be ≥ 1, got {batch_size}")
    pipe = models.pipe
    steps: list[Generator[EditorJob, np.ndarray, EditResult]] = [
        edit_steps(request, models, progress) for request, progress in map(_request, requests)
    ]
    results: list[EditResult | MaskeditError | None] = [None] * len(requests)
    waiting: dict[int, EditorJob] = {}

    def advance(i: int, value: Any = None) -> None:
        try:
            if isinstance(value, MaskeditError):
                steps[i].close()
                results[i] = value
                return
            waiting[i] = steps[i].send(value)
        except StopIteration as done:
            results[i] = done.value
        except MaskeditError as err:
            results[i] = err

    for i in range(len(steps)):
        advance(i)  # each edit reads its inputs and makes its mask up to its first editor job
    while waiting:
        groups: dict[Any, list[int]] = {}
        for i, job in waiting.items():
            key = job.batch_key(pipe)
            groups.setdefault(("solo", i) if key is None else key, []).append(i)
        for members in groups.values():
            size = batch_size
            for chunk in [members[k : k + size] for k in range(0, len(members), size)]:
                jobs = [waiting.pop(i) for i in chunk]
                try:
                    outs: list[Any] = run_jobs(pipe, jobs)
                except MaskeditError as err:  # the call failed for every case in it
                    outs = [err] * len(chunk)
                if any(job.stats.get("oom_fallback") for job in jobs):
                    batch_size = max(1, len(chunk) // 2)  # did not fit: smaller from now on
                for i, out in zip(chunk, outs, strict=True):
                    advance(i, out)
    return results  # type: ignore[return-value]


def _request(request: dict[str, Any] | EditRequest) -> tuple[EditRequest, Any]:
    """The request and its progress callback (a dict may carry `progress` beside the fields)."""
    if isinstance(request, EditRequest):
        return request, None
    fields = dict(request)
    progress = fields.pop("progress", None)
    return EditRequest(**fields), progress
