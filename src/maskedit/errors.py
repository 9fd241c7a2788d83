"""User-facing errors: one line that names the input, the value and what was expected."""


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
