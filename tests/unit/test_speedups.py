"""Speed options (issue #7): they change how fast, never what maskedit computes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from maskedit import edit
from maskedit.cli import app
from maskedit.models import load_models
from maskedit.speedups import AUTO_TILE, Speedups, attention_processors, ensure_sdpa

pytestmark = pytest.mark.usefixtures("one_torch_thread")
METHODS = ["pixel", "latent", "guidance"]


def _mask(photo):
    m = np.zeros(photo.shape[:2], bool)
    m[15:55, 45:90] = True
    return m


def _run(models, photo, **kw):
    return edit(photo, "make it red", models=models, mask=_mask(photo), methods=METHODS, **kw)


@pytest.fixture(scope="module")
def plain(shared_photo):
    return _run(load_models("tiny", need_sam=False), shared_photo)


def test_defaults_record_sdpa_and_change_nothing(shared_photo, plain):
    models = load_models("tiny", need_sam=False)
    rec = models.describe()["speedups"]
    assert rec["compile"] is False and rec["channels_last"] is False
    assert rec["vae_tiling"] == "auto" and rec["attention"] == ["AttnProcessor2_0"]
    assert models.pipe.vae.tile_sample_min_size == AUTO_TILE  # auto: only above 1024 px
    again = _run(models, shared_photo)
    for method in METHODS:
        assert np.array_equal(again.outputs[method], plain.outputs[method])


@pytest.mark.slow  # torch.compile's first call: ten seconds on two cores
def test_compiled_denoiser_gives_the_same_pixels_and_keeps_the_hooks(shared_photo, plain):
    # The "eager" backend runs the real torch.compile tracing (dynamo) without code generation:
    # the wrapped UNet must still see maskedit's hooks (z0 capture, masked guidance).
    models = load_models(
        "tiny", need_sam=False, speedups=Speedups(compile=True, compile_backend="eager")
    )
    assert hasattr(models.pipe.unet, "_orig_mod")  # wrapped, not compiled in place
    assert hasattr(models.pipe.vae.decoder, "_orig_mod")
    result = _run(models, shared_photo)
    for method in METHODS:
        assert np.array_equal(result.outputs[method], plain.outputs[method]), method
    assert result.method_info["guidance"]["masked_unet_calls"] == result.settings.steps
    assert result.method_info["latent"]["blended_steps"] == result.settings.steps
    assert models.describe()["speedups"]["compile"] is True


def test_compile_also_wraps_the_sam_image_encoder():
    models = load_models("tiny", speedups=Speedups(compile=True, compile_backend="eager"))
    assert hasattr(models.sam.model.vision_encoder, "_orig_mod")
    models.sam.set_image(np.full((40, 50, 3), 120, np.uint8))
    prediction = models.sam.predict(points=np.array([[20.0, 20.0, 1]]))
    assert prediction.mask.shape == (40, 50)


def test_channels_last_is_within_rounding_and_exact_outside_the_mask(shared_photo, plain):
    models = load_models("tiny", need_sam=False, speedups=Speedups(channels_last=True))
    assert models.pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    result = _run(models, shared_photo)
    outside = ~_mask(shared_photo)
    for method in METHODS:
        diff = np.abs(result.outputs[method].astype(int) - plain.outputs[method])
        assert diff.max() <= 2, method  # other conv kernels, same maths
        assert np.array_equal(result.outputs[method][outside], shared_photo[outside])


def test_auto_tiling_tiles_only_above_the_threshold(shared_photo, plain, monkeypatch):
    models = load_models("tiny", need_sam=False)
    vae = models.pipe.vae
    calls = []
    real = type(vae).tiled_decode

    def spy(self, *args, **kwargs):
        calls.append(args[0].shape)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(vae), "tiled_decode", spy)
    _run(models, shared_photo)
    assert calls == []  # 128 px working size < AUTO_TILE: the plain decode
    vae.tile_sample_min_size, vae.tile_latent_min_size = 64, 64 // models.pipe.vae_scale_factor
    tiled = _run(models, shared_photo)
    assert calls  # above the (lowered) threshold the VAE tiles, and the record says so
    assert any("VAE ran tiled" in note for note in tiled.warnings)
    outside = ~_mask(shared_photo)
    for method in METHODS:
        assert np.array_equal(tiled.outputs[method][outside], shared_photo[outside])


def test_tiling_off_and_on(shared_photo):
    off = load_models("tiny", need_sam=False, speedups=Speedups(vae_tiling="off"))
    assert off.pipe.vae.use_tiling is False
    on = load_models("tiny", need_sam=False, speedups=Speedups(vae_tiling="on"))
    assert on.pipe.vae.use_tiling is True
    assert on.pipe.vae.tile_sample_min_size == on.pipe.vae.config.sample_size  # diffusers' own


def test_compile_with_cpu_offload_is_refused_before_loading():
    from maskedit.errors import InputError

    with pytest.raises(InputError, match="--compile with --cpu-offload"):
        load_models("real", ip2p="/nonexistent", cpu_offload=True, speedups=Speedups(compile=True))


def test_classic_attention_is_put_back_on_sdpa():
    models = load_models("tiny", need_sam=False)
    models.pipe.unet.set_default_attn_processor()  # diffusers' classic AttnProcessor
    assert attention_processors(models.pipe) == ["AttnProcessor"]
    ensure_sdpa(models.pipe)
    assert attention_processors(models.pipe) == ["AttnProcessor2_0"]


def test_cli_records_speedups_and_rejects_a_bad_tiling(tmp_path):
    from PIL import Image

    img = np.zeros((40, 60, 3), np.uint8)
    Image.fromarray(img).save(tmp_path / "p.png")
    base = ["edit", str(tmp_path / "p.png"), "-i", "x", "--box", "5,5,30,30", "--models", "tiny"]
    bad = CliRunner().invoke(
        app, [*base, "--steps", "2", "--vae-tiling", "sometimes", "--out", str(tmp_path / "bad")]
    )
    assert bad.exit_code == 2
    assert "--vae-tiling 'sometimes': expected auto, on or off" in bad.output
    assert not (tmp_path / "bad").exists()
    for flags, words in (
        (["--compile-mode", "max-autotune"], "--compile-mode needs --compile"),
        (["--compile", "--compile-mode", "fastest"], "--compile-mode 'fastest': expected one of"),
    ):
        res = CliRunner().invoke(app, [*base, *flags, "--out", str(tmp_path / "bad")])
        assert res.exit_code == 2 and words in res.output
        assert not (tmp_path / "bad").exists()
    ok = CliRunner().invoke(
        app,
        [
            *base,
            "--steps",
            "2",
            "--channels-last",
            "--vae-tiling",
            "off",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert ok.exit_code == 0, ok.output
    rec = json.loads((tmp_path / "o" / "record.json").read_text())
    assert rec["models"]["speedups"]["channels_last"] is True
    assert rec["models"]["speedups"]["vae_tiling"] == "off"


@pytest.mark.slow
def test_inductor_compile_matches_eager(shared_photo, plain):
    """Real code generation (about 2 minutes of compiling on 2 CPU cores)."""
    models = load_models("tiny", need_sam=False, speedups=Speedups(compile=True))
    result = _run(models, shared_photo)
    for method in METHODS:
        diff = np.abs(result.outputs[method].astype(int) - plain.outputs[method])
        assert diff.max() <= 2, method
