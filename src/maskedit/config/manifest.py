"""Manifests: cases from YAML (one region, several regions or turns), checked before models load."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
)

from maskedit.config.loading import _one_line, shown
from maskedit.config.settings import (
    _CASE_KEYS,
    _SETTING_KEYS,
    BASELINE_CHAIN_NEEDS_TURNS,
    PROMPT_KEYS,
    Case,
    EditSettings,
    Prompts,
    Region,
    Turn,
)
from maskedit.config.values import _case_path, _image_path, _inside, _suggest, _text_values, kind_of
from maskedit.config.yaml_doc import read_yaml
from maskedit.errors import InputError
from maskedit.families import EDITORS, SEGMENTERS
from maskedit.paths import check_path, shown_path


def case_from_dict(
    raw: dict[str, Any],
    base_dir: Path | None = None,
    where: str = "",
    allow_outside: bool = True,
    root: Path | None = None,
) -> Case:
    """Build a Case from a manifest entry (flat keys; paths relative to `base_dir`)."""
    if not isinstance(raw, dict):
        raise InputError(f"{where}expected a mapping of keys, got {type(raw).__name__}")
    if "turns" in raw or "regions" in raw:
        return _multi_case_from_dict(raw, base_dir, where, allow_outside, root)
    if "baseline_chain" in raw:  # a case without turns, or a turn or region of one
        raise InputError(f"{where}{BASELINE_CHAIN_NEEDS_TURNS}")
    for key in raw:
        if key not in _CASE_KEYS | _SETTING_KEYS:
            raise InputError(
                f"{where}unknown key '{shown(key)}'{_suggest(key, _CASE_KEYS | _SETTING_KEYS)}"
            )
    for key in ("id", "image", "instruction"):
        if key not in raw:
            raise InputError(f"{where}missing required key '{key}'")
    case_id, instruction = _text_values(raw, where)
    if "point" in raw and "points" in raw:
        raise InputError(f"{where}give 'point' or 'points', not both")
    points: list[Any] = []
    if "point" in raw:
        p = raw["point"]
        if not isinstance(p, list | tuple) or len(p) not in (2, 3):
            raise InputError(f"{where}point: expected [x, y] or [x, y, label], got {shown(p)}")
        points = [list(p) + [1] if len(p) == 2 else list(p)]
    elif "points" in raw:
        pts = raw["points"]
        if not isinstance(pts, list) or not all(
            isinstance(p, list | tuple) and len(p) in (2, 3) for p in pts
        ):
            raise InputError(f"{where}points: expected a list of [x, y, label], got {shown(pts)}")
        points = [list(p) + [1] if len(p) == 2 else list(p) for p in pts]
    mask = raw.get("mask")
    if mask is not None:
        if not isinstance(mask, str | os.PathLike):
            raise InputError(f"{where}mask: expected a file path, got {kind_of(mask)}")
        mask = check_path(mask, f"{where}mask")
        if base_dir is not None:
            mask = mask if mask.is_absolute() else base_dir / mask
            _inside(mask, base_dir, "mask", where, allow_outside, root)
    reference = raw.get("reference_mask")
    if reference is not None:
        reference = _case_path(reference, base_dir, "reference_mask", where, allow_outside, root)
    truth = raw.get("ground_truth")
    if truth is not None:
        truth = str(_case_path(truth, base_dir, "ground_truth", where, allow_outside, root))
    image = raw["image"]
    if not isinstance(image, str | os.PathLike):
        raise InputError(
            f"{where}image: expected a file path or skimage:NAME, got {kind_of(image)}"
        )
    check_path(os.fspath(image), f"{where}image")
    image = _image_path(os.fspath(image), base_dir, "image", where, allow_outside, root)
    references = raw.get("references") or []
    if not isinstance(references, list) or not all(
        isinstance(r, str | Path) and str(r) for r in references
    ):
        raise InputError(f"{where}references: expected a list of image paths, got {references!r}")
    references = [
        _image_path(r, base_dir, f"reference {i + 1}", where, allow_outside, root)
        for i, r in enumerate(references)
    ]
    settings = {k: raw[k] for k in _SETTING_KEYS if k in raw}
    if "method" in raw:
        if "methods" in raw:
            raise InputError(f"{where}give 'method' or 'methods', not both")
        settings["methods"] = [raw["method"]] if isinstance(raw["method"], str) else raw["method"]
    try:
        return Case(
            id=case_id,
            image=image,
            instruction=instruction,
            prompts=Prompts(
                points=points,
                box=raw.get("box"),
                mask=mask,
                **{k: raw[k] for k in PROMPT_KEYS if k in raw},
            ),
            captions=raw.get("captions"),
            references=tuple(references),
            reference_mask=reference,
            ground_truth=truth,
            benchmark=raw.get("benchmark"),
            settings=EditSettings(**settings),
        )
    except ValidationError as err:
        raise InputError(f"{where}{_one_line(err)}") from None


# A case with `turns:` or `regions:` gives every region its own instruction and where; the case's
# other keys (settings, method, phrase back-end) are defaults for each of them.
_OWN_KEYS = {"instruction", "point", "points", "box", "mask", "target", "mask_from", "refine"}
_TURN_KEYS = {"regions", "captions", "ground_truth"}


def _region_defaults(raw: dict[str, Any], keep: set[str], what: str, where: str) -> dict[str, Any]:
    """The keys of `raw` that are defaults for its regions (everything but `keep`), checked."""
    defaults = {k: v for k, v in raw.items() if k not in keep}
    known = _SETTING_KEYS | PROMPT_KEYS | {"method"}
    for key in defaults:
        if key in _OWN_KEYS:
            raise InputError(
                f"{where}'{key}' belongs in each {what}: a case with {what}s gives each its own"
            )
        if key not in known:
            raise InputError(f"{where}unknown key '{key}'{_suggest(key, known | keep)}")
    return defaults


def _merged(defaults: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """A region's keys over the defaults; its own method(s) replace the defaults' (as manifests)."""
    base = dict(defaults)
    if "method" in own or "methods" in own:
        base.pop("method", None)
        base.pop("methods", None)
    return {**base, **own}


@dataclass(frozen=True)
class _Reading:
    """What every region of a multi-region or multi-turn case is read with: the case's own keys
    (id, image) and where its files may be (relative to `base_dir`, inside it or `root`)."""

    case: dict[str, Any]
    base_dir: Path | None
    allow_outside: bool
    root: Path | None

    def case_from_dict(self, raw: dict[str, Any], where: str) -> Case:
        return case_from_dict(
            {**self.case, **raw}, self.base_dir, where, self.allow_outside, self.root
        )

    def inside(self, path: Path, what: str, where: str) -> None:
        if self.base_dir is not None:
            _inside(path, self.base_dir, what, where, self.allow_outside, self.root)


def _region_from_dict(raw: Any, reading: _Reading, where: str) -> Region:
    """One region (instruction, where, settings) checked as a one-region case would be."""
    if not isinstance(raw, dict):
        raise InputError(f"{where}expected a mapping of keys, got {type(raw).__name__}")
    for key in ("id", "image", "turns", "regions", "captions", "ground_truth", "benchmark"):
        if key in raw:
            raise InputError(f"{where}'{key}' is not a key of a region")
    one = reading.case_from_dict(raw, where)
    return Region(instruction=one.instruction, prompts=one.prompts, settings=one.settings)


def _regions_from_list(
    items: Any, defaults: dict[str, Any], reading: _Reading, where: str
) -> tuple[Region, ...]:
    if not isinstance(items, list) or not items:
        raise InputError(f"{where}'regions' must be a non-empty list")
    regions = tuple(
        _region_from_dict(
            _merged(defaults, item) if isinstance(item, dict) else item,
            reading,
            f"{where}region {j}: ",
        )
        for j, item in enumerate(items, start=1)
    )
    methods = list(regions[0].settings.methods)
    for j, region in enumerate(regions[1:], start=2):
        if list(region.settings.methods) != methods:
            raise InputError(
                f"{where}region {j}: methods {list(region.settings.methods)} differ from region "
                f"1's {methods}; every region of an edit runs the same methods"
            )
    return regions


def _turn_from_dict(raw: Any, defaults: dict[str, Any], reading: _Reading, where: str) -> Turn:
    """One turn: a region's keys, or `regions:` (its other keys are their defaults)."""
    if not isinstance(raw, dict):
        raise InputError(f"{where}expected a mapping of keys, got {type(raw).__name__}")
    own = {k: v for k, v in raw.items() if k not in _TURN_KEYS}
    if "regions" in raw:
        defaults = _merged(defaults, _region_defaults(own, set(), "region", where))
        regions = _regions_from_list(raw["regions"], defaults, reading, where)
    else:
        regions = (_region_from_dict(_merged(defaults, own), reading, where),)
    truth = raw.get("ground_truth")
    if truth is not None:
        if not isinstance(truth, str) or not truth.strip():
            raise InputError(f"{where}ground_truth: expected an image file, got {truth!r}")
        path = Path(truth)
        if reading.base_dir is not None and not path.is_absolute():
            path = reading.base_dir / path
        reading.inside(path, "ground_truth", where)
        truth = str(path.absolute())
    try:
        return Turn(regions=regions, captions=raw.get("captions"), ground_truth=truth)
    except ValidationError as err:
        raise InputError(f"{where}{_one_line(err)}") from None


