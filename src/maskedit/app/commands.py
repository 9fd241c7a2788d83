"""`maskedit app` and `maskedit study`: typer-ready functions, registered in cli.py with

    from maskedit.app.commands import app_command, study_command
    app.command("app")(app_command)
    app.command("study")(study_command)

Thin, like the other commands: check the flags, load, build the page, serve it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Annotated

import typer

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


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _user_errors(port: int | None = None):
    """A MaskeditError or a busy port is one line on stderr and exit code 2 (as in cli.py)."""
    try:
        yield
    except MaskeditError as err:
        _say(f"maskedit: error: {err}")
        raise typer.Exit(2) from None
    except OSError as err:  # Gradio: "Cannot find empty port in range …", address not available
        where = f" on port {port} (in use? choose another with --port)" if port else ""
        _say(f"maskedit: error: cannot serve{where}: {str(err).splitlines()[0]}")
        raise typer.Exit(2) from None


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


def app_command(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 7860,
    models: Annotated[
        str,
        typer.Option("--models", help="'real' checkpoints or 'tiny' random models (plumbing)."),
    ] = "real",
    ip2p: Annotated[
        str | None, typer.Option("--ip2p", help="InstructPix2Pix hub id or local folder.")
    ] = None,
    sam: Annotated[str | None, typer.Option("--sam", help="SAM hub id or local folder.")] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="cuda, mps or cpu (default: best available).")
    ] = None,
    dtype: Annotated[
        str | None, typer.Option("--dtype", help="fp16, bf16 or fp32 (default by device).")
    ] = None,
    editor: Annotated[
        str, typer.Option("--editor", help="ip2p (default), magicbrush, ip2p-xl or kontext.")
    ] = "ip2p",
    segmenter: Annotated[
        str, typer.Option("--segmenter", help="sam (default), slimsam, sam-hq or sam2.")
    ] = "sam",
    compile_: Annotated[
        bool, typer.Option("--compile", help="torch.compile the models (GPU; slow first edit).")
    ] = False,
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help="channels_last memory format.")
    ] = False,
) -> None:
    """Serve the editing page: click (or phrase) → mask → IP2P edit, outputs in a temp workspace."""
    if models not in ("real", "tiny"):
        _say(f"maskedit: error: --models '{models}': expected 'real' or 'tiny'")
        raise typer.Exit(2)
    with tempfile.TemporaryDirectory(prefix="maskedit-app-") as tmp, _user_errors():
        workspace = Path(tmp)
        _quiet_gradio(workspace)
        _stop_on_sigterm()
        from maskedit.app.web import build_app, launch
        from maskedit.models import load_models

        kwargs = {k: v for k, v in {"ip2p": ip2p, "sam": sam}.items() if v is not None}
        _say(f"maskedit: loading {models} models…")
        from maskedit.speedups import Speedups

        kwargs.update(device=device, dtype=dtype, editor=editor, segmenter=segmenter)
        kwargs["speedups"] = Speedups(compile=compile_, channels_last=channels_last)
        try:  # CLIPSeg for the "describe the object" box; the page works without it
            loaded = load_models(models, text_backends=("clipseg",), **kwargs)
        except MissingWeightsError as err:
            _say(f"maskedit: warning: {err}; serving without phrase masks (click instead)")
            loaded = load_models(models, **kwargs)
        if loaded.kind == "tiny":
            _say(f"maskedit: {loaded.note}")
        _warn_if_exposed(host)
        demo = build_app(loaded, workspace=workspace / "edits")
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

    with _user_errors(port):
        load_cases(study_dir)  # the folder is checked before anything is served or summarised
        if summary:
            print(format_summary(summarize(read_votes(study_dir / DB_NAME))))
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
