"""Property: whatever manifest and option values a user writes, `maskedit` either refuses them in
exactly one `maskedit: error:` line with exit code 2, or accepts them and goes on to load the
models; never a traceback, never a hang, never a file written outside `--out`.

Model loading is replaced by a sentinel (reaching it means every check passed), so each example
costs milliseconds; the tiny models are not needed.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from maskedit.cli import app

runner = CliRunner()
HANG = 60  # seconds: an example that takes longer is a hang (a bound, not a timing)


class ModelsWouldLoad(Exception):
    """Raised in place of loading models: every check before it passed."""


# --- strategies ------------------------------------------------------------------------------

_texts = st.text(max_size=12) | st.sampled_from(["", " ", "\n", "a\0b", "x" * 300, "..", "/"])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**9), 10**9)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _texts
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_texts, inner, max_size=3),
    max_leaves=12,
)
_KEYS = [
    "id", "image", "instruction", "point", "points", "box", "mask", "method", "methods",
    "target", "target_backend", "target_threshold", "target_top", "mask_from", "refine",
    "multimask", "captions", "steps", "text_cfg", "image_cfg", "seed", "working_size", "dilate",
    "erode", "feather", "fill_holes", "largest_only", "blend_start", "blend_end",
    "latent_dilate", "crop_margin", "harmonize", "pointz",
]  # fmt: skip
_GOOD = {
    "id": st.sampled_from(["a", "b", "yes", "010", "summary.csv", "p.png", "../x", "a b"]),
    "image": st.sampled_from(["p.png", "skimage:astronaut", "skimage:nope", "missing.png",
                              "../p.png", "/etc/hostname", "p\0.png", "m.png", "."]),
    "instruction": st.sampled_from(["make it red", "", "  ", "é" * 500]),
    "point": st.lists(st.floats(-5, 100) | st.integers(-5, 100), min_size=1, max_size=4),
    "box": st.lists(st.floats(-5, 100), min_size=3, max_size=5),
    "mask": st.sampled_from(["m.png", "p.png", "missing.png", "t.png"]),
    "methods": st.sampled_from(["pixel", "latent,crop", "pixel,pixel", "nope", ""]),
}  # fmt: skip
_case = st.dictionaries(st.sampled_from(_KEYS), st.one_of(_values, *_GOOD.values()), max_size=8)
_complete_case = st.fixed_dictionaries(
    {"id": _GOOD["id"], "image": st.just("p.png") | _GOOD["image"],
     "instruction": st.just("make it red") | _GOOD["instruction"],
     "point": st.just([5, 5]) | _GOOD["point"]},
    optional={"box": _GOOD["box"], "mask": _GOOD["mask"], "methods": _GOOD["methods"],
              "steps": st.integers(-2, 3), "blend_start": st.floats(-1, 2),
              "text_cfg": st.floats(allow_nan=True), "feather": st.floats(-1, 600)},
)  # fmt: skip
_manifest = st.one_of(
    st.fixed_dictionaries({"cases": st.lists(_complete_case, min_size=1, max_size=3)}),
    _values,
    st.fixed_dictionaries(
        {"cases": st.lists(_case | _complete_case, max_size=3)},
        optional={"defaults": _values | st.dictionaries(st.sampled_from(_KEYS), _values, max_size=3),
                  "editor": _values, "segmenter": _values},
    ),
)  # fmt: skip
_yaml_text = st.text(alphabet="[]{}&*!|>-:,?'\" \n\tab0#%@`~<", max_size=80)

_floats = st.floats(allow_nan=True, allow_infinity=True).map(repr)
_model_option = st.one_of(
    st.tuples(st.just("--device"), st.sampled_from(["cpu", "cuda", "cuda:7", "tpu", "mps", "", "cpu\0"])),
    st.tuples(st.just("--dtype"), st.sampled_from(["fp32", "fp16", "bf16", "int8", ""])),
    st.tuples(st.just("--editor"), st.sampled_from(["ip2p", "kontext", "nope"])),
    st.tuples(st.just("--segmenter"), st.sampled_from(["sam", "sam2", "nope"])),
    st.tuples(st.just("--ip2p"), st.sampled_from(["timbrooks/instruct-pix2pix", "a b", "/nope"])),
    st.tuples(st.just("--vae-tiling"), st.sampled_from(["auto", "on", "sometimes"])),
    st.tuples(st.just("--working-size"), st.integers(-10, 10**6).map(str)),
    st.tuples(st.just("--methods"), _GOOD["methods"]),
)  # fmt: skip
_run_option = st.one_of(
    _model_option,
    st.tuples(st.just("--threshold"), _floats),
    st.tuples(st.just("--clip"), st.sampled_from(["none", "auto", "tiny", "a b", "../x", "x" * 300])),
    st.tuples(st.just("--batch-size"), st.integers(1, 4).map(str)),
)  # fmt: skip
_edit_option = st.one_of(
    _model_option,
    st.tuples(st.just("--steps"), st.integers(-3, 2000).map(str)),
    st.tuples(st.just("--seed"), st.integers(-5, 2**64).map(str)),
    st.tuples(st.just("--text-cfg"), _floats),
    st.tuples(st.just("--image-cfg"), _floats),
    st.tuples(st.just("--blend-start"), _floats),
    st.tuples(st.just("--blend-end"), _floats),
    st.tuples(st.just("--feather"), _floats),
    st.tuples(st.just("--dilate"), st.integers(-5, 5000).map(str)),
    st.tuples(st.just("--point"), st.sampled_from(["5,5", "5,5,0", "500,5", "x", "5,5,7", "nan,1"])),
    st.tuples(st.just("--box"), st.sampled_from(["0,0,10,10", "10,0,0,10", "0,0,1e9,1", "a"])),
    st.tuples(st.just("--mask"), _GOOD["mask"]),
    st.tuples(st.just("--sam-masks"), st.sampled_from(["auto", "1", "3", "2"])),
    st.tuples(st.just("--target"), st.sampled_from(["the car", "", "auto"])),
)  # fmt: skip
_out = st.sampled_from(["o", ".", "p.png", "o\0x", "x" * 300, "notes", "sub/dir/o"])


# --- the property ----------------------------------------------------------------------------


@contextlib.contextmanager
def _workspace():
    """A fresh folder holding a photo, a mask, a truncated PNG and a user's notes, as the cwd."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(root / "p.png")
        Image.fromarray(np.full((40, 60), 255, np.uint8)).save(root / "m.png")
        (root / "t.png").write_bytes((root / "p.png").read_bytes()[:60])
        (root / "notes").mkdir()
        (root / "notes" / "todo.txt").write_text("mine")
        cwd = os.getcwd()
        os.chdir(root)
        try:
            yield root
        finally:
            os.chdir(cwd)


