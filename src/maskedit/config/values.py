"""One manifest value at a time: what it is in words, paths kept inside the manifest's folder or
its declared dataset root, ids and instructions as written."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from maskedit.config.settings import RUN_FOLDER_FILES
from maskedit.errors import InputError
from maskedit.paths import lies_within, os_problem


def kind_of(value: Any) -> str:
    """What a YAML or JSON value is, in words: 'a list', 'the number 42', 'the boolean True'."""
    if isinstance(value, bool):
        return f"the boolean {value} (quote it to mean the text)"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return {list: "a list", dict: "a mapping", type(None): "nothing"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _suggest(key: Any, known: set[str]) -> str:
    if not isinstance(key, str):
        return f" (known keys: {', '.join(sorted(known))})"
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return (
        f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(sorted(known))})"
    )


def _inside(
    path: Path,
    base_dir: Path,
    what: str,
    where: str,
    allow_outside: bool,
    root: Path | None = None,
) -> None:
    """A manifest may only name files inside its own folder, or inside the dataset `root` it
    declares, unless the user allows more (`maskedit.paths.lies_within`: a symbolic link below
    one of them is the user's own; a path with '..' is judged by where it resolves)."""
    if allow_outside:
        return
    try:
        if lies_within(path, [base_dir] if root is None else [base_dir, root]):
            return
    except (OSError, RuntimeError) as err:  # RuntimeError: a symbolic link loop
        detail = os_problem(err) if isinstance(err, OSError) else "a symbolic link loop"
        raise InputError(f"{where}{what} '{path}': {detail}") from None
    inside = f"the manifest's folder '{base_dir}'" + (
        f" or its root '{root}'" if root is not None else ""
    )
    raise InputError(
        f"{where}{what} '{path}' is outside {inside}; "
        "pass --allow-outside-paths to allow absolute paths and '..'"
    )


def _case_path(
    value: Any,
    base_dir: Path | None,
    what: str,
    where: str,
    allow_outside: bool,
    root: Path | None,
) -> Path:
    path = Path(str(value))
    if base_dir is not None:
        path = path if path.is_absolute() else base_dir / path
        _inside(path, base_dir, what, where, allow_outside, root)
    return path


def _image_path(
    value: Any,
    base_dir: Path | None,
    what: str,
    where: str,
    allow_outside: bool,
    root: Path | None = None,
) -> str:
    """An image path relative to the manifest's folder (kept inside it or the declared dataset
    root), or `skimage:NAME`."""
    image = str(value)
    if image.startswith("skimage:"):
        return image
    return str(_case_path(image, base_dir, what, where, allow_outside, root))


def _text_values(raw: dict[str, Any], where: str) -> tuple[str, str]:
    """The case id and instruction, as written: only text is an instruction (a blank one is
    empty, not "None"; a list is not "['make', 'red']"), and an id is text or a whole number (a
    YAML `yes` would name the folder "True"). Ids may not take the names of the run's files."""
    case_id, instruction = raw["id"], raw["instruction"]
    if isinstance(case_id, int) and not isinstance(case_id, bool):
        case_id = str(case_id)
    if not isinstance(case_id, str):
        raise InputError(
            f"{where}id: expected a name (letters, digits, . _ -), got {kind_of(case_id)}"
        )
    if case_id.lower() in RUN_FOLDER_FILES:
        raise InputError(
            f"{where}id: '{case_id}' is the name of a file the run writes beside its case folders "
            f"({', '.join(RUN_FOLDER_FILES)}); choose another id"
        )
    if instruction is None:
        raise InputError(f"{where}instruction is empty; say what to change")
    if not isinstance(instruction, str):
        raise InputError(f"{where}instruction: expected text, got {kind_of(instruction)}")
    return case_id, instruction
