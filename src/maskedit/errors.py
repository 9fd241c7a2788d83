"""User-facing errors: one line that names the input, the value and what was expected."""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


class MaskeditError(Exception):
    """A problem with what the user gave us (a file, a prompt, a manifest, a missing model).

    The CLI prints ``str(err)`` as one line and exits non-zero; nothing else is printed.
    """


class InputError(MaskeditError):
    """A bad image, mask, prompt or manifest."""


class MissingWeightsError(MaskeditError):
    """A model's weights are neither cached locally nor downloadable."""


class OutputError(MaskeditError):
    """The output location cannot be written as asked (exists, not writable, locked, disk full)."""


class CheckpointError(MaskeditError):
    """A checkpoint loaded, but it is not the architecture maskedit needs (e.g. not IP2P)."""


class RunFailure(MaskeditError):
    """An edit failed at run time for a reason the user can act on (NaN output, out of memory)."""


class MaskeditWarning(UserWarning):
    """Something the user should know that does not stop the edit (empty mask, long prompt)."""


@contextmanager
def named_warnings(name: str) -> Iterator[None]:
    """`MaskeditWarning`s raised inside come out as "<name>: <message>", as they happen.

    A run of many cases (or `edit_many`'s requests) warns about one of them at a time; without
    the name, "the mask is empty" does not say whose. Filters stay the user's: an ignored
    warning stays ignored, one turned into an error (`-W error`) is raised with the name too,
    and each block starts afresh, so two cases' same warning both show.
    """
    with warnings.catch_warnings():  # restores showwarning (and the filters) on the way out
        show = warnings.showwarning

        def named(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, MaskeditWarning):
                message = category(f"{name}: {message}")
            show(message, category, filename, lineno, file, line)

        warnings.showwarning = named
        try:
            yield
        except MaskeditWarning as err:  # raised, not shown: a filter made it an error
            err.args = (f"{name}: {err}", *err.args[1:])
            raise