def _files(root: Path, out: str) -> dict[str, bytes]:
    """Every file under `root` except those under `--out` (which the run may write)."""
    try:
        out_path = (root / out).resolve() if "\0" not in out else None
    except (OSError, ValueError):
        out_path = None
    files = {}
    for path in root.rglob("*"):
        if out_path is not None and (path == out_path or out_path in path.parents):
            continue
        if out_path == root and (path.parent == root and path.name != "notes" or path.name.startswith(".")):
            continue  # `--out .`: the run's own tables and lock live beside the inputs
        if path.is_file():
            files[str(path.relative_to(root))] = path.read_bytes()
    return files


def _alarm(signum, frame):
    raise TimeoutError(f"no answer within {HANG} s: a hang")


def _check(args: list[str], root: Path, out: str, monkeypatch) -> None:
    # the modules, not the `edit`/`run` functions `maskedit.cli` exports under the same names
    edit_cli = importlib.import_module("maskedit.cli.edit")
    run_cli = importlib.import_module("maskedit.cli.run")

    def sentinel(options):
        raise ModelsWouldLoad

    monkeypatch.setattr(run_cli, "load", sentinel)
    monkeypatch.setattr(edit_cli, "load", sentinel)
    before = _files(root, out)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG)
    try:
        res = runner.invoke(app, args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert "Traceback" not in res.output
    if isinstance(res.exception, ModelsWouldLoad):  # accepted: nothing was refused
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert all(ln.startswith("maskedit: warning:") for ln in lines), res.stderr
    else:
        assert isinstance(res.exception, SystemExit | None), (args, repr(res.exception))
        assert res.exit_code == 2, (args, res.exit_code, res.output)
        lines = res.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("maskedit: error: "), (args, res.stderr)
    assert _files(root, out) == before, args


_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_SETTINGS
@given(
    manifest=_manifest | _yaml_text,
    options=st.lists(_run_option, max_size=3),
    out=_out,
    force=st.booleans(),
)
# Inputs that once ended in a traceback or a usage panel, tried on every run of the suite.
@example(manifest="cases: " + "[" * 5000 + "]" * 5000, options=[], out="o", force=False)
@example(
    manifest={"cases": [{"id": "a", "image": "p\0.png", "instruction": "hi", "point": [5, 5]}]},
    options=[],
    out="o",
    force=False,
)
@example(manifest={"cases": [{"id": "a"}]}, options=[], out="o\0x", force=True)
def test_run_refuses_in_one_line_or_reaches_the_models(monkeypatch, manifest, options, out, force):
    with _workspace() as root:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest, allow_unicode=True)
        (root / "m.yaml").write_text(text, encoding="utf-8")
        args = ["run", "m.yaml", "--out", out, "--models", "tiny"]
        args += [x for pair in options for x in pair] + (["--force"] if force else [])
        _check(args, root, out, monkeypatch)


@_SETTINGS
@given(
    image=st.just("p.png") | _GOOD["image"],
    instruction=_texts | _GOOD["instruction"],
    options=st.lists(_edit_option, max_size=4),
    out=_out,
    force=st.booleans(),
)
@example(image="p.png", instruction="x", options=[("--steps", "abc")], out="o", force=False)
@example(image="p.png", instruction="x", options=[], out=".", force=True)
def test_edit_refuses_in_one_line_or_reaches_the_models(monkeypatch, image, instruction, options, out, force):
    with _workspace() as root:
        region = [] if any(flag in ("--point", "--box", "--mask", "--target") for flag, _ in options) else ["--point", "5,5"]
        args = ["edit", image, "-i", instruction, *region, "--out", out, "--models", "tiny"]
        args += [x for pair in options for x in pair] + (["--force"] if force else [])
        _check(args, root, out, monkeypatch)


@pytest.mark.parametrize(
    "args",
    [
        ["eval", "o", "--threshold", "nan"],
        ["eval", "o", "--clip", "a b"],
        ["eval", "o\0"],
        ["report", "notes"],
        ["report", "p.png"],
    ],
)
def test_eval_and_report_refuse_in_one_line(monkeypatch, args):
    with _workspace() as root:
        (root / "o").mkdir()
        _check(args, root, "o", monkeypatch)
