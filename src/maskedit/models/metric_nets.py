"""The metric networks beyond CLIP: LPIPS (PIE-Bench's background LPIPS) and DINO (PIE-Bench's
structure distance, MagicBrush's DINO). A missing checkpoint gives None and one warning (or
MissingWeightsError with required=True): the column is then left empty, never made up."""

from __future__ import annotations

from pathlib import Path

import torch

from maskedit.errors import CheckpointError, MissingWeightsError
from maskedit.models.hub import (
    hub_cache_dir,
    offline,
    pick_device,
)

DEFAULT_DINO_STRUCTURE_ID = "facebook/dino-vitb8"  # PIE-Bench's structure distance
DEFAULT_DINO_MAGICBRUSH_ID = "facebook/dino-vits16"  # MagicBrush's DINO
DEFAULT_CLIP_PIE_ID = "openai/clip-vit-large-patch14"  # PIE-Bench's CLIP scores
DINO_LAYER_NORM_EPS = 1e-6  # DINO's own LayerNorm eps (the converted configs say 1e-12)
SQUEEZENET_FILE = "squeezenet1_1-b8a52dc0.pth"  # torchvision's ImageNet weights, as cached
# the LPIPS a run loads by default: torchvision's cached backbone and torchmetrics' linear layers
DEFAULT_LPIPS_NAME = "squeezenet1_1 + LPIPS v0.1 (torchvision, torchmetrics)"


def _skipped(what: str, err: MissingWeightsError, required: bool) -> None:
    import warnings

    from maskedit.errors import MaskeditWarning

    if required:
        raise err
    warnings.warn(f"{what} skipped: {err}", MaskeditWarning, stacklevel=3)


def load_dino(
    model_id: str = DEFAULT_DINO_STRUCTURE_ID,
    device: torch.device | None = None,
    *,
    required: bool = False,
):
    """A DINO ``ViTModel`` (hub id or local folder, fp32, no pooler) for the DINO metrics, or None
    with one warning when its weights are missing (``required=True``: MissingWeightsError)."""
    from transformers import ViTModel

    try:
        model = ViTModel.from_pretrained(
            model_id, add_pooling_layer=False, layer_norm_eps=DINO_LAYER_NORM_EPS
        )
    except (OSError, ValueError) as err:
        local = Path(model_id).expanduser().exists() or model_id.startswith((".", "/", "~"))
        reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        why = "offline mode (HF_HUB_OFFLINE) is on" if offline() else "the hub could not be reached"
        where = (
            f"the local folder '{model_id}' is not a complete checkpoint ({reason})"
            if local
            else f"'{model_id}' is not in the Hugging Face cache ({hub_cache_dir()}) and {why}: "
            f"run `maskedit download {model_id}` on a connected machine, or pass a local folder"
        )
        _skipped("DINO metrics", MissingWeightsError(f"DINO model: {where}"), required)
        return None
    if not isinstance(model, ViTModel):
        raise CheckpointError(f"DINO model '{model_id}': loaded a {type(model).__name__}, not ViT")
    return model.to(device or pick_device()).eval()


def _lpips_linear_file(folder: Path | None) -> Path | None:
    """LPIPS's SqueezeNet linear layers: in the folder, else the copy torchmetrics ships."""
    candidates = [folder / "squeeze.pth"] if folder is not None else []
    try:
        import torchmetrics

        candidates.append(
            Path(torchmetrics.__file__).parent / "functional/image/lpips_models/squeeze.pth"
        )
    except ImportError:
        pass
    return next((p for p in candidates if p.is_file()), None)


def load_lpips(
    source: str | None = None, device: torch.device | None = None, *, required: bool = False
):
    """PIE-Bench's LPIPS network (SqueezeNet 1.1 + LPIPS v0.1 linear layers), or None with one
    warning when a weight file is missing (``required=True``: MissingWeightsError).

    ``source`` is a folder holding ``squeezenet1_1*.pth`` (torchvision's ImageNet weights) and
    optionally ``squeeze.pth`` (the linear layers), or the backbone file itself; None looks where
    torchvision caches the backbone (``torch.hub.get_dir()/checkpoints``) and takes the linear
    layers torchmetrics ships.
    """
    import re

    from maskedit.metrics.lpips import LpipsNet

    path = Path(source).expanduser() if source else Path(torch.hub.get_dir()) / "checkpoints"
    folder = path.parent if path.is_file() else path
    backbone = (
        path if path.is_file() else next(iter(sorted(folder.glob("squeezenet1_1*.pth"))), None)
    )
    linear = _lpips_linear_file(folder)
    missing = [
        name
        for name, found in (
            (f"SqueezeNet 1.1 weights ({SQUEEZENET_FILE})", backbone),
            ("LPIPS linear layers (squeeze.pth)", linear),
        )
        if found is None
    ]
    if missing:
        err = MissingWeightsError(
            f"LPIPS: {' and '.join(missing)} not found in '{folder}': copy them there from a "
            "machine where torchvision/torchmetrics downloaded them, or pass their folder"
        )
        _skipped("LPIPS", err, required)
        return None
    net = LpipsNet.squeeze()
    try:
        trunk = torch.load(backbone, map_location="cpu", weights_only=True)
        lins = torch.load(linear, map_location="cpu", weights_only=True)
        net.features.load_state_dict(
            {k.removeprefix("features."): v for k, v in trunk.items() if k.startswith("features.")}
        )
        pattern = re.compile(r"lin(\d+)\.model\.\d+\.weight")
        net.lins.load_state_dict(
            {f"{m.group(1)}.weight": v for k, v in lins.items() if (m := pattern.fullmatch(k))}
        )
    except (OSError, RuntimeError, ValueError) as err:
        raise CheckpointError(f"LPIPS: '{backbone}' / '{linear}' do not load: {err}") from None
    # named as the choice names it, so that a case scored with other weights is scored again
    net.name_or_path = source or DEFAULT_LPIPS_NAME
    return net.to(device or pick_device()).eval()
