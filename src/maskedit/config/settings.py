"""The typed edit: settings, prompts, regions, turns and cases; every default written once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from maskedit.errors import InputError

# Steps and guidance defaults are per editor, in maskedit.families.EDITORS (the seed
# study's 20 Euler-ancestral steps, text 7.5, image 1.5 are the 'ip2p' row); its seeds were
# 1337-1339.
DEFAULT_SEED = 1337


# The files a run writes beside its case folders (the runner's log and tables, `maskedit report`,
# the study's votes): a case id may not take one of these names.
RUN_FOLDER_FILES = ("results.jsonl", "summary.csv", "run_log.jsonl", "report.html", "study.sqlite")

# The long sides an edit may work at, in pixels (`working_size`, `--working-size`).
WORKING_SIZE_RANGE = (8, 4096)

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
    working_size: int | None = Field(None, ge=WORKING_SIZE_RANGE[0], le=WORKING_SIZE_RANGE[1])
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

    @field_validator(
        "steps",
        "text_cfg",
        "image_cfg",
        "seed",
        "working_size",
        "dilate",
        "erode",
        "feather",
        "blend_start",
        "blend_end",
        "latent_dilate",
        "crop_margin",
        mode="before",
    )
    @classmethod
    def _numbers_are_not_booleans(cls, value: Any) -> Any:
        """A YAML `steps: yes` is a mistake, not 1 step (pydantic would read True as 1)."""
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got the boolean {value}")
        return value

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, set | frozenset):  # the first method is the primary one
            raise ValueError(
                "a set has no order; give a list or a comma-separated string "
                "(the first is the primary method)"
            )
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

    @field_validator("points", "box", mode="before")
    @classmethod
    def _coordinates_are_not_booleans(cls, value: Any) -> Any:
        """A YAML `box: [no, no, yes, yes]` is a mistake, not the box [0, 0, 1, 1]."""
        items = value if isinstance(value, list | tuple) else ()
        for item in items:
            for v in item if isinstance(item, list | tuple) else (item,):
                if isinstance(v, bool):
                    raise ValueError(f"expected numbers, got the boolean {v}")
        return value

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
            raise ValueError(f"{list(box)} must be [x0, y0, x1, y1] with x1 > x0 and y1 > y0")
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
        only_exclude = bool(self.points) and all(label == 0 for *_, label in self.points)
        if self.automatic and only_exclude:
            # Clicks refine by intersection with SAM's answer to them, and exclude points alone
            # say nowhere: the phrase or relevance mask would be cut to SAM's guess.
            raise ValueError(
                "only exclude points (label 0) given to refine a target/mask_from mask: add at "
                "least one include point (SAM's answer to the clicks is intersected with the mask)"
            )
        if self.automatic:
            return self
        if only_exclude and self.box is None:
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


BASELINE_CHAIN_NEEDS_TURNS = (
    "baseline_chain: only a case with turns: has a chain of turns (give it to such a case)"
)


class Case(BaseModel):
    """One edit: an image, an instruction, where, and how. Paths are resolved by the manifest.

    `reference_mask` is a mask the outputs are scored against and never edited with (a dataset's
    annotation); `ground_truth` an image the outputs are compared with (MagicBrush's target).
    A case with `turns` is a multi-turn edit, one with `regions` edits several regions at once;
    `instruction`, `prompts` and `settings` are then those of its first region. `baseline_chain`
    (turns only) also runs the plain editor over its own outputs (`maskedit.turn_chain`).
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
    baseline_chain: StrictBool = False
    regions: tuple[Region, ...] = ()

    @field_validator("instruction")
    @classmethod
    def _instruction(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("instruction is empty")
        return text.strip()

    @model_validator(mode="after")
    def _chain_needs_turns(self) -> Case:
        if self.baseline_chain and not self.turns:
            raise ValueError(BASELINE_CHAIN_NEEDS_TURNS)
        return self

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
PROMPT_KEYS = {
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
} | PROMPT_KEYS
_SETTING_KEYS = set(EditSettings.model_fields)
