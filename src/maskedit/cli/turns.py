"""`maskedit turns`: a multi-turn edit of one photo, turn by turn, with undo, redo and branches.

    maskedit turns photo.png --out walk --turn "point=420,310; make the jacket red" \
                                        --turn "target=the sky; make it stormy"
    maskedit turns --out walk --undo 1 --turn "box=10,10,200,120; add a kite"   # a branch
    maskedit turns walk.yaml --out walk     # a turns file: a manifest case with turns:

Each --turn (or a file's turn) spells a manifest entry: `KEY=VALUE` parts and one instruction,
separated by ';'. The command flags (--steps, --seed, --methods, ...) are defaults for every
--turn and --region; a turns file keeps its own settings (--methods still replaces them).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from maskedit.cli.edit import (
    EDIT_FLAGS,
    MethodFlags,
    OutOpt,
    SamplingFlags,
    ShapeFlags,
    flag_defaults,
)
from maskedit.cli.options import (
    ForceOpt,
    ModelFlags,
    OutsideOpt,
    console,
    load,
    model_options,
    user_errors,
    with_flags,
)
from maskedit.cli.region_text import RegionOpt, parse_turn
from maskedit.config import Case, Manifest, Turn, case_from_dict, read_yaml
from maskedit.errors import InputError
from maskedit.paths import shown_path

if TYPE_CHECKING:
    from maskedit.turns import TurnsEdit

SourceArg = Annotated[
    str | None,
    typer.Argument(
        help="Photo (or skimage:NAME), or a turns file (.yaml: a manifest case with turns:); "
        "optional when --out holds turns already."
    ),
]
TurnOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--turn",
        help="One turn: 'KEY=VALUE; ...; instruction' with manifest keys (point=X,Y[,L] "
        "repeatable, box=X0,Y0,X1,Y1, mask=FILE, target=PHRASE, mask_from=edit, method=..., "
        "seed=N, ...); repeatable, in order.",
    ),
]
UndoOpt = Annotated[
    int, typer.Option("--undo", min=0, help="First move back N turns (--redo brings them back).")
]
RedoOpt = Annotated[int, typer.Option("--redo", min=0, help="Move forward N undone turns.")]
FromOpt = Annotated[
    str | None,
    typer.Option(
        "--from", help="Continue from turn ID (t03) or 'photo'; a new turn there starts a branch."
    ),
]
BaselineChainOpt = Annotated[
    bool,
    typer.Option(
        "--baseline-chain",
        help="Also run the plain editor over its own outputs, turn after turn "
        "(baseline_chain.png in each turn; a turns file may say baseline_chain: true).",
    ),
]
TargetModelOpt = Annotated[
    str | None, typer.Option("--target-model", help="CLIPSeg / Grounding DINO id or folder.")
]


def flags_case(image: str, turns: list[str], regions: list[str], defaults: dict[str, Any]) -> Case:
    """--turn flags (a turn each) or --region flags (one turn) as the manifest case they spell."""
    if regions:
        items = [{"regions": [parse_turn(text, "--region") for text in regions]}]
    else:
        items = [parse_turn(text) for text in turns]
    return case_from_dict({"id": "turns", "image": image, **defaults, "turns": items})


def read_turns_file(path: Path, allow_outside: bool, methods: str | None) -> Case:
    """A turns file: one manifest case with `turns:` (or `regions:`: one turn); paths relative to
    the file, `id` optional. Read as a manifest is, within the same bounds."""
    where = f"turns file '{shown_path(path)}': "
    raw = read_yaml(path, where)  # a manifest's bounds: size, nesting depth, aliases
    if not isinstance(raw, dict) or not ("turns" in raw or "regions" in raw):
        raise InputError(f"{where}expected a mapping with 'image' and a 'turns:' list")
    case = case_from_dict({"id": "turns", **raw}, path.parent, where, allow_outside)
    if not case.turns:
        case = case.model_copy(update={"turns": (Turn(regions=case.regions),), "regions": ()})
    if methods:
        case = _with_methods(case, methods)
    return case


def _with_methods(case: Case, methods: str) -> Case:
    """--methods replaces every region's methods, as on `run`."""
    from maskedit.preflight import with_methods

    return with_methods(Manifest(cases=[case]), methods).cases[0]


def _turns_case(
    out: Path,
    source: str | None,
    turn: list[str],
    region: list[str],
    *,
    force: bool,
    moves: tuple[str | None, int, int],
    baseline_chain: bool,
    allow_outside: bool,
    defaults: dict[str, Any],
    methods: str | None,
) -> tuple[Case | None, bool]:
    """The turns to add (None: only moves), from --turn, --region or a turns file, and whether
    --out holds turns to go on from; the flag combinations `turns` refuses, one line each, before
    any model loads or anything is written."""
    from maskedit.preflight import check_case
    from maskedit.turns import TurnsEdit

    is_file = source is not None and Path(source).suffix.lower() in (".yaml", ".yml")
    if turn and region:
        raise InputError("give --turn (a turn each) or --region (one edit), not both")
    if is_file and (turn or region or moves != (None, 0, 0)):
        raise InputError(
            "a turns file runs its turns from the photo; give --turn/--region/--undo/--redo/"
            "--from without it"
        )
    started = _started(out, source, force)
    if not started:  # a new history: a move it cannot make is refused before anything is made
        TurnsEdit(out, edit_id=out.name, source="", nodes=[], head=None, redo=[]).moved(*moves)
    case = None
    if is_file:
        case = read_turns_file(Path(source), allow_outside, methods)
    elif turn or region:
        case = flags_case(source or str(out / "original.png"), turn, region, defaults)
    if baseline_chain and case is None:
        raise InputError("--baseline-chain: give the turns to chain (--turn, --region or a file)")
    if baseline_chain:
        case = case.model_copy(update={"baseline_chain": True})
    if case is not None:
        check_case(case)  # bad input fails here, before minutes of model loading
    return case, started


