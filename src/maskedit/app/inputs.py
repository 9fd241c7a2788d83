"""The page's photos: an upload (size-capped, read by `read_image`), a bundled sample, or a
one-click example (a sample, a click on the object, an instruction)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maskedit.errors import InputError
from maskedit.images import read_image

SAMPLES = ("skimage:astronaut", "skimage:chelsea", "skimage:motorcycle_left")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # also given to Gradio, which refuses larger uploads itself


@dataclass(frozen=True)
class Example:
    """A one-click start: a sample photo, an include click on the object, an instruction."""

    sample: str
    click: tuple[float, float]  # image pixels (x, y)
    instruction: str

    @property
    def label(self) -> str:
        return f"{self.sample.removeprefix('skimage:')}: {self.instruction}"


EXAMPLES = (
    Example("skimage:chelsea", (225.0, 180.0), "turn the cat into a tiger"),
    Example("skimage:astronaut", (110.0, 400.0), "make the suit blue"),
    Example("skimage:motorcycle_left", (420.0, 200.0), "make the motorcycle green"),
)


def load_upload(path: str | os.PathLike, max_bytes: int = MAX_UPLOAD_BYTES) -> np.ndarray:
    """Read an uploaded file as H×W×3 uint8; InputError (naming the file, not the server path)."""
    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    if size > max_bytes:
        raise InputError(
            f"upload '{path.name}': {size / 2**20:.1f} MB exceeds the limit of "
            f"{max_bytes / 2**20:.0f} MB"
        )
    try:
        return read_image(path)
    except InputError as err:  # read_image names the full path: the server's temp folder
        raise InputError(str(err).replace(f"'{path}'", f"'{path.name}'")) from None


def load_sample(name: str) -> np.ndarray:
    """One of the bundled sample photos (only those listed in SAMPLES)."""
    if name not in SAMPLES:
        raise InputError(f"sample '{name}': choose one of {', '.join(SAMPLES)}")
    return read_image(name)


def example(label: str) -> Example:
    """One of EXAMPLES, by its label."""
    for ex in EXAMPLES:
        if ex.label == label:
            return ex
    raise InputError(f"example '{label}': choose one of the examples shown")
