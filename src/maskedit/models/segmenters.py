"""`from_pretrained` of the segmenters (SAM, SlimSAM, SAM-HQ, SAM 2) behind one `SamPredictor`."""

from __future__ import annotations

import torch

from maskedit.errors import CheckpointError
from maskedit.families import get_segmenter
from maskedit.masks.sam import SamPredictor
from maskedit.models.hub import missing_weights, pick_device, pick_dtype

DEFAULT_SAM_ID = "facebook/sam-vit-huge"


def _device_and_dtype(
    device: torch.device | str | None, dtype: torch.dtype | str | None
) -> tuple[torch.device, torch.dtype]:
    """torch's objects or maskedit's spellings ("cuda", "cpu"; "fp16", "bf16", "fp32"): a string
    is checked here, so a wrong one is named as such and not as a checkpoint that fails to load.
    Left out: the best device, and fp32 on CPU, fp16 on accelerators, like the editor."""
    device = pick_device(device) if device is None or isinstance(device, str) else device
    if dtype is None or isinstance(dtype, str):
        dtype = pick_dtype(device, dtype)
    return device, dtype


def load_sam(
    model_id: str = DEFAULT_SAM_ID,
    device: torch.device | str | None = None,
    dtype: torch.dtype | str | None = None,
) -> SamPredictor:
    """transformers `SamModel` + `SamProcessor` from a hub id or local folder, wrapped for reuse."""
    from transformers import SamModel, SamProcessor

    # SAM is small next to the UNet and its mask logits are thresholded at 0: keep it in fp32 on
    # CPU, fp16 on accelerators like the editor.
    device, dtype = _device_and_dtype(device, dtype)
    try:
        model = SamModel.from_pretrained(model_id, dtype=dtype)
        processor = SamProcessor.from_pretrained(model_id)
    except (OSError, ValueError) as err:
        raise missing_weights(model_id, "SAM", "--sam", err) from None
    if not isinstance(model, SamModel):
        raise CheckpointError(f"SAM model '{model_id}': loaded a {type(model).__name__}, not SAM")
    return SamPredictor(model.to(device).eval(), processor)


def load_segmenter(
    name: str = "sam",
    model_id: str | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | str | None = None,
) -> SamPredictor:
    """A `--segmenter` family's model + processor from a hub id or local folder, wrapped for reuse.

    `name` is a key of `maskedit.families.SEGMENTERS`; `model_id` None takes its default
    id. `device` and `dtype` are torch's or maskedit's spellings ("cpu", "fp32"). The
    checkpoint's config.json is read first, so a checkpoint of another family is named in
    one line before any weights load.
    """
    import transformers

    from maskedit.masks.sam import Sam2LiteProcessor

    seg = get_segmenter(name)
    model_id = model_id or seg.default_id
    device, dtype = _device_and_dtype(device, dtype)  # fp32 on CPU, fp16 on accelerators
    role = f"segmenter '{name}'"
    try:
        config, _ = transformers.PreTrainedConfig.get_config_dict(model_id)
    except (OSError, ValueError) as err:
        raise missing_weights(model_id, role, "--sam", err) from None
    model_type = config.get("model_type")
    if model_type not in seg.model_types:
        raise CheckpointError(
            f"{role} model '{model_id}': its config is a '{model_type}' model, a {name} checkpoint "
            f"is {' or '.join(repr(t) for t in seg.model_types)}; is it another --segmenter's?"
        )
    model_class = getattr(transformers, seg.model_class)
    try:
        model = model_class.from_pretrained(model_id, dtype=dtype)
        if seg.family == "sam2":  # transformers' Sam2Processor needs torchvision
            processor = Sam2LiteProcessor.from_pretrained(model_id)
        else:
            processor = getattr(transformers, seg.processor_class).from_pretrained(model_id)
    except (OSError, ValueError) as err:
        raise missing_weights(model_id, role, "--sam", err) from None
    if not isinstance(model, model_class):
        raise CheckpointError(
            f"{role} model '{model_id}': loaded a {type(model).__name__}, not a {seg.model_class}"
        )
    return SamPredictor(model.to(device).eval(), processor)
