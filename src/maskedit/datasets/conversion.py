"""A converter's output folder, written whole or not at all, and never over what a user made.

OUT must be new, empty, or hold an earlier conversion (its manifest.yaml, captions.json, masks/,
references/ and an unpacked ``magicbrush-<split>/``, nothing else), and it may not be the dataset
folder or hold it. The masks go to a hidden staging folder inside OUT first; only when every
entry has converted do they take the place of an earlier conversion's, and manifest.yaml and
captions.json are written last. A conversion that fails leaves OUT as it found it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from maskedit.datasets import (
    CAPTIONS_FILE,
    MANIFEST_FILE,
    MASKS_DIR,
    REFERENCES_DIR,
    check_case_id,
    write_manifest,
)
from maskedit.errors import InputError, OutputError
from maskedit.paths import os_problem

STAGE_PREFIX = ".convert-"  # the staging folder's name; a killed conversion's is removed later
UNPACKED_PREFIX = "magicbrush-"  # the Hugging Face copy unpacked (`magicbrush_parquet`)


class Conversion:
    """``with Conversion(out_dir, root) as out:`` write each file to ``out.path(rel)``, then
    ``return out.finish(cases, captions)``; anything raised before that leaves OUT as it was."""

    def __init__(self, out_dir: str | os.PathLike, root: str | os.PathLike) -> None:
        self.out, self.root = Path(out_dir), Path(root)
        check_out(self.out, self.root)
        self.created = not self.out.exists()
        self.ids: dict[str, str] = {}  # case ids by their casefold
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self.stage = Path(
                tempfile.mkdtemp(prefix=STAGE_PREFIX, suffix=".partial", dir=self.out)
            )
        except OSError as err:
            raise OutputError(f"OUT '{self.out}': cannot write there ({os_problem(err)})") from None

    def __enter__(self) -> Conversion:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)
        if error is not None and self.created:  # everything in it is this conversion's
            shutil.rmtree(self.out, ignore_errors=True)

    def case_id(self, case_id: str, where: str) -> str:
        """``case_id`` checked as a folder name and against the ids before it: two that differ
        only in case (``Cat``, ``cat``) would share masks/ files and case folders on macOS and
        Windows, and the manifest refuses them."""
        check_case_id(case_id, where)
        earlier = self.ids.setdefault(case_id.casefold(), case_id)
        if earlier != case_id:
            raise InputError(
                f"{where}: case id {case_id!r} and {earlier!r} differ only in case: one file "
                "on macOS and Windows (masks/, the case folders)"
            )
        return case_id

    def path(self, relative: str) -> Path:
        """Where the file the manifest names as ``relative`` (``masks/<id>.png``) is written."""
        path = self.stage / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def finish(
        self, root: Path, cases: list[dict[str, Any]], captions: dict[str, dict[str, str | None]]
    ) -> Path:
        """Put the staged folders in place of an earlier conversion's (one it no longer writes is
        removed: the new manifest does not name it), then write the manifest and captions."""
        if not cases:
            return write_manifest(self.out, root, cases, captions)  # its one-line error
        for name in (MASKS_DIR, REFERENCES_DIR):
            old = self.out / name
            if old.exists():
                old.rename(self.stage / f".old-{name}")
            if (self.stage / name).exists():
                (self.stage / name).rename(old)
        for stale in self.out.glob(f"{STAGE_PREFIX}*.partial"):  # a killed conversion's
            if stale != self.stage:
                shutil.rmtree(stale, ignore_errors=True)
        return write_manifest(self.out, root, cases, captions)


def check_out(out: Path, root: Path) -> None:
    """OUT new, empty or an earlier conversion's; never the dataset folder or one that holds it."""
    where = f"OUT '{out}'"
    try:
        out_abs, root_abs = out.resolve(), root.resolve()
        if out_abs == root_abs or out_abs in root_abs.parents:
            raise InputError(
                f"{where}: is the dataset folder or holds it; name a folder of its own"
            )
        if out.exists() and not out.is_dir():
            raise InputError(f"{where}: exists and is a file, expected a folder")
        entries = [e for e in out.iterdir()] if out.is_dir() else []
    except OSError as err:
        raise InputError(f"{where}: {os_problem(err)}") from None
    entries = [e for e in entries if not e.name.startswith(STAGE_PREFIX)]
    if not entries:
        return
    own = {MANIFEST_FILE, CAPTIONS_FILE, MASKS_DIR, REFERENCES_DIR}
    for entry in sorted(entries):
        if entry.name not in own and not entry.name.startswith(UNPACKED_PREFIX):
            raise InputError(
                f"{where}: holds '{entry.name}', which maskedit convert did not write; name a "
                "new folder (nothing was touched)"
            )
    if not _is_conversion(out / MANIFEST_FILE):
        raise InputError(
            f"{where}: holds files but no manifest.yaml maskedit convert wrote; name a new folder "
            "(nothing was touched)"
        )


def _is_conversion(manifest: Path) -> bool:
    """Whether ``manifest`` is one a converter wrote: a dataset ``root`` and cases each tagged
    with the benchmark they come from."""
    try:
        if manifest.stat().st_size > 256 * 2**20:
            return False
        doc = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError, RecursionError):
        return False
    if not isinstance(doc, dict):
        return False
    cases = doc.get("cases")
    return (
        isinstance(doc.get("root"), str)
        and isinstance(cases, list)
        and all(isinstance(c, dict) and isinstance(c.get("benchmark"), dict) for c in cases)
    )
