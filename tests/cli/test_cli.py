"""The `maskedit` command end to end with tiny models: files, determinism, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from maskedit.cli import app

runner = CliRunner()
FILES = ["original.png", "mask.png", "baseline.png", "blended.png", "grid.png", "record.json"]


def _img(tmp_path: Path, h=60, w=90) -> Path:
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 2, y * 3, x + y], -1).astype(np.uint8)
    p = tmp_path / "photo.png"
    Image.fromarray(arr).save(p)
    return p


def _edit(*args: str):
    return runner.invoke(app, ["edit", *args, "--models", "tiny", "--steps", "3"])


def test_python_dash_m_maskedit_is_the_command():
    """`python -m maskedit` runs the same command as `maskedit` (it said the package cannot be
    executed directly)."""
    src = str(Path(__import__("maskedit").__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-m", "maskedit", "--help"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "turns" in proc.stdout and "convert" in proc.stdout
    imported = subprocess.run(  # a tool that imports every module starts no command
        [sys.executable, "-c", "import maskedit.__main__"], capture_output=True, text=True,
        env=env, timeout=120,
    )  # fmt: skip
    assert imported.returncode == 0 and imported.stdout == "", imported.stdout + imported.stderr


def test_edit_with_click_writes_every_output(tmp_path):
    img = _img(tmp_path)
    res = _edit(
        str(img),
        "-i",
        "make it red",
        "--point",
        "40,30",
        "--point",
        "5,5,0",
        "--out",
        str(tmp_path / "o"),
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "o"
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    rec = json.loads((out / "record.json").read_text())
    assert rec["tiny_models"] is True and "plumbing check" in rec["note"]
    assert rec["instruction"] == "make it red" and rec["seed"] == 1337
    assert (
        rec["mask"]["points"] == [[40.0, 30.0, 1], [5.0, 5.0, 0]] and rec["mask"]["source"] == "sam"
    )
    assert rec["settings"]["steps"] == 3 and rec["image"] == {
        "source": str(img),
        "width": 90,
        "height": 60,
    }
    assert {"diffusers", "transformers", "torch"} <= set(rec["versions"])
    assert {"mask", "edit", "method_pixel", "load_models"} <= set(rec["timings_s"])
    assert rec["models"]["ip2p"]["id"] == "tiny-random-ip2p"
    for name in FILES[:4]:
        assert Image.open(out / name).size == (90, 60)
    orig = np.asarray(Image.open(out / "original.png"))
    blend = np.asarray(Image.open(out / "blended.png"))
    mask = np.asarray(Image.open(out / "mask.png")) > 0
    assert np.array_equal(blend[~mask], orig[~mask])


def test_edit_with_mask_file_and_same_seed_gives_identical_pngs(tmp_path):
    img = _img(tmp_path)
    m = np.zeros((60, 90), bool)
    m[10:40, 20:60] = True
    Image.fromarray(m).save(tmp_path / "m.png")  # mode "1"
    for name in ("a", "b"):
        res = _edit(
            str(img),
            "-i",
            "make it red",
            "--mask",
            str(tmp_path / "m.png"),
            "--out",
            str(tmp_path / name),
        )
        assert res.exit_code == 0, res.output
    for f in FILES[:5]:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    blend = np.asarray(Image.open(tmp_path / "a" / "blended.png"))
    base = np.asarray(Image.open(tmp_path / "a" / "baseline.png"))
    orig = np.asarray(Image.open(img))
    assert np.array_equal(blend[m], base[m]) and np.array_equal(blend[~m], orig[~m])


@pytest.mark.parametrize(
    "args, words",
    [
        (["missing.png", "--point", "1,1"], "image '.*missing.png': file not found"),
        (["{img}", "--point", "200,10"], r"point \(200, 10\) is outside the image, which is 90×60"),
        (["{img}", "--point", "-1,10"], "outside the image"),
        (["{img}", "--point", "1,2,7"], "label must be 1"),
        (["{img}", "--point", "a,b"], "expected X,Y"),
        (["{img}", "--point", "nan,3"], "--point 'nan,3': expected finite numbers"),
        (["{img}", "--point", "1_0,5"], "--point '1_0,5': expected X,Y"),  # not 10
        (["{img}", "--box", "0,0,2_0,5"], "--box '0,0,2_0,5': expected X0,Y0,X1,Y1"),
        (["{img}", "--box", "0,0,inf,5"], "--box '0,0,inf,5': expected X0,Y0,X1,Y1"),
        (["{img}", "--box", "50,0,10,20"], "x1 > x0"),
        (["{img}", "--box", "0,0,100,20"], "not inside the image"),
        (["{img}", "--box", "1,1,5,5", "--box", "2,2,6,6"], "--box: given 2 times; one box an edit"),
        (["{img}"], "no region given"),
        (["{img}", "--mask", "{dir}"], "is a directory"),
        (["{txt}", "--point", "1,1"], "not a readable image"),
    ],
)
def test_bad_input_one_line_nonzero_no_output(tmp_path, args, words):
    img = _img(tmp_path)
    (tmp_path / "notes.png").write_text("not an image")
    args = [a.format(img=img, dir=tmp_path, txt=tmp_path / "notes.png") for a in args]
    args = [str(tmp_path / a) if a == "missing.png" else a for a in args]
    res = _edit(*args, "-i", "make it red", "--out", str(tmp_path / "o"))
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("maskedit: error:"), res.stderr
    import re

    assert re.search(words, lines[0]), lines[0]
    assert not (tmp_path / "o").exists()


def test_empty_instruction_and_existing_output(tmp_path):
    img = _img(tmp_path)
    res = _edit(str(img), "-i", "   ", "--point", "1,1", "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "maskedit: error: instruction is empty" in res.stderr
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep.txt").write_text("mine")
    res = _edit(str(img), "-i", "red", "--point", "1,1", "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "--force" in res.stderr
    assert (tmp_path / "o" / "keep.txt").read_text() == "mine"
    (tmp_path / "f").write_text("x")
    res = _edit(str(img), "-i", "red", "--point", "1,1", "--out", str(tmp_path / "f"))
    assert res.exit_code == 2 and "is a file" in res.stderr


def test_run_manifest_resumes_and_records_failures(tmp_path):
    img = _img(tmp_path)
    Image.fromarray(np.ones((60, 90), np.uint8)).save(tmp_path / "m01.png")  # 0/1 "L" mask
    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: 2}\n"
        "cases:\n"
        f" - {{id: one, image: {img.name}, instruction: make it red, point: [40, 30]}}\n"
        " - {id: two, image: photo.png, instruction: make it blue, mask: m01.png, seed: 5}\n"
    )
    out = tmp_path / "out"
    res = runner.invoke(
        app, ["run", str(tmp_path / "m.yaml"), "--out", str(out), "--models", "tiny"]
    )
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == ["one", "results.jsonl", "run_log.jsonl", "summary.csv", "two"]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["case_id"], r["method"]) for r in rows] == [
        ("one", "baseline"), ("one", "pixel"), ("two", "baseline"), ("two", "pixel")
    ]
    assert all("iou" in r and "clip_cosine" in r for r in rows)  # tiny CLIP for tiny models
    assert (out / "one" / "metrics.json").is_file()
    # the 0/1 mask is a full mask: blended == baseline (the study's /255 bug would give the original)
    two = out / "two"
    assert (two / "blended.png").read_bytes() == (two / "baseline.png").read_bytes()
    stamp = (out / "one" / "record.json").stat().st_mtime_ns
    res = runner.invoke(
        app, ["run", str(tmp_path / "m.yaml"), "--out", str(out), "--models", "tiny"]
    )
    assert res.exit_code == 0 and "2 already finished" in res.stdout
    assert (out / "one" / "record.json").stat().st_mtime_ns == stamp
    rows2 = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert rows2 == rows  # rebuilt from the case folders: no duplicates after a resume


def test_run_rejects_bad_manifest_before_loading_models(tmp_path):
    (tmp_path / "m.yaml").write_text(
        "cases:\n - {id: a, image: nope.png, instruction: hi, point: [1, 1]}\n"
    )
    res = runner.invoke(
        app, ["run", str(tmp_path / "m.yaml"), "--out", str(tmp_path / "o"), "--models", "tiny"]
    )
    assert res.exit_code == 2
    assert "case 0 ('a'): " in res.stderr and "nope.png': file not found" in res.stderr
    assert not (tmp_path / "o").exists()


def test_demo_tiny_makes_all_files_for_three_cases(tmp_path):
    res = runner.invoke(app, ["demo", "--models", "tiny", "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    for case, size in {"suit": (512, 512), "cat": (451, 300), "motorcycle": (741, 500)}.items():
        d = tmp_path / "d" / case
        assert sorted(p.name for p in d.iterdir()) == sorted(FILES + ["metrics.json"])
        assert Image.open(d / "blended.png").size == size
        rec = json.loads((d / "record.json").read_text())
        assert rec["settings"]["steps"] == 20 and rec["tiny_models"]


def test_missing_weights_give_one_clear_line(tmp_path):
    """The real entry point, offline and with an empty cache: one line, non-zero, no outputs."""
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    exe = Path(sys.executable).with_name("maskedit")
    proc = subprocess.run(
        [str(exe), "demo", "--out", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "loading" not in ln]
    assert len(lines) == 1, proc.stderr
    assert "timbrooks/instruct-pix2pix" in lines[0] and "maskedit download" in lines[0]
    assert str(tmp_path / "hf") in lines[0]
    assert not (tmp_path / "d").exists()


def test_edit_compares_methods_with_shaped_mask(tmp_path):
    img = _img(tmp_path)
    m = np.zeros((60, 90), bool)
    m[15:40, 30:60] = True
    Image.fromarray(m).save(tmp_path / "m.png")
    res = _edit(
        str(img),
        "-i",
        "make it red",
        "--mask",
        str(tmp_path / "m.png"),
        "--out",
        str(tmp_path / "o"),
        "--method",
        "pixel,latent,guidance,crop",
        "--dilate",
        "2",
        "--feather",
        "1.5",
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "o"
    rec = json.loads((out / "record.json").read_text())
    assert rec["methods"] == {
        m: f"blended_{m}.png" for m in ("pixel", "latent", "guidance", "crop")
    }
    assert rec["settings"]["dilate"] == 2 and rec["settings"]["feather"] == 1.5
    assert rec["mask"]["area_fraction"] > rec["mask"]["area_fraction_raw"]
    alpha = np.asarray(Image.open(out / "mask.png"))
    assert len(np.unique(alpha)) > 2  # mask.png shows the final soft alpha
    orig = np.asarray(Image.open(out / "original.png"))
    for name in rec["methods"].values():
        arr = np.asarray(Image.open(out / name))
        assert np.array_equal(arr[alpha == 0], orig[alpha == 0]), name
    assert (out / "blended.png").read_bytes() == (out / "blended_pixel.png").read_bytes()
    panel_w = round(90 * 320 / 60)  # each panel is scaled to 320 px high
    assert Image.open(out / "grid.png").size[0] >= 7 * panel_w  # seven panels side by side


def test_run_methods_override_and_bad_method(tmp_path):
    img = _img(tmp_path)
    (tmp_path / "m.yaml").write_text(
        f"cases:\n - {{id: one, image: {img.name}, instruction: hi, box: [10, 10, 50, 40], steps: 2}}\n"
    )
    res = runner.invoke(
        app,
        [
            "run",
            str(tmp_path / "m.yaml"),
            "--out",
            str(tmp_path / "o"),
            "--models",
            "tiny",
            "--methods",
            "pixel,latent",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "one" / "blended_latent.png").is_file()
    res = runner.invoke(
        app,
        [
            "run",
            str(tmp_path / "m.yaml"),
            "--out",
            str(tmp_path / "p"),
            "--models",
            "tiny",
            "--methods",
            "pixel,magic",
        ],
    )
    assert res.exit_code == 2 and "method 'magic' is not one of" in res.stderr
    # an empty --methods (a script's unset variable) is said, not read as the default
    res = runner.invoke(app, ["run", str(tmp_path / "m.yaml"), "--out", str(tmp_path / "q"),
                              "--models", "tiny", "--methods", ""])  # fmt: skip
    assert res.exit_code == 2 and "--methods: methods is empty" in res.stderr
    res = _edit(str(img), "-i", "hi", "--point", "1,1", "--methods", "", "--out", str(tmp_path / "r"))
    assert res.exit_code == 2 and "methods is empty" in res.stderr
    assert not (tmp_path / "q").exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize("segmenter", ["slimsam", "sam-hq", "sam2"])
def test_segmenter_choice_end_to_end(tmp_path, segmenter):
    img = _img(tmp_path)
    res = _edit(str(img), "-i", "make it red", "--point", "40,30", "--segmenter", segmenter,
                "--out", str(tmp_path / "o"))
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "o" / "record.json").read_text())
    assert rec["models"]["segmenter"] == segmenter and rec["mask"]["source"] == "sam"
    assert len(rec["mask"]["sam"]["scores"]) >= 1
    res = _edit(str(img), "-i", "x", "--point", "1,1", "--segmenter", "yolo", "--out", str(tmp_path / "p"))
    assert res.exit_code == 2 and "yolo" in res.stderr


def test_run_passes_the_segmenter(tmp_path):
    img = _img(tmp_path)
    (tmp_path / "m.yaml").write_text(f"cases:\n - {{id: a, image: {img.name}, instruction: hi, point: [5, 5], steps: 1}}\n")
    res = runner.invoke(app, ["run", str(tmp_path / "m.yaml"), "--models", "tiny", "--segmenter", "sam-hq",
                              "--clip", "none", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "o" / "a" / "record.json").read_text())
    assert rec["models"]["segmenter"] == "sam-hq"


def test_download_fetches_the_weights_from_pretrained_loads_and_no_others(monkeypatch):
    """A pipeline's component folders (safetensors, both precisions; .bin where a folder has no
    safetensors, as MagicBrush's text encoder) and not the single-file checkpoint beside them; a
    transformers repo's safetensors, not its .bin, TF or Flax copies."""
    import huggingface_hub

    listings = {
        "timbrooks/instruct-pix2pix": [
            "model_index.json", "instruct-pix2pix-00-22000.safetensors",
            "instruct-pix2pix-00-22000.ckpt", "unet/config.json",
            "unet/diffusion_pytorch_model.safetensors",
            "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.bin",
            "text_encoder/model.safetensors", "scheduler/scheduler_config.json",
        ],
        "vinesmsuic/magicbrush-jul7": [
            "model_index.json", "unet/diffusion_pytorch_model.safetensors",
            "text_encoder/pytorch_model.bin", "text_encoder/config.json", "README.md",
        ],
        "facebook/sam-vit-huge": [
            "config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5",
            "preprocessor_config.json",
        ],
    }
    fetched = {}
    monkeypatch.setattr(huggingface_hub, "list_repo_files", lambda model_id: listings[model_id])
    monkeypatch.setattr(
        huggingface_hub,
        "snapshot_download",
        lambda model_id, allow_patterns: fetched.setdefault(model_id, allow_patterns) and model_id,
    )
    res = runner.invoke(app, ["download", *listings])
    assert res.exit_code == 0, res.output
    weights = {k: {p for p in v if "*" not in p} for k, v in fetched.items()}
    assert weights == {
        "timbrooks/instruct-pix2pix": {
            "unet/diffusion_pytorch_model.safetensors",
            "unet/diffusion_pytorch_model.fp16.safetensors", "text_encoder/model.safetensors",
        },
        "vinesmsuic/magicbrush-jul7": {
            "unet/diffusion_pytorch_model.safetensors", "text_encoder/pytorch_model.bin",
        },
        "facebook/sam-vit-huge": {"model.safetensors"},
    }
    assert all("*.json" in v and "*.safetensors" not in v for v in fetched.values())


