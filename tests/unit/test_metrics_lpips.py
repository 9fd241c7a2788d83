"""LPIPS against the implementations PIE-Bench and everyone else call, on a random SqueezeNet.

PIE-Bench calls torchmetrics' ``LearnedPerceptualImagePatchSimilarity(net_type="squeeze")``, which
builds torchvision's SqueezeNet with downloaded ImageNet weights. Neither torchvision nor those
weights are here, so the tests hand torchmetrics (and the lpips package, where installed) the same
random SqueezeNet trunk that maskedit's `LpipsNet` uses, and compare the numbers.
"""

from __future__ import annotations

import math
import sys
import types
import warnings

import numpy as np
import pytest
import torch
from metric_backbones import squeezenet_state_dict, tiny_lpips

from maskedit.errors import MaskeditWarning, MissingWeightsError
from maskedit.metrics import LpipsNet, lpips_distance, lpips_score, masked_lpips
from maskedit.models.metric_nets import load_lpips

TOL = 1e-5
tm_lpips = pytest.importorskip("torchmetrics.functional.image.lpips")


@pytest.fixture(scope="module")
def case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 64x80 original, a noisy edit, a rectangular edit mask (non-square on purpose)."""
    rng = np.random.default_rng(7)
    original = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    noise = rng.integers(-40, 41, original.shape)
    edit = np.clip(original.astype(int) + noise, 0, 255).astype(np.uint8)
    mask = np.zeros((64, 80), bool)
    mask[16:40, 20:60] = True
    return edit, original, mask


@pytest.fixture
def torchvision_trunk(monkeypatch):
    """Make torchmetrics build its SqueezeNet from a given trunk instead of torchvision's."""
    import torchmetrics.image.lpip as tm_image

    def use(net: LpipsNet) -> None:
        monkeypatch.setattr(
            tm_lpips, "_get_tv_model_features", lambda name, pretrained: net.features
        )
        monkeypatch.setattr(tm_image, "_TORCHVISION_AVAILABLE", True)

    return use


def _pie_bench_inputs(edit, original, mask):
    """PIE-Bench's calculate_lpips (cure-lab/PnPInversion evaluation/matrics_calculator.py) with
    mask_pred = mask_gt = 1 - mask: float32 / 255, times the mask, NCHW, then 2 x - 1."""
    keep = (1 - mask.astype(np.float32))[..., None]
    pred = (edit.astype(np.float32) / 255) * keep
    gt = (original.astype(np.float32) / 255) * keep
    as_t = lambda a: torch.tensor(a).permute(2, 0, 1).unsqueeze(0)  # noqa: E731
    return as_t(pred) * 2 - 1, as_t(gt) * 2 - 1


def test_formula_agrees_with_torchmetrics_lpips_on_random_linear_layers(case, torchvision_trunk):
    net = tiny_lpips(seed=0)
    torchvision_trunk(net)
    reference = tm_lpips._LPIPS(pretrained=False, net="squeeze", pnet_rand=True).eval()
    for ref_lin, lin in zip(reference.lins, net.lins, strict=True):
        ref_lin.model[-1].weight.data.copy_(lin.weight)  # every layer weighted, none zero
    a, b = _pie_bench_inputs(*case)
    ours = lpips_distance(net, a, b)
    with torch.no_grad():
        ref = reference(a, b).flatten()
    assert ref.item() > 0.01
    assert abs(ours.item() - ref.item()) <= TOL
    # a batch scores each image on its own
    batch = lpips_distance(net, torch.cat([a, b, a]), torch.cat([b, b, torch.flip(a, (3,))]))
    assert abs(batch[0].item() - ref.item()) <= TOL and batch[1].item() == 0.0


def test_masked_lpips_is_pie_bench_call_with_the_loaded_network(case, torchvision_trunk, tmp_path):
    """PIE-Bench's metric object, fed as its evaluation code feeds it, against `masked_lpips` with
    the network `load_lpips` builds from a trunk file plus the linear layers torchmetrics ships."""
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    trunk = tiny_lpips(seed=1)
    torch.save(squeezenet_state_dict(trunk), tmp_path / "squeezenet1_1-b8a52dc0.pth")
    net = load_lpips(str(tmp_path), torch.device("cpu"), required=True)
    torchvision_trunk(net)  # the reference reads the very same trunk modules
    metric = LearnedPerceptualImagePatchSimilarity(net_type="squeeze")
    # the loader read the trunk file and the shipped linear layers into the right places
    for ref_lin, lin in zip(metric.net.lins, net.lins, strict=True):
        assert torch.equal(ref_lin.model[-1].weight, lin.weight)
    assert all(
        torch.equal(p, q)
        for p, q in zip(net.features.parameters(), trunk.features.parameters(), strict=True)
    )
    ref = metric(*_pie_bench_inputs(*case)).item()
    ours = masked_lpips(net, *case)
    assert ref > 0 and abs(ours - ref) <= TOL
    # the whole-image variant is the same call without the mask
    edit, original, _ = case
    metric.reset()
    ref_whole = metric(*_pie_bench_inputs(edit, original, np.zeros(edit.shape[:2], bool))).item()
    assert abs(lpips_score(net, edit, original) - ref_whole) <= TOL
    assert abs(ref_whole - ref) > 1e-3  # the mask matters


