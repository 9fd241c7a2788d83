"""`maskedit convert pie-bench|magicbrush ROOT OUT`: a benchmark folder → a manifest that
`maskedit run` takes as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from maskedit.cli.options import console, user_errors

convert_app = typer.Typer(
    no_args_is_help=True,
    help="Convert a benchmark folder to a manifest (docs/evaluation.md).",
)

RootArg = Annotated[Path, typer.Argument(help="The benchmark's folder, as downloaded.")]
OutArg = Annotated[Path, typer.Argument(help="Where manifest.yaml, masks/ and captions go.")]
MaskSourceOpt = Annotated[
    str,
    typer.Option(
        "--mask-source",
        help="Where the editing masks come from: annotation (an upper bound), click (one "
        "simulated click), phrase, relevance; comma-separated for one case per source. Every "
        "source is scored against the annotation.",
    ),
]
TargetBackendOpt = Annotated[
    str,
    typer.Option("--target-backend", help="The phrase source's model: clipseg or grounded-sam."),
]


def _done(manifest: Path) -> None:
    import yaml

    cases = yaml.safe_load(manifest.read_text(encoding="utf-8"))["cases"]
    console.print(
        f"wrote {len(cases)} cases → {manifest}\n"
        f"next: maskedit run {manifest} --out RESULTS, then maskedit eval RESULTS and "
        "maskedit report RESULTS"
    )


@convert_app.command("pie-bench")
def pie_bench(
    root: RootArg,
    out: OutArg,
    mask_source: MaskSourceOpt = "annotation",
    target_backend: TargetBackendOpt = "clipseg",
) -> None:
    """PIE-Bench (mapping_file.json + annotation_images/)."""
    from maskedit.datasets.pie_bench import pie_bench_to_manifest

    with user_errors():
        manifest = pie_bench_to_manifest(
            root, out, mask_source=mask_source, target_backend=target_backend
        )
    _done(manifest)


@convert_app.command("magicbrush")
def magicbrush(
    root: RootArg,
    out: OutArg,
    mask_source: MaskSourceOpt = "annotation",
    target_backend: TargetBackendOpt = "clipseg",
) -> None:
    """A MagicBrush split (edit_sessions.json + images/), one case per turn."""
    from maskedit.datasets.magicbrush import magicbrush_to_manifest

    with user_errors():
        manifest = magicbrush_to_manifest(
            root, out, mask_source=mask_source, target_backend=target_backend
        )
    _done(manifest)
