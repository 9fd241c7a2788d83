"""The output folder of a run: one run at a time (a lock held for the whole run), checked before
any model loads so that no case replaces a file maskedit did not write, and removed again when a
run stopped before writing anything."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from maskedit.config import RUN_FOLDER_FILES, Manifest
from maskedit.errors import OutputError
from maskedit.outputs import inspect_case_folder
from maskedit.paths import os_problem, path_problem, shown_path
from maskedit.record import LOCK_FILE, TURNS_DIR

_HELD: dict[Path, int] = {}  # folders this process holds the run lock of, and how many times
_HELD_GUARD = threading.Lock()


def check_run_folder(manifest: Manifest, out_dir: Path, force: bool = False) -> None:
    """Before any model loads: `out_dir` can hold this run, and no case would replace a file or
    folder maskedit did not write (a case id `photos` in a folder that has the user's photos);
    with `force`, which redoes every case, nor a case folder the user put files into."""
    if (problem := path_problem(out_dir)) is not None:
        raise OutputError(f"--out '{shown_path(out_dir)}': {problem}")
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputError(f"--out '{out_dir}': exists and is a file, expected a folder")
        if out_dir.is_symlink() and not out_dir.exists():  # no folder can be made there
            raise OutputError(
                f"--out '{out_dir}': is a symbolic link to '{os.readlink(out_dir)}', which does "
                "not exist; create that folder, or name another --out"
            )
        if not out_dir.is_dir():
            return
        if (name := users_file(out_dir)) is not None:
            raise OutputError(
                f"--out '{out_dir}': holds '{name}', which no maskedit run wrote there "
                "(the run's own tables would replace it); choose another --out"
            )
        for case in manifest.cases:
            found = inspect_case_folder(out_dir / case.id)
            if found.state == "foreign" or (force and found.not_replaceable):
                raise OutputError(
                    f"--out '{out_dir}': case '{case.id}' cannot be written there: "
                    f"{found.not_replaceable}; nothing was touched: rename the case or choose "
                    "another --out"
                )
    except OSError as err:
        raise OutputError(f"--out '{out_dir}': {os_problem(err)}") from None


def users_file(folder: Path, names: Iterable[str] = RUN_FOLDER_FILES) -> str | None:
    """The first of `names` (the files a run, eval or report writes beside the case folders) in
    `folder` that maskedit did not write, so that writing it would replace the user's file.
    In a folder a run has held (its lock file is there) they are the run's; elsewhere a file is
    maskedit's only when it begins as maskedit writes it (tables the API's `evaluate_dir` wrote,
    a report.html beside `maskedit edit` outputs)."""
    if (folder / LOCK_FILE).exists():
        return None
    for name in names:
        path = folder / name
        if os.path.lexists(path) and not _begins_as_written(path):
            return name
    return None


def _begins_as_written(path: Path) -> bool:
    """Whether a table or page begins as `maskedit.tables` and `maskedit.report` write it."""
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(512)
    if path.name == "results.jsonl":  # one row per line, each naming its case first
        return head == b"" or head.startswith(b'{"case_id": ')
    if path.name == "summary.csv":
        return head.startswith((b"method,n,", b"method,mask_source,n,"))
    if path.name == "report.html":
        return b"<title>maskedit report: " in head
    return False


@contextlib.contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """One run per output folder: a second one at the same time stops with a clear message.

    Re-entrant within one process: the CLI takes the lock before the models load and the run
    takes it again."""
    key = Path(os.path.abspath(out_dir))
    with _HELD_GUARD:
        if key in _HELD:
            _HELD[key] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _HELD_GUARD:
                _HELD[key] -= 1
        return
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        handle = open(out_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held for the whole run
    except OSError as err:
        raise OutputError(f"--out '{out_dir}': cannot be written ({os_problem(err)})") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise OutputError(
            f"--out '{out_dir}': another maskedit run is writing there; wait for it or use "
            "another folder"
        ) from None
    with _HELD_GUARD:
        _HELD[key] = 1
    try:
        yield
    finally:
        with _HELD_GUARD:
            del _HELD[key]
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def discard_unused_run_folder(out_dir: Path) -> None:
    """Remove `out_dir` if it holds nothing but the run lock (a run that stopped before writing
    anything, e.g. because its models could not be loaded)."""
    with contextlib.suppress(OSError):
        if os.listdir(out_dir) == [LOCK_FILE]:
            (out_dir / LOCK_FILE).unlink()
            out_dir.rmdir()


@contextlib.contextmanager
def old_turns_kept(folder: Path, keep: tuple[str, ...] = ()) -> Iterator[None]:
    """A multi-turn edit started again from the photo (`--force`, a run's case whose photo
    changed): what `folder` holds (but `keep`, the lock its writer holds) waits in a temp folder
    beside it (`.<name>.XXXXXXXX.old`) and comes back when the block ends with no new turn made
    (no weights, a first turn that fails, Ctrl-C); once one is made it is removed. So the folder
    never holds neither the old turns nor a new one. A folder not there yet (a new case under
    `--force`) has nothing to keep aside. A move cut short (a subfolder that cannot be moved,
    Ctrl-C) puts back what it moved and removes nothing."""
    try:
        names = [n for n in sorted(os.listdir(folder)) if n not in keep]
    except FileNotFoundError:
        names = []
    except OSError as err:
        raise OutputError(f"--out '{folder}': {os_problem(err)}") from None
    if not names:
        yield
        return
    try:
        aside = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
    except OSError as err:
        raise OutputError(f"--out '{folder}': {os_problem(err)}") from None
    moved = False
    try:
        try:
            for name in names:
                os.replace(folder / name, aside / name)
        except OSError as err:  # what was moved comes back below
            raise OutputError(f"--out '{folder}': {os_problem(err)}") from None
        moved = True
        yield
    finally:
        _put_back(folder, aside, keep, clear=moved)


def _put_back(folder: Path, aside: Path, keep: tuple[str, ...], clear: bool) -> None:
    """`old_turns_kept`'s end: unless a new turn was made, what `folder` holds now (when
    `clear`: the new edit's files) goes and what waits in `aside` comes back; then `aside` goes.
    """
    turns = folder / TURNS_DIR
    if not clear or not (turns.is_dir() and any(turns.iterdir())):  # no new turn
        folder.mkdir(exist_ok=True)
        for path in [folder / n for n in os.listdir(folder) if clear and n not in keep]:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        for name in os.listdir(aside):
            os.replace(aside / name, folder / name)
    shutil.rmtree(aside, ignore_errors=True)
