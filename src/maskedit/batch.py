"""Several edits at once: their matching editor calls share one denoiser batch (`--batch-size`).

Each edit runs as `maskedit.case.edit_steps`, a generator that yields the editor jobs it needs.
`edit_many` advances all of them, groups the waiting jobs whose calls can be merged (same
family, working size, steps and guidance scales; see `EditorJob.batch_key`) in the order the
cases were given, runs each group in chunks of `batch_size`, and sends every edit its image.
Masks, compositing and everything per case stay per case; only the denoiser calls are shared.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from contextlib import nullcontext
from numbers import Integral
from typing import Any

import numpy as np

from maskedit.case import edit_steps
from maskedit.config.loading import shown
from maskedit.editing.jobs import EditorJob, run_jobs
from maskedit.errors import InputError, MaskeditError, named_warnings
from maskedit.models import Models, models_given
from maskedit.record import EditResult
from maskedit.request import EditRequest, request_from


def edit_many(
    requests: Iterable[dict[str, Any] | EditRequest],
    *,
    models: Models,
    batch_size: int = 4,
    names: Sequence[str | None] | None = None,
    shrunk: Callable[[int], None] | None = None,
) -> list[EditResult | MaskeditError]:
    """`maskedit.edit(**request)` for every request (an `EditRequest` or a dict of its fields;
    a list or any iterable), sharing denoiser calls up to `batch_size`.

    Returns one entry per request, in order: its `EditResult`, or the `MaskeditError` that
    stopped it (the others go on), a malformed request's `InputError` included. Its warnings
    name it: "request 2: the mask is empty ..." (a dict may carry `name` beside the fields to
    say it otherwise, as `progress` may its callback; `names`, one per request, say it in
    their place, None for warnings as they are). With
    `batch_size=1` this is a loop over `edit`. A batch that runs out of GPU memory is redone one
    case at a time, and later batches are half as large (`shrunk`, if given, is called with
    each new size, so a caller's later calls can start there).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
        raise InputError(f"batch_size: got {shown(batch_size)}, expected a whole number ≥ 1")
    pipe = models_given(models).pipe
    if isinstance(requests, Mapping | EditRequest | str) or not isinstance(requests, Iterable):
        raise InputError(
            f"requests: got {type(requests).__name__}, expected a list of EditRequests or dicts"
        )
    if names is not None and (isinstance(names, str) or not isinstance(names, Sequence)):
        raise InputError(f"names: got {shown(names)}, expected a list of names, one per request")
    steps: list[Generator[EditorJob, np.ndarray, EditResult] | None] = []
    results: list[EditResult | MaskeditError | None] = []
    named: list[str | None] = []
    for n, given in enumerate(requests, start=1):
        named.append(_name(given, n) if names is None or n > len(names) else names[n - 1])
        try:
            request, progress = _request(given, n)
        except InputError as err:  # this request alone is malformed: its slot says so
            steps.append(None)
            results.append(err)
            continue
        steps.append(edit_steps(request, models, progress))
        results.append(None)
    waiting: dict[int, EditorJob] = {}

    def advance(i: int, value: Any = None) -> None:
        try:
            if isinstance(value, MaskeditError):
                steps[i].close()
                results[i] = value
                return
            with named_warnings(named[i]) if named[i] else nullcontext():
                waiting[i] = steps[i].send(value)
        except StopIteration as done:
            results[i] = done.value
        except MaskeditError as err:
            results[i] = err

    for i in range(len(steps)):
        if steps[i] is not None:
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
                    if shrunk is not None:
                        shrunk(batch_size)
                for i, out in zip(chunk, outs, strict=True):
                    advance(i, out)
    return results  # type: ignore[return-value]


def _name(request: Any, n: int) -> str:
    """What request `n`'s warnings call it: its `name`, or "request n"."""
    name = request.get("name") if isinstance(request, Mapping) else None
    return name if isinstance(name, str) and name.strip() else f"request {n}"


def _request(request: Any, n: int) -> tuple[EditRequest, Any]:
    """Request `n` (from 1) and its progress callback (a dict may carry `progress` beside the
    fields); a malformed one is an `InputError` naming it, so it fails alone."""
    if isinstance(request, EditRequest):
        return request, None
    if not isinstance(request, Mapping):
        raise InputError(
            f"request {n}: got {type(request).__name__}, expected an EditRequest or a dict of "
            "its fields"
        )
    fields = dict(request)
    progress = fields.pop("progress", None)
    fields.pop("name", None)
    return request_from(fields, f"request {n}: "), progress
