"""Every option is checked before any model is built, on every command: one line, exit 2, no
output folder (docs/bad-inputs.md, "Options")."""

from __future__ import annotations

import fcntl
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from maskedit.cli import app

runner = CliRunner()


@pytest.fixture
def no_models(monkeypatch):
    """Building a model fails the test: every refusal must come first."""
    import maskedit.tiny as tiny

    def built(*args, **kwargs):
        raise AssertionError("a model was built before the options were checked")

    monkeypatch.setattr(tiny, "build_tiny_editor", built)
    monkeypatch.setattr(tiny, "build_tiny_segmenter", built)


def _workspace(tmp_path: Path, case: str = "point: [5, 5]") -> Path:
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "p.png")
    (tmp_path / "m.yaml").write_text(
        f"cases:\n - {{id: a, image: p.png, instruction: hi, steps: 1, {case}}}\n"
    )
    return tmp_path / "m.yaml"


def _one_line(res) -> str:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("maskedit: error: "), res.stderr
    return lines[0]


CUDA = torch.cuda.is_available()


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--working-size", "100000"], "working_size: Input should be less than or equal to 4096"),
        (["--working-size", "0"], "working_size: Input should be greater than or equal to 8"),
        (["--device", "tpu"], "--device 'tpu': expected cuda, cuda:N, mps or cpu"),
        (["--device", "cuda:7"], "--device cuda:7: this machine has"),
        pytest.param(["--device", "cuda"], "--device cuda: this machine has no CUDA GPU",
                     marks=pytest.mark.skipif(CUDA, reason="this machine has CUDA")),
        (["--dtype", "int8"], "--dtype 'int8': expected one of fp32, fp16, bf16"),
        (["--threshold", "nan"], "--threshold nan: expected a number from 0 to 255"),
        (["--threshold", "inf"], "--threshold inf: expected a number from 0 to 255"),
        (["--threshold", "300"], "--threshold 300.0: expected a number from 0 to 255"),
        (["--clip", "not a model"], "--clip 'not a model': expected auto, none, tiny"),
        (["--ip2p", "no such/folder here"], "--ip2p 'no such/folder here': not a folder here"),
    ],
)  # fmt: skip
def test_run_options_are_refused_before_models_load(tmp_path, no_models, flags, words):
    manifest = _workspace(tmp_path)
    res = runner.invoke(app, ["run", str(manifest), "--out", str(tmp_path / "o"), "--models", "tiny", *flags])
    assert words in _one_line(res)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--text-cfg", "inf"], "text_cfg: Input should be a finite number"),
        (["--image-cfg", "nan"], "image_cfg: Input should be a finite number"),
        (["--blend-start", "0.9", "--blend-end", "0.1"], "blend_start 0.9 is after blend_end 0.1"),
        (["--working-size", "0"], "working_size: Input should be greater than or equal to 8"),
        (["--device", "tpu"], "--device 'tpu'"),
        (["--steps", "abc"], "Invalid value for '--steps'"),  # a typer usage error: one line too
    ],
)
def test_edit_options_are_refused_before_models_load(tmp_path, no_models, flags, words):
    _workspace(tmp_path)
    res = runner.invoke(app, ["edit", str(tmp_path / "p.png"), "-i", "x", "--point", "5,5",
                              "--models", "tiny", "--out", str(tmp_path / "o"), *flags])  # fmt: skip
    assert words in _one_line(res)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "case, words",
    [
        ("point: [5, 5], text_cfg: .inf", "text_cfg: Input should be a finite number"),
        ("point: [5, 5], blend_start: 0.7, blend_end: 0.3", "blend_start 0.7 is after blend_end 0.3"),
        ("point: [5, 5], working_size: 100000", "working_size: Input should be less than or equal to 4096"),
    ],
)
def test_manifest_settings_are_refused_before_models_load(tmp_path, no_models, case, words):
    manifest = _workspace(tmp_path, case)
    res = runner.invoke(app, ["run", str(manifest), "--out", str(tmp_path / "o"), "--models", "tiny"])
    assert words in _one_line(res)


