"""`maskedit app` and `maskedit study`: check the flags, load, build the page (maskedit.app),
serve it. Gradio is imported only once a page is served."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from maskedit.cli.options import (
    ModelFlags,
    err_console,
    load,
    model_options,
    user_errors,
    with_flags,
)
from maskedit.config import ModelOptions
from maskedit.errors import MaskeditError, MissingWeightsError

HostOpt = Annotated[
    str,
    typer.Option(
        "--host",
        help="Address to listen on. The default serves this machine only; "
        "0.0.0.0 exposes the page to the network.",
    ),
]
PortOpt = Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")]


@with_flags(model_flags=ModelFlags)
def app_command(
    host: HostOpt = "127.0.0.1", port: PortOpt = 7860, *, model_flags: ModelFlags
) -> None:
    """Serve the editing page: click (or phrase) → mask → edit, outputs in a temp workspace."""
    with user_errors():
        options = model_options(model_flags)  # bad flags fail before anything starts
    with tempfile.TemporaryDirectory(prefix="maskedit-app-") as tmp, serving_errors(port):
        workspace = Path(tmp)
        _quiet_gradio(workspace)
        _stop_on_sigterm()
        from maskedit.app.web import build_app, launch

        models = _load_with_phrases(options)
        _warn_if_exposed(host)
        demo = build_app(models, workspace=workspace / "edits")
        _say(f"maskedit: serving on http://{host}:{port}/ (Ctrl-C to stop); workspace {workspace}")
        launch(demo, host=host, port=port, block=True, quiet=True)


def study_command(
    study_dir: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="Batch-run folder: one sub-folder per case.", show_default=False
        ),
    ],
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 7860,
    summary: Annotated[
        bool,
        typer.Option("--summary", help="Print win rates with 95 % Wilson intervals and exit."),
    ] = False,
) -> None:
    """Serve the blind pairwise study over DIR (votes in DIR/study.sqlite), or summarise it."""
    from maskedit.app.study import DB_NAME, format_summary, load_cases, read_votes, summarize

    with serving_errors(port):
        load_cases(study_dir)  # the folder is checked before anything is served or summarised
        if summary:
            db = study_dir / DB_NAME
            try:
                votes = read_votes(db)
            except sqlite3.Error as err:  # a damaged or foreign file: one line, not a traceback
                raise MaskeditError(f"'{db}': not a readable study database ({err})") from None
            print(format_summary(summarize(votes)))
            return
        with tempfile.TemporaryDirectory(prefix="maskedit-study-") as tmp:
            _quiet_gradio(Path(tmp))
            _stop_on_sigterm()
            from maskedit.app.study import build_study_app
            from maskedit.app.web import launch

            _warn_if_exposed(host)
            demo = build_study_app(study_dir)
            _say(
                f"maskedit: study of {study_dir} on http://{host}:{port}/ (Ctrl-C to stop); "
                f"votes in {study_dir / DB_NAME}"
            )
            launch(demo, host=host, port=port, block=True, quiet=True)


@contextlib.contextmanager
def serving_errors(port: int | None = None) -> Iterator[None]:
    """As `user_errors`, and a busy port or an address not available (Gradio raises OSError,
    "Cannot find empty port in range …") is one line too, naming the port and `--port`."""
    with user_errors():
        try:
            yield
        except OSError as err:
            where = f" on port {port} (in use? choose another with --port)" if port else ""
            raise MaskeditError(f"cannot serve{where}: {str(err).splitlines()[0]}") from None


def _say(text: str) -> None:
    err_console.print(text, markup=False)


def _load_with_phrases(options: ModelOptions):
    """The models plus CLIPSeg for the "describe the object" box; the page works without it."""
    try:
        return load(options.model_copy(update={"text_backends": ("clipseg",)}))[0]
    except MissingWeightsError as err:
        _say(f"maskedit: warning: {err}; serving without phrase masks (click instead)")
        return load(options)[0]


def _warn_if_exposed(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        _say(
            f"maskedit: warning: listening on {host}: anyone who can reach this machine can use "
            "the page (there is no login)"
        )


def _stop_on_sigterm() -> None:
    """SIGTERM ends the server like Ctrl-C does, so the temp workspace is removed on the way out."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def _quiet_gradio(workspace: Path) -> None:
    # Before Gradio is imported: no analytics calls, uploads and cache inside our workspace.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GRADIO_TEMP_DIR", str(workspace / "gradio-cache"))
