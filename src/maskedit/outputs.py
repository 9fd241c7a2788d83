"""Write one case folder atomically: build it in a temp folder beside it, then rename.

An interrupted run leaves no half case; a finished case is never overwritten unless asked, and
only a folder maskedit wrote (its record.json carries the record schema) is ever replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from maskedit.case_files import (
    LEFTOVER,
    is_leftover,
    read_json,
    record_files,
    turns_user_files,
)
from maskedit.config.settings import RUN_FOLDER_FILES
from maskedit.errors import OutputError
from maskedit.grid import make_grid, mask_overlay
from maskedit.images import alpha_to_png_array, write_png
from maskedit.paths import new_file_mode, os_problem, path_problem, shown_path
from maskedit.record import (
    HISTORY_FILE,
    OUTPUT_FILES,
    EditResult,
    is_case_file,
    is_case_record,
    method_files,
)

METRICS_FILE = "metrics.json"  # per case folder
METRICS_SCHEMA = 1


def _title(result: EditResult) -> str:
    s = result.settings
    guidance = f"guidance {s.text_cfg:g}"
    if s.image_cfg is not None:
        guidance = f"text {s.text_cfg:g}, image {s.image_cfg:g}"
    editor = result.models.get("editor", "ip2p")
    return f"\u201c{result.instruction}\u201d  {editor}, seed {s.seed}, {s.steps} steps, {guidance}"


def grid_for(result: EditResult) -> np.ndarray:  # noqa: F821 - numpy array
    p = result.prompts
    detected = result.mask_info.get("target", {}).get("boxes") or ()
    overlay = mask_overlay(
        result.original, result.alpha, p.points if p else (), p.box if p else None, detected
    )
    if result.sam is not None:
        mask_caption = f"mask (SAM, score {result.sam.scores[result.sam.best]:.2f})"
    else:
        mask_caption = f"mask ({result.mask_source})"
    if "target" in result.mask_info:
        t = result.mask_info["target"]
        mask_caption = f"mask ({t['backend']}: '{t['phrase']}', best {t['best_score']:.2f})"
    tiny = result.models.get("kind") == "tiny"
    panels = [("original", result.original), (mask_caption, overlay)]
    if result.baseline is not None:
        panels.append(("baseline (IP2P, unmasked)", result.baseline))
    panels += [(f"blended ({method})", image) for method, image in result.outputs.items()]
    return make_grid(
        panels,
        title=_title(result),
        banner=result.models.get("note", "") if tiny else "",
    )


@dataclass(frozen=True)
class CaseFolder:
    """What is at a case folder's path: nothing, an empty folder, a folder maskedit did not
    write (`foreign`: never replaced), one it wrote but that lost a file or its record
    (`damaged`: redone), or a finished case (`complete`, with its record)."""

    state: Literal["absent", "empty", "foreign", "damaged", "complete"]
    reason: str = ""
    record: dict[str, Any] = field(default_factory=dict)
    user_files: tuple[str, ...] = ()  # put beside maskedit's: kept, so the folder is never replaced

    @property
    def not_replaceable(self) -> str | None:
        """Why maskedit may not replace this folder (for `--force`, a changed or damaged case):
        it is foreign, or maskedit's but holding the user's files too; None when it may."""
        if self.state == "foreign":
            return self.reason
        if self.user_files:
            return f"a folder that holds files maskedit did not write ({_some(self.user_files)})"
        return None


def _some(names: tuple[str, ...]) -> str:
    """The first three names, quoted, and "…" when there are more."""
    return ", ".join(repr(n) for n in names[:3]) + (", …" if len(names) > 3 else "")


def _plain_name(name: Any) -> bool:
    """A file name inside the case folder: no folders, no way out of it."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name
    # (a backslash is a plain character on POSIX; "\0" cannot reach here from JSON text)


