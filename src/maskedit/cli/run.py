"""`maskedit run` and `maskedit demo`: every case of a manifest, here or on Ray actors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from maskedit.cli.options import (
    BackboneFlags,
    ClipOpt,
    ForceOpt,
    MethodsOpt,
    ModelFlags,
    OutsideOpt,
    SizeOpt,
    ThresholdOpt,
    check_clip,
    console,
    err_console,
    load,
    model_options,
    user_errors,
    with_flags,
)
from maskedit.config import Manifest, ModelOptions, check_threshold, load_manifest
from maskedit.errors import InputError

if TYPE_CHECKING:
    from maskedit.metric_models import MetricChoices
    from maskedit.run_log import RunSummary

DEMO_MANIFEST = Path(__file__).resolve().parents[3] / "examples" / "demo.yaml"


@dataclass(frozen=True)
class RunFlags:
    """How the cases of a manifest run and are scored (run, demo)."""

    force: ForceOpt = False
    methods: MethodsOpt = None
    clip: ClipOpt = "auto"
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            min=1,
            help="Edit up to N cases in one denoiser batch when their sizes and settings match.",
        ),
    ] = 1
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Say what the run would do with each case (edit, rescore, skip); load and "
            "write nothing.",
        ),
    ] = False


@dataclass(frozen=True)
class RayFlags:
    """Where the cases run: here, or on Ray actors (docs/scale-out.md)."""

    ray: Annotated[
        bool, typer.Option("--ray", help="Run the cases on Ray actors (docs/scale-out.md).")
    ] = False
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="'auto' or HOST:PORT; default: Ray on this machine."),
    ] = None
    ray_actors: Annotated[
        int | None,
        typer.Option("--ray-actors", min=1, help="Actors (model copies); default: one per GPU."),
    ] = None


@with_flags(
    run_flags=RunFlags, ray_flags=RayFlags, model_flags=ModelFlags, backbone_flags=BackboneFlags
)
def run(
    manifest: Annotated[Path, typer.Argument(help="Manifest YAML (paths relative to it).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder; one sub-folder per case.")
    ],
    working_size: SizeOpt = None,
    allow_outside_paths: OutsideOpt = False,
    threshold: ThresholdOpt = None,
    *,
    run_flags: RunFlags,
    ray_flags: RayFlags,
    model_flags: ModelFlags,
    backbone_flags: BackboneFlags,
) -> None:
    """Run every case of a manifest, loading each model once; finished cases are skipped."""
    with user_errors():
        if not ray_flags.ray and (
            ray_flags.ray_address is not None or ray_flags.ray_actors is not None
        ):
            raise InputError("--ray-address and --ray-actors need --ray")
        if ray_flags.ray and run_flags.batch_size > 1:
            raise InputError("--batch-size works on one machine; with --ray use --ray-actors")
        parsed = _read_manifest(manifest, out, run_flags, allow_outside_paths)
        options = model_options(
            model_flags,
            cases=parsed.cases,
            working_size=working_size,
            editor=parsed.editor,
            segmenter=parsed.segmenter,
        )
        _run(parsed, out, options, run_flags, threshold, ray_flags, backbone_flags)


@with_flags(run_flags=RunFlags, model_flags=ModelFlags)
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("demo-out"),
    *,
    run_flags: RunFlags,
    model_flags: ModelFlags,
) -> None:
    """The study's three cases (suit, cat, motorcycle) on public-domain photos."""
    with user_errors():
        parsed = _read_manifest(DEMO_MANIFEST, out, run_flags)
        options = model_options(
            model_flags, cases=parsed.cases, editor=parsed.editor, segmenter=parsed.segmenter
        )
        _run(parsed, out, options, run_flags)


def _read_manifest(path: Path, out: Path, flags: RunFlags, allow_outside: bool = False) -> Manifest:
    """The manifest with every case checked (files exist, prompts on the image), and `out` a
    folder (or nothing yet) where no case would replace what maskedit did not write: all before
    any model loads."""
    from maskedit.preflight import check_case, with_methods
    from maskedit.run_folder import check_run_folder

    parsed = load_manifest(path, allow_outside=allow_outside)
    if flags.methods is not None:
        parsed = with_methods(parsed, flags.methods)
    for i, case in enumerate(parsed.cases):
        check_case(case, where=f"manifest '{path}': case {i} ('{case.id}'): ")
    check_run_folder(parsed, out, force=flags.force)
    return parsed


