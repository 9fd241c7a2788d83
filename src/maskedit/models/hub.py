"""Where weights come from and where they run: the hub cache, offline mode, device and dtype.

Every loader names a missing checkpoint the same way, in one line (`missing_weights`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from maskedit.errors import InputError, MissingWeightsError
from maskedit.families import EDITORS, SEGMENTERS, EditorSpec, editor_spec

DEFAULT_CLIP_ID = "openai/clip-vit-base-patch32"  # the seed study's and MagicBrush's CLIP
# What `maskedit download` fetches by default: the default editor, segmenter and metrics CLIP.
DEFAULT_DOWNLOADS = (EDITORS["ip2p"].default_id, SEGMENTERS["sam"].default_id, DEFAULT_CLIP_ID)
# What `maskedit download` fetches besides the weights (`weight_files`): configs and tokenizers
# (Qwen's and FLUX.2 [klein]'s chat templates are .jinja files; klein applies one to every prompt).
DOWNLOAD_PATTERNS = ["*.json", "*.txt", "*.model", "*.jinja"]


def weight_files(files: list[str]) -> list[str]:
    """The weight files of a hub listing that `from_pretrained` loads: in each folder its
    safetensors, or its .bin files where it has none (MagicBrush's text encoder ships only
    `pytorch_model.bin`). A diffusers pipeline (a `model_index.json`) loads its component folders,
    so the single-file checkpoints beside it (IP2P's 7.7 GB one) are left out."""
    pipeline = "model_index.json" in files
    folders: dict[str, list[str]] = {}
    for name in files:
        folder = name.rpartition("/")[0]
        if not (pipeline and not folder):
            folders.setdefault(folder, []).append(name)
    picked = []
    for names in folders.values():
        safetensors = [n for n in names if n.endswith(".safetensors")]
        picked += safetensors or [n for n in names if n.endswith(".bin")]
    return picked


def pick_device(device: str | None = None) -> torch.device:
    """CUDA if present, then Apple MPS, else CPU; an explicit choice always wins, if this
    machine has it (one line otherwise, before anything loads)."""
    if device:
        mps = getattr(torch.backends, "mps", None)
        if device.startswith("cuda"):
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            index = int(device.partition(":")[2] or 0)
            if index >= count:
                have = f"{count} CUDA GPU{'s' * (count != 1)}" if count else "no CUDA GPU"
                raise InputError(f"--device {device}: this machine has {have}")
        elif device == "mps" and not (mps and mps.is_available()):
            raise InputError("--device mps: Apple's Metal (MPS) is not available here")
        elif device not in ("cpu", "mps"):
            raise InputError(f"--device '{device}': expected cuda, cuda:N, mps or cpu")
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(
    device: torch.device, dtype: str | None = None, spec: EditorSpec | None = None
) -> torch.dtype:
    """An explicit choice; else fp32 on CPU (half precision is slow there) and the editor's
    published dtype on accelerators (fp16 for IP2P, which ships an fp16 variant; bf16 for FLUX)."""
    if dtype:
        table = {
            "fp32": torch.float32,
            "float32": torch.float32,
            "fp16": torch.float16,
            "float16": torch.float16,
            "bf16": torch.bfloat16,
            "bfloat16": torch.bfloat16,
        }
        if dtype not in table:
            raise InputError(f"--dtype '{dtype}': expected one of fp32, fp16, bf16")
        return table[dtype]
    if device.type not in ("cuda", "mps"):
        return torch.float32
    return torch.bfloat16 if spec is not None and spec.cuda_dtype == "bf16" else torch.float16


def hub_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def missing_weights(model_id: str, role: str, flag: str, err: Exception) -> MissingWeightsError:
    if Path(model_id).expanduser().exists() or model_id.startswith((".", "/", "~")):
        reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        return MissingWeightsError(
            f"{role} model: the local folder '{model_id}' is not a complete checkpoint ({reason})"
        )
    why = "offline mode (HF_HUB_OFFLINE) is on" if offline() else "the hub could not be reached"
    return MissingWeightsError(
        f"{role} model '{model_id}' is not in the Hugging Face cache ({hub_cache_dir()}) "
        f"and {why}: "
        f"run `maskedit download {model_id}` on a connected machine (same HF_HOME), or pass a "
        f"local folder with {flag} PATH"
    )


def revision_of(path: str) -> str | None:
    """The hub commit a snapshot folder came from (…/snapshots/<commit>), if any."""
    parts = Path(str(path)).parts
    if "snapshots" in parts and parts.index("snapshots") + 1 < len(parts):
        return parts[parts.index("snapshots") + 1]
    return None


def download(ids: list[str] | None = None, editor: str = "ip2p") -> list[str]:
    """Pre-fetch checkpoints into the standard hub cache (run on a connected machine).

    No ids: the editor's default checkpoint (`editor`, default ip2p), SAM's and CLIP's."""
    from huggingface_hub import list_repo_files, snapshot_download

    defaults = [editor_spec(editor).default_id, *DEFAULT_DOWNLOADS[1:]]
    paths = []
    for model_id in ids or defaults:
        try:
            weights = weight_files(list_repo_files(model_id))
            patterns = DOWNLOAD_PATTERNS + weights
            paths.append(snapshot_download(model_id, allow_patterns=patterns))
        except Exception as err:  # noqa: BLE001 - every hub failure becomes the same one line
            raise download_failed(model_id, err) from None
    return paths


def download_failed(model_id: str, err: Exception) -> MissingWeightsError:
    """`maskedit download ID` that fetched nothing, in one line: a path is not a hub id; else
    why the hub did not answer (its own words, shortened)."""
    if Path(model_id).expanduser().exists() or model_id.startswith((".", "/", "~")):
        return MissingWeightsError(
            f"download '{model_id}': expected a hub id (owner/name); a local folder needs no "
            "download, pass it to --ip2p, --sam, --clip, ... as it is"
        )
    reason = " ".join(str(err).split())[:200] or type(err).__name__
    why = (
        "offline mode (HF_HUB_OFFLINE) is on"
        if offline()
        else f"the hub did not give it ({reason})"
    )
    return MissingWeightsError(
        f"download '{model_id}': {why}; run it on a machine that reaches the hub, with the "
        f"cache ({hub_cache_dir()}) the models will load from"
    )


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")


def load_pair(
    model_id: str,
    device: torch.device | None,
    classes: tuple[str, str],
    role: str,
    flag: str,
    tiny: Callable[[], tuple[Any, Any]],
) -> tuple[Any, Any]:
    """(model, processor) of two transformers `classes` from a hub id or local folder, fp32 and in
    eval mode on `device`; "tiny" builds a random pair in code with `tiny()`."""
    if model_id == "tiny":
        model, processor = tiny()
    else:
        import transformers

        model_class, processor_class = (getattr(transformers, name) for name in classes)
        try:
            model = model_class.from_pretrained(model_id)
            processor = processor_class.from_pretrained(model_id)
        except (OSError, ValueError) as err:
            raise missing_weights(model_id, role, flag, err) from None
        model.name_or_path = model_id
    return model.to(device or pick_device()).eval(), processor
