"""`maskedit eval`, `report` and `download`: scores, pages and checkpoints, no diffusion."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from maskedit.cli.options import (
    BackboneFlags,
    ClipOpt,
    DeviceOpt,
    RunDirArg,
    ThresholdOpt,
    check_clip,
    console,
    err_console,
    user_errors,
    with_flags,
)
from maskedit.config import check_threshold
from maskedit.errors import MaskeditError


@with_flags(backbone_flags=BackboneFlags)
def eval_command(
    run_dir: RunDirArg,
    clip: ClipOpt = "auto",
    threshold: ThresholdOpt = None,
    captions: Annotated[
        Path | None, typer.Option("--captions", help="captions.json from a dataset conversion.")
    ] = None,
    device: DeviceOpt = None,
    *,
    backbone_flags: BackboneFlags,
) -> None:
    """Recompute every metric from the images on disk (no diffusion), then the tables."""
    from maskedit.evaluate import evaluate_dir
    from maskedit.metric_models import benchmarks_of
    from maskedit.run_folder import run_lock
    from maskedit.tables import RESULTS_FILE, SUMMARY_FILE, no_cases, read_record

    with user_errors():
        check_threshold(threshold)
        check_clip(clip)
        dirs = _run_folder(
            run_dir,
            writes="metrics.json and the tables are written there",
            files=(RESULTS_FILE, SUMMARY_FILE),
        )
        if not dirs:  # before CLIP loads: an empty folder costs no hub retries
            raise no_cases(run_dir)
        caps = _read_captions(captions) if captions is not None else None
        from maskedit.models import pick_device  # torch: only now

        pick_device(device)
        tiny = all(_tiny(read_record, d) for d in dirs)
        metrics = backbone_flags.choices(clip)
        names = benchmarks_of(dirs)
        pair, backbones = metrics.load(names, tiny=tiny, device=device)
        clips = metrics.benchmark_clips(names, tiny=tiny, device=device)
        with run_lock(run_dir):  # metrics.json and the tables: not while a run writes them
            rows = evaluate_dir(
                run_dir,
                clip=pair,
                threshold=threshold,
                captions=caps,
                backbones=backbones,
                clips=clips,
            )
    cases = len({row["case_id"] for row in rows})
    skipped = f" ({len(dirs) - cases} damaged, skipped)" if cases < len(dirs) else ""
    console.print(
        f"scored {len(rows)} outputs in {cases} cases{skipped} → {run_dir}/summary.csv",
        markup=False,
    )


def _read_captions(path: Path) -> dict:
    """`--captions`: {case id: {"source"/"target"/"local": text or null}}, or one line."""
    from maskedit.datasets import read_captions

    try:
        doc = read_captions(path)
    except (OSError, RecursionError) as err:
        raise MaskeditError(f"--captions '{path}': cannot be read ({err})") from None
    for case_id, entry in doc.items():
        if not all(isinstance(v, str | None) for v in entry.values()):
            raise MaskeditError(
                f"--captions '{path}': case '{case_id}': captions must be text or null"
            )
    return doc


def _tiny(read_record, case_dir: Path) -> bool:
    """Whether a case was made with the tiny models (a damaged record counts as not)."""
    try:
        return bool(read_record(case_dir).get("tiny_models"))
    except MaskeditError:
        return False


def _run_folder(run_dir: Path, writes: str, files: tuple[str, ...]) -> list[Path]:
    """The finished case folders of `run_dir`, which must be a folder this user can write in,
    where `files` are not the user's."""
    import os

    from maskedit.paths import os_problem, path_problem, shown_path
    from maskedit.run_folder import users_file
    from maskedit.tables import case_dirs

    if (problem := path_problem(run_dir)) is not None:
        raise MaskeditError(f"run folder '{shown_path(run_dir)}': {problem}")
    try:
        if run_dir.exists() and not run_dir.is_dir():
            raise MaskeditError(
                f"run folder '{run_dir}': is a file; give the folder a run wrote "
                "(maskedit run … --out DIR)"
            )
        if not run_dir.is_dir():
            raise MaskeditError(f"run folder '{run_dir}': not found")
        dirs = case_dirs(run_dir)
        users = users_file(run_dir, files)
    except OSError as err:
        raise MaskeditError(f"run folder '{run_dir}': {os_problem(err)}") from None
    if not os.access(run_dir, os.W_OK):
        raise MaskeditError(f"run folder '{run_dir}': not writable ({writes})")
    if users is not None:
        raise MaskeditError(
            f"run folder '{run_dir}': holds '{users}', which no maskedit run wrote there "
            f"({writes}); nothing was touched: move it, or give the folder of a run"
        )
    return dirs


def report(
    run_dir: RunDirArg,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            help="CSV of published rows to show beside the benchmark table (docs/evaluation.md).",
        ),
    ] = None,
) -> None:
    """Write run_dir/report.html: tables, plots and every case's pictures (linked from the case
    folders; copy the whole folder to share it), and the benchmark table for converted
    benchmark cases, printed here too."""
    from maskedit.report.benchmark import benchmark_tables, read_reference, table_markdown
    from maskedit.report.html import REPORT_FILE, write_report
    from maskedit.tables import collect_rows, no_cases

    with user_errors():
        if not _run_folder(run_dir, writes="report.html is written there", files=(REPORT_FILE,)):
            raise no_cases(run_dir)
        published = read_reference(reference) if reference is not None else None
        path = write_report(run_dir, published)
        try:
            tables = benchmark_tables(collect_rows(run_dir), published)
        except MaskeditError as err:  # the page says it too
            err_console.print(f"maskedit: warning: no benchmark table: {err}", markup=False)
            tables = []
    for table in tables:
        console.print(table_markdown(table), markup=False, soft_wrap=True)
    console.print(f"wrote {path}")


def download(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Hub ids (default: the editor's default checkpoint, SAM's, CLIP's)."),
    ] = None,
    editor: Annotated[
        str, typer.Option("--editor", help="Whose default checkpoint to fetch (default ip2p).")
    ] = "ip2p",
) -> None:
    """Pre-fetch checkpoints into the standard Hugging Face cache (on a connected machine)."""
    from maskedit.families import editor_spec
    from maskedit.models import download as fetch

    with user_errors():
        editor_spec(editor)  # an unknown editor is one line, before any download
        for path in fetch(ids, editor=editor):
            console.print(f"cached {path}")
