"""A region or a turn as one command-line string: `KEY=VALUE` parts (manifest keys) and one
instruction, separated by ';' — what `--turn` and `--region` take."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from maskedit.cli.options import parse_box, parse_point
from maskedit.config import PROMPT_KEYS, EditSettings
from maskedit.errors import InputError

RegionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--region",
        help="One region of a single edit: 'KEY=VALUE; ...; instruction' with manifest keys "
        "(point=X,Y[,L], box=X0,Y0,X1,Y1, mask=FILE, target=PHRASE, seed=N, ...); repeatable: all "
        "are edited at once, each inside its own mask (the later wins where masks overlap).",
    ),
]
# The keys a --turn may name (a manifest case's, less id and image); the rest is the instruction.
_TEXT_KEYS = (
    {"point", "box", "mask", "method", "methods"} | PROMPT_KEYS | set(EditSettings.model_fields)
)
_WORDS = {"mask", "target", "target_backend", "mask_from", "refine", "harmonize"}  # kept as text
_KEY = re.compile(r"^\s*([A-Za-z][A-Za-z_-]*)\s*=(.*)$", re.S)


def parse_turn(text: str, flag: str = "--turn") -> dict[str, Any]:
    """'point=420,310; make the jacket red' → {"points": [[420, 310, 1]], "instruction": ...}."""
    raw: dict[str, Any] = {}
    words: list[str] = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        match = _KEY.match(part)
        if match is None:
            words.append(part)
            continue
        key, value = match.group(1).replace("-", "_"), match.group(2).strip()
        if key not in _TEXT_KEYS:
            raise InputError(f"{flag} '{text}': unknown key '{key}'")
        if not value:
            raise InputError(f"{flag} '{text}': {key}= has no value")
        name = "methods" if key == "method" else key
        if name != "point" and name in raw:
            raise InputError(f"{flag} '{text}': {key}= given twice (only point= repeats)")
        if key == "point":
            raw.setdefault("points", []).append(parse_point(value))
        elif key == "box":
            raw["box"] = parse_box(value)
        elif key in ("method", "methods"):
            raw["methods"] = value
        elif key == "mask":  # absolute: the history must find it from anywhere
            raw[key] = str(Path(value).absolute())
        elif key in _WORDS:
            raw[key] = value
        else:
            raw[key] = yaml.safe_load(value)  # numbers and true/false
    if len(words) != 1:
        raise InputError(
            f"{flag} '{text}': expected one instruction beside the KEY=VALUE parts, got "
            f"{len(words)} ({'; '.join(words) or 'none'})"
        )
    return {**raw, "instruction": words[0]}
