"""`maskedit convert pie-bench|magicbrush|magicbrush-turns ROOT OUT`: a benchmark folder → a
manifest that `maskedit run` takes as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from maskedit.cli.options import console, listed, user_errors

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
        f"wrote {len(cases)} case{'s' if len(cases) != 1 else ''} → {manifest}\n"
        f"next: maskedit run {manifest} --out RESULTS, then maskedit eval RESULTS and "
        "maskedit report RESULTS"
    )


def _command(name: str, function: str, doc: str) -> None:
    """`maskedit convert NAME ROOT OUT`: `maskedit.datasets.<module>.<function>` on the folder."""

    def command(
        root: RootArg,
        out: OutArg,
        mask_source: MaskSourceOpt = "annotation",
        target_backend: TargetBackendOpt = "clipseg",
    ) -> None:
        import importlib

        module = importlib.import_module(f"maskedit.datasets.{name.replace('-', '_')}")
        with user_errors():
            manifest = getattr(module, function)(
                root, out, mask_source=mask_source, target_backend=target_backend
            )
        _done(manifest)

    command.__doc__ = doc
    convert_app.command(name, short_help=listed(command))(command)


_command(
    "pie-bench", "pie_bench_to_manifest", "PIE-Bench (mapping_file.json + annotation_images/)."
)
_command(
    "magicbrush",
    "magicbrush_to_manifest",
    "A MagicBrush split (edit_sessions.json + images/, or the Hugging Face parquet files), one "
    "case per turn.",
)


def magicbrush_turns(root: RootArg, out: OutArg) -> None:
    """A MagicBrush split, one multi-turn case per image: turn k edits maskedit's own output of
    turn k-1 (MagicBrush's multi-turn setting), scored against each turn's ground truth."""
    from maskedit.datasets.magicbrush import magicbrush_turns_to_manifest

    with user_errors():
        manifest = magicbrush_turns_to_manifest(root, out)
    _done(manifest)


convert_app.command("magicbrush-turns", short_help=listed(magicbrush_turns))(magicbrush_turns)
