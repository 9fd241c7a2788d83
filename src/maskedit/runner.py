"""Manifest → cases: check everything first, load models once, write each case atomically.

The runner only loops, records and resumes; `case.edit` does the editing. A finished case is
reused only when everything that produced it is the same: its fingerprint (the case, the bytes
of its input files, the models) is kept in record.json, and a case whose fingerprint changed, or
whose folder lost a file, is redone. What scored it (the change threshold, the metric networks)
is kept in its metrics.json; a finished case scored otherwise is scored again, not edited again.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np

from maskedit.case import edit
from maskedit.case_plan import plan_case, refused_row
from maskedit.config import (
    Case,
    Manifest,
    check_threshold,
)
from maskedit.errors import InputError, MaskeditError, named_warnings
from maskedit.evaluate import (
    GROUND_TRUTH_FILE,
    score_case_dir,
    score_result,
)
from maskedit.images import image_and_source, image_size, read_image
from maskedit.models import Models
from maskedit.outputs import (
    inspect_case_folder,
    remove_leftovers,
    write_case,
    write_case_metrics,
)
from maskedit.record import HISTORY_FILE, OUTPUT_FILES, EditResult
from maskedit.regions import edit_regions
from maskedit.run_folder import check_run_folder, old_turns_kept, run_lock
from maskedit.run_log import RunSummary, log_attempt, progress_bar
from maskedit.scoring import Scorers, scoring_key
from maskedit.tables import (
    RESULTS_FILE,
    SUMMARY_FILE,
    collect_rows,
    write_tables,
)
from maskedit.turns import TurnsEdit


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
    clips=None,
) -> RunSummary:
    """Run every case not finished yet; a failing case is recorded and the others go on.

    Each case folder (images, record.json, metrics.json) appears whole or not at all; the tables
    `results.jsonl` and `summary.csv` are then rebuilt from the folders of this manifest's cases,
    so a resumed run never duplicates a row. `run_log.jsonl` logs every attempt, failures
    included. A case is skipped only when its folder is complete and its fingerprint
    (`case_fingerprint`) is the one it would get now; `force` redoes every case, and neither
    ever replaces a folder maskedit did not write (`check_run_folder` refuses those first).
    `batch_size` > 1 edits up to that many cases with shared denoiser calls (same image size and
    settings), taking the cases in `batch_order`. `backbones` (`maskedit.scoring.Backbones`)
    adds the LPIPS and DINO columns; `clips` gives a benchmark's cases their own CLIP
    (`Scorers.clips`).
    """
    check_threshold(threshold)
    out_dir = Path(out_dir)
    check_run_folder(manifest, out_dir, force)
    with run_lock(out_dir):
        remove_leftovers(out_dir)  # temp folders of a run killed mid-write (kill -9)
        scorers = Scorers(clip, backbones, threshold, clips)
        summary = RunSummary()
        try:
            _run(manifest, models, out_dir, scorers, force, progress, batch_size, summary)
        finally:  # stopped too (Ctrl-C): the tables show the cases redone before the stop
            finish_run(manifest, out_dir, summary)
        return summary


def finish_run(manifest: Manifest, out_dir: Path, summary: RunSummary) -> None:
    """After a run, finished or stopped: name the case folders of other manifests, and rebuild
    the tables from every scored case of this one (empty when none is, where tables were written
    before). A case that failed now is left out: its folder, if any, holds the result of inputs
    or settings the manifest no longer has (or a damaged one), kept on disk but not counted."""
    ids = [case.id for case in manifest.cases]
    summary.others = other_case_folders(out_dir, ids)
    rows = collect_rows(out_dir, case_ids=[i for i in ids if i not in summary.failed])
    if rows or any((out_dir / name).exists() for name in (RESULTS_FILE, SUMMARY_FILE)):
        write_tables(out_dir, rows)  # a run that made nothing writes none into a new folder
    cases: dict[str, set[str]] = {}
    per_benchmark: dict[Any, set[str]] = {}
    for row in rows:
        if row.get("clip_model"):
            cases.setdefault(row["clip_model"], set()).add(row["case_id"])
            per_benchmark.setdefault(row.get("benchmark"), set()).add(row["clip_model"])
    if len(cases) > 1:
        summary.clip_models = {model: len(ids) for model, ids in sorted(cases.items())}
        summary.clip_per_benchmark = all(len(m) == 1 for m in per_benchmark.values())


def other_case_folders(out_dir: Path, case_ids: list[str]) -> list[str]:
    """Finished case folders in `out_dir` that are not among `case_ids` (another manifest's)."""
    from maskedit.tables import case_dirs

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


def process_case(
    case: Case, models: Models, out_dir: Path, scorers: Scorers, force: bool = False
) -> dict:
    """Edit, score and write one case folder atomically; returns its run-log row.

    The one unit of work of a run: the local loop and the Ray actors both call it, so both give
    the same files. A case already finished with the same fingerprint is skipped unless `force`.
    Its warnings name it ("case 'cat': the mask is empty ...").
    """
    with named_warnings(case_name(case)):
        return _process_case(case, models, out_dir, case_scorers(scorers, case), force)


def case_scorers(scorers: Scorers, case: Case) -> Scorers:
    """What `case` is scored with: its benchmark's own CLIP, where the run has one."""
    return scorers.for_benchmark(case.benchmark.name if case.benchmark is not None else None)


def case_name(case: Case) -> str:
    """How a case's warnings name it."""
    return f"case '{case.id}'"


def _process_case(case: Case, models: Models, out_dir: Path, scorers: Scorers, force: bool) -> dict:
    scoring = scoring_key(scorers)
    fingerprint, why, failed = plan_case(case, models, out_dir, force=force, scoring=scoring)
    if failed:
        return failed
    if why is None:
        return {"case_id": case.id, "status": "skipped"}
    if case.turns:  # a multi-turn edit: one folder per turn, resumed at the first not finished
        row = run_case_turns(
            case,
            models,
            out_dir,
            scorers,
            force=force,
            fingerprint=fingerprint,
            # turns taken again are scored as this run scores: the run that made them may have
            # scored otherwise and been cut short before the edit's own record said so
            rescore=True,
        )
        if why == "rescore" and row.get("turns_taken_again", 0) < len(case.turns):
            why = "damaged"  # a turn whose picture did not read back was edited again
        if row["status"] == "ok" and why in ("changed", "damaged", "rescore"):
            row["rescored" if why == "rescore" else "redone"] = why
        return row
    if why == "rescore":
        row = rescore_case(case, out_dir, scorers)
        if not isinstance(row, InputError):
            return row
        why = "damaged"  # a picture that does not read back: edited again
        refused = inspect_case_folder(out_dir / case.id).not_replaceable
        if refused:  # but not over the user's files: refused before any edit
            return refused_row(case, out_dir, refused, f" ({row})")
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
    return finish_case(case, result, out_dir, t0, scorers, extra, fingerprint, why)


def rescore_case(case: Case, out_dir: Path, scorers: Scorers) -> dict | InputError:
    """A finished case scored again from its folder's pictures (as `maskedit eval` scores it),
    nothing edited again: the run's scoring (`--threshold`, `--clip`, the metric networks)
    differs from what its metrics.json was scored with. Returns its run-log row, or the
    `InputError` of a picture that does not read back (truncated, another size): the case is
    to be edited again."""
    t0 = time.perf_counter()
    case_dir = out_dir / case.id
    try:
        rows = score_case_dir(
            case_dir, clip=scorers.clip, threshold=scorers.threshold, backbones=scorers.backbones
        )
    except InputError as err:
        return err
    except MaskeditError as err:
        return {"case_id": case.id, "status": "failed", "error": str(err)}
    try:
        write_case_metrics(case_dir, rows, scoring_key(scorers))
    except MaskeditError as err:
        return {"case_id": case.id, "status": "failed", "error": str(err)}
    seconds = round(time.perf_counter() - t0, 3)
    return {"case_id": case.id, "status": "ok", "seconds": seconds, "rescored": "rescore"}


def finish_case(
    case: Case,
    result: EditResult | MaskeditError,
    out_dir: Path,
    t0: float,
    scorers: Scorers,
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
            clip=scorers.clip,
            threshold=scorers.threshold,
            backbones=scorers.backbones,
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
            scoring=scoring_key(scorers),
            images={GROUND_TRUTH_FILE: truth} if truth is not None else None,
        )
    except MaskeditError as err:
        return {"case_id": case.id, "status": "failed", "error": str(err)}
    row = {"case_id": case.id, "status": "ok", "seconds": round(time.perf_counter() - t0, 3)}
    if why in ("changed", "damaged"):
        row["redone"] = why
    return row


def batch_key(case: Case) -> tuple:
    """What cases must have in common to share a denoiser batch: image size and editor settings
    (an unreadable image: size 0×0)."""
    s = case.settings
    try:
        size = image_size(case.image)
    except MaskeditError:
        size = (0, 0)
    return (size, s.working_size or 0, s.steps or 0, s.text_cfg or 0, s.image_cfg or 0)


def batch_order(cases: list[Case]) -> list[Case]:
    """Cases with the same image size and editor settings next to each other (stable), so that
    consecutive cases can share a denoiser batch; unreadable images keep their place at the end."""
    return sorted(cases, key=batch_key)


def batch_chunks(cases: list[Case], batch_size: int) -> list[list[Case]]:
    """`cases` in `batch_order`, cut into chunks of at most `batch_size` cases of one
    `batch_key`: a case that cannot share a call does not take a place in another's batch."""
    chunks: list[list[Case]] = []
    for _, same in itertools.groupby(batch_order(cases), key=batch_key):
        same = list(same)
        chunks += [same[k : k + batch_size] for k in range(0, len(same), batch_size)]
    return chunks


def process_batch(
    cases: list[Case],
    models: Models,
    out_dir: Path,
    scorers: Scorers,
    plans: dict[str, tuple[str, str]],
    batch_size: int,
    shrunk=None,
) -> list[dict]:
    """Edit several cases with shared denoiser calls (`maskedit.batch`), then write each.

    `cases` are the ones to edit: the run has already left out the finished ones (so that every
    batch is full); `plans` holds each case's (fingerprint, why) from `plan_case`; `shrunk` is
    told a smaller batch size after running out of memory (`edit_many`).
    """
    from maskedit.batch import edit_many

    t0 = time.perf_counter()
    requests = [{**case_request(c), "name": case_name(c)} for c in cases]
    results = edit_many(requests, models=models, batch_size=batch_size, shrunk=shrunk)
    share = (time.perf_counter() - t0) / max(len(cases), 1)  # the shared editing, split evenly
    rows = []
    for case, result in zip(cases, results, strict=True):
        start = time.perf_counter() - share  # so "seconds" = its share + its own writing
        fingerprint, why = plans.get(case.id, (None, "new"))
        with named_warnings(case_name(case)):
            own = case_scorers(scorers, case)
            row = finish_case(case, result, out_dir, start, own, None, fingerprint, why)
        rows.append(row)
    return rows


def _run(
    manifest: Manifest,
    models: Models,
    out_dir: Path,
    scorers: Scorers,
    force: bool,
    progress: bool,
    batch_size: int,
    summary: RunSummary,
) -> None:
    """Every case, each attempt logged into `summary` as it ends."""
    with progress_bar(progress) as bar:
        task = bar.add_task("cases", total=len(manifest.cases))

        def one(case: Case) -> None:  # a case on its own: its editor calls are not shared
            bar.update(task, description=f"case {case.id}")
            row = process_case(case, models, out_dir, scorers, force)
            log_attempt(out_dir, row, summary)
            bar.advance(task)

        if batch_size > 1:
            todo, plans = [], {}
            for case in manifest.cases:  # finished cases first, so that every batch is full
                scoring = scoring_key(case_scorers(scorers, case))
                fingerprint, why, failed = plan_case(
                    case, models, out_dir, force=force, scoring=scoring
                )
                if failed or why is None:
                    skipped = {"case_id": case.id, "status": "skipped"}
                    log_attempt(out_dir, failed or skipped, summary)
                    bar.advance(task)
                else:
                    todo.append(case)
                    plans[case.id] = (fingerprint, why)
            # several regions and turns batch their own calls; a case to rescore edits nothing
            alone = [c for c in todo if c.turns or c.regions or plans[c.id][1] == "rescore"]
            for case in alone:
                one(case)
            fits = [batch_size]  # out of memory: the later chunks' batches are smaller too
            for chunk in batch_chunks([c for c in todo if c not in alone], batch_size):
                bar.update(task, description=f"cases {chunk[0].id}…{chunk[-1].id}")
                rows = process_batch(chunk, models, out_dir, scorers, plans, fits[-1], fits.append)
                for row in rows:
                    log_attempt(out_dir, row, summary)
                    bar.advance(task)
            return
        for case in manifest.cases:
            one(case)


def run_case_turns(
    case: Case,
    models: Models,
    out_dir: Path,
    scorers: Scorers | None = None,
    *,
    force: bool = False,
    fingerprint: str | None = None,
    rescore: bool = False,
) -> dict[str, Any]:
    """A manifest case with `turns:` into `out_dir/<id>`; returns its run-log row.

    Turns finished by an earlier (interrupted) run are taken again (same spec, models and file
    contents), so the run resumes at the first turn not finished; with `rescore` their metrics
    are scored again with `scorers` (whatever scored them before: a case changed since, or a
    run cut short under other scorers). `force`, or a photo other than
    the folder's, starts the edit again from the photo. `fingerprint` (the case's) goes into
    the edit's record.json.
    """
    t0 = time.perf_counter()
    folder = Path(out_dir) / case.id
    done = 0
    stack = contextlib.ExitStack()
    try:
        again = force or _another_photo(folder, case.image)  # the old turns go, once one is made
        stack.enter_context(old_turns_kept(folder) if again else contextlib.nullcontext())
        benchmark = case.benchmark.model_dump(exclude_none=True) if case.benchmark else None
        session = TurnsEdit.open_or_create(folder, case.image, case.id, benchmark, restart=True)
        if session.benchmark != benchmark:  # the case is no benchmark's now: its rows say so
            session.benchmark = benchmark
            session.save()
        session.goto(None)
        for k, turn in enumerate(case.turns, start=1):
            try:
                _, again = session.add(turn, models, scorers=scorers, chain=case.baseline_chain)
            except MaskeditError as err:
                return {"case_id": case.id, "status": "failed", "error": f"turn {k}: {err}"}
            done += again
        if rescore and done:
            session.rescore(scorers)
        session.write_summary(scorers, fingerprint=fingerprint)
    except MaskeditError as err:
        return {"case_id": case.id, "status": "failed", "error": str(err)}
    finally:
        stack.close()
    seconds = round(time.perf_counter() - t0, 3)
    row = {"case_id": case.id, "status": "ok", "seconds": seconds, "turns": len(case.turns)}
    return {**row, "turns_taken_again": done}


def _another_photo(folder: Path, image: str) -> bool:
    """Whether `folder` holds the turns of a photo other than `image` (a case whose photo
    changed: its turns start again)."""
    kept = folder / OUTPUT_FILES["original"]
    if not (folder / HISTORY_FILE).is_file() or not kept.is_file():
        return False
    try:
        return not np.array_equal(read_image(kept), image_and_source(image)[0])
    except MaskeditError:  # an unreadable photo: the history says so when it is opened
        return False
