"""maskedit: spatial control for instruction-based image editing.

    >>> import maskedit
    >>> models = maskedit.load_models("tiny")  # or "real": timbrooks/instruct-pix2pix + SAM
    >>> result = maskedit.edit("skimage:chelsea", "turn the cat into a robot",
    ...                        points=[(225, 180)], models=models)
    >>> result.blended.shape
    (300, 451, 3)

Names are imported on first use (PEP 562), so `import maskedit.report` never pulls in torch.
"""

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "edit": "maskedit.case",
    "EditRequest": "maskedit.request",
    "EditResult": "maskedit.record",
    "Case": "maskedit.config",
    "EditSettings": "maskedit.config",
    "Manifest": "maskedit.config",
    "ModelOptions": "maskedit.config",
    "Prompts": "maskedit.config",
    "Region": "maskedit.config",
    "Turn": "maskedit.config",
    "load_manifest": "maskedit.config",
    "InputError": "maskedit.errors",
    "MaskeditError": "maskedit.errors",
    "MissingWeightsError": "maskedit.errors",
    "OutputError": "maskedit.errors",
    "RunFailure": "maskedit.errors",
    "Models": "maskedit.models",
    "load_models": "maskedit.models",
    "TurnsEdit": "maskedit.turns",
    "edit_regions": "maskedit.regions",
}
__all__ = [
    "Case", "EditRequest", "EditResult", "EditSettings", "InputError", "Manifest", "MaskeditError",
    "MissingWeightsError", "ModelOptions", "Models", "OutputError", "Prompts", "Region",
    "RunFailure", "Turn", "TurnsEdit", "edit", "edit_regions", "load_manifest", "load_models",
]  # fmt: skip

if TYPE_CHECKING:  # for type checkers and IDEs
    from maskedit.case import edit
    from maskedit.config import (
        Case,
        EditSettings,
        Manifest,
        ModelOptions,
        Prompts,
        Region,
        Turn,
        load_manifest,
    )
    from maskedit.errors import (
        InputError,
        MaskeditError,
        MissingWeightsError,
        OutputError,
        RunFailure,
    )
    from maskedit.models import Models, load_models
    from maskedit.record import EditResult
    from maskedit.regions import edit_regions
    from maskedit.request import EditRequest
    from maskedit.turns import TurnsEdit


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'maskedit' has no attribute {name!r}")
