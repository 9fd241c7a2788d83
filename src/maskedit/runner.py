"""Manifest → cases: check everything first, load models once, write each case atomically.

The runner only loops, records and resumes; `case.edit` does the editing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from maskedit.case import edit
from maskedit.config import Case, EditSettings, Manifest, Region
from maskedit.errors import InputError, MaskeditError, OutputError
from maskedit.evaluate import GROUND_TRUTH_FILE, collect_rows, score_result, write_tables
from maskedit.images import image_size, read_image, read_mask
from maskedit.models import Models
from maskedit.outputs import write_case
from maskedit.record import EditResult
from maskedit.regions import edit_regions
from maskedit.turns import run_case_turns

RUN_LOG = "run_log.jsonl"  # every attempt; results.jsonl/summary.csv are derived tables


def check_case(case: Case, where: str = "") -> None:
    """Fail before any model loads: the image and mask exist and the prompts lie on the image.

    Every region of a case with turns or regions is checked (each turn keeps the photo's size).
    """
    try:
        w, h = image_size(case.image)
        for prompts in case.all_prompts:
            if prompts.mask is not None:  # cheap: decode it now, so a bad mask never costs a load
                read_mask(prompts.mask, (h, w))
        for k, turn in enumerate(case.turns, start=1):
            if turn.ground_truth is not None:
                try:
                    image_size(turn.ground_truth)
                except InputError as err:
                    raise InputError(f"turn {k}: ground_truth: {err}") from None
        for i, reference in enumerate(case.references):
            try:
                image_size(reference)
            except InputError as err:
                raise InputError(f"reference {i + 1}: {err}") from None
        if case.reference_mask is not None:
            read_mask(case.reference_mask, (h, w))
        if case.ground_truth is not None:
            image_size(case.ground_truth)
    except InputError as err:
        raise InputError(f"{where}{err}") from None
    for prompts in case.all_prompts:
        prompts.check_inside(w, h, where)


def with_methods(manifest: Manifest, methods: str | list[str]) -> Manifest:
    """The same manifest with every case's methods replaced (e.g. `--methods pixel,latent`)."""

    def change(region: Region) -> Region:
        try:
            settings = EditSettings(**{**region.settings.model_dump(), "methods": methods})
        except ValidationError as err:
            msg = err.errors()[0]["msg"].removeprefix("Value error, ")
            raise InputError(f"--methods: {msg}") from None
        return region.model_copy(update={"settings": settings})

    cases = [case.map_regions(change) for case in manifest.cases]
    return manifest.model_copy(update={"cases": cases})


def case_done(case_dir: Path) -> bool:
    return (case_dir / "record.json").is_file()


@dataclass
class RunSummary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


LOCK_FILE = ".maskedit.lock"


@contextlib.contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """One run per output folder: a second one at the same time stops with a clear message."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        handle = open(out_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held for the whole run
    except OSError as err:
        raise OutputError(f"--out '{out_dir}': cannot be written ({err.strerror})") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise OutputError(
            f"--out '{out_dir}': another maskedit run is writing there; wait for it or use "
            "another folder"
        ) from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def run_manifest(
    manifest: Manifest,
    models: Models,
    out_dir: Path,
    *,
    force: bool = False,
    progress: bool = True,
    clip=None,
    threshold: float | None = None,
    batch_size: int = 1,
    backbones=None,
) -> RunSummary:
    """Run every case not finished yet; a failing case is recorded and the others go on.

    Each case folder (images, record.json, metrics.json) appears whole or not at all; the tables
    `results.jsonl` and `summary.csv` are then rebuilt from all finished folders, so a resumed
    run never duplicates a row. `run_log.jsonl` logs every attempt, failures included.
    `batch_size` > 1 edits up to that many cases with shared denoiser calls (same image size and
    settings), taking the cases in `batch_order`. `backbones` (`maskedit.evaluate.Backbones`)
    adds the LPIPS and DINO columns.
    """
    with run_lock(out_dir):
        summary = _run(
            manifest,
            models,
            out_dir,
            force=force,
            progress=progress,
            clip=clip,
            threshold=threshold,
            batch_size=batch_size,
            backbones=backbones,
        )
        rows = collect_rows(out_dir)
        if rows:
            write_tables(out_dir, rows)
        return summary


def case_request(case: Case) -> dict:
    """The `edit` keyword arguments of a manifest case (models aside)."""
    return dict(
        image=case.image,
        instruction=case.instruction,
        prompts=case.prompts,
        settings=case.settings,
        references=case.references,
        reference=case.reference_mask,
    )


def process_case(
    case: Case,
    models: Models,
    out_dir: Path,
    *,
    force: bool = False,
    clip=None,
    threshold: float | None = None,
    backbones=None,
) -> dict:
    """Edit, score and write one case folder atomically; returns its run-log row.

    The one unit of work of a run: the local loop and the Ray actors both call it, so both give
    the same files. A case already finished is skipped unless `force`.
    """
    if case_done(out_dir / case.id) and not force:
        return {"case_id": case.id, "status": "skipped"}
    if case.turns:  # a multi-turn edit: one folder per turn, resumed at the first not finished
        return run_case_turns(case, models, out_dir, force=force, clip=clip, threshold=threshold)
    t0 = time.perf_counter()
    extra = {}
    try:
        if case.regions:  # several regions, their editor calls batched together
            edited = edit_regions(case.image, case.regions, models=models)
            result, extra = edited.result, edited.record()
        else:
            result = edit(models=models, **case_request(case))
    except MaskeditError as err:
        return {"case_id": case.id, "status": "failed", "error": str(err)}
    return finish_case(
        case,
        result,
        out_dir,
        t0,
        force=force,
        clip=clip,
        threshold=threshold,
        backbones=backbones,
        extra=extra,
    )


def finish_case(
    case: Case,
    result: EditResult | MaskeditError,
    out_dir: Path,
    t0: float,
    *,
    force: bool = False,
    clip=None,
    threshold: float | None = None,
    backbones=None,
    extra: dict | None = None,
) -> dict:
    """Score and write one edited case (or log its failure); returns its run-log row.

    `extra`: keys the record adds (a several-region edit's regions and overlaps)."""
    if isinstance(result, MaskeditError):
        return {"case_id": case.id, "status": "failed", "error": str(result)}
    try:
        truth = read_image(case.ground_truth) if case.ground_truth is not None else None
        benchmark = case.benchmark.model_dump(exclude_none=True) if case.benchmark else None
        metrics = score_result(  # the same rows `maskedit eval` writes
            result,
            case.id,
            captions=case.captions,
            ground_truth=truth,
            benchmark=benchmark,
            clip=clip,
            threshold=threshold,
            backbones=backbones,
        )
        more = extra
        extra = {"captions": case.captions}
        if benchmark is not None:
            extra["benchmark"] = benchmark
        write_case(
            result,
            out_dir / case.id,
            case.id,
            force=force,
            extra={**extra, **(more or {})},
            metrics=metrics,
            images={GROUND_TRUTH_FILE: truth} if truth is not None else None,
        )
    except MaskeditError as err:
        return {"case_id": case.id, "status": "failed", "error": str(err)}
    return {"case_id": case.id, "status": "ok", "seconds": round(time.perf_counter() - t0, 3)}


def batch_order(cases: list[Case]) -> list[Case]:
    """Cases with the same image size and editor settings next to each other (stable), so that
    consecutive cases can share a denoiser batch; unreadable images keep their place at the end."""

    def key(case: Case):
        s = case.settings
        try:
            size = image_size(case.image)
        except MaskeditError:
            size = (0, 0)
        return (size, s.working_size or 0, s.steps or 0, s.text_cfg or 0, s.image_cfg or 0)

    return sorted(cases, key=key)


def process_batch(
    cases: list[Case],
    models: Models,
    out_dir: Path,
    *,
    batch_size: int,
    force: bool = False,
    clip=None,
    threshold: float | None = None,
    backbones=None,
) -> list[dict]:
    """Edit several cases with shared denoiser calls (`maskedit.batch`), then write each.

    `cases` are the ones to edit: the run has already left out the finished ones (so that every
    batch is full), and `force` only lets `write_case` replace folders.
    """
    from maskedit.batch import edit_many

    t0 = time.perf_counter()
    results = edit_many([case_request(c) for c in cases], models=models, batch_size=batch_size)
    share = (time.perf_counter() - t0) / max(len(cases), 1)  # the shared editing, split evenly
    rows = []
    for case, result in zip(cases, results, strict=True):
        start = time.perf_counter() - share  # so "seconds" = its share + its own writing
        rows.append(
            finish_case(
                case,
                result,
                out_dir,
                start,
                force=force,
                clip=clip,
                threshold=threshold,
                backbones=backbones,
            )
        )
    return rows


def progress_bar(show: bool):
    """The cases bar of a run (local or Ray): description, bar, done/total, time left."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ]
    return Progress(*columns, disable=not show, transient=False)


def log_attempt(out_dir: Path, row: dict, summary: RunSummary) -> None:
    """Append an attempt to run_log.jsonl and count it in the summary (skips are not logged)."""
    if row["status"] == "skipped":
        summary.skipped.append(row["case_id"])
        return
    if row["status"] == "ok":
        summary.done.append(row["case_id"])
    else:
        summary.failed[row["case_id"]] = row["error"]
    with open(out_dir / RUN_LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def _run(
    manifest: Manifest,
    models: Models,
    out_dir: Path,
    *,
    force: bool,
    progress: bool,
    clip,
    threshold: float | None,
    batch_size: int = 1,
    backbones=None,
) -> RunSummary:
    summary = RunSummary()
    with progress_bar(progress) as bar:
        task = bar.add_task("cases", total=len(manifest.cases))
        if batch_size > 1:
            todo = []
            for case in manifest.cases:  # finished cases first, so that every batch is full
                if case_done(out_dir / case.id) and not force:
                    log_attempt(out_dir, {"case_id": case.id, "status": "skipped"}, summary)
                    bar.advance(task)
                else:
                    todo.append(case)
            alone = [c for c in todo if c.turns or c.regions]  # these batch their own calls
            for case in alone:
                bar.update(task, description=f"case {case.id}")
                row = process_case(
                    case, models, out_dir, force=force, clip=clip, threshold=threshold
                )
                log_attempt(out_dir, row, summary)
                bar.advance(task)
            ordered = batch_order([c for c in todo if not (c.turns or c.regions)])
            for start in range(0, len(ordered), batch_size):
                chunk = ordered[start : start + batch_size]
                bar.update(task, description=f"cases {chunk[0].id}…{chunk[-1].id}")
                for row in process_batch(
                    chunk,
                    models,
                    out_dir,
                    batch_size=batch_size,
                    force=force,
                    clip=clip,
                    threshold=threshold,
                    backbones=backbones,
                ):
                    log_attempt(out_dir, row, summary)
                    bar.advance(task)
            return summary
        for case in manifest.cases:
            bar.update(task, description=f"case {case.id}")
            row = process_case(
                case,
                models,
                out_dir,
                force=force,
                clip=clip,
                threshold=threshold,
                backbones=backbones,
            )
            log_attempt(out_dir, row, summary)
            bar.advance(task)
    return summary
