"""PIE-Bench's structure distance against its own computation, re-stated on a tiny random DINO ViT.

PIE-Bench (cure-lab/PnPInversion, evaluation/matrics_calculator.py: `calculate_structure_distance`
→ `LossG.calculate_global_ssim_loss` → `VitExtractor.get_keys_self_sim_from_input(layer_num=11)`)
reads the last block's fused ``qkv`` projection of the torch-hub DINO. transformers' ViT splits
that projection into query/key/value; the reference below fuses them back and follows PIE-Bench's
reshapes step by step, so a wrong head order, the wrong third of qkv or the wrong layer shows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from metric_backbones import tiny_dino

from maskedit.errors import InputError, MaskeditWarning, MissingWeightsError
from maskedit.metrics import key_self_similarity, structure_distance
from maskedit.metrics.structure import dino_input, resized_hw, vit_layers
from maskedit.models.metric_nets import load_dino

TOL = 1e-5


@pytest.fixture(scope="module")
def dino():
    return tiny_dino(patch_size=8, image_size=224, seed=0)  # ViT-B/8's patch and input size


def _images(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth original with a little noise, and an edit that repaints one region with noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    smooth = np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (h + w)], axis=-1)
    original = np.clip(smooth + rng.integers(-8, 9, (h, w, 3)), 0, 255).astype(np.uint8)
    edit = original.copy()
    region = (slice(h // 4, h // 2), slice(w // 3, 2 * w // 3))
    edit[region] = rng.integers(0, 256, edit[region].shape)
    return edit, original


def _global_transform(x: torch.Tensor, antialias: bool) -> torch.Tensor:
    """PIE-Bench's `Compose([Resize(224, max_size=480), Normalize(ImageNet)])` on a 1x3xHxW float
    tensor of 0-255 values: torchvision's own where installed, else its tensor path re-stated."""
    try:
        from torchvision import transforms

        resize = transforms.Resize(224, max_size=480, antialias=antialias)
        norm = transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        return norm(resize(x[0]))[None]
    except ImportError:
        pass
    h, w = x.shape[-2:]
    short, long = min(h, w), max(h, w)
    new_short, new_long = 224, int(224 * long / short)
    if new_long > 480:
        new_short, new_long = int(480 * new_short / new_long), 480
    size = (new_short, new_long) if h <= w else (new_long, new_short)
    if size != (h, w):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    mean = torch.tensor((0.485, 0.456, 0.406))[None, :, None, None]
    std = torch.tensor((0.229, 0.224, 0.225))[None, :, None, None]
    return (x - mean) / std


