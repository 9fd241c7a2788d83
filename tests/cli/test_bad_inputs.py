"""The bad-input matrix (docs/bad-inputs.md): each row, through the CLI and the Python API.

Each bad input gives one line naming the input and what is wrong, a non-zero exit (or a documented
warning), no half-written files, and earlier results untouched.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import maskedit
from maskedit import EditSettings, InputError, RunFailure
from maskedit.cli import app
from maskedit.errors import CheckpointError, MaskeditWarning, MissingWeightsError, OutputError

runner = CliRunner()
FAST = ["--models", "tiny", "--steps", "2"]


def _photo(path: Path, h: int = 60, w: int = 90, fmt: str = "PNG", **save) -> Path:
    y, x = np.mgrid[0:h, 0:w]
    Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)).save(
        path, format=fmt, **save
    )
    return path


def _one_error_line(res, code: int = 2) -> str:
    assert res.exit_code == code, (res.exit_code, res.output)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and "TINY RANDOM" not in ln]
    assert len(lines) == 1 and lines[0].startswith("maskedit: error:"), res.stderr
    return lines[0]


def _edit(tmp_path: Path, *args: str):
    return runner.invoke(app, ["edit", *args, *FAST, "--out", str(tmp_path / "o")])


# --- images ----------------------------------------------------------------------------------


def test_zero_byte_and_truncated_jpeg(tmp_path):
    (tmp_path / "z.png").write_bytes(b"")
    line = _one_error_line(_edit(tmp_path, str(tmp_path / "z.png"), "-i", "x", "--point", "1,1"))
    assert "z.png': file is empty" in line
    data = _photo(tmp_path / "p.jpg", fmt="JPEG").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    line = _one_error_line(_edit(tmp_path, str(tmp_path / "t.jpg"), "-i", "x", "--point", "1,1"))
    assert "t.jpg': image data is truncated or corrupt" in line
    with pytest.raises(InputError, match="truncated"):
        maskedit.edit(tmp_path / "t.jpg", "x", models=None, points=[(1, 1)])
    assert not (tmp_path / "o").exists()


def test_decompression_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    Image.new("1", (9000, 8000)).save(tmp_path / "bomb.png")  # 72 MP, a few KB on disk
    line = _one_error_line(_edit(tmp_path, str(tmp_path / "bomb.png"), "-i", "x", "--point", "1,1"))
    assert "9000×8000 = 72,000,000 pixels exceeds the limit of 64,000,000" in line
    with pytest.raises(InputError, match="MASKEDIT_MAX_PIXELS"):
        maskedit.edit(tmp_path / "bomb.png", "x", models=None, points=[(1, 1)])


def test_exif_rotated_jpeg_clicks_are_in_what_the_user_sees(tmp_path, tiny_models):
    """Stored 90×60 with orientation 6: the user sees 60×90, and clicks there."""
    pil = Image.open(_photo(tmp_path / "s.png"))
    exif = pil.getexif()
    exif[0x0112] = 6
    pil.save(tmp_path / "r.jpg", exif=exif, quality=95)
    res = _edit(tmp_path, str(tmp_path / "r.jpg"), "-i", "x", "--point", "50,80")  # y=80 > 60
    assert res.exit_code == 0, res.output
    out = tmp_path / "o"
    assert Image.open(out / "blended.png").size == (60, 90)  # outputs upright
    line = _one_error_line(
        runner.invoke(app, ["edit", str(tmp_path / "r.jpg"), "-i", "x", "--point", "80,50",
                            *FAST, "--out", str(tmp_path / "o2")])
    )
    assert "point (80, 50) is outside the image, which is 60×90" in line


@pytest.mark.parametrize("size", [(20, 20), (60, 4000), (4000, 60)])
def test_tiny_and_extreme_aspect_images_edit_at_native_size(tmp_path, size, tiny_models):
    img = np.asarray(Image.open(_photo(tmp_path / "a.png", *size)))
    m = np.zeros(size, bool)
    m[: size[0] // 2, : size[1] // 2] = True
    res = maskedit.edit(img, "x", models=tiny_models, mask=m,
                        settings=EditSettings(steps=1, methods=("pixel", "latent", "crop")))
    for out in res.outputs.values():
        assert out.shape == img.shape
        assert np.array_equal(out[~m], img[~m])


# --- masks -----------------------------------------------------------------------------------


def test_mask_problems(tmp_path, tiny_models):
    img = _photo(tmp_path / "p.png")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    line = _one_error_line(_edit(tmp_path, str(img), "-i", "x", "--mask", str(tmp_path / "small.png")))
    assert "mask '" in line and "size 10×10 does not match the image's 90×60" in line
    (tmp_path / "notes.png").write_text("hello")
    line = _one_error_line(_edit(tmp_path, str(img), "-i", "x", "--mask", str(tmp_path / "notes.png")))
    assert "notes.png': not a readable image" in line
    assert not (tmp_path / "o").exists()


def test_empty_mask_warns_and_returns_the_input(tmp_path, tiny_models):
    img = _photo(tmp_path / "p.png")
    Image.fromarray(np.zeros((60, 90), np.uint8)).save(tmp_path / "empty.png")
    res = _edit(tmp_path, str(img), "-i", "x", "--mask", str(tmp_path / "empty.png"))
    assert res.exit_code == 0, res.output
    assert "maskedit: warning: the mask is empty" in res.stderr
    out = tmp_path / "o"
    assert np.array_equal(np.asarray(Image.open(out / "blended.png")), np.asarray(Image.open(img)))
    assert json.loads((out / "record.json").read_text())["warnings"]
    with pytest.warns(MaskeditWarning, match="mask is empty"):
        maskedit.edit(img, "x", models=tiny_models, mask=np.zeros((60, 90)),
                      settings=EditSettings(steps=1))


def test_a_faint_mask_warns_that_it_barely_edits(tmp_path, tiny_models):
    """A 0/1 label mask with one stray 2 is read as 0-255 (largest value 2 of 255): nothing is
    editable past 1%, and a warning says why instead of a silent no-op."""
    img = _photo(tmp_path / "p.png")
    labels = np.zeros((60, 90), np.uint8)
    labels[10:40, 20:60] = 1
    labels[0, 0] = 2
    Image.fromarray(labels).save(tmp_path / "labels.png")
    res = _edit(tmp_path, str(img), "-i", "x", "--mask", str(tmp_path / "labels.png"))
    assert res.exit_code == 0, res.output
    assert "maskedit: warning: the mask's largest value is 2 of 255" in res.stderr
    record = json.loads((tmp_path / "o" / "record.json").read_text())
    assert any("save it as 0/255" in w for w in record["warnings"])
    labels[0, 0] = 0  # a clean 0/1 mask is read as 0/1: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskeditWarning)
        maskedit.edit(img, "x", models=tiny_models, mask=labels, settings=EditSettings(steps=1))


# --- prompts ---------------------------------------------------------------------------------


def test_overlong_instruction_is_truncated_with_a_warning(tmp_path, tiny_models):
    img = _photo(tmp_path / "p.png")
    long = "make it " + "very " * 60 + "red"  # tiny tokenizer: one token per character
    res = _edit(tmp_path, str(img), "-i", long, "--point", "40,30")
    assert res.exit_code == 0, res.output
    assert "maskedit: warning: the instruction is" in res.stderr and "first 77" in res.stderr
    with pytest.warns(MaskeditWarning, match="reads the first 77"):
        maskedit.edit(img, long, models=tiny_models, points=[(40, 30)], settings=EditSettings(steps=1))


def test_api_prompt_errors_match_the_cli(tiny_models, photo):
    for kwargs, words in [
        ({"points": [(200, 10)]}, r"point \(200, 10\) is outside the image, which is 100×75"),
        ({"points": [(-1, 10)]}, "outside the image"),
        ({"points": [(1, 1, 7)]}, "labels are 1 .include. or 0"),
        ({"box": (50, 0, 10, 20)}, "x1 > x0"),
        ({"box": (0, 0, 500, 20)}, "not inside the image"),
        ({}, "no region given"),
    ]:
        with pytest.raises(InputError, match=words):
            maskedit.edit(photo, "x", models=tiny_models, **kwargs)
    with pytest.raises(InputError, match="instruction: is empty"):
        maskedit.edit(photo, "  \n ", models=tiny_models, points=[(1, 1)])


def test_api_takes_what_diffusers_users_hold(tiny_models, photo):
    """A PIL image and mask (as `diffusers.utils.load_image` gives), points as an N×2 array and
    settings as a dict mean what an array, a list of tuples and an `EditSettings` mean."""
    mask = np.zeros(photo.shape[:2], bool)
    mask[20:50, 30:70] = True
    settings = EditSettings(steps=1)
    want = maskedit.edit(photo, "x", models=tiny_models, mask=mask, settings=settings)
    got = maskedit.edit(Image.fromarray(photo), "x", models=tiny_models, mask=Image.fromarray(mask), settings={"steps": 1}, reference=Image.fromarray(mask))
    assert np.array_equal(got.blended, want.blended) and np.array_equal(got.alpha, want.alpha)
    clicked = maskedit.edit(photo, "x", models=tiny_models, points=[(40, 30)], settings=settings)
    as_array = maskedit.edit(photo, "x", models=tiny_models, points=np.array([[40, 30]]), settings=settings)
    assert np.array_equal(as_array.alpha, clicked.alpha)
    as_dict = maskedit.edit(photo, "x", models=tiny_models, prompts={"points": [(40, 30, 1)]}, settings=settings)
    assert np.array_equal(as_dict.alpha, clicked.alpha)


def test_api_inputs_of_the_wrong_type_are_one_line(tiny_models, photo):
    mask = np.zeros(photo.shape[:2], bool)
    mask[20:50, 30:70] = True
    for kwargs, words in [
        ({"image": photo.tolist()}, "image: got list, expected a file path"),
        ({"mask": mask.tolist()}, "mask: got list, expected a file path, an H×W array"),
        ({"mask": mask.astype(np.complex64)}, "mask array: dtype complex64, expected bool"),
        ({"mask": mask.astype(str)}, "mask array: dtype <U5, expected bool"),
        ({"mask": mask, "reference": [1, 2]}, "reference mask: got list"),
        ({"points": (40, 30)}, r"points: got \(40, 30\), expected a list of \(x, y\)"),
        ({"points": np.array([40, 30])}, "points: got .40, 30., expected a list"),
        ({"points": [(40, 30, 1, 9)]}, "points: got .*expected a list of"),
        ({"mask": mask, "settings": {"steps": 0}}, "settings: steps: Input should be greater"),
        ({"mask": mask, "settings": "fast"}, "settings: got str, expected an EditSettings"),
        ({"prompts": {"points": [(40, 30, 1)], "boxx": 1}}, "prompts: boxx: Extra inputs are not permitted"),
        ({"prompts": {"target": " "}}, "prompts: target is empty"),
        ({"prompts": "the cat"}, "prompts: got str, expected a Prompts or a dict of its fields"),
        ({"mask": Image.new("L", (10, 12))}, r"mask \(PIL image\): size 10×12 does not match the image's"),
        ({"mask": mask, "reference": Image.new("1", (12, 10))}, r"reference mask \(PIL image\): size 12×10"),
    ]:
        image = kwargs.pop("image", photo)
        with pytest.raises(InputError, match=words) as err:
            maskedit.edit(image, "x", models=tiny_models, **kwargs)
        assert "\n" not in str(err.value)


def test_api_arguments_of_the_wrong_kind_are_one_line_before_any_work(tiny_models, photo):
    """Checked when the request is read, before the mask or the editor: never a TypeError from
    deep inside (a progress callback that is no callable used to fail after the first step)."""
    mask = np.zeros(photo.shape[:2], bool)
    mask[20:50, 30:70] = True
    for args, kwargs, words in [
        ((photo, 5), {"mask": mask}, "instruction: got int, expected a string"),
        ((photo, "x"), {"mask": mask, "stepz": 2}, "edit: unknown keyword 'stepz' .known: "),
        ((photo, "x"), {"mask": mask, "progress": 5}, r"progress: got int, expected a callable"),
        ((photo, "x"), {"box": 5}, r"box: got 5, expected \(x0, y0, x1, y1\)"),
        ((photo, "x"), {"mask": mask, "methods": {"crop", "latent"}}, "methods: a set has no order"),
        ((np.zeros((0, 0, 3), np.uint8), "x"), {"mask": np.zeros((0, 0), bool)}, "image array: is 0×0, expected pixels"),
    ]:
        with pytest.raises(InputError, match=words) as err:
            maskedit.edit(*args, models=tiny_models, settings=EditSettings(steps=1), **kwargs)
        assert "\n" not in str(err.value)


def test_a_region_value_of_the_wrong_shape_or_type_names_its_argument(tiny_models, photo):
    """A box of three numbers, a point's label of 0.5, a target that is no text: the line names
    the argument and what it takes (it said `prompts: Field required`, naming neither)."""
    for kwargs, words in [
        ({"box": [1, 2, 30]}, r"^box: got \[1, 2, 30\], expected \(x0, y0, x1, y1\) in pixels$"),
        ({"box": (1, 2, 3, 4, 5)}, r"^box: got \(1, 2, 3, 4, 5\), expected \(x0, y0, x1, y1\)"),
        ({"box": ("a", 2, 30, 30)}, r"^box: got \('a', 2, 30, 30\), expected \(x0, y0, x1, y1\)"),
        ({"box": [[1, 2], [30, 30]]}, r"^box: got \[\[1, 2\], \[30, 30\]\], expected \(x0"),
        ({"points": [(10, 10, 0.5)]}, r"^points: got \[\(10, 10, 0.5\)\], expected a list of \(x, y\)"),
        ({"points": [("a", 1)]}, r"^points: got \[\('a', 1\)\], expected a list of \(x, y\)"),
        ({"target": 5}, r"^target: Input should be a valid string$"),
        ({"mask_from": "pixels"}, r"^mask_from: Input should be 'edit'$"),
        ({"box": (50, 0, 10, 20)}, r"^box: \[50.0, 0.0, 10.0, 20.0\] must be \[x0, y0, x1, y1\]"),
        ({}, r"^prompts: no region given"),
    ]:
        with pytest.raises(InputError, match=words) as err:
            maskedit.edit(photo, "x", models=tiny_models, settings=EditSettings(steps=1), **kwargs)
        assert "\n" not in str(err.value)


def test_the_result_keeps_its_own_copy_of_the_photo(tiny_models, photo):
    """The caller may write into their array afterwards; the result (and what is written from
    it) keeps the photo that was edited."""
    given = photo.copy()
    res = maskedit.edit(given, "x", models=tiny_models, mask=np.ones(photo.shape[:2], bool), settings=EditSettings(steps=1))
    given[:] = 0
    assert np.array_equal(res.original, photo)


# --- manifests -------------------------------------------------------------------------------


def test_manifest_paths_may_not_escape_without_the_flag(tmp_path):
    outside = _photo(tmp_path / "outside.png")
    (tmp_path / "m").mkdir()
    for image in ("../outside.png", str(outside)):
        (tmp_path / "m" / "m.yaml").write_text(
            f"cases:\n - {{id: a, image: '{image}', instruction: hi, point: [1, 1]}}\n"
        )
        res = runner.invoke(app, ["run", str(tmp_path / "m" / "m.yaml"), *FAST[:2],
                                  "--out", str(tmp_path / "o")])
        line = _one_error_line(res)
        assert "case 0 ('a'): image" in line and "outside the manifest's folder" in line
        assert "--allow-outside-paths" in line
    res = runner.invoke(app, ["run", str(tmp_path / "m" / "m.yaml"), *FAST[:2], "--out",
                              str(tmp_path / "o"), "--allow-outside-paths"])
    assert res.exit_code == 0, res.output


# --- outputs ---------------------------------------------------------------------------------


def test_output_not_writable(tmp_path, monkeypatch):
    img = _photo(tmp_path / "p.png")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(tmp_path) else real_access(p, m))
    line = _one_error_line(_edit(tmp_path, str(img), "-i", "x", "--point", "1,1"))
    assert f"--out '{tmp_path / 'o'}': '{tmp_path}' is not writable" in line


def test_disk_full_mid_write_leaves_nothing_half_written(tmp_path, monkeypatch):
    import maskedit.outputs as outputs

    img = _photo(tmp_path / "p.png")
    calls = {"n": 0}
    real = outputs.write_png

    def flaky(path, array):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, array)

    monkeypatch.setattr(outputs, "write_png", flaky)
    line = _one_error_line(_edit(tmp_path, str(img), "-i", "x", "--point", "1,1"))
    assert f"cannot write '{tmp_path / 'o'}': No space left on device" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]  # no case, no temp folder


def test_disk_full_in_a_batch_keeps_finished_cases(tmp_path, monkeypatch):
    import maskedit.outputs as outputs

    _photo(tmp_path / "p.png")
    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: 1}\ncases:\n"
        + "".join(f" - {{id: c{i}, image: p.png, instruction: hi, point: [5, 5]}}\n" for i in range(3))
    )
    real = outputs.write_png
    monkeypatch.setattr(outputs, "write_png", lambda p, a: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")) if "/.c1." in str(p) else real(p, a))  # c1's temp folder only
    res = runner.invoke(app, ["run", str(tmp_path / "m.yaml"), *FAST[:2], "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert "case 'c1' failed: cannot write" in res.stderr and "No space left on device" in res.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir() if p.is_dir()) == ["c0", "c2"]


def test_two_runs_on_one_folder_are_refused(tmp_path):
    import fcntl

    _photo(tmp_path / "p.png")
    (tmp_path / "m.yaml").write_text("cases:\n - {id: a, image: p.png, instruction: hi, point: [1, 1], steps: 1}\n")
    out = tmp_path / "o"
    out.mkdir()
    with open(out / ".maskedit.lock", "a+") as held:  # another run holds the folder
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        res = runner.invoke(app, ["run", str(tmp_path / "m.yaml"), *FAST[:2], "--out", str(out)])
    line = _one_error_line(res)
    assert "another maskedit run is writing there" in line
    assert not (out / "a").exists()


# --- runtime ---------------------------------------------------------------------------------


def test_nan_output_is_a_clear_run_failure(tmp_path, tiny_models, photo):
    handle = tiny_models.pipe.vae.decoder.register_forward_hook(
        lambda mod, args, out: out * float("nan")
    )
    try:
        with pytest.raises(RunFailure, match="NaN/inf pixels in float32: check the checkpoint"):
            maskedit.edit(photo, "x", models=tiny_models, points=[(5, 5)], settings=EditSettings(steps=1))
    finally:
        handle.remove()


def test_out_of_memory_suggests_offload(tiny_models, photo, monkeypatch):
    pipe = tiny_models.pipe

    def boom(*a, **k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(type(pipe), "__call__", boom)
    with pytest.raises(RunFailure, match="out of GPU memory .*--cpu-offload.*--working-size"):
        maskedit.edit(photo, "x", models=tiny_models, points=[(5, 5)], settings=EditSettings(steps=1))


@pytest.mark.integration  # two maskedit processes, one interrupted: in CI's run
def test_ctrl_c_mid_batch_then_resume_loses_and_duplicates_nothing(tmp_path):
    _photo(tmp_path / "p.png")
    ids = [f"c{i}" for i in range(6)]
    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: 20}\ncases:\n"
        + "".join(f" - {{id: {i}, image: p.png, instruction: hi, point: [5, 5]}}\n" for i in ids)
    )
    out = tmp_path / "o"
    exe = str(Path(sys.executable).with_name("maskedit"))
    cmd = [exe, "run", str(tmp_path / "m.yaml"), "--models", "tiny", "--out", str(out), "--clip", "none"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "c1" / "record.json").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    done_first = {p.name for p in out.iterdir() if (p / "record.json").exists()}
    assert {"c0", "c1"} <= done_first and done_first != set(ids)
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]
    stamps = {c: (out / c / "record.json").stat().st_mtime_ns for c in done_first}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir() if p.is_dir()} == set(ids)
    assert all((out / c / "record.json").stat().st_mtime_ns == stamps[c] for c in done_first)
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert sorted((r["case_id"], r["method"]) for r in rows) == sorted(
        (c, m) for c in ids for m in ("baseline", "pixel")
    )


# --- safe loading ----------------------------------------------------------------------------


def test_real_loading_code_reads_local_folders(tmp_path):
    """`--models real` with local folders: the same from_pretrained path users run."""
    from maskedit.tiny import build_tiny_ip2p, build_tiny_sam

    build_tiny_ip2p().save_pretrained(tmp_path / "ip2p")
    model, processor = build_tiny_sam()
    model.save_pretrained(tmp_path / "sam")
    processor.save_pretrained(tmp_path / "sam")
    img = _photo(tmp_path / "p.png")
    res = runner.invoke(app, ["edit", str(img), "-i", "x", "--point", "40,30", "--models", "real",
                              "--ip2p", str(tmp_path / "ip2p"), "--sam", str(tmp_path / "sam"),
                              "--steps", "2", "--working-size", "128", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "o" / "record.json").read_text())
    assert rec["models"]["kind"] == "real" and rec["models"]["ip2p"]["id"] == str(tmp_path / "ip2p")
    # the same components built in code give the same pixels: loading changed nothing
    tiny = maskedit.load_models("tiny")
    direct = maskedit.edit(img, "x", models=tiny, points=[(40, 30)], settings=EditSettings(steps=2))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o" / "blended.png")), direct.blended)


def test_wrong_architecture_checkpoint_is_named(tmp_path):
    from diffusers import UNet2DConditionModel

    from maskedit.models import load_ip2p
    from maskedit.tiny import build_tiny_ip2p

    pipe = build_tiny_ip2p()
    cfg = dict(pipe.unet.config)
    cfg["in_channels"] = 4  # a text-to-image UNet
    pipe.unet = UNet2DConditionModel.from_config(cfg)
    pipe.save_pretrained(tmp_path / "sd")
    with pytest.raises(CheckpointError, match="takes 4 input channels, an InstructPix2Pix UNet takes 8"):
        load_ip2p(str(tmp_path / "sd"), torch.device("cpu"), torch.float32)
    with pytest.raises(MissingWeightsError, match="not a complete checkpoint"):
        load_ip2p(str(tmp_path / "nothing-here"), torch.device("cpu"), torch.float32)


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {_Payload.target}",))


def test_pickled_code_in_a_bin_checkpoint_never_runs(tmp_path):
    """A .bin checkpoint is read with torch.load(weights_only=True): code in it is refused."""
    from maskedit.models import load_sam
    from maskedit.tiny import build_tiny_sam

    model, processor = build_tiny_sam()
    model.config.save_pretrained(tmp_path / "sam")
    processor.save_pretrained(tmp_path / "sam")
    _Payload.target = tmp_path / "pwned"
    state = {k: v for k, v in model.state_dict().items()}
    state["evil"] = _Payload()
    with open(tmp_path / "sam" / "pytorch_model.bin", "wb") as f:
        pickle.dump(state, f)  # a plain pickle: torch.load reads it, weights_only refuses code
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do; the payload must not run
        load_sam(str(tmp_path / "sam"), torch.device("cpu"), torch.float32)
    assert not _Payload.target.exists()


def test_out_is_an_existing_file_api(tmp_path, tiny_models, photo):
    from maskedit.outputs import write_case

    res = maskedit.edit(photo, "x", models=tiny_models, points=[(5, 5)], settings=EditSettings(steps=1))
    (tmp_path / "f").write_text("mine")
    with pytest.raises(OutputError, match="exists and is a file"):
        write_case(res, tmp_path / "f")
    assert (tmp_path / "f").read_text() == "mine"
