"""`ModelOptions`: every loading flag checked once, before anything loads, by every command."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from maskedit.cli import app
from maskedit.config import ModelOptions, Speedups
from maskedit.errors import InputError
from maskedit.models import load_models

BAD = [
    ({"kind": "nope"}, "--models 'nope': expected 'tiny' or 'real'"),
    ({"dtype": "fp8"}, "--dtype 'fp8': expected one of fp32, fp16, bf16"),
    (
        {"speedups": {"vae_tiling": "sometimes"}},
        "--vae-tiling 'sometimes': expected auto, on or off",
    ),
    ({"speedups": {"compile_mode": "max-autotune"}}, "--compile-mode needs --compile"),
    (
        {"speedups": {"compile": True, "compile_mode": "fastest"}},
        "--compile-mode 'fastest': expected one of default,",
    ),
    ({"cpu_offload": True, "speedups": {"compile": True}}, "--compile with --cpu-offload"),
    ({"text_backends": ["yolo"]}, "--target-backend 'yolo': expected clipseg or grounded-sam"),
    ({"working_size": 4}, "working_size: Input should be greater than or equal to 8"),
    ({"ip2p_id": "x"}, "ip2p_id: Extra inputs are not permitted"),
]


@pytest.mark.parametrize("values, words", BAD)
def test_a_bad_value_is_one_input_error_line(values, words):
    with pytest.raises(InputError, match="^" + words.replace("(", r"\(")) as err:
        ModelOptions(**values)
    assert "\n" not in str(err.value)


def test_config_imports_no_torch():
    code = "import sys, maskedit.config; print('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"


def test_options_pickle_and_take_the_old_keyword_names():
    options = ModelOptions(
        kind="tiny", ip2p="a/b", sam="c/d", speedups=None, text_backends=["clipseg"]
    )
    assert (options.editor_id, options.segmenter_id) == ("a/b", "c/d")
    assert options.speedups == Speedups() and options.text_backends == ("clipseg",)
    assert pickle.loads(pickle.dumps(options)) == options


def test_load_models_takes_the_object_or_its_keywords():
    by_keywords = load_models("tiny", editor="magicbrush", need_sam=False, working_size=64)
    by_object = load_models(
        ModelOptions(kind="tiny", editor="magicbrush", need_sam=False, working_size=64)
    )
    for models in (by_keywords, by_object):
        assert (models.kind, models.editor, models.sam, models.working_size) == (
            "tiny",
            "magicbrush",
            None,
            64,
        )
    assert load_models(kind="tiny", need_sam=False).kind == "tiny"  # `kind` as a keyword too
    with pytest.raises(TypeError, match="not both"):
        load_models(ModelOptions(kind="tiny"), need_sam=False)


def _photo(tmp_path):
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "p.png")
    (tmp_path / "m.yaml").write_text(
        "cases:\n - {id: a, image: p.png, instruction: x, box: [5, 5, 30, 30]}\n"
    )


@pytest.mark.parametrize("command", ["edit", "run", "demo", "app"])
@pytest.mark.parametrize(
    "flags, words",
    [
        (["--models", "nope"], "--models 'nope': expected 'tiny' or 'real'"),
        (["--dtype", "fp8"], "--dtype 'fp8': expected one of fp32, fp16, bf16"),
        (["--vae-tiling", "sometimes"], "--vae-tiling 'sometimes': expected auto, on or off"),
        (["--compile", "--cpu-offload"], "--compile with --cpu-offload"),
    ],
)
def test_every_command_checks_the_model_flags_the_same_way(tmp_path, command, flags, words):
    _photo(tmp_path)
    out = ["--out", str(tmp_path / "o")]
    args = {
        "edit": [str(tmp_path / "p.png"), "-i", "x", "--box", "5,5,30,30", *out],
        "run": [str(tmp_path / "m.yaml"), *out],
        "demo": out,
        "app": ["--port", "1"],
    }[command]
    res = CliRunner().invoke(app, [command, *args, *flags])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("maskedit: error: ") and words in lines[0]
    assert not (tmp_path / "o").exists()
