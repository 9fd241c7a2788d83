"""maskedit: spatial control for instruction-based image editing.

>>> import maskedit
>>> models = maskedit.load_models("tiny")            # or "real" (timbrooks/instruct-pix2pix + SAM)
>>> result = maskedit.edit("skimage:chelsea", "turn the cat into a robot",
...                        points=[(225, 180)], models=models)
>>> result.blended.shape
(300, 451, 3)
"""

from maskedit.case import EditResult, edit
from maskedit.config import Case, EditSettings, Manifest, Prompts, load_manifest
from maskedit.errors import InputError, MaskeditError, MissingWeightsError, OutputError
from maskedit.models import Models, load_models

__version__ = "0.1.0"
__all__ = [
    "Case",
    "EditResult",
    "EditSettings",
    "InputError",
    "Manifest",
    "MaskeditError",
    "MissingWeightsError",
    "Models",
    "OutputError",
    "Prompts",
    "edit",
    "load_manifest",
    "load_models",
]