def test_a_second_run_is_refused_before_it_loads_models(tmp_path, no_models):
    manifest = _workspace(tmp_path)
    out = tmp_path / "o"
    out.mkdir()
    with open(out / ".maskedit.lock", "a+") as held:  # the first run holds the folder
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        res = runner.invoke(app, ["run", str(manifest), "--out", str(out), "--models", "tiny"])
    assert "another maskedit run is writing there" in _one_line(res)


def test_eval_options_are_checked_first(tmp_path):
    (tmp_path / "run").mkdir()
    for flags, words in (
        (["--threshold", "nan"], "--threshold nan"),
        (["--clip", "a b"], "--clip 'a b'"),
        (["--device", "tpu"], "no finished case folders"),  # an empty folder is named first
    ):
        res = runner.invoke(app, ["eval", str(tmp_path / "run"), *flags])
        assert words in _one_line(res)


@pytest.mark.parametrize("target", ["empty folder", "nothing"])
def test_an_out_folder_that_is_a_symbolic_link_is_refused_before_models_load(tmp_path, no_models, target):
    """The finished case folder is renamed into place, over the link: refused before any model
    is built (a link to an empty folder, or a dangling one), the link and its folder untouched."""
    photo = tmp_path / "p.png"
    _workspace(tmp_path)
    pointed = tmp_path / "real"
    if target == "empty folder":
        pointed.mkdir()
    link = tmp_path / "link"
    link.symlink_to(pointed)
    for command in (
        ["edit", str(photo), "-i", "hi", "--point", "5,5", "--out", str(link)],
        ["turns", str(photo), "--turn", "point=5,5; hi", "--out", str(link)],
    ):
        line = _one_line(runner.invoke(app, [*command, "--models", "tiny"]))
        assert f"--out '{link}': is a symbolic link" in line
    assert link.is_symlink() and (not pointed.exists() or not any(pointed.iterdir()))


def test_a_run_out_that_is_a_dangling_link_is_named_so_and_the_dry_run_says_it_too(tmp_path, no_models):
    """`run --out link` where the link points at nothing: one line naming the link and where it
    points (it said `cannot be written (File exists)`), and --dry-run refuses it the same way
    instead of promising the edits; the link is left as it was."""
    manifest = _workspace(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "gone")
    for extra in ([], ["--dry-run"]):
        line = _one_line(runner.invoke(app, ["run", str(manifest), "--out", str(link), "--models", "tiny", *extra]))
        assert line == (
            f"maskedit: error: --out '{link}': is a symbolic link to '{tmp_path / 'gone'}', "
            "which does not exist; create that folder, or name another --out"
        )
    assert link.is_symlink() and not (tmp_path / "gone").exists()


def test_an_out_folder_under_a_file_is_refused_before_models_load(tmp_path, no_models):
    """`edit photo.png --out photo.png/x`: one line naming the file, before any model is built."""
    manifest = _workspace(tmp_path)
    photo = tmp_path / "p.png"
    for command in (
        ["edit", str(photo), "-i", "hi", "--point", "5,5", "--out", str(photo / "x")],
        ["turns", str(photo), "--turn", "point=5,5; hi", "--out", str(photo / "x")],
        ["run", str(manifest), "--out", str(photo / "x")],
    ):
        line = _one_line(runner.invoke(app, [*command, "--models", "tiny"]))
        assert f"--out '{photo / 'x'}'" in line
        assert "a part of the path is not a folder" in line or f"'{photo}' is a file" in line


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--ray-address", "auto"], "--ray-address and --ray-actors need --ray"),
        (["--ray-actors", "2"], "--ray-address and --ray-actors need --ray"),
        (["--ray", "--batch-size", "2"], "--batch-size works on one machine"),
    ],
)
def test_ray_flags_out_of_place_are_one_error_line(tmp_path, no_models, flags, words):
    manifest = _workspace(tmp_path)
    res = runner.invoke(app, ["run", str(manifest), "--out", str(tmp_path / "o"), *flags])
    assert words in _one_line(res)
    assert not (tmp_path / "o").exists()
