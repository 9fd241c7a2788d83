"""Typed settings, prompts, cases and manifests (model-loading options: `config.loading`); every
default is written here once. No torch here: the CLI checks its flags before any heavy import."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from maskedit.config.loading import (  # noqa: F401 - the public names live here too
    COMPILE_MODES,
    DTYPES,
    TEXT_BACKENDS,
    VAE_TILING,
    ModelOptions,
    Speedups,
    _one_line,
    is_local_or_hub_id,
    shown,
)
from maskedit.errors import InputError
from maskedit.families import EDITORS, SEGMENTERS
from maskedit.paths import check_path, os_problem, path_problem, shown_path

# Steps and guidance defaults are per editor, in maskedit.families.EDITORS (the seed
# study's 20 Euler-ancestral steps, text 7.5, image 1.5 are the 'ip2p' row); its seeds were
# 1337-1339.
DEFAULT_SEED = 1337


# The files a run writes beside its case folders (the runner's log and tables, `maskedit report`,
# the study's votes): a case id may not take one of these names.
RUN_FOLDER_FILES = ("results.jsonl", "summary.csv", "run_log.jsonl", "report.html", "study.sqlite")

METHODS = ("pixel", "latent", "guidance", "crop")
Method = Literal["pixel", "latent", "guidance", "crop"]
HARMONIZE = ("none", "poisson", "color")


class EditSettings(BaseModel):
    """How the editor runs and how the mask is applied; documented in docs/methods.md.

    `working_size` None means the editor's own default long side. `methods` lists the spatial
    controls to run (each gets its own output beside the one unmasked baseline).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # None: the editor's own default (maskedit.families.EDITORS), resolved by `edit`.
    steps: int | None = Field(None, ge=1, le=1000)
    text_cfg: float | None = Field(None, ge=0.0)
    image_cfg: float | None = Field(None, ge=0.0)
    seed: int = Field(DEFAULT_SEED, ge=0, lt=2**63)
    working_size: int | None = Field(None, ge=8, le=4096)
    methods: tuple[Method, ...] = ("pixel",)
    # Mask shaping, in native-image pixels (fill holes → largest part → erode → dilate → feather).
    dilate: int = Field(0, ge=0, le=1024)
    erode: int = Field(0, ge=0, le=1024)
    feather: float = Field(0.0, ge=0.0, le=512.0)
    fill_holes: bool = False
    largest_only: bool = False
    # latent: Blended Latent Diffusion window (fractions of the steps) and latent-mask growth.
    blend_start: float = Field(0.0, ge=0.0, le=1.0)
    blend_end: float = Field(1.0, ge=0.0, le=1.0)
    latent_dilate: int = Field(1, ge=0, le=64)
    # crop: padding around the mask's bounding box, as a fraction of its larger side.
    crop_margin: float = Field(0.25, ge=0.0, le=8.0)
    harmonize: Literal["none", "poisson", "color"] = "none"

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list | tuple):
            for v in value:
                if v not in METHODS:
                    raise ValueError(f"method '{v}' is not one of {', '.join(METHODS)}")
            if not value:
                raise ValueError("methods is empty")
            if len(set(value)) != len(value):
                raise ValueError(f"methods {list(value)} repeats a method")
        return value

    @model_validator(mode="after")
    def _blend_window(self) -> EditSettings:
        if self.blend_start > self.blend_end:
            raise ValueError(
                f"blend_start {self.blend_start:g} is after blend_end {self.blend_end:g}: the "
                "latent blend runs from blend_start to blend_end (fractions of the steps)"
            )
        return self

    @property
    def shapes_mask(self) -> bool:
        return bool(
            self.dilate or self.erode or self.feather or self.fill_holes or self.largest_only
        )


