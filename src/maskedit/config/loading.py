"""The model-loading options: one object for the CLI, the app, Python callers and Ray actors.

Pure pydantic (no torch): the CLI checks every model flag here, in one line each, before anything
loads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from maskedit.config.settings import WORKING_SIZE_RANGE
from maskedit.errors import InputError
from maskedit.families import editor_spec, get_segmenter
from maskedit.paths import path_problem

# torch.compile's modes (torch._inductor.list_mode_options); "reduce-overhead" uses CUDA graphs.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
VAE_TILING = ("auto", "on", "off")
DTYPES = ("fp32", "float32", "fp16", "float16", "bf16", "bfloat16")
TEXT_BACKENDS = ("clipseg", "grounded-sam")


class Speedups(BaseModel):
    """How to run the loaded models; `maskedit.speedups.apply_speedups` applies them once, at load
    (see that module for what each option does and what stays equal)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    compile: bool = False
    compile_mode: str | None = None  # torch.compile mode, e.g. "max-autotune-no-cudagraphs"
    compile_backend: str = "inductor"  # "eager" traces without code generation (tests)
    channels_last: bool = False
    vae_tiling: Literal["auto", "on", "off"] = "auto"

    @field_validator("vae_tiling", mode="before")
    @classmethod
    def _tiling(cls, value: Any) -> Any:
        if value not in VAE_TILING:
            raise InputError(f"--vae-tiling '{value}': expected auto, on or off")
        return value

    @model_validator(mode="after")
    def _compile_mode(self) -> Speedups:
        if self.compile_mode is not None and not self.compile:
            raise InputError("--compile-mode needs --compile")
        if self.compile_mode is not None and self.compile_mode not in COMPILE_MODES:
            raise InputError(
                f"--compile-mode '{self.compile_mode}': expected one of {', '.join(COMPILE_MODES)}"
            )
        return self


_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?")


def is_local_or_hub_id(value: str) -> bool:
    """A local path (absolute, ./, ../, ~, or existing: the loader names what a folder lacks,
    and on a Ray node it may exist where the driver cannot see it), or a string shaped like a
    Hugging Face hub id. Anything else would only cost hub retries before failing."""
    if "\0" in value or path_problem(value) is not None:
        return False
    if value.startswith(("/", "./", "../", "~")):
        return True
    try:
        if Path(value).exists():
            return True
    except (OSError, ValueError):
        return False
    return _HUB_ID.fullmatch(value) is not None and ".." not in value


class ModelOptions(BaseModel):
    """What `maskedit.models.load_models` loads and how, checked before anything loads.

    One object for the CLI, the app, Python callers and Ray actors (it pickles). `editor_id` and
    `segmenter_id` are checkpoints (hub id or local folder; None: the family's default); they
    are also accepted as `ip2p` and `sam`, the names `load_models` has always taken. `need_sam`
    False skips the segmenter; `text_backends` are the phrase → mask models to load ("clipseg",
    "grounded-sam"), `text_model` overrides their checkpoint. A bad value is one `InputError`
    line naming the flag.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = "real"  # "real": checkpoints; "tiny": random models built in code (plumbing)
    editor: str = "ip2p"  # a key of the editor table (maskedit.families.EDITORS)
    editor_id: str | None = Field(None, validation_alias=AliasChoices("editor_id", "ip2p"))
    segmenter: str = "sam"  # a key of maskedit.families.SEGMENTERS
    segmenter_id: str | None = Field(None, validation_alias=AliasChoices("segmenter_id", "sam"))
    device: str | None = None  # None: CUDA, then MPS, then CPU
    dtype: str | None = None  # None: fp16 on accelerators, fp32 on CPU
    cpu_offload: bool = False
    working_size: int | None = Field(  # None: the editor's own
        None, ge=WORKING_SIZE_RANGE[0], le=WORKING_SIZE_RANGE[1]
    )
    need_sam: bool = True
    text_backends: tuple[str, ...] = ()
    text_model: str | None = None
    speedups: Speedups = Field(default_factory=Speedups)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise InputError(_one_line(err)) from None

    @field_validator("device")
    @classmethod
    def _device(cls, device: str | None) -> str | None:
        if device is not None and not re.fullmatch(r"cpu|mps|cuda(:\d{1,2})?", device):
            raise InputError(f"--device '{shown(device)}': expected cuda, cuda:N, mps or cpu")
        return device

    @field_validator("editor_id", "segmenter_id", "text_model")
    @classmethod
    def _checkpoint(cls, value: str | None, info) -> str | None:
        """A local folder or a hub id (owner/name): anything else would only cost hub retries."""
        if value is None or is_local_or_hub_id(value):
            return value
        flag = {"editor_id": "--ip2p", "segmenter_id": "--sam", "text_model": "--target-model"}
        raise InputError(
            f"{flag[info.field_name]} '{shown(value)}': not a folder here and not a hub id "
            "(owner/name)"
        )

    @field_validator("kind")
    @classmethod
    def _kind(cls, kind: str) -> str:
        if kind not in ("real", "tiny"):
            raise InputError(f"--models '{kind}': expected 'tiny' or 'real'")
        return kind

    @field_validator("editor")
    @classmethod
    def _editor(cls, editor: str) -> str:
        return editor_spec(editor).name

    @field_validator("segmenter")
    @classmethod
    def _segmenter(cls, segmenter: str) -> str:
        return get_segmenter(segmenter).name

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, dtype: str | None) -> str | None:
        if dtype is not None and dtype not in DTYPES:
            raise InputError(f"--dtype '{dtype}': expected one of fp32, fp16, bf16")
        return dtype

    @field_validator("text_backends")
    @classmethod
    def _backends(cls, backends: tuple[str, ...]) -> tuple[str, ...]:
        for backend in backends:
            if backend not in TEXT_BACKENDS:
                raise InputError(f"--target-backend '{backend}': expected clipseg or grounded-sam")
        return backends

    @field_validator("speedups", mode="before")
    @classmethod
    def _no_speedups(cls, value: Any) -> Any:
        return Speedups() if value is None else value

    @model_validator(mode="before")
    @classmethod
    def _offload(cls, data: Any) -> Any:
        """A conflict of two flags is named first, before any one flag's value is checked."""
        if not isinstance(data, dict):
            return data
        speedups = data.get("speedups")
        compiled = (
            speedups.compile
            if isinstance(speedups, Speedups)
            else bool(speedups.get("compile"))
            if isinstance(speedups, dict)
            else False
        )
        if data.get("cpu_offload") and compiled:
            raise InputError(
                "--compile with --cpu-offload: offloading moves the modules the compiled graphs "
                "were traced on; use one of them"
            )
        return data


def shown(value: Any, limit: int = 60) -> str:
    """A value as it may appear in a one-line message: on one line, and short."""
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(shown(str(p)) for p in first["loc"] if p not in ("prompts", "settings"))
    msg = shown(first["msg"].removeprefix("Value error, "), 300)
    if loc and msg.startswith(f"{loc} "):  # "instruction is empty": the name said once
        return msg
    return f"{loc}: {msg}" if loc else msg
