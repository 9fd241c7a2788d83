"""Manifest → cases: check everything first, load models once, write each case atomically.

The runner only loops, records and resumes; `case.edit` does the editing. A finished case is
reused only when everything that produced it is the same: its fingerprint (the case, the bytes
of its input files, the models, the change threshold) is kept in record.json, and a case whose
fingerprint changed, or whose folder lost a file, is redone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from maskedit.case import edit
from maskedit.config import (
    RUN_FOLDER_FILES,
    Case,
    EditSettings,
    Manifest,
    ModelOptions,
    Region,
    check_threshold,
)
from maskedit.errors import InputError, MaskeditError, OutputError
from maskedit.evaluate import GROUND_TRUTH_FILE, collect_rows, score_result, write_tables
from maskedit.images import SAMPLE_PREFIX, image_size, read_image, read_mask
from maskedit.models import Models
from maskedit.outputs import (
    CaseFolder,
    append_line,
    dumps_json,
    inspect_case_folder,
    remove_leftovers,
    write_case,
)
from maskedit.paths import os_problem, path_problem, shown_path
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
    """A finished case folder: maskedit's record and every file it names (any fingerprint)."""
    return inspect_case_folder(case_dir).state == "complete"


# --- fingerprints: what produced a case folder -----------------------------------------------

