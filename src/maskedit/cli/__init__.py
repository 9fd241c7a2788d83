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

from maskedit.cli.convert import convert_app
from maskedit.cli.edit import edit
from maskedit.cli.options import err_console
from maskedit.cli.results import download, eval_command, report
from maskedit.cli.run import demo, run
from maskedit.cli.serve import app_command, study_command
from maskedit.cli.turns import turns
from maskedit.errors import MaskeditWarning

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Spatial control for instruction-based image editing (SAM + InstructPix2Pix).",
)
app.command()(edit)
app.command()(run)
app.command()(demo)
app.command("eval")(eval_command)
app.command()(report)
app.command()(download)
app.command("app")(app_command)
app.command("study")(study_command)
app.add_typer(convert_app, name="convert")
app.command()(turns)


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


INTERRUPTED = "maskedit: interrupted; finished cases are kept, rerun to resume"


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
