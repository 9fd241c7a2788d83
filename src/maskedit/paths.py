"""Paths the user typed or a manifest names: the ones no file system call can take are refused
in one line (a NUL byte, a name longer than the file system allows), and an `OSError` from
looking at a path (a symbolic link loop, no permission) is put in words."""

from __future__ import annotations

import errno
import functools
import os
from pathlib import Path

from maskedit.errors import InputError

NAME_MAX = 255  # bytes in one name (ext4, XFS, btrfs, APFS, NTFS)
PATH_MAX = 4096  # bytes in a whole path (Linux)

_WORDS = {
    errno.ENOENT: "file not found",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ELOOP: "a symbolic link loop (a link that points back at itself)",
    errno.ENAMETOOLONG: "the name is longer than the file system allows",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EIO: "an input/output error (a failing disk or network share?)",
}


def path_problem(path: str | os.PathLike) -> str | None:
    """Why no file system call can take `path`, or None."""
    text = os.fspath(path)
    if "\0" in text:
        return "contains a NUL byte"
    encoded = os.fsencode(text)
    if len(encoded) > PATH_MAX:
        return f"is {len(encoded):,} bytes long; paths may be at most {PATH_MAX:,}"
    longest = max(encoded.split(b"/"), key=len, default=b"")
    if len(longest) > NAME_MAX:
        return f"has a name of {len(longest):,} bytes; the file system allows at most {NAME_MAX}"
    return None


def os_problem(err: OSError) -> str:
    """An `OSError` from looking at or opening a path, in words (no errno numbers)."""
    return _WORDS.get(err.errno or 0) or err.strerror or str(err)


def lies_within(path: Path, folders: list[Path]) -> bool:
    """Whether `path` is inside one of `folders`: where it resolves, or, written without '..',
    where it is written (a symbolic link inside, such as a dataset's `annotation_images` linked to
    another disk, is the user's own). OSError, or RuntimeError for a symbolic link loop."""
    resolved = path.resolve()
    if any(resolved.is_relative_to(folder.resolve()) for folder in folders):
        return True
    written = Path(os.path.abspath(path))
    return ".." not in path.parts and any(
        written.is_relative_to(os.path.abspath(folder)) for folder in folders
    )


def shown_path(path: str | os.PathLike, limit: int = 120) -> str:
    """A path as it may appear in a one-line message: NUL and control characters escaped, and
    shortened in the middle when very long."""
    text = os.fspath(path)
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    if len(text) > limit:
        text = text[: limit // 2 - 1] + "…" + text[-(limit // 2) :]
    return text


def check_path(path: str | os.PathLike, what: str) -> Path:
    """`path` as a Path, or one `InputError` line: `{what} '{path}': contains a NUL byte`."""
    problem = path_problem(path)
    if problem is not None:
        raise InputError(f"{what} '{shown_path(path)}': {problem}")
    return Path(path)


@functools.cache
def _umask() -> int:
    """The process's umask, read without changing it where the system can tell (Linux), else by
    setting it and putting it back once, before any writer thread starts."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode(folder: bool = False) -> int:
    """The mode a file (or folder) created the usual way gets, 0644 (0755) under umask 022:
    what `mkstemp` (0600) and `mkdtemp` (0700) leave is given this before outputs are renamed
    into place, so images and case folders are as shareable as the tables beside them."""
    return (0o777 if folder else 0o666) & ~_umask()