def _stub_torchvision(features):
    """A stand-in `torchvision` whose squeezenet1_1 has the given trunk (lpips imports it)."""
    module = types.ModuleType("torchvision")
    module.models = types.SimpleNamespace(
        squeezenet1_1=lambda pretrained=False, **kw: types.SimpleNamespace(features=features)
    )
    return module


def test_formula_agrees_with_the_lpips_package(case, monkeypatch):
    """richzhang's lpips package's own LPIPS(net="squeeze") on the same random trunk (skipped where
    lpips is not installed; it imports torchvision, stubbed here when absent)."""
    net = tiny_lpips(seed=2)
    try:
        import torchvision  # noqa: F401
    except ImportError:
        monkeypatch.setitem(sys.modules, "torchvision", _stub_torchvision(net.features))
    lpips = pytest.importorskip("lpips")
    monkeypatch.setattr(
        lpips.pretrained_networks.tv,
        "squeezenet1_1",
        lambda pretrained=False, **kw: types.SimpleNamespace(features=net.features),
    )
    reference = lpips.LPIPS(net="squeeze", pretrained=False, pnet_rand=True, verbose=False).eval()
    for ref_lin, lin in zip(reference.lins, net.lins, strict=True):
        ref_lin.model[-1].weight.data.copy_(lin.weight)
    a, b = _pie_bench_inputs(*case)
    with torch.no_grad():
        ref = reference(a, b).item()
    assert ref > 0.01 and abs(lpips_distance(net, a, b).item() - ref) <= TOL


def test_identical_inputs_score_zero_and_the_shortcut_is_that_value(case):
    net = tiny_lpips(seed=3)
    edit, original, mask = case
    assert lpips_distance(net, *_pie_bench_inputs(original, original, mask)).item() == 0.0
    same_outside = np.where(mask[..., None], edit, original)
    assert masked_lpips(net, same_outside, original, mask) == 0.0
    assert lpips_score(net, original, original) == 0.0
    assert masked_lpips(net, edit, original, mask) > 0


def test_no_background_is_nan():
    net = tiny_lpips(seed=3)
    image = np.zeros((64, 64, 3), np.uint8)
    assert math.isnan(masked_lpips(net, image, image + 1, np.ones((64, 64), bool)))


def test_missing_weights_give_none_and_one_warning(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert load_lpips(str(tmp_path / "nowhere"), torch.device("cpu")) is None
    ours = [w for w in caught if issubclass(w.category, MaskeditWarning)]
    assert len(ours) == 1 and "LPIPS skipped" in str(ours[0].message)
    assert "squeezenet1_1" in str(ours[0].message).lower()
    with pytest.raises(MissingWeightsError, match="SqueezeNet 1.1 weights"):
        load_lpips(str(tmp_path), torch.device("cpu"), required=True)


def test_lpips_from_two_folders_has_two_names_in_the_scoring_key(tmp_path):
    """A case scored with LPIPS weights from one folder is not taken as scored with another's:
    the scoring key names the folder, as the flag names it before anything loads."""
    from maskedit.metric_models import MetricChoices
    from maskedit.scoring import Backbones, Scorers, scoring_key

    keys = []
    for name, seed in (("a", 1), ("b", 2)):
        folder = tmp_path / name
        folder.mkdir()
        torch.save(squeezenet_state_dict(tiny_lpips(seed=seed)), folder / "squeezenet1_1-b8a52dc0.pth")
        net = load_lpips(str(folder), torch.device("cpu"), required=True)
        key = scoring_key(Scorers(None, Backbones(lpips=net)))
        assert key["lpips"] == MetricChoices(lpips=str(folder)).names({"pie-bench"})["lpips"]
        keys.append(key["lpips"])
    assert keys[0] != keys[1]