def inspect_case_folder(path: str | os.PathLike) -> CaseFolder:
    """Classify what is at `path` without changing anything (see `CaseFolder`)."""
    path = Path(path)
    try:
        if path.is_symlink():
            return CaseFolder("foreign", f"'{path}' is a symbolic link maskedit did not write")
        if not path.exists():
            return CaseFolder("absent")
        if not path.is_dir():
            return CaseFolder("foreign", f"'{path}' is a file maskedit did not write")
        names = sorted(os.listdir(path))
    except OSError as err:
        return CaseFolder("foreign", f"'{path}' cannot be read ({err.strerror or err})")
    if not names:
        return CaseFolder("empty")
    record = read_json(path / OUTPUT_FILES["record"])
    turns = HISTORY_FILE in names  # a multi-turn edit's folder (`maskedit.turns`)
    others = tuple(n for n in names if not is_case_file(n, turns))
    others += turns_user_files(path) if turns else ()  # inside its turns/ and masks/ too
    if is_case_record(record):
        for name in record_files(record):
            if not _plain_name(name):
                why = f"its record.json names the file {name!r}"
                return CaseFolder("damaged", why, record, others)
            file = path / name
            if not file.is_file() or file.stat().st_size == 0:
                return CaseFolder("damaged", f"'{name}' is missing or empty", record, others)
        return CaseFolder("complete", record=record, user_files=others)
    if OUTPUT_FILES["record"] in names:  # ours, but its record is damaged
        why = "its record.json is empty or not maskedit's JSON"
        return CaseFolder("damaged", why, user_files=others)
    if turns:  # a multi-turn edit stopped while it rewrote its summary (record.json comes last)
        return CaseFolder("damaged", "its record.json is missing", user_files=others)
    if others:
        why = f"'{path}' holds files maskedit did not write ({_some(others)})"
        return CaseFolder("foreign", why)
    return CaseFolder("foreign", f"'{path}' has no record.json from maskedit")


# what `maskedit run` writes beside its case folders (and no one edit's folder holds)
RUN_TABLES = tuple(name for name in RUN_FOLDER_FILES if name.endswith(".jsonl"))


def check_out_dir(out_dir: Path, force: bool = False) -> None:
    """Refuse to clobber: an existing file, a folder holding anything without --force, and with
    --force anything but a folder maskedit wrote (the user's files are never deleted)."""
    out_dir = Path(out_dir)
    if (problem := path_problem(out_dir)) is not None:
        raise OutputError(f"--out '{shown_path(out_dir)}': {problem}")
    try:
        absolute = Path(os.path.abspath(out_dir))
        if absolute == Path(absolute.anchor) or absolute in (Path.cwd(), *Path.cwd().parents):
            raise OutputError(
                f"--out '{out_dir}': is the current folder or holds it; name a new folder "
                "for the outputs"
            )
        if out_dir.is_symlink():  # the finished folder is renamed into place: over the link
            raise OutputError(
                f"--out '{out_dir}': is a symbolic link; name the folder it points to, or a new one"
            )
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputError(f"--out '{out_dir}': exists and is a file, expected a folder")
        if out_dir.is_dir() and any(out_dir.iterdir()):
            if not force:
                raise OutputError(
                    f"--out '{out_dir}': folder exists and is not empty; pass --force to replace it"
                )
            refused = inspect_case_folder(out_dir).not_replaceable
            if refused and any((out_dir / name).is_file() for name in RUN_TABLES):
                raise OutputError(
                    f"--out '{out_dir}': holds a 'maskedit run' of several cases; --force "
                    "replaces only one edit's folder, so nothing was touched: name a new folder"
                )
            if refused:
                raise OutputError(
                    f"--out '{out_dir}': {refused}; --force replaces only a folder maskedit "
                    "wrote, so nothing was touched"
                )
        parent = out_dir.parent if out_dir.parent != Path("") else Path(".")
        probe = parent
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():  # `photo.png/out`: no folder can be made there
            raise OutputError(f"--out '{out_dir}': '{probe}' is a file, expected a folder")
    except OSError as err:  # a symbolic link loop, no permission to look
        raise OutputError(f"--out '{out_dir}': {os_problem(err)}") from None
    if not os.access(probe, os.W_OK):
        raise OutputError(f"--out '{out_dir}': '{probe}' is not writable")


