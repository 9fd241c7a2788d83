"""Multi-turn edits: turn k edits turn k−1's output at native resolution; undo, redo, branches.

A multi-turn edit lives in one folder:

    <edit>/history.json   every turn ever made (a tree: each turn names its parent) and `head`
    <edit>/turns/t01/ …   one case folder per turn: its parent image as original.png, its mask,
                          baseline, outputs, grid, metrics.json and record.json ("turn": id,
                          parent, depth and the turn itself); with `chain`, the plain editor's
                          own chain image too (`maskedit.turn_chain`)
    <edit>/original.png … the edit as a whole at `head`: the photo, the union of the turns'
                          masks, the head turn's outputs, grid.png, strip.png (every turn),
                          metrics.json, and record.json, written last

A turn edits the primary output (the first method's, `blended.png`) of its parent, read back from
that lossless PNG, so a turn's record reproduces the turn alone from its folder's original.png.
Outside its mask a turn's output is its input bit for bit, so outside the union of the turns'
masks the last output is the photo bit for bit. Undo and redo move `head`; a turn added after an
undo (or after `goto`) starts a branch, and the history keeps both. A turn already made from the
same parent with the same spec, models and file contents is taken again, not edited again: that
is how an interrupted run resumes at the turn it had reached, and how a redone turn keeps its
files.
"""

from __future__ import annotations

import functools
import shutil
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from maskedit import turn_files as files  # how its JSON names a turn's files
from maskedit.config import Turn
from maskedit.errors import InputError, MaskeditWarning
from maskedit.images import image_and_source, read_image, read_mask, write_png
from maskedit.models import Models
from maskedit.outputs import (
    atomic_write_text,
    dumps_json,
    inspect_case_folder,
    write_case,
    write_case_metrics,
)
from maskedit.record import (
    BASELINE_CHAIN,
    BASELINE_CHAIN_FILE,
    HISTORY_FILE,
    OUTPUT_FILES,
    TURNS_DIR,
    EditResult,
    output_files,
)
from maskedit.regions import edit_regions
from maskedit.scoring import Scorers
from maskedit.tables import read_record
from maskedit.turn_chain import add_chains, chain_edit, chain_parent
from maskedit.turn_history import inputs_key, models_key, read_history, same_turn, unfinished
from maskedit.turn_scores import chain_rows, score_turn, score_turn_folder
from maskedit.turn_summary import write_summary

HISTORY_SCHEMA = files.FILES_SCHEMA  # 2: the folder's own files named relative to it
PHOTO = "photo"  # what `goto` takes for the photo itself (before the first turn)


@dataclass(frozen=True)
class TurnNode:
    """One turn in the history: its id (t01, t02, … in the order made), parent and spec."""

    id: str
    parent: str | None  # None: the photo
    turn: Turn
    models: dict[str, Any]  # what made it: a turn is taken again only with the same models
    # and the same bytes in its files; None: a turn recorded before they were hashed, matched
    # on its spec and models alone, so that upgrading maskedit edits no finished turn again
    inputs: dict[str, Any] | None = field(default_factory=dict)
    chain: bool = False  # made with the plain editor's chain (`maskedit.turn_chain`)

    def to_json(self, folder: Path) -> dict[str, Any]:
        doc = {
            "id": self.id,
            "parent": self.parent,
            "turn": files.portable_turn(self.turn, folder, folder),
            "models": self.models,
            "inputs": self.inputs,
        }
        return doc | ({"baseline_chain": True} if self.chain else {})


def run_turn(image: np.ndarray, turn: Turn, models: Models) -> tuple[EditResult, dict[str, Any]]:
    """One turn on `image` (H×W×3 uint8): its result and the keys its record adds (each
    region's instruction, mask and settings when it has several)."""
    edited = edit_regions(image, turn.regions, models=models)
    return edited.result, edited.record() if len(turn.regions) > 1 else {}


def reproduce_turn(turn_dir: str | Path, models: Models) -> EditResult:
    """A turn's edit again from its folder alone (moved, copied or unzipped with its edit
    folder): its record's turn on its original.png."""
    turn_dir = Path(turn_dir)
    record = read_record(turn_dir)
    if not isinstance(record.get("turn"), dict) or "spec" not in record["turn"]:
        raise InputError(f"'{turn_dir}': not a turn's folder (its record.json has no turn)")
    spec = files.recorded_turn(record["turn"], turn_dir)
    result, _ = run_turn(read_image(turn_dir / OUTPUT_FILES["original"]), spec, models)
    return result


