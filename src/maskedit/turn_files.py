"""How a multi-turn edit's history.json and turn records name the files a turn reads.

A turn names files: each region's mask and its ground truth. history.json and every turn's
record.json name a file inside the edit folder (the app's masks/, masks put there by hand)
relative to the folder of the JSON file that names it, so the folder works on its own wherever
it is moved, copied or unzipped; a file outside it (a user's mask, a dataset's ground truth) is
named by its absolute path, as the user's own input. In memory a turn's files are absolute, so
that the same turn given again compares equal. Files written before `FILES_SCHEMA` are named as
they were given: absolute, or relative to where the command ran. A new edit's folder is made
here too (`new_edit_folder`), never over an edit already there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from maskedit.config import Turn
from maskedit.errors import OutputError
from maskedit.images import SAMPLE_PREFIX
from maskedit.record import HISTORY_FILE, OUTPUT_FILES, TURNS_DIR, EditResult

FILES_SCHEMA = 2  # history.json and a turn's record.json name the folder's files relatively


def new_edit_folder(folder: Path) -> None:
    """Make `folder` for a new multi-turn edit. One that holds an edit already (its history, its
    photo or its turns) is refused: a new history there would orphan the old turns and write
    over them. `maskedit turns` and `run` empty the folder first (with --force, or a changed
    photo), so only an API call meets this."""
    held = [n for n in (HISTORY_FILE, OUTPUT_FILES["original"], TURNS_DIR) if (folder / n).exists()]
    if held:
        raise OutputError(
            f"'{folder}': holds a multi-turn edit already ({held[0]}); open it with "
            "TurnsEdit.open or TurnsEdit.open_or_create, or name a new folder"
        )
    folder.mkdir(parents=True, exist_ok=True)


def absolute_turn(turn: Turn, base: Path | None = None) -> Turn:
    """`turn` with every file it names absolute: a relative one read against `base` (the folder
    of the file that names it; None: where this process runs)."""
    return _map_files(turn, lambda name: _absolute(name, base))


def unnamed_turn(turn: Turn) -> Turn:
    """`turn` with every file it names replaced by one placeholder: two turns that differ only
    in where their files lie compare equal (their bytes are compared apart, as digests)."""
    return _map_files(turn, lambda _name: "file")


def recorded_turn(doc: dict[str, Any], turn_dir: Path) -> Turn:
    """The turn a turn's record.json holds (its `"turn"`), its files absolute: relative ones
    read against `turn_dir` (older records: as given)."""
    relative = doc.get("schema") == FILES_SCHEMA
    return absolute_turn(Turn.model_validate(doc["spec"]), turn_dir if relative else None)


def portable_turn(turn: Turn, folder: Path, base: Path) -> dict[str, Any]:
    """`turn` as JSON, a file inside the edit `folder` named relative to `base` (the folder of
    the JSON file: the edit folder, or a turn's folder), any other file absolute."""
    return _map_files(turn, lambda name: portable_name(name, folder, base)).model_dump(mode="json")


def portable_name(name: str, folder: Path, base: Path) -> str:
    """A file's name as a file in `base` names it: relative (with /) when the file lies inside
    `folder`, else absolute."""
    if name.startswith(SAMPLE_PREFIX):
        return name
    path = Path(_absolute(name))
    for file, inside, start in (
        (path, Path(os.path.abspath(folder)), Path(os.path.abspath(base))),
        (path.resolve(), Path(folder).resolve(), Path(base).resolve()),  # through symlinks
    ):
        if file.is_relative_to(inside):
            return PurePosixPath(*Path(os.path.relpath(file, start)).parts).as_posix()
    return str(path)


def portable_result(result: EditResult, folder: Path, turn_dir: Path) -> EditResult:
    """`result` as a turn's record names its mask file (`portable_name`)."""
    prompts = result.prompts
    if prompts is None or prompts.mask is None:
        return result
    name = Path(portable_name(str(prompts.mask), folder, turn_dir))
    return replace(result, prompts=prompts.model_copy(update={"mask": name}))


def portable_regions(extra: dict[str, Any], folder: Path, turn_dir: Path) -> dict[str, Any]:
    """The keys a several-region turn's record adds, each region's mask file named as
    `portable_result` names it."""
    if "regions" not in extra:
        return extra
    regions = []
    for region in extra["regions"]:
        mask = region.get("mask") or {}
        if mask.get("file"):
            mask = {**mask, "file": portable_name(mask["file"], folder, turn_dir)}
            region = {**region, "mask": mask}
        regions.append(region)
    return {**extra, "regions": regions}


def _absolute(name: str, base: Path | None = None) -> str:
    if name.startswith(SAMPLE_PREFIX):
        return name
    path = Path(name)
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return os.path.abspath(path)


def _map_files(turn: Turn, rename: Callable[[str], str]) -> Turn:
    """`turn` with each file it names (every region's mask, the ground truth) renamed."""
    regions = tuple(
        region
        if region.prompts.mask is None
        else region.model_copy(
            update={
                "prompts": region.prompts.model_copy(
                    update={"mask": Path(rename(str(region.prompts.mask)))}
                )
            }
        )
        for region in turn.regions
    )
    truth = None if turn.ground_truth is None else rename(turn.ground_truth)
    return turn.model_copy(update={"regions": regions, "ground_truth": truth})
