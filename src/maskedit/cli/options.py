"""What the commands share: option types declared once, flag groups, parsing, errors, loading.

A flag group is a frozen dataclass whose fields are typer options. `with_flags` adds a group's
fields to a command's options and hands the command one instance of the group, so the model
flags of `edit`, `run`, `demo` and `app` are written once, here, and become one
`ModelOptions` in one function (`model_options`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import math
import time
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from maskedit.config import Case, ModelOptions, Speedups, is_local_or_hub_id, shown
from maskedit.errors import InputError, MaskeditError, RunFailure
from maskedit.families import DEFAULT_EDITOR, DEFAULT_SEGMENTER, EDITORS, SEGMENTERS
from maskedit.metric_models import MetricChoices

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
console = Console(highlight=False)

# --- Option types shared by several commands ---------------------------------------------------

ModelsOpt = Annotated[
    str,
    typer.Option("--models", help="'real' checkpoints or 'tiny' random models (plumbing check)."),
]


def _checkpoint_option(*flags: str, whose: str, example: str) -> Any:
    """A model's checkpoint flag: a hub id or a local folder, as `from_pretrained` takes it."""
    return typer.Option(
        *flags,
        help=f"{whose.capitalize()} checkpoint: hub id or local folder (default: the {whose}'s "
        f"own, e.g. {example}).",
    )


def _registry_option(flag: str, table: dict[str, Any], default: str) -> Any:
    """A choice from a `maskedit.families` table: its names, listed from the table itself."""
    return typer.Option(flag, help=f"{', '.join(table)} (default {default}).")


Ip2pOpt = Annotated[
    str | None,
    _checkpoint_option(
        "--ip2p",
        "--editor-id",
        whose="editor",
        example="timbrooks/instruct-pix2pix; Qwen/Qwen-Image-Edit-2509 picks that qwen-edit-plus "
        "release",
    ),
]
EditorOpt = Annotated[str | None, _registry_option("--editor", EDITORS, DEFAULT_EDITOR)]
SamOpt = Annotated[
    str | None, _checkpoint_option("--sam", whose="segmenter", example="facebook/sam-vit-huge")
]
SegmenterOpt = Annotated[str | None, _registry_option("--segmenter", SEGMENTERS, DEFAULT_SEGMENTER)]
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


def _network_option(flag: str, what: str, auto: str, given: str = "a hub id/folder") -> Any:
    """A metric network's flag, as `MetricChoices` reads it: auto, none, tiny or a checkpoint."""
    return typer.Option(
        flag, help=f"{what}: auto ({auto}; tiny for tiny models), none, tiny, or {given}."
    )