class TurnsEdit:
    """A multi-turn edit in a folder: the photo, every turn made (a tree) and where `head` is.

    `add` edits a turn on the head's output and moves head there; `undo`, `redo` and `goto` move
    head without editing; `write_summary` rewrites the edit folder's files for head.
    """

    def __init__(
        self,
        folder: Path,
        *,
        edit_id: str,
        source: str,
        nodes: list[TurnNode],
        head: str | None,
        redo: list[str],
        benchmark: dict[str, Any] | None = None,
    ) -> None:
        self.folder = folder
        self.edit_id = edit_id
        self.source = source
        self.benchmark = benchmark  # the dataset case it is (MagicBrush's iterative setting)
        self.nodes = {node.id: node for node in nodes}
        self.head = head
        self.redo_stack = redo
        self._photo_cache: np.ndarray | None = None

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls, folder: str | Path, image: np.ndarray | str | Path, edit_id: str | None = None
    ) -> TurnsEdit:
        """A new edit of `image` (a path, ``skimage:NAME`` or an array) in `folder`."""
        folder = Path(folder)
        photo, source = image_and_source(image)
        files.new_edit_folder(folder)  # one that holds an edit is refused: its turns are kept
        write_png(folder / OUTPUT_FILES["original"], photo)
        made = cls(
            folder, edit_id=edit_id or folder.name, source=source, nodes=[], head=None, redo=[]
        )
        made.save()
        return made

    @classmethod
    def open(cls, folder: str | Path) -> TurnsEdit:
        """The edit in `folder` (with its history.json)."""
        folder = Path(folder)
        path = folder / HISTORY_FILE
        if not path.is_file():
            raise InputError(f"'{folder}': holds no turns (no {HISTORY_FILE})")
        doc = read_history(path)  # every field checked: a damaged file is one line
        base = folder if doc.get("schema") == files.FILES_SCHEMA else None  # older: as given
        try:
            nodes = [
                TurnNode(
                    n["id"],
                    n["parent"],
                    files.absolute_turn(Turn.model_validate(n["turn"]), base),
                    n["models"],
                    n.get("inputs"),
                    n.get("baseline_chain") is True,
                )
                for n in doc["turns"]
            ]
            return cls(
                folder,
                edit_id=doc["edit"],
                source=doc["image"],
                nodes=nodes,
                head=doc["head"],
                redo=doc["redo"],
                benchmark=doc.get("benchmark"),
            )
        except (ValueError, RecursionError) as err:  # a turn's spec `Turn` refuses
            raise InputError(f"'{path}': not a turns history ({type(err).__name__})") from None

    @classmethod
    def open_or_create(
        cls,
        folder: str | Path,
        image: np.ndarray | str | Path,
        edit_id: str | None = None,
        benchmark: dict[str, Any] | None = None,
        *,
        restart: bool = False,
    ) -> TurnsEdit:
        """The edit in `folder` if it has one (of the same photo), else a new one. `benchmark`:
        the dataset case it is, kept in the history and the edit's record. The turns of another
        photo are refused, or with `restart` (a run's case whose photo changed) removed."""
        folder = Path(folder)
        made = cls.open(folder) if (folder / HISTORY_FILE).is_file() else None
        if made is not None and not np.array_equal(made.photo, image_and_source(image)[0]):
            if not restart:
                raise InputError(
                    f"'{folder}': holds the turns of another photo ('{made.source}'); use "
                    "another folder or --force to start again"
                )
            shutil.rmtree(folder)
            made = None
        if made is None:
            made = cls.create(folder, image, edit_id)
        if benchmark is not None and benchmark != made.benchmark:
            made.benchmark = benchmark
            made.save()
        return made

    def save(self) -> None:
        """history.json, atomically (after every change: a crash loses no finished turn)."""
        doc = {
            "schema": HISTORY_SCHEMA,
            "edit": self.edit_id,
            "image": self.source,
            "head": self.head,
            "redo": self.redo_stack,
            "turns": [node.to_json(self.folder) for node in self.nodes.values()],
        }
        if self.benchmark:
            doc["benchmark"] = self.benchmark
        atomic_write_text(self.folder / HISTORY_FILE, dumps_json(doc, indent=2) + "\n")

    # --- reading -------------------------------------------------------------------------------

    @property
    def photo(self) -> np.ndarray:
        if self._photo_cache is None:
            self._photo_cache = read_image(self.folder / OUTPUT_FILES["original"])
        return self._photo_cache

    def node(self, turn_id: str) -> TurnNode:
        if turn_id not in self.nodes:
            known = ", ".join(self.nodes) or "none yet"
            raise InputError(f"turn '{turn_id}': no such turn in '{self.folder}' (turns: {known})")
        return self.nodes[turn_id]

    def turn_dir(self, turn_id: str) -> Path:
        return self.folder / TURNS_DIR / turn_id

    def path(self, turn_id: str | None = None) -> list[TurnNode]:
        """The turns from the photo to `turn_id` (default: head), in order."""
        out: list[TurnNode] = []
        current = self.head if turn_id is None else turn_id
        while current is not None:
            node = self.node(current)
            out.append(node)
            current = node.parent
        return out[::-1]

    def children(self, turn_id: str | None) -> list[TurnNode]:
        return [node for node in self.nodes.values() if node.parent == turn_id]

    def image_at(self, turn_id: str | None) -> np.ndarray:
        """The photo (None) or a turn's primary output, as the next turn reads it."""
        if turn_id is None:
            return self.photo
        return read_image(self.turn_dir(turn_id) / OUTPUT_FILES["blended"])

    def union(self, nodes: list[TurnNode]) -> np.ndarray:
        """H×W bool: where any of these turns' masks is not zero."""
        union = np.zeros(self.photo.shape[:2], dtype=bool)
        for node in nodes:
            union |= read_mask(self.turn_dir(node.id) / OUTPUT_FILES["mask"], union.shape) > 0
        return union

    # --- editing -------------------------------------------------------------------------------

    def add(
        self,
        turn: Turn,
        models: Models,
        *,
        scorers: Scorers | None = None,
        made: tuple[EditResult, dict[str, Any]] | None = None,
        chain: bool = False,
    ) -> tuple[TurnNode, bool]:
        """Edit `turn` on head's output and move head to it; returns (its node, taken again).

        A child of head with the same turn, models and `chain`, whose folder is finished, is taken
        again instead of edited anew; with `chain`, the turns up to head and a child made without
        it get only the chain's images (`maskedit.turn_chain.add_chains`). `scorers`: what its
        metrics.json is scored with (default: no CLIP, no other networks). `made`: the turn's
        result (and the keys its record adds) already made on head's output, written as it is
        instead of edited again: the app keeps the very picture its user chose, and spends no
        second edit on it. `chain`: also edit the chain's image at head unmasked
        (`maskedit.turn_chain`), as baseline_chain.png.
        """
        turn = files.absolute_turn(turn)  # as the history holds its turns: the same compare equal
        key, inputs = models_key(models, turn), inputs_key(turn)
        key_of = functools.partial(models_key, models)  # what the history keeps of them
        if chain:  # the turns up to head made without the chain get its images first
            add_chains(self, self.path(), models, scorers or Scorers(), key_of)
        for node in self.children(self.head):
            same = same_turn(node, turn, key, inputs)
            if same and chain in (node.chain, True) and unfinished(self.turn_dir(node.id)) is None:
                if chain:
                    add_chains(self, [node], models, scorers or Scorers(), key_of)
                node = self.nodes[node.id] = replace(self.nodes[node.id], turn=turn)  # files moved
                self.head, self.redo_stack = node.id, []
                self.save()
                return node, True
        parent = self.head
        before = self.path()
        if made is None:
            result, extra = run_turn(self.image_at(parent), turn, models)
        else:
            result, extra = made
            if not np.array_equal(result.original, self.image_at(parent)):
                raise InputError(
                    "keep: the result was made on another image than the history's last turn"
                )
        node = TurnNode(f"t{len(self.nodes) + 1:02d}", parent, turn, key, inputs, chain)
        before_chain = chain_parent(self, parent, warn=True) if chain else None
        chained = (
            None
            if before_chain is None
            else chain_edit(before_chain, turn, result.original, result.baseline, models)
        )
        turn_dir = self.turn_dir(node.id)
        record = {
            "turn": {
                "id": node.id,
                "parent": parent,
                "depth": len(before) + 1,
                "edit": self.edit_id,
                "schema": files.FILES_SCHEMA,  # the edit folder's files named relative to turn_dir
                "spec": files.portable_turn(turn, self.folder, turn_dir),
            },
            "captions": turn.captions,
            **files.portable_regions(extra, self.folder, turn_dir),
        }
        context = (turn, self.photo, self.union(before), self.edit_id, scorers or Scorers())
        rows = score_turn(result, *context)
        images = {}
        if chained is not None:
            rows += chain_rows(chained, before_chain, result.alpha, *context)
            record["outputs"] = output_files(result) | {BASELINE_CHAIN: BASELINE_CHAIN_FILE}
            images[BASELINE_CHAIN_FILE] = chained
        for row in rows:
            row.update(turn=len(before) + 1, turn_id=node.id)
        result = files.portable_result(result, self.folder, turn_dir)  # as its record names it
        write_case(
            result, turn_dir, self.edit_id, force=True, extra=record, metrics=rows, images=images
        )
        self.nodes[node.id] = node
        self.head, self.redo_stack = node.id, []
        self.save()
        return node, False

    def rescore(self, scorers: Scorers | None = None) -> int:
        """Every finished turn's metrics.json again from its folder's images, as `add` scored
        it, then the edit's own files (`write_summary`); returns how many turns were scored.
        What `maskedit eval` does with a multi-turn case."""
        scorers = scorers or Scorers()
        scored = 0
        for node in self.nodes.values():
            turn_dir = self.turn_dir(node.id)
            if not (turn_dir / OUTPUT_FILES["record"]).is_file():
                continue  # a turn an interrupted run never finished: the next run makes it
            # a turn whose folder (or a turn's before it) lost a file: a run edits it again
            # when it is on head's path; off the path it stays as it is, and is named
            for before in self.path(node.id):
                if (found := inspect_case_folder(self.turn_dir(before.id))).state != "complete":
                    whose = "its folder" if before is node else f"turn {before.id}'s folder"
                    why = f"turn {node.id}: {whose} is incomplete ({found.reason})"
                    warnings.warn(f"{why}; its scores stay as they were", MaskeditWarning, 2)
                    break
            else:
                scored += self._rescore_turn(node, scorers)
        self.write_summary(scorers)
        return scored

    def _rescore_turn(self, node: TurnNode, scorers: Scorers) -> int:
        """One turn's metrics.json again from its images: 1, or 0 (warned) if one is cut short."""
        before = self.path(node.parent) if node.parent is not None else []
        try:
            rows = score_turn_folder(
                self.turn_dir(node.id),
                *(node.turn, self.photo, self.union(before), self.edit_id, scorers),
                chain_parent=chain_parent(self, node.parent) if node.chain else None,
            )
        except InputError as err:  # cut short: on head's path a run has edited it again
            why = f"turn {node.id}: {err}; its scores stay as they were"
            warnings.warn(why, MaskeditWarning, stacklevel=3)
            return 0
        for row in rows:
            row.update(turn=len(before) + 1, turn_id=node.id)
        write_case_metrics(self.turn_dir(node.id), rows)
        return 1

    def moved(
        self, from_turn: str | None = None, undo: int = 0, redo: int = 0
    ) -> tuple[str | None, list[str]]:
        """Where `move` takes head and the redo stack, or the `InputError` it raises; changes
        nothing, so a move can be checked before anything is written."""
        head, stack = self.head, list(self.redo_stack)
        if from_turn is not None:
            turn_id = None if from_turn == PHOTO else self.node(from_turn).id
            if turn_id != head:
                head, stack = turn_id, []
        if undo > (depth := 0 if head is None else len(self.path(head))):
            raise InputError(f"undo {undo}: head is {depth} turn(s) from the photo")
        for _ in range(undo):
            stack.append(head)
            head = self.node(head).parent
        if redo > len(stack):
            raise InputError(f"redo {redo}: {len(stack)} turn(s) to redo")
        for _ in range(redo):
            head = stack.pop()
        return head, stack

    def move(self, from_turn: str | None = None, undo: int = 0, redo: int = 0) -> None:
        """`goto(from_turn)`, then `undo`, then `redo`: all of them, or (one of them impossible)
        none, so that a refused move leaves head where it was and history.json unwritten."""
        self.head, self.redo_stack = self.moved(from_turn, undo, redo)
        self.save()

    def undo(self, steps: int = 1) -> None:
        """Move head back `steps` turns (redo brings them back)."""
        self.move(undo=steps)

    def redo(self, steps: int = 1) -> None:
        """Move head forward again along the turns undone last."""
        self.move(redo=steps)

    def goto(self, turn_id: str | None) -> None:
        """Make `turn_id` (or None / "photo": the photo) head; a turn added next branches there."""
        self.move(from_turn=PHOTO if turn_id is None else turn_id)

    # --- the edit folder -----------------------------------------------------------------------

    def write_summary(
        self,
        scorers: Scorers | None = None,
        *,
        metrics: bool = True,
        fingerprint: str | None = None,
    ) -> None:
        """Rewrite the edit folder's files for head, from the turn folders on disk
        (`maskedit.turn_summary`)."""
        write_summary(self, scorers, metrics=metrics, fingerprint=fingerprint)
