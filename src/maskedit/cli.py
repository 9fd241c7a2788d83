"""The `maskedit` command: parse, check, call the library, print. No logic of its own."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from maskedit.config import (
    DEFAULT_SEED,
    case_from_dict,
    load_manifest,
)
from maskedit.errors import MaskeditError, MaskeditWarning, RunFailure

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Spatial control for instruction-based image editing (SAM + InstructPix2Pix).",
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
console = Console(highlight=False)
DEMO_MANIFEST = Path(__file__).resolve().parents[2] / "examples" / "demo.yaml"

# Options shared by several commands, defined once.
ModelsOpt = Annotated[
    str,
    typer.Option("--models", help="'real' checkpoints or 'tiny' random models (plumbing check)."),
]
Ip2pOpt = Annotated[
    str | None,
    typer.Option(
        "--ip2p",
        "--editor-id",
        help="Editor checkpoint: hub id or local folder "
        "(default: the editor's own, e.g. timbrooks/instruct-pix2pix).",
    ),
]
EditorOpt = Annotated[
    str | None,
    typer.Option("--editor", help="ip2p (default), magicbrush, ip2p-xl or kontext."),
]
SamOpt = Annotated[
    str | None,
    typer.Option(
        "--sam",
        help="Segmenter checkpoint: hub id or local folder (default: the "
        "segmenter's own, e.g. facebook/sam-vit-huge).",
    ),
]
SegmenterOpt = Annotated[
    str | None,
    typer.Option("--segmenter", help="sam (default), slimsam (CPU-sized), sam-hq or sam2."),
]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="cuda, mps or cpu (default: best available).")
]
DtypeOpt = Annotated[
    str | None,
    typer.Option("--dtype", help="fp16, bf16 or fp32 (default: fp16 on GPU, fp32 on CPU)."),
]
SizeOpt = Annotated[
    int | None,
    typer.Option("--working-size", help="Editor long side in px (default 512; 128 tiny)."),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace existing outputs.")]
ClipOpt = Annotated[
    str,
    typer.Option(
        "--clip",
        help="CLIP for the CLIP metrics: auto (tiny for tiny models, else ViT-B/32), none, tiny, "
        "or a hub id/folder.",
    ),
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option("--threshold", help="Change-map threshold (0-255); default max(10, mean)."),
]
OffloadOpt = Annotated[
    bool, typer.Option("--cpu-offload", help="Stream model parts to a small GPU (slower).")
]
CompileOpt = Annotated[
    bool,
    typer.Option(
        "--compile",
        help="torch.compile the denoiser, VAE decoder and SAM encoder (GPU; slow first edit).",
    ),
]
CompileModeOpt = Annotated[
    str | None,
    typer.Option(
        "--compile-mode",
        help="With --compile: default, reduce-overhead, max-autotune, max-autotune-no-cudagraphs.",
    ),
]
ChannelsLastOpt = Annotated[
    bool, typer.Option("--channels-last", help="channels_last memory format (faster fp16 convs).")
]
TilingOpt = Annotated[
    str,
    typer.Option(
        "--vae-tiling",
        help="auto (tile images over 1024 px), on (diffusers' tiles) or off.",
    ),
]
OutsideOpt = Annotated[
    bool,
    typer.Option("--allow-outside-paths", help="Let a manifest name files outside its folder."),
]
MethodsOpt = Annotated[
    str | None,
    typer.Option(
        "--methods", "--method", help="pixel, latent, guidance, crop; comma-separated to compare."
    ),
]


@contextlib.contextmanager
def user_errors():
    """Every user-facing failure becomes one line on stderr: exit 2 for bad input or outputs,
    3 for a failure while running (NaN output, out of memory)."""
    try:
        yield
    except RunFailure as err:
        err_console.print(f"maskedit: error: {err}", markup=False)
        raise typer.Exit(3) from None
    except MaskeditError as err:
        err_console.print(f"maskedit: error: {err}", markup=False)
        raise typer.Exit(2) from None


def _speedups(compile_: bool, channels_last: bool, vae_tiling: str, compile_mode=None):
    """The speed options as one `Speedups`, or a one-line error for a bad combination."""
    from maskedit.speedups import COMPILE_MODES, Speedups

    if vae_tiling not in ("auto", "on", "off"):
        raise MaskeditError(f"--vae-tiling '{vae_tiling}': expected auto, on or off")
    if compile_mode is not None and not compile_:
        raise MaskeditError("--compile-mode needs --compile")
    if compile_mode is not None and compile_mode not in COMPILE_MODES:
        raise MaskeditError(
            f"--compile-mode '{compile_mode}': expected one of {', '.join(COMPILE_MODES)}"
        )
    return Speedups(
        compile=compile_,
        compile_mode=compile_mode,
        channels_last=channels_last,
        vae_tiling=vae_tiling,
    )


def _parse_point(text: str) -> list[float]:
    parts = text.split(",")
    try:
        vals = [float(v) for v in parts]
    except ValueError:
        vals = []
    if len(vals) not in (2, 3):
        raise MaskeditError(
            f"--point '{text}': expected X,Y or X,Y,LABEL (label 1 include, 0 exclude)"
        )
    if len(vals) == 3 and vals[2] not in (0.0, 1.0):
        raise MaskeditError(f"--point '{text}': label must be 1 (include) or 0 (exclude)")
    return [vals[0], vals[1], int(vals[2]) if len(vals) == 3 else 1]


def _parse_box(text: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != 4:
        raise MaskeditError(f"--box '{text}': expected X0,Y0,X1,Y1 in image pixels")
    return vals


def text_backends(parsed_cases) -> tuple[str, ...]:
    """The phrase → mask back-ends the cases use (their models are loaded once)."""
    return tuple(
        dict.fromkeys(
            c.prompts.target_backend for c in parsed_cases if c.prompts.target is not None
        )
    )


def _load(
    models: str,
    ip2p: str,
    sam: str,
    device,
    dtype,
    need_sam: bool,
    working_size,
    cpu_offload: bool = False,
    editor: str | None = None,
    segmenter: str | None = None,
    backends: tuple[str, ...] = (),
    text_model: str | None = None,
    speedups=None,
):
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    from maskedit.models import load_models

    for lib in (diffusers_logging, transformers_logging):  # loading bars are noise in a CLI
        lib.disable_progress_bar()
        lib.set_verbosity_error()
    t0 = time.perf_counter()
    with err_console.status(f"loading {models} models…"):
        loaded = load_models(
            models,
            ip2p=ip2p,
            sam=sam,
            device=device,
            dtype=dtype,
            need_sam=need_sam,
            working_size=working_size,
            cpu_offload=cpu_offload,
            editor=editor or "ip2p",
            segmenter=segmenter or "sam",
            text_backends=backends,
            text_model=text_model,
            speedups=speedups,
        )
    if loaded.kind == "tiny":
        err_console.print(f"[bold red]{loaded.note}[/]")
    return loaded, time.perf_counter() - t0


@app.command()
def edit(
    image: Annotated[
        str, typer.Argument(help="Image file (or skimage:NAME for a bundled sample).")
    ],
    instruction: Annotated[str, typer.Option("--instruction", "-i", help="What to change.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (must not exist or be empty).")
    ],
    point: Annotated[
        list[str] | None, typer.Option("--point", help="X,Y[,LABEL] in image pixels; repeatable.")
    ] = None,
    box: Annotated[str | None, typer.Option("--box", help="X0,Y0,X1,Y1 in image pixels.")] = None,
    mask: Annotated[
        Path | None, typer.Option("--mask", help="Mask file (any PNG mode; white = edit).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Noise seed.")] = DEFAULT_SEED,
    steps: Annotated[
        int | None, typer.Option(help="Denoising steps (default: the editor's, 20 for ip2p).")
    ] = None,
    text_cfg: Annotated[
        float | None, typer.Option("--text-cfg", help="Text guidance scale (ip2p: 7.5).")
    ] = None,
    image_cfg: Annotated[
        float | None, typer.Option("--image-cfg", help="Image guidance scale (ip2p: 1.5).")
    ] = None,
    working_size: SizeOpt = None,
    models: ModelsOpt = "real",
    ip2p: Ip2pOpt = None,
    editor: EditorOpt = None,
    sam: SamOpt = None,
    segmenter: SegmenterOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    force: ForceOpt = False,
    cpu_offload: OffloadOpt = False,
    method: MethodsOpt = None,
    dilate: Annotated[int, typer.Option(help="Grow the mask by PX pixels.")] = 0,
    erode: Annotated[int, typer.Option(help="Shrink the mask by PX pixels.")] = 0,
    feather: Annotated[
        float, typer.Option(help="Soft edge of PX pixels inside the (dilated) mask.")
    ] = 0.0,
    fill_holes: Annotated[
        bool, typer.Option("--fill-holes", help="Fill holes in the mask.")
    ] = False,
    largest_only: Annotated[
        bool, typer.Option("--largest-only", help="Keep the largest part.")
    ] = False,
    blend_start: Annotated[float, typer.Option(help="latent: first step fraction blended.")] = 0.0,
    blend_end: Annotated[
        float, typer.Option(help="latent: blend before this step fraction.")
    ] = 1.0,
    latent_dilate: Annotated[
        int, typer.Option(help="latent/guidance: grow the latent mask (cells).")
    ] = 1,
    crop_margin: Annotated[
        float, typer.Option(help="crop: padding × the mask box's larger side.")
    ] = 0.25,
    harmonize: Annotated[
        str, typer.Option(help="Seam: none, poisson (seamlessClone) or color.")
    ] = "none",
    target: Annotated[
        str | None,
        typer.Option(
            help="Mask from a phrase ('the red car'); 'auto' takes it from the instruction."
        ),
    ] = None,
    target_backend: Annotated[
        str, typer.Option("--target-backend", help="clipseg (default) or grounded-sam.")
    ] = "clipseg",
    target_threshold: Annotated[
        float | None,
        typer.Option("--target-threshold", help="clipseg 0.4 / grounded-sam box 0.35 by default."),
    ] = None,
    target_top: Annotated[
        int | None, typer.Option("--target-top", help="grounded-sam: keep the best N boxes.")
    ] = None,
    target_model: Annotated[
        str | None, typer.Option("--target-model", help="CLIPSeg / Grounding DINO id or folder.")
    ] = None,
    mask_from: Annotated[
        str | None,
        typer.Option("--mask-from", help="'edit': the mask from where the instruction acts."),
    ] = None,
    refine: Annotated[
        str | None, typer.Option(help="'sam': refine a --mask-from edit mask with SAM.")
    ] = None,
    compile_: CompileOpt = False,
    compile_mode: CompileModeOpt = None,
    channels_last: ChannelsLastOpt = False,
    vae_tiling: TilingOpt = "auto",
) -> None:
    """Edit one image inside a region given by clicks, a box, a mask file, a phrase or the edit."""
    from maskedit.case import edit as run_edit
    from maskedit.outputs import check_out_dir, write_case
    from maskedit.runner import check_case

    with user_errors():
        raw = {
            "id": "edit",
            "image": image,
            "instruction": instruction,
            "seed": seed,
            "steps": steps,
            "text_cfg": text_cfg,
            "image_cfg": image_cfg,
        }
        if working_size is not None:
            raw["working_size"] = working_size
        if method:
            raw["methods"] = method
        raw.update(
            dilate=dilate,
            erode=erode,
            feather=feather,
            fill_holes=fill_holes,
            largest_only=largest_only,
            blend_start=blend_start,
            blend_end=blend_end,
            latent_dilate=latent_dilate,
            crop_margin=crop_margin,
            harmonize=harmonize,
        )
        if point:
            raw["points"] = [_parse_point(p) for p in point]
        if box:
            raw["box"] = _parse_box(box)
        if mask is not None:
            raw["mask"] = str(mask)
        automatic = dict(
            target=target,
            target_threshold=target_threshold,
            target_top=target_top,
            mask_from=mask_from,
            refine=refine,
        )
        raw.update({k: v for k, v in automatic.items() if v is not None})
        if target is not None:
            raw["target_backend"] = target_backend
        case = case_from_dict(raw)
        check_case(case)  # bad input fails here, before minutes of model loading
        speedups = _speedups(compile_, channels_last, vae_tiling, compile_mode)
        check_out_dir(out, force)
        need_sam = case.prompts.needs_sam
        loaded, load_s = _load(
            models,
            ip2p,
            sam,
            device,
            dtype,
            need_sam,
            working_size,
            cpu_offload,
            editor,
            segmenter,
            text_backends(parsed_cases=[case]),
            target_model,
            speedups,
        )
        p = case.prompts
        result = run_edit(
            case.image, case.instruction, models=loaded, prompts=p, settings=case.settings
        )
        result.timings = {"load_models": load_s, **result.timings}
        write_case(result, out, force=force)
    console.print(f"wrote {out}/ (original, mask, baseline, blended, grid, record.json)")
    console.print(f"methods: {', '.join(result.outputs)}")


def _run_manifest_path(
    manifest: Path,
    out: Path,
    *,
    models: str,
    ip2p: str,
    sam: str,
    device,
    dtype,
    working_size=None,
    force: bool = False,
    methods: str | None = None,
    cpu_offload: bool = False,
    allow_outside: bool = False,
    clip: str = "auto",
    threshold: float | None = None,
    editor: str | None = None,
    segmenter: str | None = None,
    ray: bool = False,
    ray_address: str | None = None,
    ray_actors: int | None = None,
    speedups=None,
    batch_size: int = 1,
) -> None:
    from maskedit.runner import check_case, run_manifest, with_methods

    with user_errors():
        parsed = load_manifest(manifest, allow_outside=allow_outside)
        if methods:
            parsed = with_methods(parsed, methods)
        for i, case in enumerate(parsed.cases):
            check_case(case, where=f"manifest '{manifest}': case {i} ('{case.id}'): ")
        if out.exists() and not out.is_dir():
            raise MaskeditError(f"--out '{out}': exists and is a file, expected a folder")
        need_sam = any(c.prompts.needs_sam for c in parsed.cases)
        if ray:
            from maskedit.ray_runner import run_manifest_ray  # the one place ray is imported

            options = {  # load_models' keyword arguments, as _load passes them
                "kind": models,
                "ip2p": ip2p,
                "sam": sam,
                "device": device,
                "dtype": dtype,
                "need_sam": need_sam,
                "working_size": working_size,
                "cpu_offload": cpu_offload,
                "editor": editor or parsed.editor or "ip2p",
                "segmenter": segmenter or parsed.segmenter or "sam",
                "text_backends": text_backends(parsed.cases),
                "speedups": speedups,
            }
            summary = run_manifest_ray(
                parsed,
                out,
                model_options=options,
                clip_choice=clip,
                threshold=threshold,
                address=ray_address,
                num_actors=ray_actors,
                force=force,
            )
        else:
            loaded, _ = _load(
                models,
                ip2p,
                sam,
                device,
                dtype,
                need_sam,
                working_size,
                cpu_offload,
                editor or parsed.editor,
                segmenter or parsed.segmenter,
                text_backends(parsed.cases),
                speedups=speedups,
            )
            clip_pair = _load_clip(clip, tiny=loaded.kind == "tiny", device=device)
            summary = run_manifest(
                parsed,
                loaded,
                out,
                force=force,
                clip=clip_pair,
                threshold=threshold,
                batch_size=batch_size,
            )
    console.print(
        f"{len(summary.done)} done, {len(summary.skipped)} already finished (skipped), "
        f"{len(summary.failed)} failed → {out}/"
    )
    for case_id, msg in summary.failed.items():
        err_console.print(f"maskedit: case '{case_id}' failed: {msg}", markup=False)
    if summary.failed:
        raise typer.Exit(1)


@app.command()
def run(
    manifest: Annotated[Path, typer.Argument(help="Manifest YAML (paths relative to it).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder; one sub-folder per case.")
    ],
    models: ModelsOpt = "real",
    ip2p: Ip2pOpt = None,
    editor: EditorOpt = None,
    sam: SamOpt = None,
    segmenter: SegmenterOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    working_size: SizeOpt = None,
    force: ForceOpt = False,
    methods: MethodsOpt = None,
    cpu_offload: OffloadOpt = False,
    allow_outside_paths: OutsideOpt = False,
    clip: ClipOpt = "auto",
    threshold: ThresholdOpt = None,
    ray: Annotated[
        bool, typer.Option("--ray", help="Run the cases on Ray actors (docs/scale-out.md).")
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="'auto' or HOST:PORT; default: Ray on this machine."),
    ] = None,
    ray_actors: Annotated[
        int | None,
        typer.Option("--ray-actors", min=1, help="Actors (model copies); default: one per GPU."),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            min=1,
            help="Edit up to N cases in one denoiser batch when their sizes and settings match.",
        ),
    ] = 1,
    compile_: CompileOpt = False,
    compile_mode: CompileModeOpt = None,
    channels_last: ChannelsLastOpt = False,
    vae_tiling: TilingOpt = "auto",
) -> None:
    """Run every case of a manifest, loading each model once; finished cases are skipped."""
    if not ray and (ray_address is not None or ray_actors is not None):
        err_console.print("maskedit: --ray-address and --ray-actors need --ray")
        raise typer.Exit(2)
    if ray and batch_size > 1:
        err_console.print(
            "maskedit: --batch-size works on one machine; with --ray use --ray-actors"
        )
        raise typer.Exit(2)
    with user_errors():
        speedups = _speedups(compile_, channels_last, vae_tiling, compile_mode)
    _run_manifest_path(
        manifest,
        out,
        models=models,
        ip2p=ip2p,
        sam=sam,
        device=device,
        dtype=dtype,
        working_size=working_size,
        force=force,
        methods=methods,
        cpu_offload=cpu_offload,
        allow_outside=allow_outside_paths,
        editor=editor,
        segmenter=segmenter,
        clip=clip,
        threshold=threshold,
        ray=ray,
        ray_address=ray_address,
        ray_actors=ray_actors,
        speedups=speedups,
        batch_size=batch_size,
    )


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("demo-out"),
    models: ModelsOpt = "real",
    ip2p: Ip2pOpt = None,
    editor: EditorOpt = None,
    sam: SamOpt = None,
    segmenter: SegmenterOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    force: ForceOpt = False,
    methods: MethodsOpt = None,
    cpu_offload: OffloadOpt = False,
    clip: ClipOpt = "auto",
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Cases per denoiser batch (see run).")
    ] = 1,
    compile_: CompileOpt = False,
    compile_mode: CompileModeOpt = None,
    channels_last: ChannelsLastOpt = False,
    vae_tiling: TilingOpt = "auto",
) -> None:
    """The study's three cases (suit, cat, motorcycle) on public-domain photos."""
    with user_errors():
        speedups = _speedups(compile_, channels_last, vae_tiling, compile_mode)
    _run_manifest_path(
        DEMO_MANIFEST,
        out,
        models=models,
        ip2p=ip2p,
        sam=sam,
        device=device,
        dtype=dtype,
        force=force,
        methods=methods,
        cpu_offload=cpu_offload,
        clip=clip,
        editor=editor,
        segmenter=segmenter,
        speedups=speedups,
        batch_size=batch_size,
    )