def _multi_case_from_dict(
    raw: dict[str, Any],
    base_dir: Path | None,
    where: str,
    allow_outside: bool,
    root: Path | None = None,
) -> Case:
    """A case with `turns:` (a multi-turn edit) or `regions:` (several regions at once)."""
    if "turns" in raw and "regions" in raw:
        raise InputError(f"{where}give 'turns' or 'regions', not both (a turn may hold regions)")
    for key in ("id", "image"):
        if key not in raw:
            raise InputError(f"{where}missing required key '{key}'")
    kind = "turn" if "turns" in raw else "region"
    chain = raw.get("baseline_chain", False)
    if "baseline_chain" in raw and kind != "turn":
        raise InputError(f"{where}{BASELINE_CHAIN_NEEDS_TURNS}")
    if not isinstance(chain, bool):
        raise InputError(f"{where}baseline_chain: expected true or false, got {shown(chain)}")
    keep = {"id", "image", "captions", "benchmark", "turns", "regions", "baseline_chain"}
    defaults = _region_defaults(raw, keep, kind, where)
    reading = _Reading({"id": raw["id"], "image": raw["image"]}, base_dir, allow_outside, root)
    turns: tuple[Turn, ...] = ()
    regions: tuple[Region, ...] = ()
    if kind == "turn":
        items = raw["turns"]
        if not isinstance(items, list) or not items:
            raise InputError(f"{where}'turns' must be a non-empty list")
        turns = tuple(
            _turn_from_dict(item, defaults, reading, f"{where}turn {k}: ")
            for k, item in enumerate(items, start=1)
        )
    else:
        regions = _regions_from_list(raw["regions"], defaults, reading, where)
    first = (turns[0].regions if turns else regions)[0]
    try:
        return Case(
            id=str(raw["id"]),
            image=_image_path(raw["image"], base_dir, "image", where, allow_outside, root),
            instruction=first.instruction,
            prompts=first.prompts,
            settings=first.settings,
            captions=raw.get("captions"),
            benchmark=raw.get("benchmark"),
            turns=turns,
            baseline_chain=chain,
            regions=regions,
        )
    except ValidationError as err:
        raise InputError(f"{where}{_one_line(err)}") from None


