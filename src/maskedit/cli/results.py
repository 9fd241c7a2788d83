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
    console,
    err_console,
    user_errors,
    with_flags,
)
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
    import json

    from maskedit.evaluate import (
        benchmarks_of,
        case_dirs,
        evaluate_dir,
        load_metric_models,
        read_record,
    )

    with user_errors():
        if not run_dir.is_dir():
            raise MaskeditError(f"run folder '{run_dir}': not found")
        dirs = case_dirs(run_dir)
        tiny = bool(dirs) and all(read_record(d).get("tiny_models") for d in dirs)
        caps = None
        if captions is not None:
            try:
                caps = json.loads(captions.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise MaskeditError(f"--captions '{captions}': cannot be read ({err})") from None
        pair, backbones = load_metric_models(
            clip,
            backbone_flags.lpips,
            backbone_flags.structure_dino,
            backbone_flags.dino,
            benchmarks=benchmarks_of(dirs),
            tiny=tiny,
            device=device,
        )
        rows = evaluate_dir(
            run_dir, clip=pair, threshold=threshold, captions=caps, backbones=backbones
        )
    console.print(f"scored {len(rows)} outputs in {len(dirs)} cases → {run_dir}/summary.csv")


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
    """Write run_dir/report.html: one self-contained page (grids, tables, plots, and the
    benchmark table for converted benchmark cases, printed here too)."""
    from maskedit.evaluate import collect_rows
    from maskedit.report.benchmark import benchmark_tables, read_reference, table_markdown
    from maskedit.report.html import write_report

    with user_errors():
        if not run_dir.is_dir():
            raise MaskeditError(f"run folder '{run_dir}': not found")
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
