"""The `maskedit` command: parse, check, call the library, print. No logic of its own.

One module per group of commands (edit.py; run.py: run, demo; results.py: eval, report,
download; serve.py: app, study; convert.py: convert pie-bench, convert magicbrush; turns.py:
turns); what they share is in options.py.
"""

from __future__ import annotations

import os
import signal
import sys

import typer
from typer.core import TyperGroup

from maskedit.cli.convert import convert_app
from maskedit.cli.edit import edit
from maskedit.cli.options import err_console, listed
from maskedit.cli.results import download, eval_command, report
from maskedit.cli.run import demo, run
from maskedit.cli.serve import app_command, study_command
from maskedit.cli.turns import turns
from maskedit.errors import MaskeditWarning

# click's error class, wherever this typer takes click from (it may ship its own copy)
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _OneLineErrors(TyperGroup):
    """Usage errors (an unknown option, a value of the wrong type, a path no file system takes)
    as the one `maskedit: error:` line every other bad input gets, instead of a usage panel."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _CLICK_ERROR as err:
            if type(err).__name__ == "NoArgsIsHelpError":  # `maskedit` alone: typer showed help
                sys.exit(err.exit_code)
            ctx = getattr(err, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            message = " ".join(err.format_message().split())
            if not message.isprintable():
                message = message.encode("unicode_escape").decode("ascii")
            err_console.print(f"maskedit: error: {message}{hint}", markup=False)
            sys.exit(err.exit_code)
        except typer.Abort:
            err_console.print("maskedit: aborted", markup=False)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Spatial control for instruction-based image editing: a mask from clicks, a box, a "
    "file, a phrase or the edit itself; the edit stays inside, every pixel outside is the input.",
)
for name, command in (
    ("edit", edit),
    ("run", run),
    ("demo", demo),
    ("eval", eval_command),
    ("report", report),
    ("download", download),
    ("app", app_command),
    ("study", study_command),
):
    app.command(name, short_help=listed(command))(command)
app.add_typer(convert_app, name="convert")
app.command("turns", short_help=listed(turns))(turns)


def quiet_libraries() -> None:
    """Library chatter (hub retries, deprecations, torchvision fallbacks) is not for the user."""
    import logging
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    show = warnings.showwarning

    def one_line(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, MaskeditWarning):
            err_console.print(f"maskedit: warning: {message}", markup=False)
        else:
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = one_line
    warnings.simplefilter("always", MaskeditWarning)
    for name in ("diffusers", "transformers"):  # already imported: set their loggers directly
        if name in sys.modules:
            sys.modules[name].utils.logging.set_verbosity_error()


@app.callback()
def _setup() -> None:
    """Runs before every command: library chatter off, our warnings as one line each."""
    quiet_libraries()


# what was finished is kept and nothing is half-written: the same command goes on from there
INTERRUPTED = "maskedit: interrupted; finished work is kept, run the command again to go on"


def _interrupt_on_sigterm() -> None:
    """SIGTERM (a scheduler's stop, `kill`) stops like Ctrl-C: the case being written is dropped
    whole, finished cases stay, and a rerun resumes."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main() -> None:
    try:
        _interrupt_on_sigterm()
        app()
    except KeyboardInterrupt:  # before typer runs a command
        err_console.print(INTERRUPTED)
        sys.exit(130)
    except SystemExit as stop:  # typer turns a KeyboardInterrupt into exit code 130, silently
        if stop.code == 130:
            err_console.print(INTERRUPTED)
        raise
