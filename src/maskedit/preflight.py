"""What a run checks and settles before any model loads: every case's files and prompts, and
the methods the command line asks for."""

from __future__ import annotations

from pydantic import ValidationError

from maskedit.config import (
    Case,
    EditSettings,
    Manifest,
    Region,
)
from maskedit.errors import InputError
from maskedit.images import image_size, read_mask


def check_case(case: Case, where: str = "") -> None:
    """Fail before any model loads: the image and mask exist and the prompts lie on the image.

    Every region of a case with turns or regions is checked (each turn keeps the photo's size).
    """
    try:
        w, h = image_size(case.image)
        for prompts in case.all_prompts:
            if prompts.mask is not None:  # cheap: decode it now, so a bad mask never costs a load
                read_mask(prompts.mask, (h, w))
        for k, turn in enumerate(case.turns, start=1):
            if turn.ground_truth is not None:
                try:
                    image_size(turn.ground_truth)
                except InputError as err:
                    raise InputError(f"turn {k}: ground_truth: {err}") from None
        for i, reference in enumerate(case.references):
            try:
                image_size(reference)
            except InputError as err:
                raise InputError(f"reference {i + 1}: {err}") from None
        if case.reference_mask is not None:
            read_mask(case.reference_mask, (h, w))
        if case.ground_truth is not None:
            image_size(case.ground_truth)
    except InputError as err:
        raise InputError(f"{where}{err}") from None
    for prompts in case.all_prompts:
        prompts.check_inside(w, h, where)


def with_methods(manifest: Manifest, methods: str | list[str]) -> Manifest:
    """The same manifest with every case's methods replaced (e.g. `--methods pixel,latent`)."""

    def change(region: Region) -> Region:
        try:
            settings = EditSettings(**{**region.settings.model_dump(), "methods": methods})
        except ValidationError as err:
            msg = err.errors()[0]["msg"].removeprefix("Value error, ")
            raise InputError(f"--methods: {msg}") from None
        return region.model_copy(update={"settings": settings})

    cases = [case.map_regions(change) for case in manifest.cases]
    return manifest.model_copy(update={"cases": cases})