class Manifest(BaseModel):
    """A list of cases read from YAML; `defaults` fill any setting a case leaves out."""

    model_config = ConfigDict(frozen=True)

    path: Path | None = None
    cases: list[Case]
    editor: str | None = None  # the editor for the whole run (models load once per run)
    segmenter: str | None = None  # likewise the segmenter
    root: Path | None = None  # a dataset folder the cases may read from (converted manifests)


def _dataset_root(value: Any, base_dir: Path, where: str) -> Path:
    """A manifest's declared dataset root: an existing folder, never the filesystem's root."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}'root' must be a folder path (the dataset the cases read)")
    root = Path(value).expanduser()
    root = root if root.is_absolute() else base_dir / root
    if not root.is_dir():
        raise InputError(f"{where}root '{value}': not found or not a folder")
    resolved = root.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise InputError(
            f"{where}root '{value}' would let the manifest read every file; "
            "name the dataset's own folder"
        )
    return root


def load_manifest(path: str | Path, allow_outside: bool = False) -> Manifest:
    """Parse and validate a whole manifest before anything runs (errors name case index and key).

    Image and mask paths are relative to the manifest's folder and must stay inside it, or
    inside the dataset folder a top-level `root:` declares (what the benchmark converters write),
    unless `allow_outside` (a manifest from elsewhere should not read arbitrary files).
    """
    path = Path(path)
    where = f"manifest '{shown_path(path)}': "
    doc = read_yaml(path, where)
    if not isinstance(doc, dict):
        raise InputError(f"{where}expected a mapping with 'cases' (and optional 'defaults')")
    top = {"defaults", "cases", "editor", "segmenter", "root"}
    for key in doc:
        if key not in top:
            raise InputError(f"{where}unknown top-level key '{shown(key)}'{_suggest(key, top)}")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise InputError(f"{where}'defaults' must be a mapping")
    for key in defaults:
        if key not in _SETTING_KEYS | {"method"}:
            raise InputError(
                f"{where}defaults: unknown key '{shown(key)}'{_suggest(key, _SETTING_KEYS)}"
            )
    root = _dataset_root(doc["root"], path.parent, where) if "root" in doc else None
    raw_cases = doc.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise InputError(f"{where}'cases' must be a non-empty list")
    cases: list = []
    seen: dict[str, str] = {}  # folder key -> the id that has it
    for i, raw in enumerate(raw_cases):
        label = f"case {i}"
        if (
            isinstance(raw, dict)
            and isinstance(raw.get("id"), str | int)
            and not isinstance(raw["id"], bool)
        ):
            label += f" ('{shown(raw['id'])}')"
        merged = raw
        if isinstance(raw, dict):
            base = dict(defaults)
            if "method" in raw or "methods" in raw:  # a case's own methods replace the defaults'
                base.pop("method", None)
                base.pop("methods", None)
            merged = {**base, **raw}
        case = case_from_dict(merged, path.parent, f"{where}{label}: ", allow_outside, root)
        # macOS and Windows fold case in folder names: 'Cat' and 'cat' would be one folder
        # there, each case overwriting the other's results
        key = case.id.lower()  # ids are ASCII (the id pattern)
        if key in seen and seen[key] == case.id:
            raise InputError(f"{where}{label}: duplicate case id '{case.id}'")
        if key in seen:
            raise InputError(
                f"{where}{label}: case id '{shown(case.id)}' and '{shown(seen[key])}' differ only "
                "in case: one folder on macOS and Windows; rename one"
            )
        seen[key] = case.id
        cases.append(case)
    editor = doc.get("editor")
    if editor is not None and not isinstance(editor, str):
        raise InputError(f"{where}'editor' must be one name: {', '.join(EDITORS)}")
    segmenter = doc.get("segmenter")
    if segmenter is not None and not isinstance(segmenter, str):
        raise InputError(f"{where}'segmenter' must be one name: {', '.join(SEGMENTERS)}")
    return Manifest(path=path, cases=cases, editor=editor, segmenter=segmenter, root=root)


def check_threshold(threshold: float | None) -> None:
    """`--threshold`: grey levels 0-255 (NaN or inf would lose a finished case's metrics)."""
    if threshold is not None and not (0.0 <= threshold <= 255.0):
        raise InputError(f"--threshold {threshold}: expected a number from 0 to 255")
