"""`maskedit eval`, `report` and `download`: scores, pages and checkpoints, no diffusion."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from maskedit.cli.options import ClipOpt, DeviceOpt, RunDirArg, ThresholdOpt, console, user_errors
from maskedit.errors import MaskeditError


def eval_command(
    run_dir: RunDirArg,
    clip: ClipOpt = "auto",
    threshold: ThresholdOpt = None,
    captions: Annotated[
        Path | None, typer.Option("--captions", help="captions.json from a dataset conversion.")
    ] = None,
    device: DeviceOpt = None,
) -> None:
    """Recompute every metric from the images on disk (no diffusion), then the tables."""
    import json

    from maskedit.evaluate import case_dirs, evaluate_dir, read_record
    from maskedit.models import clip_for_metrics

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
        rows = evaluate_dir(
            run_dir,
            clip=clip_for_metrics(clip, tiny=tiny, device=device),
            threshold=threshold,
            captions=caps,
        )
    console.print(f"scored {len(rows)} outputs in {len(dirs)} cases → {run_dir}/summary.csv")


def report(run_dir: RunDirArg) -> None:
    """Write run_dir/report.html: one self-contained page (grids, tables, plots)."""
    from maskedit.report.html import write_report

    with user_errors():
        if not run_dir.is_dir():
            raise MaskeditError(f"run folder '{run_dir}': not found")
        path = write_report(run_dir)
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