class Prompts(BaseModel):
    """Where to edit, in image pixels (x, y): SAM prompts (points and/or a box), a mask file, a
    phrase (`target`, "auto" = taken from the instruction) or the edit's own relevance map
    (`mask_from: edit`). Points refine a phrase or relevance mask (intersected with SAM's answer).
    With a phrase or relevance mask, a given `mask` is the reference it is scored against.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    points: list[tuple[float, float, int]] = Field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    mask: Path | None = None
    target: str | None = None
    target_backend: Literal["clipseg", "grounded-sam"] = "clipseg"
    target_threshold: float | None = Field(None, gt=0.0, lt=1.0)
    target_top: int | None = Field(None, ge=1)
    mask_from: Literal["edit"] | None = None
    refine: Literal["sam"] | None = None
    # SAM's candidates: None follows SAM's authors (three, best by score, for a single click;
    # one for several points or a box); True/False forces three or one
    multimask: bool | None = None

    @property
    def needs_sam(self) -> bool:
        """Whether this region needs a segmenter loaded."""
        return bool(
            self.points
            or self.box is not None
            or self.refine == "sam"
            or (self.target is not None and self.target_backend == "grounded-sam")
        )

    @property
    def automatic(self) -> bool:
        """The mask comes from a phrase or from the edit, not from clicks or a file."""
        return self.target is not None or self.mask_from is not None

    @field_validator("points")
    @classmethod
    def _labels(cls, pts: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
        for x, y, label in pts:
            if label not in (0, 1):
                raise ValueError(
                    f"point ({x:g}, {y:g}) has label {label}; labels are 1 (include) or 0 (exclude)"
                )
        return pts

    @field_validator("box")
    @classmethod
    def _box(cls, box: tuple[float, float, float, float] | None):
        if box is not None and not (box[2] > box[0] and box[3] > box[1]):
            raise ValueError(f"box {list(box)} must be [x0, y0, x1, y1] with x1 > x0 and y1 > y0")
        return box

    @model_validator(mode="after")
    def _one_kind(self) -> Prompts:
        if self.target is not None and not self.target.strip():
            raise ValueError(
                "target is empty: give a phrase, or 'auto' to take it from the instruction"
            )
        if self.target is not None and self.mask_from is not None:
            raise ValueError("give target or mask_from, not both")
        if self.refine is not None and self.mask_from is None:
            raise ValueError(
                "refine: sam refines a mask_from: edit mask; use points to refine a target"
            )
        if self.mask is not None and (self.points or self.box is not None):
            raise ValueError("give either a mask file or SAM prompts (points/box), not both")
        if self.automatic and self.box is not None:
            raise ValueError("a box cannot refine a target/mask_from mask; use points")
        if self.mask is None and not self.points and self.box is None and not self.automatic:
            raise ValueError(
                "no region given: add a point, points, a box, a mask, a target or mask_from: edit"
            )
        if self.automatic:
            return self
        if self.points and all(label == 0 for *_, label in self.points) and self.box is None:
            raise ValueError(
                "only exclude points (label 0) given: add at least one include point or a box"
            )
        return self

    def check_inside(self, width: int, height: int, where: str = "") -> None:
        """Points and boxes must lie on the image (pixel coordinates, after EXIF orientation)."""
        for x, y, _ in self.points:
            if not (0 <= x < width and 0 <= y < height):
                raise InputError(
                    f"{where}point ({x:g}, {y:g}) is outside the image, which is {width}×{height} "
                    "(x in [0, width), y in [0, height))"
                )
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
                raise InputError(
                    f"{where}box {[x0, y0, x1, y1]} is not inside the image, "
                    f"which is {width}×{height}"
                )


BENCHMARKS = ("pie-bench", "magicbrush")
MASK_SOURCES = ("annotation", "click", "phrase", "relevance")


class BenchmarkTag(BaseModel):
    """Which benchmark a converted case comes from and where its editing mask came from (the
    annotation itself, a simulated click, a phrase, or the edit's relevance map): what the
    benchmark table groups rows by."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["pie-bench", "magicbrush"]
    mask_source: Literal["annotation", "click", "phrase", "relevance"]
    id: str | None = None  # the dataset's own id of the image (several sources share it)


class Region(BaseModel):
    """One region of an edit: where (`prompts`), what (`instruction`) and how (`settings`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instruction: str
    prompts: Prompts
    settings: EditSettings = Field(default_factory=EditSettings)


class Turn(BaseModel):
    """One turn of a multi-turn edit (`maskedit.turns`): one region, or several edited at once.

    A turn edits the previous turn's output. `captions` and `ground_truth` (an image file) serve
    benchmarks that score every turn (MagicBrush's multi-turn setting).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    regions: tuple[Region, ...] = Field(min_length=1)
    captions: dict[Literal["source", "target", "local"], str | None] | None = None
    ground_truth: str | None = None

    @property
    def instruction(self) -> str:
        return "; ".join(r.instruction for r in self.regions)


class Case(BaseModel):
    """One edit: an image, an instruction, where, and how. Paths are resolved by the manifest.

    `reference_mask` is a mask the outputs are scored against and never edited with (a dataset's
    annotation); `ground_truth` an image the outputs are compared with (MagicBrush's target).
    A case with `turns` is a multi-turn edit, one with `regions` edits several regions at once;
    `instruction`, `prompts` and `settings` are then those of its first region.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=128)
    image: str
    instruction: str
    prompts: Prompts
    settings: EditSettings = Field(default_factory=EditSettings)
    # Optional captions for caption-based metrics (PIE-Bench prompts, MagicBrush descriptions).
    captions: dict[Literal["source", "target", "local"], str | None] | None = None
    # More images for editors that take them (qwen-edit-plus, flux2-klein); resolved like `image`
    references: tuple[str, ...] = ()
    reference_mask: Path | None = None
    ground_truth: str | None = None
    benchmark: BenchmarkTag | None = None
    turns: tuple[Turn, ...] = ()
    regions: tuple[Region, ...] = ()

    @field_validator("instruction")
    @classmethod
    def _instruction(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("instruction is empty")
        return text.strip()

    @property
    def all_regions(self) -> tuple[Region, ...]:
        """Every region this case edits: each turn's, its `regions`, or its one region."""
        if self.turns:
            return tuple(region for turn in self.turns for region in turn.regions)
        if self.regions:
            return self.regions
        return (Region(instruction=self.instruction, prompts=self.prompts, settings=self.settings),)

    @property
    def all_prompts(self) -> list[Prompts]:
        """Every region's prompts (which models to load; which files and points to check)."""
        return [region.prompts for region in self.all_regions]

    def map_regions(self, change: Callable[[Region], Region]) -> Case:
        """The case with `change(region) -> region` applied to every region it edits."""
        update: dict[str, Any] = {}
        if self.turns:
            update["turns"] = tuple(
                t.model_copy(update={"regions": tuple(map(change, t.regions))}) for t in self.turns
            )
            first = update["turns"][0].regions[0]
        elif self.regions:
            update["regions"] = tuple(map(change, self.regions))
            first = update["regions"][0]
        else:
            first = change(self.all_regions[0])
        update |= {"instruction": first.instruction, "prompts": first.prompts}
        return self.model_copy(update={**update, "settings": first.settings})


# Manifest keys, flat as users write them.
_PROMPT_KEYS = {
    "target",
    "target_backend",
    "target_threshold",
    "target_top",
    "mask_from",
    "refine",
    "multimask",
}
_CASE_KEYS = {
    "id",
    "image",
    "instruction",
    "point",
    "points",
    "box",
    "mask",
    "method",
    "captions",
    "references",
    "reference_mask",
    "ground_truth",
    "benchmark",
} | _PROMPT_KEYS
_SETTING_KEYS = set(EditSettings.model_fields)


def _kind(value: Any) -> str:
    """What a YAML value is, in words: 'a list', 'the number 42', 'the boolean True'."""
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
    declares, unless the user allows more."""
    if allow_outside:
        return
    try:
        resolved = path.resolve()
        if resolved.is_relative_to(base_dir.resolve()):
            return
        if root is not None and resolved.is_relative_to(root.resolve()):
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
            f"{where}id: expected a name (letters, digits, . _ -), got {_kind(case_id)}"
        )
    if case_id.lower() in RUN_FOLDER_FILES:
        raise InputError(
            f"{where}id: '{case_id}' is the name of a file the run writes beside its case folders "
            f"({', '.join(RUN_FOLDER_FILES)}); choose another id"
        )
    if instruction is None:
        raise InputError(f"{where}instruction is empty; say what to change")
    if not isinstance(instruction, str):
        raise InputError(f"{where}instruction: expected text, got {_kind(instruction)}")
    return case_id, instruction


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
            raise InputError(f"{where}mask: expected a file path, got {_kind(mask)}")
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
        raise InputError(f"{where}image: expected a file path or skimage:NAME, got {_kind(image)}")
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
                **{k: raw[k] for k in _PROMPT_KEYS if k in raw},
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
    known = _SETTING_KEYS | _PROMPT_KEYS | {"method"}
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


def _region_from_dict(
    raw: Any,
    case: dict[str, Any],
    base_dir: Path | None,
    where: str,
    allow_outside: bool,
    root: Path | None = None,
) -> Region:
    """One region (instruction, where, settings) checked as a one-region case would be."""
    if not isinstance(raw, dict):
        raise InputError(f"{where}expected a mapping of keys, got {type(raw).__name__}")
    for key in ("id", "image", "turns", "regions", "captions", "ground_truth"):
        if key in raw:
            raise InputError(f"{where}'{key}' is not a key of a region")
    one = case_from_dict({**case, **raw}, base_dir, where, allow_outside, root)
    return Region(instruction=one.instruction, prompts=one.prompts, settings=one.settings)


def _regions_from_list(
    items: Any,
    defaults: dict[str, Any],
    case: dict[str, Any],
    base_dir: Path | None,
    where: str,
    allow_outside: bool,
    root: Path | None = None,
) -> tuple[Region, ...]:
    if not isinstance(items, list) or not items:
        raise InputError(f"{where}'regions' must be a non-empty list")
    regions = tuple(
        _region_from_dict(
            _merged(defaults, item) if isinstance(item, dict) else item,
            case,
            base_dir,
            f"{where}region {j}: ",
            allow_outside,
            root,
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


def _turn_from_dict(
    raw: Any,
    defaults: dict[str, Any],
    case: dict[str, Any],
    base_dir: Path | None,
    where: str,
    allow_outside: bool,
    root: Path | None = None,
) -> Turn:
    """One turn: a region's keys, or `regions:` (its other keys are their defaults)."""
    if not isinstance(raw, dict):
        raise InputError(f"{where}expected a mapping of keys, got {type(raw).__name__}")
    own = {k: v for k, v in raw.items() if k not in _TURN_KEYS}
    if "regions" in raw:
        defaults = _merged(defaults, _region_defaults(own, set(), "region", where))
        regions = _regions_from_list(
            raw["regions"], defaults, case, base_dir, where, allow_outside, root
        )
    else:
        merged = _merged(defaults, own)
        regions = (_region_from_dict(merged, case, base_dir, where, allow_outside, root),)
    truth = raw.get("ground_truth")
    if truth is not None:
        if not isinstance(truth, str) or not truth.strip():
            raise InputError(f"{where}ground_truth: expected an image file, got {truth!r}")
        path = Path(truth)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        if base_dir is not None:
            _inside(path, base_dir, "ground_truth", where, allow_outside, root)
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
    keep = {"id", "image", "captions", "turns", "regions"}
    defaults = _region_defaults(raw, keep, kind, where)
    case = {"id": raw["id"], "image": raw["image"]}
    turns: tuple[Turn, ...] = ()
    regions: tuple[Region, ...] = ()
    if kind == "turn":
        items = raw["turns"]
        if not isinstance(items, list) or not items:
            raise InputError(f"{where}'turns' must be a non-empty list")
        turns = tuple(
            _turn_from_dict(
                item, defaults, case, base_dir, f"{where}turn {k}: ", allow_outside, root
            )
            for k, item in enumerate(items, start=1)
        )
    else:
        regions = _regions_from_list(
            raw["regions"], defaults, case, base_dir, where, allow_outside, root
        )
    first = (turns[0].regions if turns else regions)[0]
    try:
        return Case(
            id=str(raw["id"]),
            image=_image_path(raw["image"], base_dir, "image", where, allow_outside, root),
            instruction=first.instruction,
            prompts=first.prompts,
            settings=first.settings,
            captions=raw.get("captions"),
            turns=turns,
            regions=regions,
        )
    except ValidationError as err:
        raise InputError(f"{where}{_one_line(err)}") from None


# A manifest is read whole before anything runs, so it is bounded: its size, how deep it nests
# and how many values it holds once YAML's aliases are expanded (an alias "bomb" is a few lines
# that expand to billions of values; 5,000 nested brackets overflow the parser's recursion).
MAX_MANIFEST_BYTES = 32 * 1024 * 1024
MAX_MANIFEST_DEPTH = 64
MAX_MANIFEST_VALUES = 1_000_000
# Keys whose values are text as written: `id: 010` stays "010" (not 8), `id: yes` stays "yes".
_TEXT_KEYS = frozenset({"id", "instruction", "image", "mask", "target"})
_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"


def read_yaml(path: Path, where: str) -> Any:
    """Parse one YAML document within the bounds above; every failure is one `InputError` line.

    Depth is counted on the parser's events (which never recurse) before a tree is built; the
    tree's size is counted with aliases expanded before any Python object is built.
    """
    if (problem := path_problem(path)) is not None:
        raise InputError(f"{where}{problem}")
    try:
        if not path.is_file():
            raise InputError(
                f"{where}file not found" if not path.exists() else f"{where}not a file"
            )
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise InputError(
                f"{where}{size:,} bytes is over the limit of {MAX_MANIFEST_BYTES:,} for a manifest"
            )
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{where}not valid YAML (not UTF-8 text: {err.reason})") from None
    except (OSError, ValueError) as err:  # a name too long, a symbolic link loop, a NUL byte
        detail = getattr(err, "strerror", None) or str(err)
        raise InputError(f"{where}cannot be read ({detail})") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        depth = 0
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_MANIFEST_DEPTH:
                    raise InputError(
                        f"{where}nested more than {MAX_MANIFEST_DEPTH} levels deep "
                        f"(line {event.start_mark.line + 1})"
                    )
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
        node = yaml.compose(text, Loader=loader)
        if node is None:
            return None
        _check_expanded_size(node, where)
        _keep_text_as_written(node)
        return yaml.SafeLoader("").construct_document(node)
    except yaml.YAMLError as err:
        detail = " ".join(str(err).split()) if str(err) else type(err).__name__
        raise InputError(f"{where}not valid YAML ({shown(detail, 200)})") from None


def _check_expanded_size(root: yaml.Node, where: str) -> None:
    """Count the values the document holds with every alias expanded (each shared node once, by
    memo); refuse a node that contains itself and a count over MAX_MANIFEST_VALUES."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            if total > MAX_MANIFEST_VALUES:
                raise InputError(
                    f"{where}expands to more than {MAX_MANIFEST_VALUES:,} values through its "
                    f"aliases (line {node.start_mark.line + 1}); write the cases out"
                )
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in on_path:
            line = node.start_mark.line + 1
            raise InputError(f"{where}an alias refers to a value that contains it (line {line})")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _keep_text_as_written(root: yaml.Node) -> None:
    """Plain scalars under the text keys become strings as written (null stays null)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for i, (key, value) in enumerate(node.value):
                if (
                    isinstance(key, yaml.ScalarNode)
                    and key.value in _TEXT_KEYS
                    and isinstance(value, yaml.ScalarNode)
                    and value.style in (None, "")  # plain (the C parser says "")
                    and value.tag not in (_STR_TAG, _NULL_TAG)
                ):
                    text = yaml.ScalarNode(_STR_TAG, value.value, value.start_mark, value.end_mark)
                    node.value[i] = (key, text)
        stack.extend(_children(node))


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
    cases, seen = [], set()
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
        if case.id in seen:
            raise InputError(f"{where}{label}: duplicate case id '{case.id}'")
        seen.add(case.id)
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