def _pie_bench_keys_self_sim(model, x: torch.Tensor, layer_num: int) -> torch.Tensor:
    """VitExtractor.get_keys_self_sim_from_input, with the fused qkv rebuilt from q/k/v."""
    block = vit_layers(model)[layer_num]
    attention = block.attention
    q, k, v = (
        (getattr(attention, n) for n in ("q_proj", "k_proj", "v_proj"))
        if hasattr(attention, "k_proj")
        else (attention.attention.query, attention.attention.key, attention.attention.value)
    )
    qkv_weight = torch.cat([q.weight, k.weight, v.weight])
    qkv_bias = torch.cat([q.bias, k.bias, v.bias])
    inputs = []
    handle = block.layernorm_before.register_forward_hook(lambda m, i, out: inputs.append(out))
    with torch.no_grad():
        model(pixel_values=x, interpolate_pos_encoding=True)
    handle.remove()
    qkv = F.linear(inputs[0], qkv_weight, qkv_bias)  # DINO's block.attn.qkv output, [1, T, 3D]
    patch = model.config.patch_size
    patch_num = 1 + (x.shape[2] // patch) * (x.shape[3] // patch)
    heads, dim = model.config.num_attention_heads, model.config.hidden_size
    keys = qkv.reshape(patch_num, 3, heads, dim // heads).permute(1, 2, 0, 3)[1]
    h, t, d = keys.shape
    concatenated_keys = keys.transpose(0, 1).reshape(t, h * d)
    x = concatenated_keys[None, None, ...][0]  # attn_cosine_sim
    norm1 = x.norm(dim=2, keepdim=True)
    factor = torch.clamp(norm1 @ norm1.permute(0, 2, 1), min=1e-08)
    return (x @ x.permute(0, 2, 1)) / factor


def _pie_bench_structure_distance(model, edit, original, antialias=False, layer_num=-1) -> float:
    """calculate_structure_distance(src, tgt): float32 0-255 images, no mask, MSE of self-sims."""
    pred = torch.from_numpy(np.transpose(edit.astype(np.float32), axes=(2, 0, 1)))[None]
    gt = torch.from_numpy(np.transpose(original.astype(np.float32), axes=(2, 0, 1)))[None]
    a, b = _global_transform(pred, antialias), _global_transform(gt, antialias)
    target = _pie_bench_keys_self_sim(model, a, layer_num)
    ours = _pie_bench_keys_self_sim(model, b, layer_num)
    return F.mse_loss(ours, target).item()


@pytest.mark.parametrize("hw", [(512, 512), (300, 420), (200, 640)])
@pytest.mark.parametrize("antialias", [False, True])
def test_agrees_with_pie_bench_computation(dino, hw, antialias):
    edit, original = _images(*hw, seed=sum(hw))
    ref = _pie_bench_structure_distance(dino, edit, original, antialias)
    ours = structure_distance(dino, edit, original, antialias=antialias)
    assert ref > 1e-4
    assert abs(ours - ref) <= TOL * ref  # relative: PIE-Bench's values are ~1e-2 (×10³ in tables)
    # and the maps themselves, entry by entry
    pixels = torch.from_numpy(np.transpose(edit.astype(np.float32), (2, 0, 1)))[None]
    ref_map = _pie_bench_keys_self_sim(dino, _global_transform(pixels, antialias), -1)[0]
    ours_map = key_self_similarity(dino, dino_input(edit, antialias=antialias))
    assert (ours_map - ref_map).abs().max().item() <= TOL


def test_the_choices_that_matter_change_the_number(dino):
    """The reference is sensitive to what it pins: the layer and the resize's antialiasing."""
    edit, original = _images(512, 512, seed=3)
    ours = structure_distance(dino, edit, original)
    assert abs(ours - _pie_bench_structure_distance(dino, edit, original, layer_num=0)) > 1e-4
    assert abs(ours - structure_distance(dino, edit, original, antialias=True)) > 1e-6


def test_resize_rule_is_torchvisions():
    assert resized_hw(512, 512) == (224, 224)
    assert resized_hw(300, 420) == (224, 313)  # int(224 * 420 / 300)
    assert resized_hw(420, 300) == (313, 224)
    assert resized_hw(200, 640) == (150, 480)  # long side capped: int(480 * 224 / 716)
    assert dino_input(np.zeros((224, 224, 3), np.uint8)).shape == (1, 3, 224, 224)


def test_self_similarity_shape_and_identity(dino):
    edit, original = _images(512, 512, seed=4)
    sim = key_self_similarity(dino, dino_input(original))
    assert sim.shape == (1 + 28 * 28, 1 + 28 * 28)
    torch.testing.assert_close(torch.diagonal(sim), torch.ones(sim.shape[0]), atol=1e-5, rtol=0)
    assert structure_distance(dino, original, original) == 0.0
    assert structure_distance(dino, edit, original) == pytest.approx(
        structure_distance(dino, original, edit), rel=1e-6
    )


def test_bad_inputs():
    model = tiny_dino(patch_size=32)
    with pytest.raises(InputError, match="same shape"):
        structure_distance(model, np.zeros((64, 64, 3), np.uint8), np.zeros((64, 32, 3), np.uint8))
    with pytest.raises(InputError, match="uint8"):
        structure_distance(model, np.zeros((64, 64, 3)), np.zeros((64, 64, 3), np.uint8))


def test_missing_dino_gives_none_and_one_warning(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    for model_id in (str(tmp_path / "no-such-folder"), "facebook/dino-vitb8"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert load_dino(model_id, torch.device("cpu")) is None
        ours = [w for w in caught if issubclass(w.category, MaskeditWarning)]
        assert len(ours) == 1 and "DINO metrics skipped" in str(ours[0].message)
    with pytest.raises(MissingWeightsError, match="not in the Hugging Face cache"):
        load_dino("facebook/dino-vits16", torch.device("cpu"), required=True)


def test_load_dino_reads_a_local_folder(tmp_path):
    model = tiny_dino(patch_size=32, seed=5)
    model.save_pretrained(tmp_path / "dino")
    loaded = load_dino(str(tmp_path / "dino"), torch.device("cpu"), required=True)
    assert loaded.pooler is None and loaded.config.layer_norm_eps == 1e-6
    edit, original = _images(224, 224, seed=6)
    assert structure_distance(loaded, edit, original) == pytest.approx(
        structure_distance(model, edit, original), rel=1e-6
    )
