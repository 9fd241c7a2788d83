"""Which files inside a multi-turn edit's folder are maskedit's: its turns/ and masks/ folders.

A case folder is replaced (`--force`, a changed photo) only when it holds nothing of the user's.
A multi-turn edit's folder holds folders of maskedit's too, and a file the user put in them keeps
the folder as surely as one beside them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from maskedit.config import RUN_FOLDER_FILES
from maskedit.record import (
    HISTORY_FILE,
    OS_FILES,
    OUTPUT_FILES,
    TURNS_DIR,
    is_case_file,
    is_case_record,
)

MASKS_DIR = "masks"  # the app's region layers and kept turns' masks (`maskedit.app.history`)
# What an interrupted writer leaves beside the folders it writes: mkdtemp/mkstemp names.
LEFTOVER = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.(?P<kind>partial|old|tmp)$")
_TURN_ID = re.compile(r"^t\d+$")
_APP_MASK = re.compile(r"^[^.].*\.png$")  # mask-<digest>-WxH.png, a region layer's copy


def record_files(record: dict[str, Any]) -> list[Any]:
    """The files a case's record.json names as its outputs (as written: not checked)."""
    files = list(record["outputs"].values())
    methods = record.get("methods")
    files += list(methods.values()) if isinstance(methods, dict) else [methods]
    return files


def turns_user_files(folder: str | os.PathLike) -> tuple[str, ...]:
    """The user's files inside a multi-turn edit's turns/ and masks/ folders, named by their
    path in `folder` ('turns/t01/notes.txt'). maskedit's are a turn's folder (tNN) with a case
    folder's files and those its record.json names, the masks the app writes (PNG files) or
    history.json or a turn names, and what a write cut short or a file browser leaves."""
    base = Path(os.path.abspath(folder))
    found, named = [], _named(read_json(base / HISTORY_FILE), base)
    turns = base / TURNS_DIR
    for name in _entries(turns):
        turn = turns / name
        if _TURN_ID.match(name) and turn.is_dir() and not turn.is_symlink():
            record = read_json(turn / OUTPUT_FILES["record"])
            own = record_files(record) if is_case_record(record) else []
            named |= _named(record, turn)
            found += [
                f"{TURNS_DIR}/{name}/{n}"
                for n in _entries(turn)
                if not (is_case_file(n) or n in own)
            ]
        elif not _left_by_others(name):
            found.append(f"{TURNS_DIR}/{name}")
    masks = base / MASKS_DIR
    for name in _entries(masks):
        if not (_APP_MASK.match(name) or _left_by_others(name) or str(masks / name) in named):
            found.append(f"{MASKS_DIR}/{name}")
    return tuple(found)


def is_leftover(path: Path) -> bool:
    """Whether `path`, named as a temp folder or file (`LEFTOVER`), is what a killed writer left:
    a folder holding only what maskedit writes into a case folder, or a run table's temp file.
    A user's folder or file that only has such a name (`.thesis.20240101.old`) is not."""
    match = LEFTOVER.match(path.name)
    if match is None or path.is_symlink():
        return False
    if match["kind"] == "tmp":
        return match["name"] in RUN_FOLDER_FILES and path.is_file()
    try:
        names = os.listdir(path) if path.is_dir() else None
    except OSError:
        return False
    if names is None:
        return False
    turns = HISTORY_FILE in names  # a multi-turn edit's folder swapped out by --force
    return all(is_case_file(n, turns) for n in names) and not (turns and turns_user_files(path))


def _left_by_others(name: str) -> bool:
    """A leftover of a write cut short, or a file browser's own file."""
    return bool(LEFTOVER.match(name)) or name in OS_FILES or name.startswith("._")


def _entries(folder: Path) -> list[str]:
    """The names in `folder` when it is a folder (not a link to one); none otherwise."""
    try:
        return [] if folder.is_symlink() or not folder.is_dir() else sorted(os.listdir(folder))
    except OSError:
        return []


def read_json(path: Path) -> Any:
    """A JSON file's value, or None when it cannot be read or parsed (the caller decides)."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


def _named(doc: Any, base: Path) -> set[str]:
    """Every path a string in the JSON `doc` may name: as is or relative to `base`, or to where
    this process runs (what older files wrote)."""
    found, stack = set(), [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and item and "\0" not in item:
            found |= {os.path.normpath(os.path.join(base, item)), os.path.abspath(item)}
    return found