_HASHES: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (kept per path, size and mtime for the life of the process)."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as err:
        raise InputError(f"'{path}': cannot be read ({err.strerror or err})") from None
    key = (str(path.absolute()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        except OSError as err:
            raise InputError(f"'{path}': cannot be read ({err.strerror or err})") from None
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def model_identity(models: Models | ModelOptions | None, case: Case) -> dict[str, Any]:
    """The models that make `case`'s pixels: the options they were loaded with (editor and its
    checkpoint, device, dtype, working size, speed options; the segmenter only when the case
    asks SAM, the phrase model only when it has a phrase)."""
    if models is None:
        return {}
    options = models if isinstance(models, ModelOptions) else getattr(models, "options", None)
    if options is None:  # models the caller built: what they say about themselves
        described = models.describe()
        return {
            k: described.get(k)
            for k in ("kind", "ip2p", "editor", "device", "working_size", "speedups")
        } | ({"sam": described.get("sam")} if case.prompts.needs_sam else {})
    identity = options.model_dump(
        mode="json",
        include={"kind", "editor", "editor_id", "device", "dtype", "working_size", "speedups"},
    )
    if case.prompts.needs_sam:
        identity |= {"segmenter": options.segmenter, "segmenter_id": options.segmenter_id}
    if case.prompts.target is not None:
        identity["text_model"] = options.text_model
    return identity


def case_fingerprint(
    case: Case, models: Models | ModelOptions | None, threshold: float | None = None
) -> str:
    """sha256 over everything that produced a case folder: the case (instruction, prompts,
    settings, captions), the bytes of its image and mask files, the models and the change
    threshold. File paths are left out: moving a manifest with its files changes nothing."""
    doc = case.model_dump(mode="json")
    doc["image"] = case.image if case.image.startswith(SAMPLE_PREFIX) else file_digest(case.image)
    if case.prompts.mask is not None:
        doc["prompts"]["mask"] = file_digest(case.prompts.mask)
    doc["models"] = model_identity(models, case)
    doc["threshold"] = threshold
    text = json.dumps(doc, sort_keys=True, ensure_ascii=True, allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def case_state(case_dir: Path, fingerprint: str) -> CaseFolder:
    """The case folder's state, with `complete` split: `done` (same fingerprint) or `changed`."""
    found = inspect_case_folder(case_dir)
    if found.state != "complete":
        return found
    if found.record.get("fingerprint") == fingerprint:
        return CaseFolder("complete", "done", found.record)
    return CaseFolder("complete", "changed", found.record)


def check_run_folder(manifest: Manifest, out_dir: Path) -> None:
    """Before any model loads: `out_dir` can hold this run, and no case would replace a file or
    folder maskedit did not write (a case id `photos` in a folder that has the user's photos)."""
    if (problem := path_problem(out_dir)) is not None:
        raise OutputError(f"--out '{shown_path(out_dir)}': {problem}")
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputError(f"--out '{out_dir}': exists and is a file, expected a folder")
        if not out_dir.is_dir():
            return
        tables = [n for n in RUN_FOLDER_FILES if (out_dir / n).exists()]
        if tables and not (out_dir / LOCK_FILE).exists():
            raise OutputError(
                f"--out '{out_dir}': holds '{tables[0]}', which no maskedit run wrote there "
                "(the run's own tables would replace it); choose another --out"
            )
        for case in manifest.cases:
            found = inspect_case_folder(out_dir / case.id)
            if found.state == "foreign":
                raise OutputError(
                    f"--out '{out_dir}': case '{case.id}' would replace {found.reason}; "
                    "nothing was touched: rename the case or choose another --out"
                )
    except OSError as err:
        raise OutputError(f"--out '{out_dir}': {os_problem(err)}") from None


@dataclass
class RunSummary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    # done again because their case, inputs or models changed, or their folder lost a file
    redone: list[str] = field(default_factory=list)
    # case folders in the output folder that this manifest does not name (not in the tables)
    others: list[str] = field(default_factory=list)


LOCK_FILE = ".maskedit.lock"
_HELD: dict[Path, int] = {}  # folders this process holds the run lock of, and how many times
_HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """One run per output folder: a second one at the same time stops with a clear message.

    Re-entrant within one process: the CLI takes the lock before the models load and the run
    takes it again."""
    key = Path(os.path.abspath(out_dir))
    with _HELD_GUARD:
        if key in _HELD:
            _HELD[key] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _HELD_GUARD:
                _HELD[key] -= 1
        return
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        handle = open(out_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held for the whole run
    except OSError as err:
        raise OutputError(f"--out '{out_dir}': cannot be written ({os_problem(err)})") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise OutputError(
            f"--out '{out_dir}': another maskedit run is writing there; wait for it or use "
            "another folder"
        ) from None
    with _HELD_GUARD:
        _HELD[key] = 1
    try:
        yield
    finally:
        with _HELD_GUARD:
            del _HELD[key]
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def discard_unused_run_folder(out_dir: Path) -> None:
    """Remove `out_dir` if it holds nothing but the run lock (a run that stopped before writing
    anything, e.g. because its models could not be loaded)."""
    with contextlib.suppress(OSError):
        if os.listdir(out_dir) == [LOCK_FILE]:
            (out_dir / LOCK_FILE).unlink()
            out_dir.rmdir()


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
    `results.jsonl` and `summary.csv` are then rebuilt from the folders of this manifest's cases,
    so a resumed run never duplicates a row. `run_log.jsonl` logs every attempt, failures
    included. A case is skipped only when its folder is complete and its fingerprint
    (`case_fingerprint`) is the one it would get now; `force` redoes every case, and neither
    ever replaces a folder maskedit did not write (`check_run_folder` refuses those first).
    `batch_size` > 1 edits up to that many cases with shared denoiser calls (same image size and
    settings), taking the cases in `batch_order`. `backbones` (`maskedit.evaluate.Backbones`)
    adds the LPIPS and DINO columns.
    """
    check_threshold(threshold)
    out_dir = Path(out_dir)
    check_run_folder(manifest, out_dir)
    with run_lock(out_dir):
        remove_leftovers(out_dir)  # temp folders of a run killed mid-write (kill -9)
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
        ids = [case.id for case in manifest.cases]
        summary.others = other_case_folders(out_dir, ids)
        rows = collect_rows(out_dir, case_ids=ids)
        if rows:
            write_tables(out_dir, rows)
        return summary


def other_case_folders(out_dir: Path, case_ids: list[str]) -> list[str]:
    """Finished case folders in `out_dir` that are not among `case_ids` (another manifest's)."""
    from maskedit.evaluate import case_dirs

    wanted = set(case_ids)
    return [d.name for d in case_dirs(out_dir) if d.name not in wanted]


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


def plan_case(
    case: Case,
    models: Models | ModelOptions | None,
    out_dir: Path,
    *,
    force: bool = False,
    threshold: float | None = None,
) -> tuple[str, str | None, dict]:
    """(fingerprint, why the case is (re)done or None to skip it, the run-log row if it cannot
    run). Why: "new", "changed" (its case, inputs or models), "damaged" or "forced"."""
    try:
        fingerprint = case_fingerprint(case, models, threshold)
    except MaskeditError as err:  # an input vanished since the manifest was checked
        return "", "new", {"case_id": case.id, "status": "failed", "error": str(err)}
    found = case_state(out_dir / case.id, fingerprint)
    if found.state == "foreign":
        error = f"--out '{out_dir}': case '{case.id}' would replace {found.reason}"
        return fingerprint, "new", {"case_id": case.id, "status": "failed", "error": error}
    if found.state == "complete" and (found.reason == "done" or case.turns):
        # a multi-turn folder keeps no case fingerprint: each turn is reused by its own spec
        return fingerprint, ("forced" if force else None), {}
    if found.state == "complete":
        return fingerprint, "changed", {}
    return fingerprint, ("damaged" if found.state == "damaged" else "new"), {}


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
    the same files. A case already finished with the same fingerprint is skipped unless `force`.
    """
    fingerprint, why, failed = plan_case(case, models, out_dir, force=force, threshold=threshold)
    if failed:
        return failed
    if why is None:
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
        clip=clip,
        threshold=threshold,
        backbones=backbones,
        extra=extra,
        fingerprint=fingerprint,
        why=why,
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
    fingerprint: str | None = None,
    why: str = "new",
) -> dict:
    """Score and write one edited case (or log its failure); returns its run-log row.

    `extra`: keys the record adds (a several-region edit's regions and overlaps). A folder
    already there is replaced only when maskedit wrote it (the run checked it first)."""
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
        record = {"captions": case.captions, **(extra or {})}
        if benchmark is not None:
            record["benchmark"] = benchmark
        if fingerprint:
            record["fingerprint"] = fingerprint
        write_case(
            result,
            out_dir / case.id,
            case.id,
            force=True,  # the run checked the folder: absent, or one maskedit wrote
            extra=record,
            metrics=metrics,
            images={GROUND_TRUTH_FILE: truth} if truth is not None else None,
        )
    except MaskeditError as err:
        return {"case_id": case.id, "status": "failed", "error": str(err)}
    row = {"case_id": case.id, "status": "ok", "seconds": round(time.perf_counter() - t0, 3)}
    if why in ("changed", "damaged"):
        row["redone"] = why
    return row


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
    plans: dict[str, tuple[str, str]] | None = None,
) -> list[dict]:
    """Edit several cases with shared denoiser calls (`maskedit.batch`), then write each.

    `cases` are the ones to edit: the run has already left out the finished ones (so that every
    batch is full); `plans` holds each case's (fingerprint, why) from `plan_case`.
    """
    from maskedit.batch import edit_many

    plans = plans or {}
    t0 = time.perf_counter()
    results = edit_many([case_request(c) for c in cases], models=models, batch_size=batch_size)
    share = (time.perf_counter() - t0) / max(len(cases), 1)  # the shared editing, split evenly
    rows = []
    for case, result in zip(cases, results, strict=True):
        start = time.perf_counter() - share  # so "seconds" = its share + its own writing
        fingerprint, why = plans.get(case.id, (None, "new"))
        rows.append(
            finish_case(
                case,
                result,
                out_dir,
                start,
                clip=clip,
                threshold=threshold,
                backbones=backbones,
                fingerprint=fingerprint,
                why=why,
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
    """Append an attempt to run_log.jsonl and count it in the summary (skips are not logged).

    The line is written whole or not at all; a full disk stops the run with one line."""
    if row["status"] == "skipped":
        summary.skipped.append(row["case_id"])
        return
    if row["status"] == "ok":
        summary.done.append(row["case_id"])
        if row.get("redone"):
            summary.redone.append(row["case_id"])
    else:
        summary.failed[row["case_id"]] = row["error"]
    append_line(out_dir / RUN_LOG, dumps_json(row))


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
            todo, plans = [], {}
            for case in manifest.cases:  # finished cases first, so that every batch is full
                fingerprint, why, failed = plan_case(
                    case, models, out_dir, force=force, threshold=threshold
                )
                if failed or why is None:
                    skipped = {"case_id": case.id, "status": "skipped"}
                    log_attempt(out_dir, failed or skipped, summary)
                    bar.advance(task)
                else:
                    todo.append(case)
                    plans[case.id] = (fingerprint, why)
            alone = [c for c in todo if c.turns or c.regions]  # these batch their own calls
            for case in alone:
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
            ordered = batch_order([c for c in todo if not (c.turns or c.regions)])
            for start in range(0, len(ordered), batch_size):
                chunk = ordered[start : start + batch_size]
                bar.update(task, description=f"cases {chunk[0].id}…{chunk[-1].id}")
                for row in process_batch(
                    chunk,
                    models,
                    out_dir,
                    batch_size=batch_size,
                    clip=clip,
                    threshold=threshold,
                    backbones=backbones,
                    plans=plans,
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