def empty_folder(folder: str | os.PathLike, keep: tuple[str, ...] = ()) -> None:
    """Remove what `folder` holds but the names in `keep` (the lock its writer holds while it
    starts again). Only for a folder `check_out_dir` let `--force` replace, under that lock."""
    try:
        entries = list(Path(folder).iterdir())
    except FileNotFoundError:
        return
    except OSError as err:
        raise OutputError(f"--out '{folder}': {os_problem(err)}") from None
    for path in entries:
        if path.name in keep:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def remove_leftovers(folder: str | os.PathLike, name: str | None = None) -> list[str]:
    """Remove the temp folders and files a killed writer left in `folder` (all of them, or those
    of one case folder `name`), and put back a replaced folder it had swapped out but not yet
    replaced; returns the names handled. Only a writer that holds the folder (the run lock) or
    owns the name may call it."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for path in entries:
        match = LEFTOVER.match(path.name)
        if match is None or (name is not None and match["name"] != name):
            continue
        if not is_leftover(path):  # the user's, named like a temp folder or file: kept
            continue
        target = path.parent / match["name"]
        if (
            match["kind"] == "old"
            and not os.path.lexists(target)
            and inspect_case_folder(path).state in ("complete", "damaged")
        ):  # killed between swapping a finished folder out and the new one in: put it back
            os.replace(path, target)
        elif match["kind"] == "tmp":
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    return removed


def write_case(
    result: EditResult,
    out_dir: str | os.PathLike,
    case_id: str | None = None,
    force: bool = False,
    *,
    extra: dict | None = None,
    metrics: list[dict] | None = None,
    scoring: dict | None = None,
    images: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write the images, the grid, record.json (plus `extra` keys) and, when given, the metrics
    rows (metrics.json, with what scored them: `scoring`) and further images (file name ->
    H×W×3 uint8, e.g. a dataset's ``ground_truth.png``) into `out_dir`, all or nothing."""
    out_dir = Path(out_dir)
    check_out_dir(out_dir, force)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"--out '{out_dir}': cannot create its folder ({err.strerror})") from None
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        os.chmod(tmp, new_file_mode(folder=True))  # as a folder made by mkdir (not mkdtemp's 0700)
        files = OUTPUT_FILES
        pngs: dict[Path, Any] = {
            tmp / files["grid"]: lambda: grid_for(result),  # the slowest: built while others write
            tmp / files["original"]: result.original,
            tmp / files["mask"]: alpha_to_png_array(result.alpha),
        }
        if result.reference is not None:
            pngs[tmp / "reference_mask.png"] = alpha_to_png_array(result.reference)
        if result.baseline is not None:
            pngs[tmp / files["baseline"]] = result.baseline
        pngs[tmp / files["blended"]] = result.blended
        if len(result.outputs) > 1:
            for method, name in method_files(list(result.outputs)).items():
                pngs[tmp / name] = result.outputs[method]
        for name, image in (images or {}).items():
            pngs[tmp / name] = image
        _write_pngs(pngs)
        record = {**result.to_record(case_id), **(extra or {})}
        if metrics is not None:
            write_case_metrics(tmp, metrics, scoring)
        (tmp / files["record"]).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if force and out_dir.exists():  # swap the old folder out, then remove it
            old = Path(
                tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent)
            )
            try:
                os.replace(out_dir, old)
                os.replace(tmp, out_dir)
            except BaseException:
                if not out_dir.exists():  # stopped between the two: the old result goes back
                    os.replace(old, out_dir)
                raise
            finally:
                shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.replace(tmp, out_dir)
            except OSError as err:
                if not out_dir.is_dir():
                    raise
                if any(out_dir.iterdir()):  # written meanwhile by another process: not ours
                    raise OutputError(
                        f"--out '{out_dir}': another process wrote it while this case was being "
                        "saved; it is left as it is (use another --out, or --force)"
                    ) from err
                out_dir.rmdir()  # an empty folder, which Windows does not rename onto
                os.replace(tmp, out_dir)
    except OSError as err:  # disk full, permissions, quota: nothing half-written stays behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write '{out_dir}': {err.strerror or err}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _usable_cores() -> int:
    """The cores this process may run on (a container's or a pinned actor's, not the host's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _write_pngs(images: dict[Path, np.ndarray | Callable[[], np.ndarray]]) -> None:
    """`write_png` for each picture of a case at once (a callable builds its array in the same
    worker). Pillow's zlib encoder releases the GIL, so a case's pictures encode side by side
    instead of one after the other; the bytes are the same. At most 4 at a time, and no more than
    the cores this process may use (a 4096² picture takes 64 MB while it is encoded). The first
    error is raised once every write has stopped, so the caller's clean-up finds no write still
    running, also after a second Ctrl-C."""

    def write(path: Path, image: np.ndarray | Callable[[], np.ndarray]) -> None:
        write_png(path, image() if callable(image) else image)

    pool = ThreadPoolExecutor(max_workers=max(1, min(len(images), _usable_cores(), 4)))
    futures, alone = [], []
    try:
        for path, image in images.items():
            try:
                futures.append(pool.submit(write, path, image))
            except RuntimeError:  # the interpreter is shutting down: no new threads
                alone.append((path, image))
        for future in futures:
            future.result()
        for path, image in alone:
            write(path, image)
    finally:
        interrupted = False
        while True:
            try:
                pool.shutdown(wait=True, cancel_futures=True)
                break
            except KeyboardInterrupt:  # a second Ctrl-C: the writes still finish first
                interrupted = True
        if interrupted:
            raise KeyboardInterrupt


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text to ``path`` via a temp file in the same folder and ``os.replace``.

    Readers see the old file or the new one, never half of one (a full disk leaves the old file
    and one `OutputError` line). The file gets the mode the umask gives new files (0644 under
    022): these are reports and tables to share, and ``mkstemp`` would leave them 0600.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise OutputError(f"cannot write '{path}': {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write '{path}': {err.strerror or err}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line to a log, whole or not at all: a new log is created atomically (never a
    0-byte file), and a write cut short by a full disk is cut back off."""
    path = Path(path)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    if not path.exists():
        atomic_write_text(path, data.decode("utf-8"))
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError as err:
        raise OutputError(f"cannot write '{path}': {err.strerror or err}") from None
    try:
        size = os.fstat(fd).st_size
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(28, "No space left on device")
        except OSError as err:
            os.ftruncate(fd, size)
            raise OutputError(f"cannot write '{path}': {err.strerror or err}") from None
    finally:
        os.close(fd)


def dumps_json(obj: Any, **kwargs: Any) -> str:
    # allow_nan=False: a stray inf/NaN is a bug here, not a number to write as invalid JSON
    return json.dumps(obj, allow_nan=False, ensure_ascii=False, **kwargs)


def write_case_metrics(
    case_dir: str | os.PathLike, rows: list[dict[str, Any]], scoring: dict | None = None
) -> Path:
    """Write ``metrics.json``, ``{"schema": 1, "rows": [...]}``, into the case folder atomically;
    with `scoring` (`maskedit.scoring.scoring_key`), what the rows were scored with too."""
    path = Path(case_dir) / METRICS_FILE
    doc: dict[str, Any] = {"schema": METRICS_SCHEMA}
    if scoring is not None:
        doc["scoring"] = scoring
    atomic_write_text(path, dumps_json({**doc, "rows": rows}, indent=2) + "\n")
    return path