def _run(
    parsed: Manifest,
    out: Path,
    options: ModelOptions,
    flags: RunFlags,
    threshold: float | None = None,
    ray: RayFlags | None = None,
    backbone_flags: BackboneFlags | None = None,
) -> None:
    """Run the cases here (models loaded once) or on Ray actors, then say how it went.

    The output folder is locked first: a second run on it stops before loading anything. Here
    and on Ray the cases are scored with the same metric networks (`MetricChoices`)."""
    from maskedit.run_folder import discard_unused_run_folder, run_lock

    check_threshold(threshold)
    check_clip(flags.clip)
    if flags.dry_run:
        metrics = (backbone_flags or BackboneFlags()).choices(flags.clip)
        here = ray is None or not ray.ray  # Ray's actors run on devices the driver cannot see
        _say_plan(parsed, out, options, flags.force, threshold, metrics, here)
        return
    new_folder = not out.exists()
    try:
        with run_lock(out):
            summary = _run_locked(parsed, out, options, flags, threshold, ray, backbone_flags)
    except BaseException:
        if new_folder:  # stopped before writing anything (models missing): leave no folder
            discard_unused_run_folder(out)
        raise
    _say_summary(summary, out)


def _run_locked(
    parsed: Manifest,
    out: Path,
    options: ModelOptions,
    flags: RunFlags,
    threshold: float | None,
    ray: RayFlags | None,
    backbone_flags: BackboneFlags | None,
) -> RunSummary:
    metrics = (backbone_flags or BackboneFlags()).choices(flags.clip)
    if ray is not None and ray.ray:
        from maskedit.ray_runner import run_manifest_ray  # the one place ray is imported

        summary = run_manifest_ray(
            parsed,
            out,
            model_options=options,
            metrics=metrics,
            threshold=threshold,
            address=ray.ray_address,
            num_actors=ray.ray_actors,
            force=flags.force,
        )
    else:
        from maskedit.metric_models import case_benchmarks
        from maskedit.runner import run_manifest

        models, _ = load(options)
        tiny = models.kind == "tiny"
        names = case_benchmarks(parsed.cases)
        clip, backbones = metrics.load(names, tiny=tiny, device=options.device)
        clips = metrics.benchmark_clips(names, tiny=tiny, device=options.device)
        summary = run_manifest(
            parsed,
            models,
            out,
            force=flags.force,
            clip=clip,
            threshold=threshold,
            batch_size=flags.batch_size,
            backbones=backbones,
            clips=clips,
        )
    return summary


def _say_plan(
    parsed: Manifest,
    out: Path,
    options: ModelOptions,
    force: bool,
    threshold: float | None,
    metrics: MetricChoices,
    here: bool,
) -> None:
    """`--dry-run`: one line per case, then the counts; nothing loaded, locked or written."""
    from collections import Counter

    from maskedit.case_plan import plan_manifest

    plans = plan_manifest(
        parsed, options, out, force=force, threshold=threshold, metrics=metrics, here=here
    )
    for case_id, _, words in plans:
        console.print(f"case {case_id}: {words}", markup=False)
    counts = Counter("skip" if why is None else why for _, why, _ in plans)
    edits = sum(counts[w] for w in ("new", "changed", "damaged", "forced"))
    console.print(
        f"would edit {edits}, rescore {counts['rescore']}, skip {counts['skip']} finished, "
        f"{counts['failed']} cannot run → {out}/ (dry run: nothing loaded or written)",
        markup=False,
    )


def _say_summary(summary: RunSummary, out: Path) -> None:
    """One line of counts, one line per failed case; exit 1 if a case failed."""
    why = []
    if summary.redone:
        why.append(
            f"{len(summary.redone)} redone: their case, inputs or models changed, or their "
            "folder was incomplete"
        )
    if summary.rescored:
        why.append(
            f"{len(summary.rescored)} rescored: only the scoring changed (--threshold, --clip, "
            "the metric networks); nothing was edited again"
        )
    redone = f" ({'; '.join(why)})" if why else ""
    console.print(
        f"{len(summary.done)} done{redone}, {len(summary.skipped)} already finished (skipped), "
        f"{len(summary.failed)} failed → {out}/",
        markup=False,
    )
    if summary.others:
        console.print(
            f"summary.csv covers this manifest's cases; {len(summary.others)} other case "
            f"folder{'s' * (len(summary.others) > 1)} in {out}/ "
            f"({', '.join(summary.others[:3])}{', …' if len(summary.others) > 3 else ''}) "
            "are not in it",
            markup=False,
        )
    if summary.clip_models:
        mixed = ", ".join(
            f"{model} ({n} case{'s' * (n > 1)})" for model, n in summary.clip_models.items()
        )
        fix = (
            "each benchmark's cases were scored with its protocol's CLIP: compare CLIP "
            "columns within a benchmark (`maskedit report`'s benchmark tables)"
            if summary.clip_per_benchmark
            else f"`maskedit eval {out}` scores every case with one"
        )
        err_console.print(
            f"maskedit: warning: summary.csv mixes CLIP models: {mixed}; their CLIP columns "
            f"are not comparable. {fix}",
            markup=False,
        )
    for case_id, msg in summary.failed.items():
        err_console.print(f"maskedit: case '{case_id}' failed: {msg}", markup=False)
    if summary.failed:
        raise typer.Exit(1)