def _load_clip(choice: str, *, tiny: bool, device=None):
    from maskedit.models import clip_for_metrics

    return clip_for_metrics(choice, tiny=tiny, device=device)


@app.command("eval")
def eval_command(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (one sub-folder per case).")],
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
            clip=_load_clip(clip, tiny=tiny, device=device),
            threshold=threshold,
            captions=caps,
        )
    console.print(f"scored {len(rows)} outputs in {len(dirs)} cases → {run_dir}/summary.csv")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (one sub-folder per case).")],
) -> None:
    """Write run_dir/report.html: one self-contained page (grids, tables, plots)."""
    from maskedit.report.html import write_report

    with user_errors():
        if not run_dir.is_dir():
            raise MaskeditError(f"run folder '{run_dir}': not found")
        path = write_report(run_dir)
    console.print(f"wrote {path}")


@app.command()
def download(
    ids: Annotated[
        list[str] | None, typer.Argument(help="Hub ids (default: the IP2P and SAM defaults).")
    ] = None,
) -> None:
    """Pre-fetch checkpoints into the standard Hugging Face cache (on a connected machine)."""
    from maskedit.models import download as fetch

    with user_errors():
        for path in fetch(ids):
            console.print(f"cached {path}")


def quiet_libraries() -> None:
    """Library chatter (hub retries, deprecations, torchvision fallbacks) is not for the user."""
    import logging
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    show = warnings.showwarning

    def one_line(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, MaskeditWarning):
            err_console.print(f"maskedit: warning: {message}", markup=False)
        else:
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = one_line
    warnings.simplefilter("always", MaskeditWarning)
    for name in ("diffusers", "transformers"):  # already imported: set their loggers directly
        if name in sys.modules:
            sys.modules[name].utils.logging.set_verbosity_error()


def _register_app_commands() -> None:
    """`maskedit app` and `maskedit study` live in maskedit.app (Gradio is imported on use)."""
    from maskedit.app.commands import app_command, study_command

    app.command("app")(app_command)
    app.command("study")(study_command)


_register_app_commands()


@app.callback()
def _setup() -> None:
    """Runs before every command: library chatter off, our warnings as one line each."""
    quiet_libraries()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("maskedit: interrupted; finished cases are kept, rerun to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