def _started(out: Path, source: str | None, force: bool) -> bool:
    """Whether --out holds turns this command goes on from (not with --force)."""
    from maskedit.turns import HISTORY_FILE

    has_history = (out / HISTORY_FILE).is_file()
    if source is None and force and has_history:
        raise InputError(
            f"--out '{out}': --force starts its turns again from the photo; give the photo "
            "or a turns file"
        )
    if source is None and not (has_history and not force):
        raise InputError(f"--out '{out}': holds no turns yet; give a photo or a turns file")
    return has_history and not force


def _edit_turns(
    out: Path,
    source: str | None,
    case: Case | None,
    *,
    started: bool,
    moves: tuple[str | None, int, int],
    load_options: dict[str, Any],
) -> TurnsEdit:
    """Open (or start) the turns in --out, make the moves, add the case's turns; the summary is
    rewritten. Under the folder's lock, taken before anything is removed. Turns started here
    that fail before their first turn is made (no weights, a failing edit) leave nothing."""
    from maskedit.outputs import empty_folder
    from maskedit.run_folder import LOCK_FILE, old_turns_kept, run_lock
    from maskedit.turns import TurnsEdit

    existed = out.exists()
    try:
        with run_lock(out), contextlib.ExitStack() as old:  # another command may write there
            if not started and case is not None:  # only reached empty, or with --force
                old.enter_context(old_turns_kept(out, keep=(LOCK_FILE,)))
            elif not started:
                empty_folder(out, keep=(LOCK_FILE,))
            image = case.image if case else source
            if source is not None and not started:
                session = TurnsEdit.create(out, image)
            elif source is not None:
                session = TurnsEdit.open_or_create(out, image)
            else:
                session = TurnsEdit.open(out)
            session.move(*moves)
            if case is not None:
                models, _ = load(model_options(cases=[case], **load_options))
                if source is not None and moves == (None, 0, 0):
                    session.goto(None)  # the photo's whole sequence again: a rerun resumes it
                for spec in case.turns:
                    node, again = session.add(spec, models, chain=case.baseline_chain)
                    kept = "  (made before: kept)" if again else ""
                    console.print(f"turn {node.id}: {spec.instruction}{kept}")
            session.write_summary()
    except BaseException:
        if not started and not _has_turns(out):
            _remove_started(out, existed)
        raise
    return session


def _has_turns(out: Path) -> bool:
    from maskedit.record import TURNS_DIR

    turns = out / TURNS_DIR
    return turns.is_dir() and any(turns.iterdir())


def _remove_started(out: Path, existed: bool) -> None:
    """What a start that made no turn wrote: the folder (or, one that was there, its contents)."""
    import shutil

    from maskedit.outputs import empty_folder

    if existed:
        empty_folder(out)
    else:
        shutil.rmtree(out, ignore_errors=True)


@with_flags(**EDIT_FLAGS)
def turns(
    out: OutOpt,
    source: SourceArg = None,
    turn: TurnOpt = None,
    region: RegionOpt = None,
    undo: UndoOpt = 0,
    redo: RedoOpt = 0,
    from_turn: FromOpt = None,
    target_model: TargetModelOpt = None,
    baseline_chain: BaselineChainOpt = False,
    allow_outside_paths: OutsideOpt = False,
    force: ForceOpt = False,
    *,
    sampling: SamplingFlags,
    shape: ShapeFlags,
    method: MethodFlags,
    model_flags: ModelFlags,
) -> None:
    """A multi-turn edit: each turn edits the last one's output; undo, redo, branch (--from)."""
    from maskedit.outputs import check_out_dir

    moves = (from_turn, undo, redo)
    with user_errors():
        case, started = _turns_case(
            out,
            source,
            turn or [],
            region or [],
            force=force,
            moves=moves,
            baseline_chain=baseline_chain,
            allow_outside=allow_outside_paths,
            defaults=flag_defaults(sampling, shape, method),
            methods=method.methods,
        )
        if not started:
            check_out_dir(out, force)
        load_options = dict(
            flags=model_flags, working_size=sampling.working_size, text_model=target_model
        )
        session = _edit_turns(
            out, source, case, started=started, moves=moves, load_options=load_options
        )
    path = [node.id for node in session.path()]
    # at the photo (everything undone) only the photo and the strip are left
    files = "strip.png, grid.png, blended.png, record.json" if path else "original.png, strip.png"
    console.print(
        f"head: {path[-1] if path else 'photo'} ({' → '.join(['photo', *path])}); "
        f"wrote {out}/ ({files}; turns/<id>/ per turn)"
    )
