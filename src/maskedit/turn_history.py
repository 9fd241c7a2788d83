"""A multi-turn edit's history.json: what it keeps of each turn, read back with every field checked.

A turn is taken again (not edited again) only when its spec, the models its pixels depend on
(`models_key`) and the bytes of the files it names (`inputs_key`) are the ones kept.

The history is read before anything is written, and `head`, `redo` and each turn's `parent` are
followed as ids: a damaged file (cut, nested too deep, a list where an id belongs, a parent that
loops) is one `InputError` naming the file, never a traceback or a walk that never ends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from maskedit.case_files import record_files
from maskedit.config import Turn
from maskedit.errors import InputError
from maskedit.fingerprints import file_digest
from maskedit.images import read_image
from maskedit.models import Models
from maskedit.outputs import inspect_case_folder
from maskedit.paths import os_problem
from maskedit.turn_files import unnamed_turn


def models_key(models: Models, turn: Turn) -> dict[str, Any]:
    """The parts of `models.describe()` a turn's pixels depend on (device and dtype as loaded),
    SAM only when it clicks, and the phrase model (`--target-model`, None for the default) only
    when it names a phrase: a history kept before that is matched on the others (`same_models`)."""
    described = models.describe()
    keys = ["kind", "editor", "ip2p", "device", "working_size", "speedups"]
    if any(region.prompts.needs_sam for region in turn.regions):
        keys.append("sam")
    key = {k: described.get(k) for k in keys}
    if any(r.prompts.target is not None for r in turn.regions):
        key["text_model"] = getattr(getattr(models, "options", None), "text_model", None)
    return json.loads(json.dumps(key, default=str))


def same_models(kept: Any, key: dict[str, Any]) -> bool:
    """Whether a turn's kept models are `key` (`models_key`); a turn kept before its phrase model
    was (no "text_model") is matched on the others, so an upgrade edits none of them again."""
    if isinstance(kept, dict) and "text_model" not in kept:
        key = {k: v for k, v in key.items() if k != "text_model"}
    return kept == key


def same_turn(node: Any, turn: Turn, key: dict[str, Any], inputs: dict[str, Any]) -> bool:
    """Whether a kept turn (a `TurnNode`) is `turn` made by the models `key` from the file
    contents `inputs`, wherever its files lie now (a manifest moved with its masks); one kept
    before its files were hashed (no inputs) on spec, file names and models."""
    if not same_models(node.models, key):
        return False
    if node.inputs is None:
        return node.turn == turn
    return node.inputs == inputs and unnamed_turn(node.turn) == unnamed_turn(turn)


def inputs_key(turn: Turn) -> dict[str, Any]:
    """The bytes of the files a turn names (each region's mask, its ground truth), hashed: a turn
    whose mask file changed is edited again, not taken again."""
    masks = [region.prompts.mask for region in turn.regions]
    key: dict[str, Any] = {}
    if any(mask is not None for mask in masks):
        key["masks"] = [None if mask is None else file_digest(mask) for mask in masks]
    if turn.ground_truth is not None:
        key["ground_truth"] = file_digest(turn.ground_truth)
    return key


def unfinished(turn_dir: Path) -> str | None:
    """Why a turn's folder cannot be taken again (a file its record names missing or empty, a
    picture that does not read back), or None: such a turn is edited again."""
    found = inspect_case_folder(turn_dir)
    if found.state != "complete":
        return found.reason or found.state
    for name in record_files(found.record):
        if isinstance(name, str) and name.endswith(".png"):
            try:
                read_image(turn_dir / name)
            except InputError as err:
                return str(err)
    return None


def read_history(path: Path) -> dict[str, Any]:
    """history.json as `TurnsEdit.save` writes it; its turns' specs are left to `Turn`."""
    try:
        doc = json.loads(path.read_bytes())
    except OSError as err:
        raise InputError(f"'{path}': cannot be read ({os_problem(err)})") from None
    except (ValueError, RecursionError) as err:  # ValueError: bad JSON or UTF-8
        detail = " ".join(str(err).split())[:200] or type(err).__name__
        raise _damaged(path, f"not valid JSON: {detail}") from None
    if not isinstance(doc, dict):
        raise _damaged(path, f"expected a JSON object, got a {type(doc).__name__}")
    _expect(path, doc, "schema", int, "a whole number", optional=True)
    _expect(path, doc, "edit", str, "text")
    _expect(path, doc, "image", str, "text")
    _expect(path, doc, "turns", list, "a list")
    _expect(path, doc, "benchmark", dict | None, "a mapping or null", optional=True)
    ids: set[str] = set()
    for i, node in enumerate(doc["turns"]):
        where = f"turns[{i}]"
        if not isinstance(node, dict):
            raise _damaged(path, f"{where}: expected a mapping, got a {type(node).__name__}")
        _expect(path, node, "id", str, "a turn id", where)
        _expect(path, node, "parent", str | None, "a turn id or null", where)
        _expect(path, node, "turn", dict, "a mapping", where)
        _expect(path, node, "models", dict, "a mapping", where)
        _expect(path, node, "inputs", dict | None, "a mapping or null", where, optional=True)
        if node["id"] in ids:
            raise _damaged(path, f"{where}.id: '{node['id']}' twice")
        if node["parent"] is not None and node["parent"] not in ids:  # so parents never loop
            raise _damaged(
                path, f"{where}.parent: '{node['parent']}' is not a turn listed before it"
            )
        ids.add(node["id"])
    _expect(path, doc, "head", str | None, "a turn id or null")
    _expect(path, doc, "redo", list, "a list of turn ids")
    if odd := [turn for turn in doc["redo"] if not isinstance(turn, str)]:
        raise _damaged(path, f"redo: expected a list of turn ids, holds a {type(odd[0]).__name__}")
    for name, turn in [("head", doc["head"]), *(("redo", turn) for turn in doc["redo"])]:
        if turn is not None and turn not in ids:
            raise _damaged(path, f"{name}: no turn '{turn}'")
    return doc


def _expect(
    path: Path,
    doc: dict[str, Any],
    key: str,
    kind: Any,
    expected: str,
    where: str = "",
    *,
    optional: bool = False,
) -> None:
    """Refuse `doc[key]` unless it is of `kind` (missing: refused unless `optional`)."""
    name = f"{where}.{key}" if where else key
    if key not in doc:
        if optional:
            return
        raise _damaged(path, f"{name}: missing")
    if not isinstance(doc[key], kind):
        raise _damaged(path, f"{name}: expected {expected}, got a {type(doc[key]).__name__}")


def _damaged(path: Path, what: str) -> InputError:
    return InputError(f"'{path}': not a turns history ({what})")