def test_download_that_fetches_nothing_says_why_in_one_line(monkeypatch, tmp_path):
    """`maskedit download` is itself the advice a loader gives: its own failure names the id and
    why, and a folder given as an id is told it needs no download."""
    import huggingface_hub

    def unreachable(model_id, allow_patterns):
        raise OSError("Name or service not known")

    monkeypatch.setattr(huggingface_hub, "list_repo_files", lambda model_id: unreachable(model_id, []))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    res = runner.invoke(app, ["download", "owner/model"])
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("maskedit: error: download 'owner/model': ")
    assert "Name or service not known" in lines[0] and "maskedit download" not in lines[0]
    res = runner.invoke(app, ["download", str(tmp_path)])
    assert res.exit_code == 2 and "expected a hub id (owner/name)" in res.stderr, res.output


@pytest.mark.parametrize("group", [[], ["convert"]])
def test_the_command_list_gives_each_command_its_summary_unbroken(group):
    """`maskedit --help` lists each command with its docstring's first paragraph as one line of
    text, which the panel wraps to the terminal (not where the source line happened to end)."""
    import typer.main

    command = typer.main.get_command(app)
    for name in group:
        command = command.commands[name]
    for name, sub in command.commands.items():
        if hasattr(sub, "commands"):
            continue  # a group (convert): its help is the one line its Typer was given
        first = (sub.help or "").split("\n\n")[0]
        assert sub.short_help == " ".join(first.split()), name
        assert "\n" not in sub.short_help, name
    result = CliRunner().invoke(app, [*group, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", ["edit", "turns"])
def test_feather_help_says_px_is_sigma_and_the_edge_is_three_sigma_wide(command):
    """--feather PX is the σ of the soft edge (docs/methods.md), which reaches 3σ inside the mask:
    not an edge PX pixels wide."""
    import typer.main

    params = {p.name: p for p in typer.main.get_command(app).commands[command].params}
    text = params["feather"].help
    assert "σ = PX pixels" in text and "3σ wide" in text, text