ClipOpt = Annotated[
    str,
    _network_option(
        "--clip",
        "CLIP for the CLIP metrics",
        "ViT-L/14 when every case is PIE-Bench's, else ViT-B/32",
    ),
]
LpipsOpt = Annotated[
    str,
    _network_option(
        "--lpips",
        "LPIPS for PIE-Bench's background LPIPS",
        "for PIE-Bench cases",
        "a folder with squeezenet1_1*.pth (and squeeze.pth)",
    ),
]
StructureOpt = Annotated[
    str,
    _network_option(
        "--structure-dino",
        "DINO for PIE-Bench's structure distance",
        "for PIE-Bench cases: facebook/dino-vitb8",
    ),
]
DinoOpt = Annotated[
    str,
    _network_option(
        "--dino", "DINO for MagicBrush's DINO column", "for MagicBrush cases: facebook/dino-vits16"
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
RunDirArg = Annotated[Path, typer.Argument(help="A run folder (one sub-folder per case).")]


@dataclass(frozen=True)
class BackboneFlags:
    """The metric networks beyond CLIP (run, eval): a column whose network is not loaded is
    left out, never filled in."""

    lpips: LpipsOpt = "auto"
    structure_dino: StructureOpt = "auto"
    dino: DinoOpt = "auto"

    def choices(self, clip: str) -> MetricChoices:
        """The metric networks to load, with `clip` (``--clip``), wherever the cases are scored."""
        return MetricChoices(clip, self.lpips, self.structure_dino, self.dino)


@dataclass(frozen=True)
class ModelFlags:
    """Which models load, on what, and how fast (edit, run, demo, app)."""

    models: ModelsOpt = "real"
    ip2p: Ip2pOpt = None
    editor: EditorOpt = None
    sam: SamOpt = None
    segmenter: SegmenterOpt = None
    device: DeviceOpt = None
    dtype: DtypeOpt = None
    cpu_offload: OffloadOpt = False
    compile_: CompileOpt = False
    compile_mode: CompileModeOpt = None
    channels_last: ChannelsLastOpt = False
    vae_tiling: TilingOpt = "auto"


def listed(command: Callable[..., Any]) -> str:
    """The line a command list shows: its docstring's first paragraph on one line (the help
    panel would otherwise break it where the source wraps)."""
    first = inspect.cleandoc(command.__doc__ or "").split("\n\n")[0]
    return " ".join(first.split())


def with_flags(**groups: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the fields of each flag group (a dataclass) to a command's options; the command gets
    one instance per group, under the keyword named here::

        @with_flags(load=ModelFlags)
        def demo(out: OutOpt = Path("demo-out"), *, load: ModelFlags) -> None: ...

    typer reads the command's signature, so the wrapper shows it the command's own parameters
    followed by the groups' fields.
    """

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(command, eval_str=True).parameters.values()
        added = [
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=f.default,
                annotation=typing.get_type_hints(group, include_extras=True)[f.name],
            )
            for group in groups.values()
            for f in dataclasses.fields(group)
        ]

        @functools.wraps(command)
        def with_groups(**values: Any) -> Any:
            for name, group in groups.items():
                fields = dataclasses.fields(group)
                values[name] = group(**{f.name: values.pop(f.name) for f in fields})
            return command(**values)

        kept = [p for p in own if p.name not in groups]
        with_groups.__signature__ = inspect.Signature([*kept, *added])  # type: ignore[attr-defined]
        return with_groups

    return decorate


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Every user-facing failure becomes one line on stderr: exit 2 for bad input or outputs,
    3 for a failure while running (NaN output, out of memory)."""
    try:
        yield
    except RunFailure as err:
        _say_error(str(err))
        raise typer.Exit(3) from None
    except MaskeditError as err:
        _say_error(str(err))
        raise typer.Exit(2) from None
    except OSError as err:  # the last net: a file system failure no check above put in words
        from maskedit.paths import os_problem, shown_path

        where = f"'{shown_path(err.filename)}': " if isinstance(err.filename, str) else ""
        _say_error(f"{where}{os_problem(err)}")
        raise typer.Exit(2) from None
    except MemoryError:
        _say_error("out of memory (a smaller image, --working-size or fewer cases at once)")
        raise typer.Exit(3) from None


def _say_error(message: str) -> None:
    """One line on stderr, whatever the message holds (a value with a newline in it)."""
    line = " ".join(message.split()) if "\n" in message or "\r" in message else message
    err_console.print(f"maskedit: error: {line}", markup=False)


def check_clip(choice: str) -> None:
    """`--clip`: a word, a local folder or a hub id, checked before anything loads or calls out."""
    if choice in ("auto", "none", "tiny") or is_local_or_hub_id(choice):
        return
    raise InputError(
        f"--clip '{shown(choice)}': expected auto, none, tiny, a local folder or a hub id "
        "(owner/name)"
    )


def _numbers(text: str) -> list[float]:
    """Comma-separated numbers as written; [] for anything else ("1_0" too, which `float`
    alone would read as 10)."""
    parts = text.split(",")
    if any("_" in part for part in parts):
        return []
    try:
        return [float(part) for part in parts]
    except ValueError:
        return []


def parse_point(text: str) -> list[float]:
    """`--point X,Y[,LABEL]` → [x, y, label] (label 1 include, 0 exclude; default 1)."""
    vals = _numbers(text)
    if len(vals) not in (2, 3):
        raise MaskeditError(
            f"--point '{text}': expected X,Y or X,Y,LABEL (label 1 include, 0 exclude)"
        )
    if not all(math.isfinite(v) for v in vals):
        raise MaskeditError(f"--point '{text}': expected finite numbers X,Y in image pixels")
    if len(vals) == 3 and vals[2] not in (0.0, 1.0):
        raise MaskeditError(f"--point '{text}': label must be 1 (include) or 0 (exclude)")
    return [vals[0], vals[1], int(vals[2]) if len(vals) == 3 else 1]


def parse_box(text: str) -> list[float]:
    """`--box X0,Y0,X1,Y1` → [x0, y0, x1, y1] in image pixels."""
    vals = _numbers(text)
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
        raise MaskeditError(f"--box '{text}': expected X0,Y0,X1,Y1 in image pixels")
    return vals


def text_backends(cases: Sequence[Case]) -> tuple[str, ...]:
    """The phrase → mask back-ends the cases use (their models are loaded once)."""
    return tuple(
        dict.fromkeys(
            p.target_backend for c in cases for p in c.all_prompts if p.target is not None
        )
    )


def model_options(
    flags: ModelFlags,
    *,
    cases: Sequence[Case] | None = None,
    working_size: int | None = None,
    text_model: str | None = None,
    editor: str | None = None,
    segmenter: str | None = None,
) -> ModelOptions:
    """The one `ModelOptions` every command loads with, checked here (one line if bad).

    `cases` decide whether the segmenter and which phrase → mask models load (None: the
    segmenter, for prompts not known yet); `editor` and `segmenter` are a manifest's choice,
    taken when the flag is not given.
    """
    return ModelOptions(
        kind=flags.models,
        editor=flags.editor or editor or "ip2p",
        editor_id=flags.ip2p,
        segmenter=flags.segmenter or segmenter or "sam",
        segmenter_id=flags.sam,
        device=flags.device,
        dtype=flags.dtype,
        cpu_offload=flags.cpu_offload,
        working_size=working_size,
        need_sam=cases is None or any(p.needs_sam for c in cases for p in c.all_prompts),
        text_backends=text_backends(cases or ()),
        text_model=text_model,
        speedups=Speedups(
            compile=flags.compile_,
            compile_mode=flags.compile_mode,
            channels_last=flags.channels_last,
            vae_tiling=flags.vae_tiling,
        ),
    )


def load(options: ModelOptions):
    """`load_models` behind a spinner (the libraries' loading bars off), the tiny-model note in
    red; returns (models, seconds it took)."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    from maskedit.models import load_models

    for lib in (diffusers_logging, transformers_logging):  # loading bars are noise in a CLI
        lib.disable_progress_bar()
        lib.set_verbosity_error()
    t0 = time.perf_counter()
    with err_console.status(f"loading {options.kind} models…"):
        loaded = load_models(options)
    if loaded.kind == "tiny":
        err_console.print(f"[bold red]{loaded.note}[/]")
    return loaded, time.perf_counter() - t0
