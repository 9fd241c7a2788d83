"""Browser tests: the real pages, served on a free loopback port, driven by headless chromium.

They need Debian's chromium at /usr/bin/chromium (`scripts/install-browser.sh`) and Playwright's
Python package; without either they are skipped, with the reason. Screenshots go to
test-artifacts/ (gitignored; or the folder MASKEDIT_SHOTS names) for a person to look at, at a
desktop's 1440×900 and a phone's 390×844.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
from gradio_page import EVIL_INSTRUCTION

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(
    os.environ.get("MASKEDIT_SHOTS") or Path(__file__).resolve().parents[2] / "test-artifacts"
)
TIMEOUT_MS = 60_000  # a busy machine: tiny models, but many processes
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

# No analytics calls from Gradio in tests (the machines have no internet).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run scripts/install-browser.sh to run browser tests")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[app]')")
    pw = sync_api.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()
    pw.stop()


def _page(browser, viewport):
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.offsite = []  # requests to anywhere but this machine's loopback (must stay empty)

    def watch(request):
        url = request.url
        if not url.startswith(("http://127.0.0.1:", "data:", "blob:", "about:", "file://")):
            page.offsite.append(url)

    page.on("request", watch)
    return context, page


@pytest.fixture
def page(browser):
    """A desktop's window, 1440×900."""
    context, page = _page(browser, DESKTOP)
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    """A phone's window, 390×844."""
    context, page = _page(browser, PHONE)
    yield page
    context.close()


@pytest.fixture
def new_page(browser):
    """More desktop windows, each its own session (several people on one page)."""
    contexts = []

    def make():
        context, page = _page(browser, DESKTOP)
        contexts.append(context)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _serve(models, workspace):
    from maskedit.app.web import build_app, launch

    demo = build_app(models, workspace=workspace)
    demo.url = launch(demo, host="127.0.0.1", port=free_port(), block=False, quiet=True)
    return demo


@pytest.fixture(scope="session")
def web_demo(browser, tiny_models, tmp_path_factory):
    """The editing page over tiny models, served (its `url`, `maskedit_events`)."""
    demo = _serve(tiny_models, tmp_path_factory.mktemp("app-workspace"))
    yield demo
    demo.close()


@pytest.fixture(scope="session")
def web_app(web_demo):
    """(url, workspace) of the editing page over tiny models."""
    return web_demo.url, web_demo.maskedit_workspace


@pytest.fixture(scope="session")
def phrase_app(browser, tiny_models, tmp_path_factory):
    """(url, workspace) of the page over tiny models plus tiny CLIPSeg."""
    from dataclasses import replace

    from maskedit.models import load_clipseg

    models = replace(tiny_models, text={"clipseg": load_clipseg("tiny")})
    demo = _serve(models, tmp_path_factory.mktemp("phrase-workspace"))
    yield demo.url, demo.maskedit_workspace
    demo.close()


def write_study_case(
    folder: Path, sample: str, instruction: str, mask_info: dict | None = None, tiny: bool = False
) -> None:
    """A fake finished case: a sample photo, a baseline changed everywhere, a masked result, its
    mask.png and the record's region (`mask_info`: points, box or a phrase)."""
    from PIL import Image

    from maskedit.images import read_image

    folder.mkdir(parents=True)
    photo = Image.fromarray(read_image(f"skimage:{sample}"))
    photo.thumbnail((320, 320))
    base = np.asarray(photo)
    Image.fromarray(base).save(folder / "original.png")
    Image.fromarray(255 - base).save(folder / "baseline.png")
    blended = base.copy()
    h, w = base.shape[:2]
    blended[h // 4 : h // 2, w // 3 : 2 * w // 3] = (220, 30, 30)
    Image.fromarray(blended).save(folder / "blended.png")
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4 : h // 2, w // 3 : 2 * w // 3] = 255
    Image.fromarray(mask).save(folder / "mask.png")
    record = {"instruction": instruction, "method": "pixel", "mask": mask_info or {}}
    if tiny:
        record |= {"tiny_models": True, "note": "TINY RANDOM MODELS: a plumbing check, not an edit"}
    (folder / "record.json").write_text(json.dumps(record), encoding="utf-8")


@pytest.fixture
def study_dir(tmp_path) -> Path:
    clicks = {"points": [[150, 70, 1]], "box": None}
    write_study_case(tmp_path / "cat", "chelsea", "make the cat a tiger", clicks, tiny=True)
    phrase = {"target": {"phrase": "the suit"}}
    write_study_case(tmp_path / "suit", "astronaut", EVIL_INSTRUCTION, phrase)
    return tmp_path


@pytest.fixture
def study_app(browser, study_dir):
    """The study page over two fake cases: (url, study_dir)."""
    from maskedit.app.study import build_study_app
    from maskedit.app.web import launch

    demo = build_study_app(study_dir)
    url = launch(demo, host="127.0.0.1", port=free_port(), block=False, quiet=True)
    yield url, study_dir
    demo.close()
